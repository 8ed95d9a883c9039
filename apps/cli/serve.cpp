// `cosyflow serve GRAPH.json`: runs a graph as a long-lived service behind a ZeroMQ ROUTER
// (bridges/bridge_server.h). A graph with ZmqReceive nodes is served through them (their
// `bind`, or --bind); any other graph gets an implicit ingress on its inputs. Prints one JSON
// line when ready:
//   {"ready": true, "endpoints": {"ingress": "tcp://127.0.0.1:40123"}, ...}
// SIGINT/SIGTERM: refuse new sessions (Rejected: "draining"), let the open ones finish
// (--drain-timeout-ms, then cancel them), exit 0.
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
#include "bridges/zmq_receive_node.h"
#include "bridges/zmq_send_node.h"
#include "graph/session_source.h"
#include "graph/synthesis.h"

namespace cosyflow::cli {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
void OnSignal(int sig) { g_stop_signal = sig; }

struct ServeArgs {
  std::string graph;
  std::string model_dir;
  std::vector<std::string> bind = {"tcp://127.0.0.1:0"};
  bool bind_given = false;  // --bind also replaces ZmqReceive nodes' bind
  std::string output;
  bool stream_text = false, greedy = false, zero_noise = false;
  int64_t seed = -1;
  int heartbeat_ms = 500, peer_timeout_ms = 10000, drain_timeout_ms = 30000;
  int64_t max_message_bytes = int64_t{64} << 20;
  std::string curve_secret_key, curve_allow;
  int window = 32;
  bool allow_paths = false;
};

// Totals over the serving sides (the implicit ingress or the graph's ZmqReceive nodes).
bridges::BridgeServerStats SumStats(const bridges::BridgeServer* server, const Pipeline& p,
                                    int* open) {
  bridges::BridgeServerStats t;
  auto add = [&](const bridges::BridgeServerStats& s, int n) {
    t.sessions_opened += s.sessions_opened;
    t.sessions_closed += s.sessions_closed;
    t.frames_received += s.frames_received;
    t.rejected += s.rejected;
    t.max_queued = std::max(t.max_queued, s.max_queued);
    t.max_unacked = std::max(t.max_unacked, s.max_unacked);
    *open += n;
  };
  *open = 0;
  if (server) add(server->stats(), server->open_sessions());
  for (const auto& [id, src] : p.sources()) {
    if (auto* r = dynamic_cast<bridges::ZmqReceiveNode*>(src)) add(r->stats(), r->open_sessions());
  }
  return t;
}

Status RunServe(const ServeArgs& a) {
  for (const std::string& e : a.bind) {
    if (const std::string problem = bridges::EndpointProblem(e); !problem.empty()) {
      return InvalidArgument("serve: --bind {}, got '{}'", problem, e);
    }
  }
  tts::GraphOverrides o;
  o.model_dir = a.model_dir;
  o.stream_text = a.stream_text;
  o.greedy = a.greedy;
  o.zero_noise = a.zero_noise;
  if (a.seed >= 0) o.seed = a.seed;
  o.registry = &bridges::FullNodeRegistry();
  if (a.bind_given && !a.bind.empty()) o.bridge_bind = a.bind[0];
  tts::GraphInfo info;
  COSY_ASSIGN_OR_RETURN(auto pipeline, tts::LoadPipeline(a.graph, o, &info));
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  COSY_RETURN_IF_ERROR(pipeline->Start());  // binds the ZmqReceive nodes
  std::unique_ptr<bridges::BridgeServer> server;
  std::vector<std::string> bound;
  nlohmann::json sources = nlohmann::json::object();
  for (const auto& [id, src] : pipeline->sources()) {
    for (const std::string& e : src->SourceEndpoints()) {
      bound.push_back(e);
      sources[id] = e;
    }
  }
  if (pipeline->sources().empty()) {
    bridges::BridgeServerOptions so;
    so.endpoints = a.bind;
    so.output = a.output;
    so.heartbeat_ms = a.heartbeat_ms;
    so.peer_timeout_ms = a.peer_timeout_ms;
    so.window = static_cast<uint32_t>(a.window);
    so.limits.max_message_bytes = static_cast<size_t>(a.max_message_bytes);
    so.curve.secret_file = a.curve_secret_key;
    so.curve_allow_file = a.curve_allow;
    so.allow_paths = a.allow_paths;
    COSY_ASSIGN_OR_RETURN(server, bridges::BridgeServer::Start(pipeline.get(), so));
    bound = server->endpoints();
  } else if (!a.curve_secret_key.empty() || !a.curve_allow.empty() || !a.output.empty() ||
             a.allow_paths) {
    return InvalidArgument(
        "serve: graph '{}' is served by its ZmqReceive nodes; set CURVE keys, "
        "the reply output and allow_paths in their options, not on the command "
        "line",
        a.graph);
  }

  const GraphPlan& plan = pipeline->plan();
  nlohmann::json ready;
  ready["ready"] = true;
  nlohmann::json endpoints = nlohmann::json::object();
  for (size_t i = 0; i < bound.size(); ++i) {
    endpoints[i == 0 ? "ingress" : fmt::format("ingress{}", i)] = bound[i];
  }
  ready["endpoints"] = endpoints;
  if (!sources.empty()) ready["sources"] = sources;
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
  int open = 0;
  (void)SumStats(server.get(), *pipeline, &open);
  fmt::print(stderr, "cosyflow serve: signal {}: draining {} open session(s)\n",
             static_cast<int>(g_stop_signal), open);
  const std::chrono::milliseconds drain(a.drain_timeout_ms);
  int cancelled = server ? server->Drain(drain) : 0;
  for (const auto& [id, src] : pipeline->sources()) cancelled += src->DrainSource(drain);
  const auto st = SumStats(server.get(), *pipeline, &open);
  if (server) server->Stop();
  (void)pipeline->Stop(StopMode::kAbort);
  nlohmann::json bye;
  bye["stopped"] = true;
  bye["sessions_opened"] = st.sessions_opened;
  bye["sessions_closed"] = st.sessions_closed;
  bye["cancelled_at_drain"] = cancelled;
  bye["frames_received"] = st.frames_received;
  bye["rejected"] = st.rejected;
  bye["max_queued"] = st.max_queued;
  bye["max_unacked"] = st.max_unacked;
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
  cmd->add_option("--bind", a->bind,
                  "Endpoints to bind (port 0 = a free port); with ZmqReceive nodes: their bind")
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
  cmd->add_option("--curve-allow", a->curve_allow,
                  "With CURVE: file of allowed client public keys (Z85, one per line)");
  cmd->add_option("--window", a->window, "Flow-control credit per session (messages)")
      ->check(CLI::Range(1, 65536));
  cmd->add_flag("--allow-paths", a->allow_paths,
                "Let clients name files on this host (TextRequest prompt_audio_path / "
                "source_audio_path); refused by default");
  cmd->callback([a, cmd] {
    a->bind_given = cmd->count("--bind") > 0;
    Status s = RunServe(*a);
    if (!s.ok()) {
      fmt::print(stderr, "cosyflow serve: {}\n", s.ToString());
      SetExitCode(1);
    }
  });
}

}  // namespace cosyflow::cli
