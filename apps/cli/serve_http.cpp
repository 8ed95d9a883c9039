// `cosyflow http` and `cosyflow wyoming`: a TTS graph behind the network doors of serving/
// (docs/serving.md). Each prints one JSON line when ready, with the bound endpoints:
//   {"ready": true, "http": "http://127.0.0.1:8080", "websocket": "ws://...", ...}
// SIGINT/SIGTERM: new requests get 503, open ones drain (--drain-timeout-ms), then exit 0.
#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "apps/cli/commands.h"
#include "bridges/zmq_send_node.h"
#include "graph/synthesis.h"
#include "serving/http_server.h"
#include "serving/speech_service.h"
#include "serving/wyoming_server.h"

namespace cosyflow::cli {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
void OnSignal(int sig) { g_stop_signal = sig; }

struct DoorArgs {
  std::string graph, model_dir, precision, flow_precision, voice_store, lm_device, flow_device;
  std::string listen;   // http: HOST:PORT
  std::string wyoming;  // tcp://HOST:PORT
  bool stream_text = false, greedy = false, zero_noise = false, no_warm_up = false;
  int64_t seed = -1;
  int threads = 0, max_sessions = 0, drain_timeout_ms = 30000;
  int idle_timeout_s = -1, max_connections = 512;  // idle -1: each door's default
  int request_timeout_s = 60, write_timeout_s = 60;
  int64_t max_input_chars = 0, max_body_bytes = int64_t{1} << 20;
  int64_t max_voice_body_bytes = int64_t{8} << 20;
};

Status RunDoors(const DoorArgs& a, bool http) {
  tts::GraphOverrides o;
  o.model_dir = a.model_dir;
  o.stream_text = a.stream_text;
  o.greedy = a.greedy;
  o.zero_noise = a.zero_noise;
  if (a.seed >= 0) o.seed = a.seed;
  o.threads = a.threads;
  o.lm_precision = a.precision;
  o.flow_precision = a.flow_precision;
  o.lm_device = a.lm_device;
  o.flow_device = a.flow_device;
  o.max_sessions = a.max_sessions;  // the pipeline admits as many sessions as the doors
  o.voice_store = a.voice_store;
  o.registry = &bridges::FullNodeRegistry();
  tts::GraphInfo info;
  COSY_ASSIGN_OR_RETURN(auto pipeline, tts::LoadPipeline(a.graph, o, &info));
  COSY_RETURN_IF_ERROR(pipeline->Start());
  serving::ServiceOptions so;
  so.max_sessions = a.max_sessions;
  so.max_input_chars = a.max_input_chars;
  so.warm_up = !a.no_warm_up;
  COSY_ASSIGN_OR_RETURN(auto service,
                        serving::SpeechService::Create(std::move(pipeline), info, so));

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error code, not a signal
  nlohmann::json ready;
  ready["ready"] = true;
  std::unique_ptr<serving::HttpServer> http_server;
  std::unique_ptr<serving::WyomingServer> wyoming_server;
  if (http) {
    serving::HttpServerOptions ho;
    COSY_RETURN_IF_ERROR(serving::ParseHostPort(a.listen, &ho.host, &ho.port));
    ho.max_body_bytes = static_cast<size_t>(a.max_body_bytes);
    ho.max_voice_body_bytes = static_cast<size_t>(a.max_voice_body_bytes);
    if (a.idle_timeout_s >= 0) ho.idle_timeout = std::chrono::seconds(a.idle_timeout_s);
    ho.request_timeout = std::chrono::seconds(a.request_timeout_s);
    ho.write_timeout = std::chrono::seconds(a.write_timeout_s);
    ho.max_connections = a.max_connections;
    COSY_ASSIGN_OR_RETURN(http_server, serving::HttpServer::Start(service.get(), ho));
    ready["http"] = http_server->url();
    ready["websocket"] =
        fmt::format("ws://{}:{}/v1/audio/speech/stream", ho.host, http_server->port());
    ready["port"] = http_server->port();
  }
  if (!a.wyoming.empty()) {
    serving::WyomingServerOptions wo;
    COSY_RETURN_IF_ERROR(serving::ParseHostPort(a.wyoming, &wo.host, &wo.port));
    if (a.idle_timeout_s >= 0) wo.idle_timeout = std::chrono::seconds(a.idle_timeout_s);
    wo.request_timeout = std::chrono::seconds(a.request_timeout_s);
    wo.write_timeout = std::chrono::seconds(a.write_timeout_s);
    wo.max_connections = a.max_connections;
    COSY_ASSIGN_OR_RETURN(wyoming_server, serving::WyomingServer::Start(service.get(), wo));
    ready["wyoming"] = wyoming_server->uri();
    if (!http) ready["port"] = wyoming_server->port();
  }
  ready["graph"] = a.graph;
  ready["sample_rate"] = service->native_sample_rate();
  ready["max_sessions"] = service->max_sessions();
  ready["max_input_chars"] = service->max_input_chars();
  ready["stream_text"] = info.stream_text;
  ready["test_model"] = info.test_model;
  ready["voices"] = tts::VoiceIds(info);
  fmt::print("{}\n", ready.dump());
  std::fflush(stdout);

  while (g_stop_signal == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  fmt::print(stderr, "cosyflow: signal {}: draining {} request(s)\n",
             static_cast<int>(g_stop_signal), service->in_flight());
  const int cancelled = service->Drain(std::chrono::milliseconds(a.drain_timeout_ms));
  if (http_server) http_server->Stop();
  if (wyoming_server) wyoming_server->Stop();
  nlohmann::json bye;
  bye["stopped"] = true;
  bye["cancelled_at_drain"] = cancelled;
  fmt::print(stderr, "{}\n", bye.dump());
  return OkStatus();
}

void AddCommon(CLI::App* cmd, DoorArgs* a) {
  cmd->add_option("--graph", a->graph, "TTS graph file (configs/tts.json, configs/tts_tiny.json)")
      ->required();
  cmd->add_option("--model-dir", a->model_dir, "Override the graph's model_dir");
  cmd->add_option("--voices", a->voice_store,
                  "Voice store file (spk2info.pt) for the graph's VoiceFrontend: listed by "
                  "GET /v1/voices, written by POST/DELETE (default: its `voices` option; a "
                  "relative path is relative to the model_dir, as that option)");
  cmd->add_flag("--stream-text", a->stream_text,
                "Load the graph for bi-stream text: WebSocket text deltas and Wyoming "
                "synthesize-chunk events are synthesized while more text arrives");
  cmd->add_flag("--greedy", a->greedy, "Greedy speech-token decoding (deterministic)");
  cmd->add_flag("--zero-noise", a->zero_noise, "Zero NSF noise in the vocoder (deterministic)");
  cmd->add_option("--seed", a->seed, "Vocoder noise seed")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 62));
  cmd->add_option("--threads", a->threads, "Compute threads (default: the graph's)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--precision", a->precision, "SpeechLM linear weights: f32, bf16 or int8")
      ->check(CLI::IsMember({"f32", "bf16", "int8"}));
  cmd->add_option("--flow-precision", a->flow_precision,
                  "Flow GEMM weights: f32, bf16, int16 or auto (int16: for CPUs without bf16 "
                  "arithmetic; auto: bf16 where the CPU multiplies bf16 in hardware, else "
                  "int16; default: the graph's; docs/kernels.md)")
      ->check(CLI::IsMember({"f32", "bf16", "int16", "auto"}));
  cmd->add_option("--lm-device", a->lm_device,
                  "Device of the SpeechLM node: cpu or cuda (default: the graph's)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--flow-device", a->flow_device,
                  "Device of the Flow node's sampler: cpu or cuda (cuda runs it in f32; default: "
                  "the graph's)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--max-sessions", a->max_sessions,
                  "Requests in flight at once; more get 429 (default: the graph's "
                  "limits.max_sessions)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-input-chars", a->max_input_chars,
                  "Longest input in characters; longer gets 413 (default: the graph's "
                  "TextNormalizer.max_chars)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--idle-timeout", a->idle_timeout_s,
                  "Close a connection that sends no request for this many seconds (default: 60 "
                  "for HTTP, 300 for Wyoming; a Wyoming request in flight is never idle)")
      ->check(CLI::Range(1, 86400));
  cmd->add_option("--request-timeout", a->request_timeout_s,
                  "A request (HTTP header and body; a Wyoming event) must arrive whole within "
                  "this many seconds of its first byte, else 408 / a Wyoming error, and the "
                  "connection closes")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  cmd->add_option("--write-timeout", a->write_timeout_s,
                  "A client that accepts no byte of its reply (or of a WebSocket frame) for "
                  "this many seconds has its request cancelled and its connection closed")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  cmd->add_option("--max-connections", a->max_connections,
                  "Open connections per door; more are closed at once")
      ->check(CLI::Range(1, 65536));
  cmd->add_option("--drain-timeout-ms", a->drain_timeout_ms,
                  "On SIGINT/SIGTERM wait this long for open requests, then cancel them")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-warm-up", a->no_warm_up,
                "Skip the warm-up synthesis at start (the output rate is then assumed 24000)");
}

}  // namespace

