// Shared by the serving suites (tests/serving/*_test.cpp): a SpeechService on the tiny test
// model (configs/tts_tiny.json, greedy tokens and zero vocoder noise: deterministic) with the
// HTTP/WebSocket and Wyoming servers on free ports, and real clients (Beast HTTP and WebSocket,
// raw TCP for Wyoming).
#pragma once

#include <doctest/doctest.h>
#include <sndfile.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "graph/synthesis.h"
#include "serving/audio_encoding.h"
#include "serving/http_server.h"
#include "serving/speech_service.h"
#include "serving/wyoming_server.h"
#include "tests/test_util.h"

namespace cosyflow::serving::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;

constexpr const char* kLongText =
    "Hello there, how are you today? Fine, thanks. And you? I am well, thank you very much for "
    "asking. The weather is lovely, so we will walk to the park after lunch.";

inline std::string ConfigPath(const std::string& name) {
  return (std::filesystem::path(cosyflow::test::RepoDir()) / "configs" / name)
      .lexically_normal()
      .string();
}

inline std::string ToPcm(const std::vector<float>& audio) {
  std::string pcm(audio.size() * 2, '\0');
  for (size_t i = 0; i < audio.size(); ++i) {
    const auto v = static_cast<int16_t>(std::lrint(std::clamp(audio[i], -1.0f, 1.0f) * 32767.0f));
    pcm[2 * i] = static_cast<char>(v & 0xFF);
    pcm[2 * i + 1] = static_cast<char>((v >> 8) & 0xFF);
  }
  return pcm;
}

struct HarnessOptions {
  bool stream_text = false;
  int max_sessions = 0;
  int64_t max_input_chars = 0;
  size_t max_body_bytes = 1 << 20;
  size_t max_voice_body_bytes = 8 << 20;
  std::string voice_store = {};  // "" = the graph's (absent on the tiny model: an empty store)
  std::chrono::milliseconds idle_timeout{60000};     // both doors
  int max_connections = 512;                         // per door
  std::chrono::milliseconds request_timeout{60000};  // both doors
  std::chrono::milliseconds write_timeout{60000};    // both doors
};

// A service on the tiny graph with both servers on free ports.
struct Harness {
  explicit Harness(HarnessOptions ho = {}) {
    tts::GraphOverrides o;
    o.greedy = true;
    o.zero_noise = true;
    o.stream_text = ho.stream_text;
    o.voice_store = ho.voice_store;
    o.max_sessions = ho.max_sessions;  // the pipeline admits as many as the service
    tts::GraphInfo info;
    auto p = tts::LoadPipeline(ConfigPath("tts_tiny.json"), o, &info);
    REQUIRE_MESSAGE(p.ok(), p.status().ToString());
    REQUIRE((*p)->Start().ok());
    ServiceOptions so;
    so.max_sessions = ho.max_sessions;
    so.max_input_chars = ho.max_input_chars;
    auto s = SpeechService::Create(std::move(*p), info, so);
    REQUIRE_MESSAGE(s.ok(), s.status().ToString());
    service = std::move(*s);
    HttpServerOptions hs;
    hs.port = 0;
    hs.max_body_bytes = ho.max_body_bytes;
    hs.max_voice_body_bytes = ho.max_voice_body_bytes;
    hs.idle_timeout = ho.idle_timeout;
    hs.max_connections = ho.max_connections;
    hs.request_timeout = ho.request_timeout;
    hs.write_timeout = ho.write_timeout;
    auto h = HttpServer::Start(service.get(), hs);
    REQUIRE_MESSAGE(h.ok(), h.status().ToString());
    http_server = std::move(*h);
    WyomingServerOptions ws;
    ws.port = 0;
    ws.idle_timeout = ho.idle_timeout;
    ws.max_connections = ho.max_connections;
    ws.request_timeout = ho.request_timeout;
    ws.write_timeout = ho.write_timeout;
    auto w = WyomingServer::Start(service.get(), ws);
    REQUIRE_MESSAGE(w.ok(), w.status().ToString());
    wyoming = std::move(*w);
  }
  ~Harness() {
    http_server->Stop();
    wyoming->Stop();
  }

  // The in-process synthesis of `text` with `seed` (and `voice`) through the facade, as s16le.
  std::string Reference(const std::string& text, uint64_t seed, const std::string& voice = "") {
    TextRequest fields;
    fields.seed = seed;
    fields.voice = voice;
    auto out =
        tts::Synthesize(service->pipeline(), {text}, service->info().stream_text, {}, {}, fields);
    REQUIRE(out.ok());
    REQUIRE(out->result.status.ok());
    return ToPcm(out->audio);
  }

