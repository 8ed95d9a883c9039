// ZmqReceiveNode: a BridgeServer feeding this node's implicit graph input.
#include "bridges/zmq_receive_node.h"

#include <fmt/format.h>

namespace cosyflow::bridges {
namespace {

// Hands each message the peer sent on to the graph.
class ZmqReceiveSession : public NodeSession {
 public:
  Status Process(int, const Message& message, Emitter& out) override {
    out.Emit(0, message.payload);
    return OkStatus();
  }
  Status Close(CloseReason, Emitter&) override { return OkStatus(); }
};

}  // namespace

void ZmqReceiveOptions::Parse(const nlohmann::json& j, const std::string& path, ErrorList* errors) {
  JsonObjectReader r(j, path, errors);
  r.Read("bind", &bind);
  r.ReadEnum("receive", &receive,
             {"TextRequest", "TextSegments", "TokenIds", "SpeechTokens", "Mel", "Audio"},
             /*required=*/true);
  r.Read("reply", &reply);
  r.Read("heartbeat_ms", &heartbeat_ms);
  r.Read("peer_timeout_ms", &peer_timeout_ms);
  r.Read("max_message_bytes", &max_message_bytes);
  r.Read("window", &window);
  r.Read("curve_secret_key", &curve_secret_key);
  r.Read("curve_allow", &curve_allow);
  r.Read("allow_paths", &allow_paths);
  r.Finish();
}

void ZmqReceiveOptions::Validate(const std::string& path, ErrorList* errors) const {
  if (const std::string problem = EndpointProblem(bind); !problem.empty()) {
    errors->Add(path + ".bind", "{}, got '{}'", problem, bind);
  }
  if (heartbeat_ms < 10 || heartbeat_ms > 60000) {
    errors->Add(path + ".heartbeat_ms", "must be in [10, 60000], got {}", heartbeat_ms);
  }
  if (peer_timeout_ms <= heartbeat_ms) {
    errors->Add(path + ".peer_timeout_ms", "must be > heartbeat_ms ({}), got {}", heartbeat_ms,
                peer_timeout_ms);
  }
  if (max_message_bytes < 1024 || max_message_bytes >= (int64_t{1} << 31)) {
    errors->Add(path + ".max_message_bytes", "must be in [1024, 2^31), got {}", max_message_bytes);
  }
  if (window < 1 || window > 65536) {
    errors->Add(path + ".window", "must be in [1, 65536], got {}", window);
  }
  if (!curve_allow.empty() && curve_secret_key.empty()) {
    errors->Add(path + ".curve_allow", "an allow-list needs CURVE (curve_secret_key)");
  }
}

std::string ZmqReceiveOptions::ToString() const {
  return fmt::format(
      "{{\"bind\": \"{}\", \"receive\": \"{}\", \"reply\": \"{}\", "
      "\"heartbeat_ms\": {}, \"peer_timeout_ms\": {}, \"window\": {}, "
      "\"curve\": {}, \"curve_allow\": \"{}\", \"allow_paths\": {}}}",
      bind, receive, reply, heartbeat_ms, peer_timeout_ms, window,
      curve_secret_key.empty() ? "false" : "true", curve_allow, allow_paths);
}

NodeSpec ZmqReceiveNode::Spec() {
  NodeSpec s;
  s.type = "ZmqReceive";
  s.outputs = {{"out", PayloadType::kNone}};
  s.concurrency = Concurrency::kStateless;
  s.source = true;
  return s;
}

NodeSpec ZmqReceiveNode::SpecFor(const Options& o) {
  NodeSpec s = Spec();
  auto t = ParsePayloadType(o.receive);
  s.outputs = {{"out", t.ok() ? *t : PayloadType::kNone}};
  return s;
}

Result<std::unique_ptr<Node>> ZmqReceiveNode::Create(const Options& o, const NodeContext& ctx) {
  BridgeServerOptions so;
  so.endpoints = {o.bind};
  so.output = o.reply;
  so.heartbeat_ms = o.heartbeat_ms;
  so.peer_timeout_ms = o.peer_timeout_ms;
  so.window = static_cast<uint32_t>(o.window);
  so.limits.max_message_bytes = static_cast<size_t>(o.max_message_bytes);
  so.allow_paths = o.allow_paths;
  if (!o.curve_secret_key.empty()) so.curve.secret_file = ctx.ResolvePath(o.curve_secret_key);
  if (!o.curve_allow.empty()) so.curve_allow_file = ctx.ResolvePath(o.curve_allow);
  return std::unique_ptr<Node>(new ZmqReceiveNode(std::move(so), ctx.id));
}

Result<std::unique_ptr<NodeSession>> ZmqReceiveNode::OpenSession(const SessionInfo&) {
  return std::unique_ptr<NodeSession>(new ZmqReceiveSession());
}

Status ZmqReceiveNode::StartSource(Pipeline* pipeline, const std::string& input) {
  if (server_) return OkStatus();
  BridgeServerOptions so = options_;
  so.input = input;
  auto server = BridgeServer::Start(pipeline, so);
  if (!server.ok()) {
    return Status(server.status().code(),
                  fmt::format("{} (ZmqReceive): {}", id_, server.status().message()));
  }
  server_ = std::move(*server);
  return OkStatus();
}

int ZmqReceiveNode::DrainSource(std::chrono::milliseconds timeout) {
  return server_ ? server_->Drain(timeout) : 0;
}

void ZmqReceiveNode::StopSource() {
  if (server_) server_->Stop();
}

std::vector<std::string> ZmqReceiveNode::SourceEndpoints() const {
  return server_ ? server_->endpoints() : std::vector<std::string>{};
}

BridgeServerStats ZmqReceiveNode::stats() const {
  return server_ ? server_->stats() : BridgeServerStats{};
}

int ZmqReceiveNode::open_sessions() const { return server_ ? server_->open_sessions() : 0; }

}  // namespace cosyflow::bridges