void RegisterHttp(CLI::App& app) {
  auto a = std::make_shared<DoorArgs>();
  a->listen = "127.0.0.1:8080";
  CLI::App* cmd = app.add_subcommand(
      "http",
      "OpenAI-compatible speech over HTTP, a WebSocket bi-stream and a web page; prints "
      "a ready JSON line");
  AddCommon(cmd, a.get());
  cmd->add_option("--listen", a->listen, "HOST:PORT to listen on (port 0 = a free port)")
      ->capture_default_str();
  cmd->add_option("--wyoming", a->wyoming, "Also serve the Wyoming protocol on tcp://HOST:PORT");
  cmd->add_option("--max-body-bytes", a->max_body_bytes, "Largest request body; larger gets 413")
      ->check(CLI::Range(int64_t{1024}, int64_t{1} << 30));
  cmd->add_option("--max-voice-body-bytes", a->max_voice_body_bytes,
                  "Largest POST /v1/voices body (a base64 recording); larger gets 413")
      ->check(CLI::Range(int64_t{1024}, int64_t{1} << 30));
  cmd->callback([a] {
    Status s = RunDoors(*a, /*http=*/true);
    if (!s.ok()) {
      fmt::print(stderr, "cosyflow http: {}\n", s.ToString());
      SetExitCode(1);
    }
  });
}

void RegisterWyoming(CLI::App& app) {
  auto a = std::make_shared<DoorArgs>();
  a->wyoming = "tcp://127.0.0.1:10200";
  CLI::App* cmd = app.add_subcommand(
      "wyoming", "The Wyoming protocol (Home Assistant) over TCP; prints a ready JSON line");
  AddCommon(cmd, a.get());
  cmd->add_option("--listen", a->wyoming, "tcp://HOST:PORT to listen on (port 0 = a free port)")
      ->capture_default_str();
  cmd->callback([a] {
    Status s = RunDoors(*a, /*http=*/false);
    if (!s.ok()) {
      fmt::print(stderr, "cosyflow wyoming: {}\n", s.ToString());
      SetExitCode(1);
    }
  });
}

}  // namespace cosyflow::cli