  // Polls up to 60 s (a cancelled session ends within a node step, which under COSYFLOW_ISA=scalar
  // on a loaded 2-core machine can take seconds); returns as soon as the service is idle.
  bool WaitIdle() {
    for (int i = 0; i < 6000 && service->in_flight() > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return service->in_flight() == 0;
  }

  std::unique_ptr<SpeechService> service;
  std::unique_ptr<HttpServer> http_server;
  std::unique_ptr<WyomingServer> wyoming;
};

inline tcp::socket Connect(net::io_context& ioc, int port) {
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  return s;
}

// Writes POST /v1/audio/speech with `body` on `s` (the response is the caller's to read).
inline void WriteSpeechRequest(tcp::socket& s, const json& body) {
  http::request<http::string_body> req{http::verb::post, "/v1/audio/speech", 11};
  req.set(http::field::host, "127.0.0.1");
  req.body() = body.dump();
  req.prepare_payload();
  http::write(s, req);
}

struct HttpResult {
  int status = 0;
  std::string content_type;
  std::string body;
  int body_pieces = 0;  // chunks of a chunked body as they arrived
};

inline HttpResult Request(int port, http::verb verb, const std::string& target,
                          const std::string& body) {
  net::io_context ioc;
  tcp::socket s = Connect(ioc, port);
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::write(s, req);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  HttpResult r;
  auto on_chunk = [&r](std::uint64_t, beast::string_view piece, beast::error_code&) {
    ++r.body_pieces;
    r.body.append(piece.data(), piece.size());
    return piece.size();
  };
  parser.on_chunk_body(on_chunk);
  http::read(s, buf, parser);
  const auto& res = parser.get();
  r.status = static_cast<int>(res.result_int());
  r.content_type = std::string(res[http::field::content_type]);
  if (!res.chunked()) r.body = res.body();
  return r;
}

inline HttpResult Post(int port, const json& body) {
  return Request(port, http::verb::post, "/v1/audio/speech", body.dump());
}

inline json ErrorOf(const HttpResult& r) {
  json j = json::parse(r.body, nullptr, false);
  REQUIRE_MESSAGE(j.is_object(), r.body);
  REQUIRE(j.contains("error"));
  CHECK(j["error"].contains("message"));
  CHECK(j["error"].contains("type"));
  CHECK(j["error"].contains("param"));
  return j["error"];
}

struct WsResult {
  json started, last;
  std::string audio;
  int frames = 0;
  bool cancelled_sent = false;
};

// start, the deltas, end (unless `send_end` is false); with `cancel`, a cancel after the first
// audio frame. Reads to the close.
inline WsResult RunWs(int port, const json& start, const std::vector<std::string>& deltas,
                      bool cancel = false, bool send_end = true) {
  net::io_context ioc;
  websocket::stream<tcp::socket> ws(Connect(ioc, port));
  ws.handshake("127.0.0.1", "/v1/audio/speech/stream");
  beast::error_code wec;  // the server may close first (errors): keep reading what it sent
  ws.write(net::buffer(start.dump()), wec);
  for (const auto& d : deltas) {
    ws.write(net::buffer(json{{"type", "text"}, {"text", d}}.dump()), wec);
  }
  if (send_end) ws.write(net::buffer(json{{"type", "end"}}.dump()), wec);
  WsResult r;
  while (true) {
    beast::flat_buffer buf;
    beast::error_code ec;
    ws.read(buf, ec);
    if (ec) break;  // closed by the server after done / cancelled / error
    const std::string msg = beast::buffers_to_string(buf.data());
    if (ws.got_binary()) {
      r.audio += msg;
      ++r.frames;
      if (cancel && !r.cancelled_sent) {
        ws.write(net::buffer(json{{"type", "cancel"}}.dump()), wec);
        r.cancelled_sent = true;
      }
      continue;
    }
    json j = json::parse(msg);
    if (j["type"] == "started") {
      r.started = j;
    } else {
      r.last = j;
    }
  }
  return r;
}

struct WyEvent {
  std::string type;
  json data;
  std::string payload;
};

class WyClient {
 public:
  explicit WyClient(int port) : socket_(Connect(ioc_, port)) {}
  void Send(const std::string& type, const json& data = json::object()) {
    // data in the data section (data_length), as the Python library writes it
    const std::string d = data.dump();
    json h{{"type", type}, {"version", "1.7.2"}};
    if (!data.empty()) h["data_length"] = d.size();
    std::string bytes = h.dump() + "\n" + (data.empty() ? "" : d);
    net::write(socket_, net::buffer(bytes));
  }
  WyEvent Read() {
    const size_t n = net::read_until(socket_, buf_, '\n');
    std::string line(static_cast<const char*>(buf_.data().data()), n);
    buf_.consume(n);
    json h = json::parse(line);
    WyEvent e;
    e.type = h["type"];
    e.data = h.value("data", json::object());
    auto take = [&](size_t len) {
      std::string out;
      while (out.size() < len) {
        if (buf_.size() == 0) net::read(socket_, buf_, net::transfer_at_least(1));
        const size_t k = std::min(len - out.size(), buf_.size());
        out.append(static_cast<const char*>(buf_.data().data()), k);
        buf_.consume(k);
      }
      return out;
    };
    if (h.contains("data_length")) e.data.update(json::parse(take(h["data_length"])));
    if (h.contains("payload_length")) e.payload = take(h["payload_length"]);
    return e;
  }
  // Reads audio-start, audio-chunk..., audio-stop.
  std::string ReadAudio(int* chunks) {
    WyEvent start = Read();
    REQUIRE(start.type == "audio-start");
    CHECK(start.data["rate"] == 24000);
    CHECK(start.data["width"] == 2);
    CHECK(start.data["channels"] == 1);
    std::string audio;
    *chunks = 0;
    while (true) {
      WyEvent e = Read();
      if (e.type == "audio-stop") break;
      REQUIRE(e.type == "audio-chunk");
      CHECK(e.data["rate"] == 24000);
      audio += e.payload;
      ++*chunks;
    }
    return audio;
  }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  net::streambuf buf_;
};

}  // namespace cosyflow::serving::testing
