// Load and faults on the HTTP door, on 127.0.0.1, bounded in count and time (generous
// timeouts only prevent hangs; nothing here is timed): 32 concurrent streaming clients all get
// the in-process audio; clients that leave mid-stream free their sessions (the
// cosyflow_sessions_in_flight metric returns to 0); a slow reader neither grows the server's
// memory nor holds up other clients; a few hundred mutated requests (bodies and raw HTTP)
// get answers, never a crash, and a normal request succeeds afterwards; idle connections,
// requests that never arrive whole and clients that stop reading are cut off by their timeouts.
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <chrono>
#include <random>
#include <thread>

#include "tests/serving/serving_harness.h"

namespace cosyflow::serving {
namespace {

using namespace testing;  // NOLINT

constexpr const char* kShortText = "Hello there, how are you today? Fine, thanks.";

// cosyflow_sessions_in_flight from GET /metrics.
int SessionsInFlight(int port) {
  const HttpResult r = Request(port, http::verb::get, "/metrics", "");
  REQUIRE(r.status == 200);
  const std::string key = "\ncosyflow_sessions_in_flight ";
  const size_t at = r.body.find(key);
  REQUIRE(at != std::string::npos);
  return std::stoi(r.body.substr(at + key.size()));
}

bool MetricReturnsToZero(int port) {
  for (int i = 0; i < 1200; ++i) {  // 120 s at most (8 cancelled sessions on 2 scalar cores)
    if (SessionsInFlight(port) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// The resident set of this process (the server runs in it), kB.
int64_t RssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s + " ";
  return out;
}

// Sends a streaming speech request on `s` and reads the response header.
void StartStream(tcp::socket& s, const std::string& text, beast::flat_buffer* buf,
                 http::response_parser<http::buffer_body>* parser) {
  WriteSpeechRequest(s, {{"input", text}, {"stream_format", "audio"}, {"response_format", "pcm"}});
  http::read_header(s, *buf, *parser);
}

TEST_CASE("serving/load: 32 concurrent streaming clients all get the in-process audio") {
  Harness h(HarnessOptions{.max_sessions = 32});
  const int port = h.http_server->port();
  const std::string ref = h.Reference(kShortText, 11);
  std::vector<std::future<HttpResult>> clients;
  for (int i = 0; i < 32; ++i) {
    clients.push_back(std::async(std::launch::async, [&] {
      return Post(port, {{"input", kShortText},
                         {"seed", 11},
                         {"stream_format", "audio"},
                         {"response_format", "pcm"}});
    }));
  }
  int equal = 0;
  for (auto& c : clients) {
    const HttpResult r = c.get();
    CHECK(r.status == 200);
    equal += r.body == ref;
  }
  CHECK(equal == 32);
  CHECK(MetricReturnsToZero(port));
}

TEST_CASE("serving/load: clients leaving mid-stream free their sessions") {
  Harness h(HarnessOptions{.max_sessions = 8});
  const int port = h.http_server->port();
  const std::string text = Repeat(kLongText, 6);
  std::vector<std::thread> leavers;
  for (int i = 0; i < 8; ++i) {
    leavers.emplace_back([&, i] {
      net::io_context ioc;
      tcp::socket s = Connect(ioc, port);
      beast::flat_buffer buf;
      http::response_parser<http::buffer_body> parser;
      StartStream(s, text, &buf, &parser);
      if (i % 2 == 1) {  // half read some audio first
        char bytes[4096];
        parser.get().body().data = bytes;
        parser.get().body().size = sizeof bytes;
        beast::error_code ec;
        http::read_some(s, buf, parser, ec);
      }
      s.close();  // gone mid-stream
    });
  }
  for (auto& t : leavers) t.join();
  CHECK(MetricReturnsToZero(port));
  CHECK(h.WaitIdle());
  // The slots are free again: a full house of requests is admitted.
  CHECK(Post(port, {{"input", "Hi."}}).status == 200);
}

TEST_CASE("serving/load: a slow reader keeps the server's memory bounded, others proceed") {
  Harness h(HarnessOptions{.max_sessions = 8});
  const int port = h.http_server->port();
  const std::string ref = h.Reference(kShortText, 2);
  auto others_run = [&] {
    int ok = 0;
    for (int i = 0; i < 4; ++i) {
      const HttpResult r =
          Post(port, {{"input", kShortText}, {"seed", 2}, {"response_format", "pcm"}});
      ok += r.status == 200 && r.body == ref;
    }
    return ok;
  };
  // ~3000 characters: far more audio than the 1 KiB/s this client reads; a small receive
  // buffer so the kernel holds little of it either.
  net::io_context ioc;
  tcp::socket slow(ioc);
  slow.open(tcp::v4());
  slow.set_option(net::socket_base::receive_buffer_size(4096));
  slow.connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  StartStream(slow, Repeat(kLongText, 20), &buf, &parser);
  REQUIRE(parser.get().result_int() == 200);
  size_t read_total = 0;
  auto read_slowly = [&](int ticks) {  // 1 KiB per 100 ms; the largest RSS seen
    int64_t rss_max = 0;
    for (int tick = 0; tick < ticks; ++tick) {
      char bytes[1024];
      parser.get().body().data = bytes;
      parser.get().body().size = sizeof bytes;
      beast::error_code ec;
      read_total += http::read_some(slow, buf, parser, ec);
      if (ec && ec != http::error::need_buffer) break;
      rss_max = std::max(rss_max, RssKb());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return rss_max;
  };
  // Warm: the slow session's state exists, other requests have run beside it (threads,
  // allocator arenas, their sessions' scratch). From here on memory must not grow with the
  // audio the slow client has not read.
  auto warm = std::async(std::launch::async, others_run);
  read_slowly(10);
  CHECK(warm.get() == 4);
  const int64_t rss_before = RssKb();
  REQUIRE(rss_before > 0);
  // Other clients are served meanwhile, with the right audio; then the slow reader alone.
  auto others = std::async(std::launch::async, others_run);
  const int64_t rss_busy = std::max(rss_before, read_slowly(20));
  CHECK(others.get() == 4);
  read_slowly(10);  // their sessions close on the server after the clients have the audio
  const int64_t rss_alone_start = RssKb();
  const int64_t rss_alone = std::max(rss_alone_start, read_slowly(20));
  MESSAGE("slow reader: read ", read_total, " bytes in 6 s; server RSS ", rss_before, " kB, max ",
          rss_busy, " kB beside 4 other requests, then ", rss_alone_start, " -> ", rss_alone,
          " kB alone");
  // Stated bounds: at most 128 MiB over the warm state beside other requests (their sessions'
  // scratch and threads come and go), and at most 32 MiB over the slow reader's last 2 s
  // alone. These catch leaks and per-chunk growth; they cannot tell backpressure from
  // buffering on the tiny model, whose whole answer here is only ~5 MB of audio.
  CHECK(rss_busy - rss_before < 128 * 1024);
  CHECK(rss_alone - rss_alone_start < 32 * 1024);
  slow.close();
  CHECK(MetricReturnsToZero(port));
}

TEST_CASE("serving/faults: mutated requests get answers, never a crash; then a request works") {
  Harness h(HarnessOptions{.max_input_chars = 400, .max_body_bytes = 8192});
  const int port = h.http_server->port();
  std::mt19937 rng(20261203);
  const std::string valid = json{
      {"input", "Hi."},
      {"voice", "default"},
      {"response_format", "pcm"},
      {"speed", 1.0}}.dump();
  const std::vector<std::string> pieces = {"\"",    "{",     "}",         "[",    ":",
                                           ",",     "\\u00", "\xff",      "\xc3", "null",
                                           "1e999", "-",     "\"input\"", "\0"};
  int answered = 0, errors = 0, errors_json = 0;
  for (int i = 0; i < 240; ++i) {
    std::string body = valid;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % (body.size() + 1);
      switch (rng() % 4) {
        case 0:
          body.insert(at, pieces[rng() % pieces.size()]);
          break;
        case 1:
          if (at < body.size()) body.erase(at, 1 + rng() % 8);
          break;
        case 2:
          if (at < body.size()) body[at] = static_cast<char>(rng() % 256);
          break;
        default:
          body.insert(at, std::string(rng() % 3 == 0 ? 9000 : 40, 'a'));
          break;
      }
    }
    const HttpResult r = Request(port, http::verb::post, "/v1/audio/speech", body);
    CAPTURE(body.substr(0, 100));
    CHECK(((r.status >= 400 && r.status < 500) || r.status == 200));
    ++answered;
    if (r.status >= 400) {
      ++errors;
      const json j = json::parse(r.body, nullptr, false);
      errors_json += j.is_object() && j.contains("error");
    }
  }
  CHECK(answered == 240);
  CHECK(errors_json == errors);  // every refusal is a JSON error
  CHECK(errors > 120);
  // Raw HTTP: the request line, headers and body mutated; the client then stops sending.
  const std::string raw_valid =
      "POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(valid.size()) + "\r\n\r\n" + valid;
  int raw_answers = 0;
  for (int i = 0; i < 60; ++i) {
    std::string raw = raw_valid;
    for (int e = 0; e < 3; ++e) raw[rng() % raw.size()] = static_cast<char>(rng() % 256);
    net::io_context ioc;
    tcp::socket s = Connect(ioc, port);
    net::write(s, net::buffer(raw));
    s.shutdown(tcp::socket::shutdown_send);
    timeval tv{10, 0};  // a server that waits forever fails the read, not the test run
    setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string reply;
    beast::error_code ec;
    net::read(s, net::dynamic_buffer(reply), ec);
    CHECK(ec == net::error::eof);  // the server answered (or closed) and closed
    raw_answers += reply.rfind("HTTP/1.1 ", 0) == 0;
  }
  MESSAGE("mutated bodies: ", answered, " answered, ", errors_json,
          " JSON errors; raw: ", raw_answers, " of 60 answered with a status line");
  CHECK(raw_answers > 30);
  // Still serving, with the right audio.
  CHECK(Post(port, {{"input", kShortText}, {"response_format", "pcm"}}).body ==
        h.Reference(kShortText, 0));
  CHECK(MetricReturnsToZero(port));
}

// Whether the server closed `s` within `within` (a read returns EOF / reset, not a timeout).
bool ClosedByServer(tcp::socket& s, std::chrono::milliseconds within) {
  if (!WaitReadable(s, within)) return false;
  char c;
  boost::system::error_code ec;
  s.read_some(net::buffer(&c, 1), ec);
  return ec == net::error::eof || ec == net::error::connection_reset;
}

TEST_CASE(
    "serving/faults: idle connections are closed; past max_connections new ones are refused") {
  HarnessOptions ho;
  ho.idle_timeout = std::chrono::milliseconds(700);
  ho.max_connections = 3;
  Harness h(ho);
  net::io_context ioc;
  for (int port : {h.http_server->port(), h.wyoming->port()}) {
    CAPTURE(port);
    // Three connections that send nothing fill the door; a fourth is closed at once.
    std::vector<tcp::socket> idle;
    for (int i = 0; i < 3; ++i) idle.push_back(Connect(ioc, port));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // accepted
    tcp::socket extra = Connect(ioc, port);
    CHECK(ClosedByServer(extra, std::chrono::milliseconds(500)));
    // The idle ones are closed after the idle timeout (not before half of it).
    CHECK(!ClosedByServer(idle[0], std::chrono::milliseconds(300)));
    for (auto& s : idle) CHECK(ClosedByServer(s, std::chrono::milliseconds(5000)));
  }
  // Then the doors serve again (the idle connections' threads were reaped).
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto r = Post(h.http_server->port(), {{"input", "Hello."}, {"response_format", "pcm"}});
  CHECK(r.status == 200);
  // A request sent before the idle timeout is served, and the keep-alive connection then idles
  // out too.
  tcp::socket s = Connect(ioc, h.http_server->port());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  WriteSpeechRequest(s, {{"input", "Hello."}, {"response_format", "pcm"}});
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  beast::error_code ec;
  http::read(s, buf, res, ec);
  REQUIRE(!ec);
  CHECK(res.result_int() == 200);
  CHECK(ClosedByServer(s, std::chrono::milliseconds(5000)));
}

// Everything the server sends on `s` until it closes the connection (waiting at most `within`
// for each piece); `closed` tells whether it did.
std::string ReadToClose(tcp::socket& s, std::chrono::milliseconds within, bool* closed) {
  std::string out;
  *closed = false;
  while (WaitReadable(s, within)) {
    char bytes[65536];
    boost::system::error_code ec;
    const size_t n = s.read_some(net::buffer(bytes), ec);
    out.append(bytes, n);
    if (ec) {
      *closed = ec == net::error::eof || ec == net::error::connection_reset;
      break;
    }
  }
  return out;
}

// A client that sends part of a request and then nothing (or a byte at a time) held its
// connection's thread for good: the idle timeout covered only the wait for a request's first
// byte. With max_connections such clients locked every other client out. Now the whole
// request (HTTP header and body; a Wyoming event's header line, data and payload) must arrive
// within request_timeout of its first byte: HTTP answers 408, Wyoming `error` (code
// "timeout"), and the connection closes.
TEST_CASE("serving/faults: a request that does not arrive whole within request_timeout is cut") {
  HarnessOptions ho;
  ho.request_timeout = std::chrono::milliseconds(1000);
  ho.max_connections = 3;  // the three held connections fill each door
  Harness h(ho);
  net::io_context ioc;
  const int http_port = h.http_server->port(), wy_port = h.wyoming->port();
  struct Case {
    int port;
    std::string bytes;  // sent at once; the rest never comes
    std::string expect;
  };
  const std::vector<Case> cases = {
      {http_port, "GET /healthz HTTP/1.1\r\nHost: x\r\n", "HTTP/1.1 408"},  // partial header
      {http_port, "POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
       "HTTP/1.1 408"},                                                            // short body
      {wy_port, "{\"type\":\"ping\"", "\"timeout\""},                              // no newline
      {wy_port, "{\"type\":\"ping\",\"data_length\":100}\n{", "\"timeout\""},      // short data
      {wy_port, "{\"type\":\"ping\",\"payload_length\":100}\nab", "\"timeout\""},  // payload
  };
  for (int round = 0; round < 2; ++round) {  // twice: the first round's connections were freed
    // The peer sees a connection close just before its thread ends and stops counting toward
    // max_connections: wait for that, or a new connection may still be refused.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while ((h.http_server->open_connections() > 0 || h.wyoming->open_connections() > 0) &&
           std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::vector<tcp::socket> held;
    for (const Case& c : cases) {
      held.push_back(Connect(ioc, c.port));
      net::write(held.back(), net::buffer(c.bytes));
    }
    // Not before the request timeout (nothing arrives in its first 300 ms)...
    CHECK(!WaitReadable(held[0], std::chrono::milliseconds(300)));
    for (size_t i = 0; i < cases.size(); ++i) {
      CAPTURE(round);
      CAPTURE(cases[i].bytes);
      bool closed = false;  // ... and then the answer, and the close
      const std::string got = ReadToClose(held[i], std::chrono::milliseconds(15000), &closed);
      CHECK(closed);
      CHECK_MESSAGE(got.find(cases[i].expect) != std::string::npos, got);
    }
  }
  // A client trickling a header a byte at a time is cut too: the deadline is the request's,
  // not each read's.
  tcp::socket trickle = Connect(ioc, http_port);
  const std::string header =
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + std::string(200, 'a') + "\r\n\r\n";
  bool answered = false;
  for (size_t i = 0; i < header.size() && !answered; ++i) {
    boost::system::error_code ec;
    net::write(trickle, net::buffer(&header[i], 1), ec);
    answered = ec || WaitReadable(trickle, std::chrono::milliseconds(100));
  }
  REQUIRE(answered);  // long before the whole header was sent (~20 s)
  bool closed = false;
  CHECK(ReadToClose(trickle, std::chrono::milliseconds(15000), &closed).find("HTTP/1.1 408") !=
        std::string::npos);
  CHECK(closed);
  // Both doors serve again.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the threads are reaped
  CHECK(Post(http_port, {{"input", "Hello."}, {"response_format", "pcm"}}).status == 200);
  WyClient c(wy_port);
  c.Send("ping");
  CHECK(c.Read().type == "pong");
}

// A client that sends a request and then never reads kept its max_sessions slot for as long
// as it stayed connected: the server's writes had no time limit. Now a reply (or WebSocket
// frame) of which the client accepts no byte for write_timeout is given up: the request is
// cancelled, its slot freed and the connection closed. One door at a time, max_sessions 1.
TEST_CASE("serving/faults: a client that stops reading loses its request after write_timeout") {
  HarnessOptions ho;
  ho.max_sessions = 1;
  ho.write_timeout = std::chrono::milliseconds(2000);
  Harness h(ho);
  const int port = h.http_server->port();
  // ~6000 characters: ~10 MB of audio, far more than the socket buffers hold.
  const std::string text = Repeat(kLongText, 40);
  for (const std::string door : {"http", "ws", "wyoming"}) {
    CAPTURE(door);
    net::io_context ioc;
    tcp::socket s(ioc);
    s.open(tcp::v4());
    s.set_option(net::socket_base::receive_buffer_size(4096));
    const int to = door == "wyoming" ? h.wyoming->port() : port;
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(to)));
    if (door == "wyoming") {
      const std::string d = json{{"text", text}}.dump();
      net::write(s, net::buffer(json{{"type", "synthesize"}, {"data_length", d.size()}}.dump() +
                                "\n" + d));
    } else if (door == "ws") {
      // The handshake and the messages by hand: this client reads nothing after the upgrade.
      const std::string upgrade =
          "GET /v1/audio/speech/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n\r\n";
      net::write(s, net::buffer(upgrade));
      net::streambuf response;  // (RFC 6455: no frame before the server's handshake answer)
      net::read_until(s, response, "\r\n\r\n");
      auto frame = [](const std::string& payload) {  // masked text frame (mask 0: XOR no-op)
        std::string f = "\x81";
        if (payload.size() < 126) {
          f += static_cast<char>(0x80 | payload.size());
        } else {
          f += static_cast<char>(0x80 | 126);
          f += static_cast<char>(payload.size() >> 8);
          f += static_cast<char>(payload.size() & 0xFF);
        }
        return f + std::string(4, '\0') + payload;
      };
      net::write(s, net::buffer(frame(R"({"type":"start"})") +
                                frame(json{{"type", "text"}, {"text", text}}.dump()) +
                                frame(R"({"type":"end"})")));
    } else {
      WriteSpeechRequest(s,
                         {{"input", text}, {"response_format", "pcm"}, {"stream_format", "audio"}});
    }
    for (int i = 0; i < 6000 && h.service->in_flight() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // The stalled request is given up (it would take ~100 s of audio to finish otherwise, and
    // could not: nothing is read), while the client stays connected.
    REQUIRE(h.service->in_flight() == 1);
    CHECK(h.WaitIdle());
    const HttpResult other = Post(port, {{"input", "Hi."}, {"response_format", "pcm"}});
    CHECK(other.status == 200);
    // The server closed the stalled connection: what the buffers held, then the end.
    bool closed = false;
    const std::string got = ReadToClose(s, std::chrono::milliseconds(15000), &closed);
    CHECK(closed);
    CHECK(got.size() < 10'000'000);
  }
}

}  // namespace
}  // namespace cosyflow::serving
