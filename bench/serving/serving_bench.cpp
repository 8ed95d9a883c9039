// cosyflow-bench-serving: first-byte latency of the HTTP (chunked audio) and WebSocket doors
// over the in-process first audio of the same request, and HTTP throughput at 1/8/32
// concurrent clients. Checks first: the HTTP audio equals the in-process audio (greedy, zero
// noise, same seed). Prints one JSON object.
//
//   cosyflow-bench-serving [--graph configs/tts_tiny.json] [--reps 20]
#include <fmt/format.h>

#include <algorithm>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "graph/synthesis.h"
#include "runtime/build_info.h"
#include "serving/http_server.h"
#include "serving/speech_service.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using nlohmann::json;
using namespace cosyflow;

constexpr const char* kText =
    "Hello there, how are you today? Fine, thanks. And you? I am well, thank you very much.";

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

tcp::socket Connect(net::io_context& ioc, int port) {
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  s.set_option(tcp::no_delay(true));
  return s;
}

// POST with stream_format audio (pcm): time to the first body byte, and the whole body.
double HttpFirstByte(int port, uint64_t seed, std::string* body) {
  net::io_context ioc;
  tcp::socket s = Connect(ioc, port);
  http::request<http::string_body> req{http::verb::post, "/v1/audio/speech", 11};
  req.set(http::field::host, "127.0.0.1");
  req.body() =
      json{{"input", kText}, {"seed", seed}, {"response_format", "pcm"}, {"stream_format", "audio"}}
          .dump();
  req.prepare_payload();
  const auto t0 = Clock::now();
  http::write(s, req);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  double first = -1;
  auto on_chunk = [&](std::uint64_t, beast::string_view piece, beast::error_code&) {
    if (first < 0) first = Ms(Clock::now() - t0);
    body->append(piece.data(), piece.size());
    return piece.size();
  };
  parser.on_chunk_body(on_chunk);
  http::read(s, buf, parser);
  if (parser.get().result_int() != 200) throw std::runtime_error("HTTP status not 200");
  return first;
}

double WsFirstFrame(int port, uint64_t seed) {
  net::io_context ioc;
  websocket::stream<tcp::socket> ws(Connect(ioc, port));
  ws.handshake("127.0.0.1", "/v1/audio/speech/stream");
  const auto t0 = Clock::now();
  ws.write(net::buffer(json{{"type", "start"}, {"seed", seed}}.dump()));
  ws.write(net::buffer(json{{"type", "text"}, {"text", kText}}.dump()));
  ws.write(net::buffer(json{{"type", "end"}}.dump()));
  double first = -1;
  while (true) {
    beast::flat_buffer buf;
    beast::error_code ec;
    ws.read(buf, ec);
    if (ec) break;
    if (ws.got_binary() && first < 0) first = Ms(Clock::now() - t0);
  }
  return first;
}

double InProcessFirstAudio(Pipeline& p, uint64_t seed, std::string* pcm) {
  TextRequest f;
  f.seed = seed;
  const auto t0 = Clock::now();
  auto s = tts::SpeechStream::Open(p, f, false);
  if (!s.ok() || !(*s)->Push(kText).ok() || !(*s)->End().ok()) throw std::runtime_error("open");
  std::vector<float> chunk;
  int rate = 0;
  double first = -1;
  while (true) {
    auto more = (*s)->Next(&chunk, &rate);
    if (!more.ok() || !*more) break;
    if (first < 0) first = Ms(Clock::now() - t0);
    for (float x : chunk) {
      const auto v = static_cast<int16_t>(std::lrint(std::clamp(x, -1.0f, 1.0f) * 32767.0f));
      pcm->push_back(static_cast<char>(v & 0xFF));
      pcm->push_back(static_cast<char>((v >> 8) & 0xFF));
    }
  }
  (void)(*s)->Finish();
  return first;
}

}  // namespace

int main(int argc, char** argv) {
  std::string graph = COSYFLOW_SOURCE_DIR "/configs/tts_tiny.json";
  int reps = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--graph") graph = argv[i + 1];
    if (k == "--reps") reps = std::max(1, std::atoi(argv[i + 1]));
  }
  tts::GraphOverrides o;
  o.greedy = true;
  o.zero_noise = true;
  o.max_sessions = 64;
  tts::GraphInfo info;
  auto p = tts::LoadPipeline(graph, o, &info);
  if (!p.ok() || !(*p)->Start().ok()) {
    fmt::print(stderr, "cosyflow-bench-serving: {}\n", p.status().ToString());
    return 1;
  }
  serving::ServiceOptions so;
  so.max_sessions = 64;
  auto service = serving::SpeechService::Create(std::move(*p), info, so);
  if (!service.ok()) return 1;
  serving::HttpServerOptions ho;
  ho.port = 0;
  auto server = serving::HttpServer::Start(service->get(), ho);
  if (!server.ok()) return 1;
  const int port = (*server)->port();
  Pipeline& pipeline = (*service)->pipeline();

  // Check first: the HTTP audio is the in-process audio.
  std::string ref, got;
  InProcessFirstAudio(pipeline, 3, &ref);
  HttpFirstByte(port, 3, &got);
  if (ref.empty() || got != ref) {
    fmt::print(stderr, "cosyflow-bench-serving: HTTP audio differs from in-process audio\n");
    return 1;
  }
  std::vector<double> inproc, http_first, ws_first;
  for (int r = 0; r < reps; ++r) {
    std::string a, b;
    inproc.push_back(InProcessFirstAudio(pipeline, 3, &a));
    http_first.push_back(HttpFirstByte(port, 3, &b));
    ws_first.push_back(WsFirstFrame(port, 3));
  }
  json out;
  out["bench"] = "serving";
  out["build"] = BuildInfo();
  out["graph"] = graph;
  out["reps"] = reps;
  out["audio_s"] = static_cast<double>(ref.size() / 2) / (*service)->native_sample_rate();
  out["first_audio_ms_p50"] = {{"in_process", Percentile(inproc, 0.5)},
                               {"http_chunked", Percentile(http_first, 0.5)},
                               {"websocket", Percentile(ws_first, 0.5)}};
  out["added_ms_p50"] = {{"http", Percentile(http_first, 0.5) - Percentile(inproc, 0.5)},
                         {"websocket", Percentile(ws_first, 0.5) - Percentile(inproc, 0.5)}};
  json throughput = json::array();
  for (int clients : {1, 8, 32}) {
    const int per_client = 2;
    const auto t0 = Clock::now();
    std::vector<std::future<bool>> fs;
    for (int c = 0; c < clients; ++c) {
      fs.push_back(std::async(std::launch::async, [&] {
        for (int k = 0; k < per_client; ++k) {
          std::string body;
          HttpFirstByte(port, 3, &body);
          if (body != ref) return false;
        }
        return true;
      }));
    }
    bool all_equal = true;
    for (auto& f : fs) all_equal = f.get() && all_equal;
    const double s = Ms(Clock::now() - t0) / 1000;
    const int n = clients * per_client;
    throughput.push_back({{"clients", clients},
                          {"requests", n},
                          {"all_audio_equal", all_equal},
                          {"requests_per_s", n / s},
                          {"audio_s_per_s", n * out["audio_s"].get<double>() / s}});
    if (!all_equal) {
      fmt::print(stderr, "cosyflow-bench-serving: a concurrent response differs\n");
      return 1;
    }
  }
  out["throughput"] = throughput;
  fmt::print("{}\n", out.dump(2));
  (*server)->Stop();
  return 0;
}
