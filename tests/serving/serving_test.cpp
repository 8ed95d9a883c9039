// The serving doors end to end on the tiny test model (configs/tts_tiny.json, greedy tokens and
// zero vocoder noise: deterministic): in-process servers on port 0 and real clients (Beast HTTP
// and WebSocket, raw TCP for Wyoming). Audio is compared byte for byte with the in-process
// synthesis of the same request through the facade.
#include <doctest/doctest.h>
#include <sndfile.h>

#include "tests/serving/serving_harness.h"

namespace cosyflow::serving {
namespace {

using namespace testing;  // NOLINT

// --- HTTP ----------------------------------------------------------------------------------

TEST_CASE("serving/http: whole wav, pcm and flac equal the in-process synthesis") {
  Harness h;
  const int port = h.http_server->port();
  const std::string ref = h.Reference(kLongText, 7);
  REQUIRE(ref.size() > 1000);
  auto wav = Post(port, {{"model", "cosyvoice2"},
                         {"input", kLongText},
                         {"voice", "default"},
                         {"seed", 7},
                         {"response_format", "wav"}});
  REQUIRE(wav.status == 200);
  CHECK(wav.content_type == "audio/wav");
  CHECK(wav.body == WavHeader(24000, static_cast<uint32_t>(ref.size())) + ref);
  auto pcm = Post(port, {{"input", kLongText},
                         {"voice", {{"id", "default"}}},
                         {"seed", 7},
                         {"response_format", "pcm"}});
  REQUIRE(pcm.status == 200);
  CHECK(pcm.body == ref);

  auto flac = Post(port, {{"input", kLongText}, {"seed", 7}, {"response_format", "flac"}});
  REQUIRE(flac.status == 200);
  REQUIRE(flac.body.substr(0, 4) == "fLaC");
  const auto path = std::filesystem::temp_directory_path() / "cosyflow_serving_test.flac";
  std::ofstream(path, std::ios::binary) << flac.body;
  SF_INFO info{};
  SNDFILE* sf = sf_open(path.c_str(), SFM_READ, &info);
  REQUIRE(sf != nullptr);
  std::vector<int16_t> decoded(info.frames);
  CHECK(sf_read_short(sf, decoded.data(), info.frames) == info.frames);
  sf_close(sf);
  std::filesystem::remove(path);
  CHECK(info.samplerate == 24000);
  CHECK(std::string(reinterpret_cast<const char*>(decoded.data()), decoded.size() * 2) == ref);
  CHECK(h.WaitIdle());
}

TEST_CASE("serving/http: stream_format audio sends the audio in several chunks as made") {
  Harness h;
  const std::string ref = h.Reference(kLongText, 3);
  auto r = Post(
      h.http_server->port(),
      {{"input", kLongText}, {"seed", 3}, {"stream_format", "audio"}, {"response_format", "pcm"}});
  REQUIRE(r.status == 200);
  CHECK(r.body_pieces >= 2);  // one HTTP chunk per audio chunk: not one body at the end
  CHECK(r.body == ref);
  auto w =
      Post(h.http_server->port(), {{"input", kLongText}, {"seed", 3}, {"stream_format", "audio"}});
  REQUIRE(w.status == 200);
  CHECK(w.body == WavHeader(24000, 0xFFFFFFFFu) + ref);
}

std::string Unbase64(const std::string& in) {
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    const char* p =
        std::strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", c);
    if (c == '=' || p == nullptr) break;
    val = (val << 6) +
          static_cast<int>(p - "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

TEST_CASE("serving/http: stream_format sse sends speech.audio.delta events, then done") {
  Harness h;
  const std::string ref = h.Reference(kLongText, 5);
  CHECK(Unbase64(Base64("hello!?")) == "hello!?");
  auto r = Post(
      h.http_server->port(),
      {{"input", kLongText}, {"seed", 5}, {"stream_format", "sse"}, {"response_format", "pcm"}});
  REQUIRE(r.status == 200);
  CHECK(r.content_type == "text/event-stream");
  std::string audio;
  int deltas = 0;
  json done;
  size_t pos = 0;
  while ((pos = r.body.find("data: ", pos)) != std::string::npos) {
    const size_t end = r.body.find("\n\n", pos);
    REQUIRE(end != std::string::npos);
    json ev = json::parse(r.body.substr(pos + 6, end - pos - 6));
    if (ev["type"] == "speech.audio.delta") {
      CHECK(done.is_null());
      audio += Unbase64(ev["audio"].get<std::string>());
      ++deltas;
    } else {
      done = ev;
    }
    pos = end;
  }
  CHECK(deltas >= 2);
  CHECK(audio == ref);
  REQUIRE(done.is_object());
  CHECK(done["type"] == "speech.audio.done");
  CHECK(done["timing"]["audio_s"].get<double>() == doctest::Approx(ref.size() / 2 / 24000.0));
  CHECK(done["timing"]["first_audio_ms"].get<double>() > 0);
}

TEST_CASE("serving/http: sample_rate resamples; instructions and speed are accepted") {
  Harness h;
  auto r = Post(h.http_server->port(),
                {{"input", "Hello there."}, {"sample_rate", 16000}, {"response_format", "wav"}});
  REQUIRE(r.status == 200);
  CHECK(r.body.substr(24, 4) == std::string("\x80\x3e\x00\x00", 4));  // 16000 Hz in the header
  CHECK(r.body.size() > 44 + 1000);
  auto i = Post(h.http_server->port(),
                {{"input", "Hello there."}, {"instructions", "Speak happily."}});
  CHECK(i.status == 200);
  // The tiny graph streams its flow: a speed change (whole-mel interpolation) runs that
  // request's flow non-streaming, whole or streamed response.
  auto sp = Post(h.http_server->port(), {{"input", "Hello there."}, {"speed", 1.25}});
  CHECK(sp.status == 200);
  CHECK(sp.body.substr(0, 4) == "RIFF");
  CHECK(sp.body.size() > 44 + 1000);
  auto sp_stream = Post(h.http_server->port(),
                        {{"input", "Hello there."}, {"speed", 0.8}, {"stream_format", "audio"}});
  CHECK(sp_stream.status == 200);
  CHECK(sp_stream.body.size() > 1000);
  CHECK(h.WaitIdle());
}

TEST_CASE("serving/http: every error is JSON with its status") {
  Harness h(HarnessOptions{.max_input_chars = 200, .max_body_bytes = 4096});
  const int port = h.http_server->port();
  struct Case {
    std::string body;
    int status;
    std::string param;
  };
  const std::vector<Case> cases = {
      {"{not json", 400, ""},
      {"[1,2]", 400, ""},
      {json{{"voice", "default"}}.dump(), 400, "input"},
      {json{{"input", "   "}}.dump(), 400, "input"},
      {json{{"input", "Hi"}, {"response_format", "mp3"}}.dump(), 400, "response_format"},
      {json{{"input", "Hi"}, {"response_format", "opus"}}.dump(), 400, "response_format"},
      {json{{"input", "Hi"}, {"speed", 9}}.dump(), 400, "speed"},
      {json{{"input", "Hi"}, {"seed", -1}}.dump(), 400, "seed"},
      {json{{"input", "Hi"}, {"stream_format", "chunks"}}.dump(), 400, "stream_format"},
      {json{{"input", "Hi"}, {"stream_format", "sse"}, {"response_format", "flac"}}.dump(), 400,
       "response_format"},
      {json{{"input", "Hi"}, {"colour", "blue"}}.dump(), 400, "colour"},
      {json{{"input", "Hi"}, {"voice", 3}}.dump(), 400, "voice"},
      {std::string("{\"input\": \"bad \xff\xfe utf8\"}"), 400, ""},
      {json{{"input", "Hi"}, {"voice", "nobody"}}.dump(), 404, "voice"},
      {json{{"input", std::string(300, 'a')}}.dump(), 413, "input"},
      {json{{"input", std::string(5000, 'a')}}.dump(), 413, ""},  // body over max_body_bytes
  };
  for (const auto& c : cases) {
    CAPTURE(c.body.substr(0, 80));
    auto r = Request(port, http::verb::post, "/v1/audio/speech", c.body);
    CHECK(r.status == c.status);
    json e = ErrorOf(r);
    if (!c.param.empty()) CHECK(e["param"] == c.param);
  }
  CHECK(Request(port, http::verb::get, "/v1/audio/speech", "").status == 405);
  CHECK(Request(port, http::verb::get, "/no/such/route", "").status == 404);
  // The server survived all of it.
  CHECK(Post(port, {{"input", "Hi."}}).status == 200);
  CHECK(h.WaitIdle());
}

TEST_CASE("serving/http: healthz, voices, metrics and the web page") {
  Harness h;
  const int port = h.http_server->port();
  REQUIRE(Post(port, {{"input", "Hello there."}}).status == 200);
  auto health = Request(port, http::verb::get, "/healthz", "");
  CHECK(health.status == 200);
  CHECK(json::parse(health.body)["status"] == "ok");
  auto voices = json::parse(Request(port, http::verb::get, "/v1/voices", "").body);
  REQUIRE(voices["data"].size() == 1);
  CHECK(voices["data"][0]["id"] == "default");
  auto metrics = Request(port, http::verb::get, "/metrics", "");
  CHECK(metrics.status == 200);
  for (const char* series :
       {"cosyflow_requests_total{door=\"http\",code=\"200\"} 1", "cosyflow_sessions_in_flight 0",
        "cosyflow_first_audio_seconds_count 1", "cosyflow_rtf_count 1",
        "cosyflow_node_max_queue_depth{node=\"vocoder\"}"}) {
    CHECK_MESSAGE(metrics.body.find(series) != std::string::npos, series);
  }
  auto page = Request(port, http::verb::get, "/", "");
  CHECK(page.status == 200);
  CHECK(page.body.find("/v1/audio/speech/stream") != std::string::npos);
}

TEST_CASE("serving/service: Finish gives the slot back before the door writes its reply") {
  // A door replies after Finish() and destroys the session later; a client that has its reply
  // must already see the request out of cosyflow_sessions_in_flight and may take the slot.
  Harness h(HarnessOptions{.max_sessions = 1});
  SpeechParams p;
  p.fields.seed = 3;
  ApiError e;
  auto s = h.service->Open(p, 3, &e);
  REQUIRE_MESSAGE(e.ok(), e.message);
  CHECK(h.service->in_flight() == 1);
  REQUIRE(s->Push("Hi.").ok());
  REQUIRE(s->End().ok());
  std::string pcm;
  int64_t bytes = 0;
  while (true) {
    auto more = s->NextPcm(&pcm);
    REQUIRE(more.ok());
    if (!*more) break;
    bytes += static_cast<int64_t>(pcm.size());
  }
  CHECK(bytes > 0);
  auto fin = s->Finish();
  REQUIRE(fin.ok());
  CHECK(fin->status.ok());
  CHECK(h.service->in_flight() == 0);  // the session object is still alive here
  CHECK(h.service->MetricsText().find("\ncosyflow_sessions_in_flight 0") != std::string::npos);
  auto next = h.service->Open(p, 3, &e);  // max_sessions 1: the slot is free again
  CHECK_MESSAGE(e.ok(), e.message);
  CHECK(next != nullptr);
  next.reset();  // an unfinished session: the destructor cancels it and frees the slot
  s.reset();     // a finished one gives nothing back twice
  CHECK(h.service->in_flight() == 0);
}

TEST_CASE("serving/http: concurrent clients all get the in-process audio") {
  Harness h;
  const std::string ref = h.Reference(kLongText, 11);
  std::vector<std::future<HttpResult>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::async(std::launch::async, [&, i] {
      return Post(h.http_server->port(), {{"input", kLongText},
                                          {"seed", 11},
                                          {"response_format", "pcm"},
                                          {"stream_format", i % 2 ? "audio" : "sse"}});
    }));
  }
  for (auto& c : clients) {
    HttpResult r = c.get();
    REQUIRE(r.status == 200);
    if (r.content_type == "audio/pcm") CHECK(r.body == ref);
  }
  CHECK(h.WaitIdle());
}

TEST_CASE("serving/http: a client that leaves mid-stream frees its session") {
  Harness h;
  {
    net::io_context ioc;
    tcp::socket s = Connect(ioc, h.http_server->port());
    std::string text;
    for (int i = 0; i < 6; ++i) text += kLongText;
    WriteSpeechRequest(s, {{"input", text}, {"stream_format", "audio"}});
    beast::flat_buffer buf;
    http::response_parser<http::empty_body> parser;
    http::read_header(s, buf, parser);  // the first audio chunk exists
    CHECK(parser.get().result_int() == 200);
    CHECK(h.service->in_flight() == 1);
  }  // closed
  CHECK(h.WaitIdle());
}

TEST_CASE("serving/http: a client that hangs up on a whole-body request frees its session") {
  // Without a stream_format nothing is written until the audio is complete, so only watching
  // the socket tells the server the client is gone: the request is cancelled and counted 499
  // instead of being synthesized to the end (text for ~100 s of audio) and counted 200.
  Harness h;
  const int port = h.http_server->port();
  const std::string label = "door=\"http\",code=\"499\"";
  {
    net::io_context ioc;
    tcp::socket s = Connect(ioc, port);
    std::string text;
    for (int i = 0; i < 30; ++i) text += kLongText;
    WriteSpeechRequest(s, {{"input", text}, {"response_format", "pcm"}});
    for (int i = 0; i < 6000 && h.service->in_flight() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(h.service->in_flight() == 1);
  }  // closed while the audio is being made
  CHECK(h.WaitIdle());
  CHECK(h.service->metrics().Get("cosyflow_requests_total", label) == 1);
  CHECK(h.service->metrics().Get("cosyflow_requests_total", "door=\"http\",code=\"200\"") == 0);
  // The next request is served as usual.
  CHECK(Post(port, {{"input", "Hi."}}).status == 200);
}

TEST_CASE("serving/service: a graph that takes no text is refused at start") {
  tts::GraphInfo info;
  auto p = tts::LoadPipeline(ConfigPath("resample_stream.json"), {}, &info);
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  REQUIRE((*p)->Start().ok());
  ServiceOptions so;
  so.warm_up = false;  // refused before any request, warm-up or not
  auto s = SpeechService::Create(std::move(*p), info, so);
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().message().find("not a text-to-speech graph") != std::string::npos);
  CHECK(s.status().message().find("TextRequest") != std::string::npos);
}

TEST_CASE("serving/http: over max_sessions is 429, draining is 503") {
  Harness h(HarnessOptions{.max_sessions = 1});
  const int port = h.http_server->port();
  // Hold the only slot with a WebSocket request whose text never ends.
  net::io_context ioc;
  websocket::stream<tcp::socket> ws(Connect(ioc, port));
  ws.handshake("127.0.0.1", "/v1/audio/speech/stream");
  ws.write(net::buffer(json{{"type", "start"}}.dump()));
  beast::flat_buffer buf;
  ws.read(buf);
  CHECK(json::parse(beast::buffers_to_string(buf.data()))["type"] == "started");
  auto busy = Post(port, {{"input", "Hi."}});
  CHECK(busy.status == 429);
  CHECK(ErrorOf(busy)["type"] == "rate_limit_error");
  ws.write(net::buffer(json{{"type", "cancel"}}.dump()));
  buf.consume(buf.size());
  ws.read(buf);
  CHECK(json::parse(beast::buffers_to_string(buf.data()))["type"] == "cancelled");
  CHECK(h.WaitIdle());

  CHECK(h.service->Drain(std::chrono::milliseconds(100)) == 0);
  auto draining = Post(port, {{"input", "Hi."}});
  CHECK(draining.status == 503);
  ErrorOf(draining);
  CHECK(Request(port, http::verb::get, "/healthz", "").status == 503);
}

// What a client of a streamed request sees when the connection ends: the status, the body so
// far and whether the chunked body was complete (its last chunk came).
struct StreamedResult {
  int status = 0;
  std::string body;
  bool complete = false;
};
// `pieces` (when given) counts the body's chunks as they arrive.
StreamedResult ReadStreamed(int port, const json& body, std::atomic<int>* pieces = nullptr) {
  net::io_context ioc;
  tcp::socket s = Connect(ioc, port);
  WriteSpeechRequest(s, body);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  StreamedResult r;
  auto on_chunk = [&r, pieces](std::uint64_t, beast::string_view piece, beast::error_code&) {
    if (pieces != nullptr) ++*pieces;
    r.body.append(piece.data(), piece.size());
    return piece.size();
  };
  parser.on_chunk_body(on_chunk);
  beast::error_code ec;
  http::read(s, buf, parser, ec);
  r.status = static_cast<int>(parser.get().result_int());
  if (!parser.get().chunked()) r.body = parser.get().body();
  r.complete = !ec && parser.is_done();
  return r;
}

// A request the drain cancels (its timeout passed) was cut short by the server, not by its
// client: every door reports it as an error (503), never as a normal end or as the client's
// own cancel. Before, Wyoming sent a normal audio-stop after the audio so far, the WebSocket
// {"type":"cancelled"} and a whole HTTP body a 500.
// A finished request's slot is free before its door has written the reply (the test above):
// the drain must still wait for that reply before the caller closes the connections, or a
// client whose whole-body reply is larger than the socket buffers gets a cut connection.
TEST_CASE("serving/drain: a finished whole-body reply is delivered before the doors close") {
  Harness h;
  const int port = h.http_server->port();
  std::string text;
  for (int i = 0; i < 200; ++i) text += "Hello world, this is a test. ";
  net::io_context ioc;
  tcp::socket s(ioc);
  s.open(tcp::v4());
  s.set_option(net::socket_base::receive_buffer_size(4096));  // the reply waits for this reader
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  WriteSpeechRequest(s, {{"input", text}, {"response_format", "pcm"}});
  for (int i = 0; i < 1000 && h.service->in_flight() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(h.service->in_flight() == 1);
  REQUIRE(h.WaitIdle());  // synthesized; the door is writing the reply now
  std::thread stopper([&] {
    (void)h.service->Drain(std::chrono::seconds(30));
    h.http_server->Stop();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the stop is under way
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  beast::error_code ec;
  http::read(s, buf, parser, ec);
  stopper.join();
  CHECK_MESSAGE(!ec, ec.message());
  CHECK(parser.get().result_int() == 200);
  const size_t declared = parser.content_length().value_or(0);
  MESSAGE("reply body ", parser.get().body().size(), " bytes");
  CHECK(parser.get().body().size() > size_t{4} << 20);  // far past the socket buffers
  CHECK(parser.get().body().size() == declared);
}

TEST_CASE("serving/drain: requests the drain cancels get a 503 error on every door") {
  Harness h;
  const int port = h.http_server->port();
  std::string text;
  for (int i = 0; i < 30; ++i) text += kLongText;  // ~100 s of audio each: not done in time
  auto http_whole = std::async(std::launch::async, [&] {
    return ReadStreamed(port, {{"input", text}, {"response_format", "pcm"}});
  });
  std::atomic<int> sse_pieces{0}, wy_audio{0};  // audio flows on the streams
  auto http_sse = std::async(std::launch::async, [&] {
    return ReadStreamed(
        port, {{"input", text}, {"response_format", "pcm"}, {"stream_format", "sse"}}, &sse_pieces);
  });
  auto ws = std::async(std::launch::async, [&] {
    return RunWs(port, {{"type", "start"}}, {text}).last;
  });
  // The Wyoming events, "type" or "error(code)", the audio chunks counted as one "audio";
  // "closed" when the server ended the connection.
  auto wyoming = [&](bool stream) {
    WyClient c(h.wyoming->port());
    if (stream) {
      c.Send("synthesize-start");
      c.Send("synthesize-chunk", {{"text", text}});
      c.Send("synthesize-stop");
    } else {
      c.Send("synthesize", {{"text", text}});
    }
    std::string events;
    try {
      while (true) {
        const WyEvent e = c.Read();
        const std::string name = e.type == "error"
                                     ? "error(" + e.data["code"].get<std::string>() + ")"
                                 : e.type == "audio-chunk" ? "audio"
                                                           : e.type;
        if (name == "audio" && events.ends_with("audio")) continue;
        if (name == "audio") ++wy_audio;
        events += (events.empty() ? "" : " ") + name;
        if (e.type == "synthesize-stopped") return events;
      }
    } catch (const std::exception&) {
      return events + " closed";
    }
  };
  auto wy_once = std::async(std::launch::async, wyoming, false);
  auto wy_stream = std::async(std::launch::async, wyoming, true);
  for (int i = 0; i < 6000 && h.service->in_flight() < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(h.service->in_flight() == 5);
  for (int i = 0; i < 6000 && (sse_pieces == 0 || wy_audio < 2); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(sse_pieces > 0);
  REQUIRE(wy_audio == 2);
  CHECK(h.service->Drain(std::chrono::milliseconds(100)) == 5);

  const StreamedResult whole = http_whole.get();
  CHECK(whole.status == 503);
  CHECK(json::parse(whole.body)["error"]["type"] == "server_error");
  const StreamedResult sse = http_sse.get();
  CHECK(sse.status == 200);  // the headers left with the first audio
  CHECK(!sse.complete);      // no last chunk: truncated
  const size_t error_at = sse.body.find("data: {\"error\"");
  REQUIRE(error_at != std::string::npos);
  CHECK(sse.body.find("\"code\":503") > error_at);
  CHECK(sse.body.find("speech.audio.done") == std::string::npos);
  const json ws_last = ws.get();
  CHECK(ws_last["type"] == "error");
  CHECK(ws_last["error"]["code"] == 503);
  CHECK(wy_once.get() == "audio-start audio error(http-503) closed");
  CHECK(wy_stream.get() == "audio-start audio error(http-503) synthesize-stopped");
  CHECK(h.service->in_flight() == 0);
}

// Input the graph makes no audio of (nothing speakable: "...", an emoji, a no-break space)
// got a 200 with a 44-byte WAV, a 200 with a 0-byte "FLAC", a 500 "no audio" when streamed,
// done with no audio on the WebSocket and audio-start + audio-stop on Wyoming. Now every door
// answers as for an empty input: 400 invalid_request_error (param input), an error event.
TEST_CASE("serving/doors: input that yields no audio is a 400 / an error on every door") {
  Harness h;
  const int port = h.http_server->port();
  for (const std::string input : {"...", "\U0001F600", "\u00a0"}) {
    CAPTURE(input);
    for (const json& extra :
         {json::object(), json{{"response_format", "flac"}}, json{{"response_format", "pcm"}},
          json{{"stream_format", "audio"}}, json{{"stream_format", "sse"}}}) {
      CAPTURE(extra.dump());
      json body = extra;
      body["input"] = input;
      const HttpResult r = Post(port, body);
      CHECK(r.status == 400);
      const json e = ErrorOf(r);
      CHECK(e["type"] == "invalid_request_error");
      CHECK(e["param"] == "input");
      CHECK(e["message"].get<std::string>().find("no audio") != std::string::npos);
    }
    const WsResult ws = RunWs(port, {{"type", "start"}}, {input});
    CHECK(ws.frames == 0);
    CHECK(ws.last["type"] == "error");
    CHECK(ws.last["error"]["code"] == 400);
    {
      WyClient c(h.wyoming->port());
      c.Send("synthesize-start");
      c.Send("synthesize-chunk", {{"text", input}});
      c.Send("synthesize-stop");
      const WyEvent e = c.Read();
      CHECK(e.type == "error");
      CHECK(e.data["code"] == "no-audio");
      CHECK(c.Read().type == "synthesize-stopped");
      c.Send("synthesize", {{"text", input}});
      const WyEvent once = c.Read();
      CHECK(once.type == "error");
      CHECK(once.data["code"] == "no-audio");
    }
  }
  CHECK(h.service->metrics().Get("cosyflow_requests_total", "door=\"http\",code=\"400\"") == 15);
  CHECK(h.service->metrics().Get("cosyflow_requests_total", "door=\"http\",code=\"200\"") == 0);
  CHECK(h.WaitIdle());
  // Speakable text is still audio everywhere.
  CHECK(Post(port, {{"input", "Hi."}, {"response_format", "flac"}}).status == 200);
}

// --- WebSocket -----------------------------------------------------------------------------

TEST_CASE("serving/ws: text deltas in, PCM frames out, done with timing") {
  Harness h;
  const std::string ref = h.Reference(kLongText, 9);
  const std::string text = kLongText;
  std::vector<std::string> deltas;
  for (size_t i = 0; i < text.size(); i += 17) deltas.push_back(text.substr(i, 17));
  WsResult r = RunWs(h.http_server->port(), {{"type", "start"}, {"seed", 9}}, deltas);
  CHECK(r.started["sample_rate"] == 24000);
  CHECK(r.frames >= 2);
  CHECK(r.audio == ref);  // text joined at end: the graph is not loaded for bi-stream text
  CHECK(r.last["type"] == "done");
  CHECK(r.last["timing"]["chunks"].get<int>() == r.frames);
  CHECK(h.WaitIdle());
}

TEST_CASE("serving/ws: bi-stream graph synthesizes while the text arrives") {
  Harness h(HarnessOptions{.stream_text = true});
  WsResult r = RunWs(h.http_server->port(), {{"type", "start"}, {"seed", 9}},
                     {"Hello there, ", "how are you today? ", "Fine, thanks. ",
                      "And you? I am well, thank you very much for asking."});
  CHECK(r.started["text_streaming"] == true);
  CHECK(r.frames >= 1);
  CHECK(r.audio.size() > 1000);
  CHECK(r.last["type"] == "done");
  CHECK(h.WaitIdle());
}

TEST_CASE("serving/ws: cancel stops the request and answers cancelled") {
  // A bi-stream graph speaks while the text arrives, so the cancelled request's text never
  // ends: it cannot finish before the cancel, however late the client sends it.
  Harness h(HarnessOptions{.stream_text = true});
  std::string text;
  for (int i = 0; i < 8; ++i) text += kLongText;
  WsResult full = RunWs(h.http_server->port(), {{"type", "start"}}, {text});
  CHECK(full.last["type"] == "done");
  // Cancel once the first audio came: fewer frames than the whole request.
  WsResult c = RunWs(h.http_server->port(), {{"type", "start"}}, {text}, /*cancel=*/true,
                     /*send_end=*/false);
  CHECK(c.cancelled_sent);
  CHECK(c.last["type"] == "cancelled");
  CHECK(c.frames < full.frames);
  CHECK(h.WaitIdle());
}

TEST_CASE("serving/ws: a client that hangs up mid-stream frees its session") {
  Harness h;
  std::string text;
  for (int i = 0; i < 8; ++i) text += kLongText;
  {
    net::io_context ioc;
    websocket::stream<tcp::socket> ws(Connect(ioc, h.http_server->port()));
    ws.handshake("127.0.0.1", "/v1/audio/speech/stream");
    ws.write(net::buffer(json{{"type", "start"}}.dump()));
    ws.write(net::buffer(json{{"type", "text"}, {"text", text}}.dump()));
    ws.write(net::buffer(json{{"type", "end"}}.dump()));
    beast::flat_buffer buf;
    while (!ws.got_binary() || buf.size() == 0) {  // started, then the first audio frame
      buf.consume(buf.size());
      ws.read(buf);
    }
    CHECK(h.service->in_flight() == 1);
  }  // the TCP connection closes without a WebSocket close
  CHECK(h.WaitIdle());
}

TEST_CASE("serving/ws: protocol errors") {
  Harness h(HarnessOptions{.max_input_chars = 50});
  const int port = h.http_server->port();
  CHECK(RunWs(port, {{"type", "start"}, {"voice", "nobody"}}, {}).last["error"]["code"] == 404);
  CHECK(RunWs(port, {{"type", "start"}, {"speed", 0}}, {}).last["error"]["code"] == 400);
  CHECK(RunWs(port, {{"type", "begin"}}, {}).last["error"]["code"] == 400);
  WsResult too_long = RunWs(port, {{"type", "start"}}, {std::string(60, 'a')});
  CHECK(too_long.last["type"] == "cancelled");  // after the 413 error the request is cancelled
  CHECK(h.WaitIdle());
  CHECK(h.service->metrics().Get("cosyflow_requests_total", "door=\"ws\",code=\"404\"") == 1);
}

TEST_CASE("serving/ws: several connections at once") {
  Harness h;
  const std::string ref = h.Reference(kLongText, 4);
  std::vector<std::future<WsResult>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::async(std::launch::async, [&] {
      return RunWs(h.http_server->port(), {{"type", "start"}, {"seed", 4}}, {kLongText});
    }));
  }
  for (auto& c : clients) {
    WsResult r = c.get();
    CHECK(r.last["type"] == "done");
    CHECK(r.audio == ref);
  }
  CHECK(h.WaitIdle());
}

// --- Wyoming -------------------------------------------------------------------------------

TEST_CASE("serving/wyoming: describe, synthesize, streaming synthesize") {
  Harness h;
  const int port = h.wyoming->port();
  WyClient c(port);
  c.Send("describe");
  WyEvent info = c.Read();
  REQUIRE(info.type == "info");
  REQUIRE(info.data["tts"].size() == 1);
  CHECK(info.data["tts"][0]["name"] == "cosyflow");
  CHECK(info.data["tts"][0]["supports_synthesize_streaming"] == true);
  CHECK(info.data["tts"][0]["voices"][0]["name"] == "default");

  const std::string ref = h.Reference(kLongText, 0);
  c.Send("synthesize", {{"text", kLongText}, {"voice", {{"name", "default"}}}});
  int chunks = 0;
  CHECK(c.ReadAudio(&chunks) == ref);
  CHECK(chunks >= 2);

  // Streaming, with the compatibility synthesize event inside the stream (ignored).
  c.Send("synthesize-start", {{"voice", {{"name", "default"}}}});
  const std::string text = kLongText;
  c.Send("synthesize-chunk", {{"text", text.substr(0, 40)}});
  c.Send("synthesize", {{"text", text}});
  c.Send("synthesize-chunk", {{"text", text.substr(40)}});
  c.Send("synthesize-stop");
  CHECK(c.ReadAudio(&chunks) == ref);  // not bi-stream: the chunks are joined
  CHECK(c.Read().type == "synthesize-stopped");

  c.Send("ping");
  CHECK(c.Read().type == "pong");
  c.Send("synthesize", {{"text", "Hi."}, {"voice", {{"name", "nobody"}}}});
  WyEvent err = c.Read();
  CHECK(err.type == "error");
  CHECK(err.data["code"] == "voice-not-found");
  CHECK(h.WaitIdle());
}

TEST_CASE("serving/wyoming: malformed events get an error, and the server keeps serving") {
  Harness h;
  {
    net::io_context ioc;
    tcp::socket s = Connect(ioc, h.wyoming->port());
    net::write(s, net::buffer(std::string("this is not json\n")));
    net::streambuf buf;
    const size_t n = net::read_until(s, buf, '\n');
    json head = json::parse(std::string(static_cast<const char*>(buf.data().data()), n));
    CHECK(head["type"] == "error");
  }
  WyClient c(h.wyoming->port());
  c.Send("describe");
  CHECK(c.Read().type == "info");
}

}  // namespace
}  // namespace cosyflow::serving
