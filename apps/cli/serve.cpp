// `cosyflow serve GRAPH.json`: runs a graph as a long-lived service behind a ZeroMQ ROUTER
// (bridges/bridge_server.h). Prints one JSON line when ready:
//   {"ready": true, "endpoints": {"ingress": "tcp://127.0.0.1:40123"}, ...}
// SIGINT/SIGTERM: refuse new sessions, drain the open ones (--drain-timeout-ms), exit 0.
#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "apps/cli/commands.h"
#include "bridges/bridge_server.h"
#include "bridges/zmq_send_node.h"
#include "graph/synthesis.h"

namespace cosyflow::cli {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
void OnSignal(int sig) { g_stop_signal = sig; }

struct ServeArgs {
  std::string graph;
  std::string model_dir;
  std::vector<std::string> bind = {"tcp://127.0.0.1:0"};
  std::string output;
  bool stream_text = false, greedy = false, zero_noise = false;
  int64_t seed = -1;
  int heartbeat_ms = 500, peer_timeout_ms = 10000, drain_timeout_ms = 30000;
  int64_t max_message_bytes = int64_t{64} << 20;
  std::string curve_secret_key;
};

Status RunServe(const ServeArgs& a) {
  tts::GraphOverrides o;
  o.model_dir = a.model_dir;
  o.stream_text = a.stream_text;
  o.greedy = a.greedy;
  o.zero_noise = a.zero_noise;
  if (a.seed >= 0) o.seed = a.seed;
  o.registry = &bridges::FullNodeRegistry();
  tts::GraphInfo info;
  COSY_ASSIGN_OR_RETURN(auto pipeline, tts::LoadPipeline(a.graph, o, &info));
  COSY_RETURN_IF_ERROR(pipeline->Start());
  bridges::BridgeServerOptions so;
  so.endpoints = a.bind;
  so.output = a.output;
  so.heartbeat_ms = a.heartbeat_ms;
  so.peer_timeout_ms = a.peer_timeout_ms;
  so.limits.max_message_bytes = static_cast<size_t>(a.max_message_bytes);
  so.curve.secret_file = a.curve_secret_key;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  COSY_ASSIGN_OR_RETURN(auto server, bridges::BridgeServer::Start(pipeline.get(), so));

  const GraphPlan& plan = pipeline->plan();
  nlohmann::json ready;
  ready["ready"] = true;
  nlohmann::json endpoints = nlohmann::json::object();
  for (size_t i = 0; i < server->endpoints().size(); ++i) {
    endpoints[i == 0 ? "ingress" : fmt::format("ingress{}", i)] = server->endpoints()[i];
  }
  ready["endpoints"] = endpoints;
  ready["graph"] = a.graph;
  nlohmann::json inputs = nlohmann::json::object();
  for (const auto& in : plan.inputs) inputs[in.name] = PayloadTypeName(in.type);
  ready["inputs"] = inputs;
  const int out = a.output.empty() ? 0 : plan.OutputIndex(a.output);
  ready["output"] = {{plan.outputs[out].name, PayloadTypeName(plan.outputs[out].type)}};
  ready["test_model"] = info.test_model;
  ready["curve"] = !a.curve_secret_key.empty();
  fmt::print("{}\n", ready.dump());
  std::fflush(stdout);

  while (g_stop_signal == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  fmt::print(stderr, "cosyflow serve: signal {}: draining {} open session(s)\n",
             static_cast<int>(g_stop_signal), server->open_sessions());
  const int cancelled = server->Drain(std::chrono::milliseconds(a.drain_timeout_ms));
  const auto st = server->stats();
  server->Stop();
  (void)pipeline->Stop(StopMode::kAbort);
  nlohmann::json bye;
  bye["stopped"] = true;
  bye["sessions_opened"] = st.sessions_opened;
  bye["sessions_closed"] = st.sessions_closed;
  bye["cancelled_at_drain"] = cancelled;
  bye["frames_received"] = st.frames_received;
  bye["rejected"] = st.rejected;
  fmt::print(stderr, "{}\n", bye.dump());
  return OkStatus();
}

}  // namespace

void RegisterServe(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Serve a graph to ZeroMQ clients (ZmqSend nodes, cosyflow say); prints a ready "
               "JSON line");
  cmd->add_option("graph", a->graph, "Graph file")->required();
  cmd->add_option("--model-dir", a->model_dir, "Override the graph's model_dir");
  cmd->add_option("--bind", a->bind, "Endpoints to bind (port 0 = a free port)")
      ->capture_default_str();
  cmd->add_option("--output", a->output, "Graph output streamed back (default: the first)");
  cmd->add_flag("--stream-text", a->stream_text, "Bi-stream text (TextNormalizer/SpeechLM)");
  cmd->add_flag("--greedy", a->greedy, "Greedy speech-token decoding");
  cmd->add_flag("--zero-noise", a->zero_noise, "Zero NSF noise in the vocoder");
  cmd->add_option("--seed", a->seed, "Vocoder noise seed")->check(CLI::Range(int64_t{0},
                                                                             int64_t{1} << 62));
  cmd->add_option("--heartbeat-ms", a->heartbeat_ms, "Heartbeat interval")
      ->check(CLI::Range(10, 60000));
  cmd->add_option("--peer-timeout-ms", a->peer_timeout_ms,
                  "Drop a silent client (and cancel its sessions) after this long")
      ->check(CLI::Range(20, 3600000));
  cmd->add_option("--drain-timeout-ms", a->drain_timeout_ms,
                  "On SIGINT/SIGTERM wait this long for open sessions, then cancel them");
  cmd->add_option("--max-message-bytes", a->max_message_bytes, "Largest accepted message")
      ->check(CLI::Range(int64_t{1024}, (int64_t{1} << 31) - 1));
  cmd->add_option("--curve-secret-key", a->curve_secret_key,
                  "Enable CURVE: the server's secret key file (Z85)");
  cmd->callback([a] {
    Status s = RunServe(*a);
    if (!s.ok()) {
      fmt::print(stderr, "cosyflow serve: {}\n", s.ToString());
      SetExitCode(1);
    }
  });
}

}  // namespace cosyflow::cli
