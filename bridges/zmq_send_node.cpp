// ZmqSendNode: node adapter over BridgeClient.
#include "bridges/zmq_send_node.h"

#include <cassert>

#include <fmt/format.h>

#include "bridges/zmq_receive_node.h"
#include "graph/builtin_nodes.h"

namespace cosyflow::bridges {
namespace {

PayloadType TypeByName(const std::string& name) {
  auto t = ParsePayloadType(name);
  return t.ok() ? *t : PayloadType::kNone;
}

}  // namespace

void ZmqSendOptions::Parse(const nlohmann::json& j, const std::string& path, ErrorList* errors) {
  JsonObjectReader r(j, path, errors);
  r.Read("endpoint", &endpoint, /*required=*/true);
  r.Read("input", &input);
  r.ReadEnum("send", &send,
             {"TextRequest", "TextSegments", "TokenIds", "SpeechTokens", "Mel", "Audio"},
             /*required=*/true);
  r.ReadEnum("receive", &receive, {"", "TextRequest", "TextSegments", "TokenIds", "SpeechTokens",
                                   "Mel", "Audio"});
  r.Read("heartbeat_ms", &heartbeat_ms);
  r.Read("peer_timeout_ms", &peer_timeout_ms);
  r.Read("connect_timeout_ms", &connect_timeout_ms);
  r.Read("send_hwm", &send_hwm);
  r.Read("window", &window);
  r.Read("max_message_bytes", &max_message_bytes);
  r.Read("curve_server_public_key", &curve_server_public_key);
  r.Read("curve_public_key", &curve_public_key);
  r.Read("curve_secret_key", &curve_secret_key);
  r.Finish();
}

void ZmqSendOptions::Validate(const std::string& path, ErrorList* errors) const {
  if (const std::string problem = EndpointProblem(endpoint); !problem.empty()) {
    errors->Add(path + ".endpoint", "{}, got '{}'", problem, endpoint);
  }
  if (heartbeat_ms < 10 || heartbeat_ms > 60000) {
    errors->Add(path + ".heartbeat_ms", "must be in [10, 60000], got {}", heartbeat_ms);
  }
  if (peer_timeout_ms <= heartbeat_ms) {
    errors->Add(path + ".peer_timeout_ms", "must be > heartbeat_ms ({}), got {}", heartbeat_ms,
                peer_timeout_ms);
  }
  if (connect_timeout_ms < 1) {
    errors->Add(path + ".connect_timeout_ms", "must be >= 1, got {}", connect_timeout_ms);
  }
  if (send_hwm < 1) errors->Add(path + ".send_hwm", "must be >= 1, got {}", send_hwm);
  if (window < 1 || window > 65536) {
    errors->Add(path + ".window", "must be in [1, 65536], got {}", window);
  }
  if (max_message_bytes < 1024 || max_message_bytes >= (int64_t{1} << 31)) {
    errors->Add(path + ".max_message_bytes", "must be in [1024, 2^31), got {}",
                max_message_bytes);
  }
  const int curve = !curve_server_public_key.empty() + !curve_public_key.empty() +
                    !curve_secret_key.empty();
  if (curve != 0 && curve != 3) {
    errors->Add(path + ".curve_secret_key",
                "CURVE needs all of curve_server_public_key, curve_public_key and "
                "curve_secret_key, got {} of 3", curve);
  }
}

std::string ZmqSendOptions::ToString() const {
  return fmt::format("{{\"endpoint\": \"{}\", \"input\": \"{}\", \"send\": \"{}\", \"receive\": "
                     "\"{}\", \"heartbeat_ms\": {}, \"peer_timeout_ms\": {}, "
                     "\"connect_timeout_ms\": {}, \"curve\": {}}}",
                     endpoint, input, send, receive, heartbeat_ms, peer_timeout_ms,
                     connect_timeout_ms, curve_secret_key.empty() ? "false" : "true");
}

NodeSpec ZmqSendNode::Spec() {
  NodeSpec s;
  s.type = "ZmqSend";
  s.inputs = {{"in", PayloadType::kNone}};
  s.concurrency = Concurrency::kStateful;
  return s;
}

NodeSpec ZmqSendNode::SpecFor(const Options& o) {
  NodeSpec s = Spec();
  s.inputs = {{"in", TypeByName(o.send)}};
  if (!o.receive.empty()) s.outputs = {{"out", TypeByName(o.receive)}};
  return s;
}

Result<std::unique_ptr<Node>> ZmqSendNode::Create(const Options& o, const NodeContext& ctx) {
  BridgeClientOptions c;
  c.endpoint = o.endpoint;
  c.hello.input = o.input;
  c.hello.sends = TypeByName(o.send);
  c.hello.receives = o.receive.empty() ? PayloadType::kNone : TypeByName(o.receive);
  c.hello.peer = ctx.id;
  c.heartbeat_ms = o.heartbeat_ms;
  c.peer_timeout_ms = o.peer_timeout_ms;
  c.connect_timeout_ms = o.connect_timeout_ms;
  c.send_hwm = o.send_hwm;
  c.window = o.window;
  c.limits.max_message_bytes = static_cast<size_t>(o.max_message_bytes);
  if (!o.curve_secret_key.empty()) {
    c.curve.server_public_file = ctx.ResolvePath(o.curve_server_public_key);
    c.curve.public_file = ctx.ResolvePath(o.curve_public_key);
    c.curve.secret_file = ctx.ResolvePath(o.curve_secret_key);
  }
  COSY_ASSIGN_OR_RETURN(auto client, BridgeClient::Connect(c));
  return std::unique_ptr<Node>(new ZmqSendNode(std::move(client), !o.receive.empty(), ctx.id));
}

namespace {

// Never waits on the network inside a call: Post queues the message (held in the client while
// the server's credit is used up), and the session reports pending work while anything is held,
// returned messages wait to be emitted, or (after end of stream) the remote session is still
// open. Without returned messages it is Waiting(): the runner parks it, freeing the worker, and
// the client's wake (message arrived, credit released held ones, session failed) resumes it.
// Parked with messages held, the session takes no further input, so upstream queues fill up and
// the sending graph slows down to the remote graph's pace (backpressure, nothing dropped).
class ZmqSendSession : public NodeSession {
 public:
  ZmqSendSession(std::shared_ptr<BridgeClient> client, uint64_t id, bool has_output,
                 std::function<void()> wake)
      : client_(std::move(client)), id_(id), has_output_(has_output), parks_(bool(wake)) {
    client_->SetWake(id_, std::move(wake));
  }
  ~ZmqSendSession() override { client_->CloseSession(id_); }

  Status Process(int, const Message& message, Emitter& out) override {
    COSY_RETURN_IF_ERROR(client_->Post(id_, message.payload));
    return Drain(out, std::chrono::milliseconds(0));
  }

  Status Close(CloseReason reason, Emitter& out) override {
    if (reason != CloseReason::kEndOfStream) {
      client_->CloseSession(id_);  // cancels the remote session
      return OkStatus();
    }
    COSY_RETURN_IF_ERROR(client_->Post(id_, Payload{}, kFlagEndOfStream));
    closing_ = true;
    return Drain(out, std::chrono::milliseconds(0));
  }

  bool HasMoreWork() const override {
    if (ended_) return false;
    const BridgeClient::Progress p = client_->SessionProgress(id_);
    return closing_ || p.held > 0 || p.inbox > 0 || p.failed;
  }

  bool Waiting() const override {
    const BridgeClient::Progress p = client_->SessionProgress(id_);
    return p.inbox == 0 && !p.failed;
  }

  // A caller that cannot park (no wake) gets a short bounded wait instead of a busy loop.
  Status Continue(Emitter& out) override {
    return Drain(out, std::chrono::milliseconds(parks_ ? 0 : 20));
  }

 private:
  // Emits the returned messages that have arrived; waits up to `wait` for the first one.
  Status Drain(Emitter& out, std::chrono::milliseconds wait) {
    for (int i = 0; i < 1024 && !ended_; ++i) {
      COSY_ASSIGN_OR_RETURN(MessagePtr m, client_->Next(id_, i == 0 ? wait : wait.zero()));
      if (!m) return OkStatus();
      if (m->header.error()) {
        ended_ = true;
        const ErrorInfo* e = m->get<ErrorInfo>();
        if (!e) return Internal("bridge: remote session failed without details");
        return Status(e->status.code(), fmt::format("remote node '{}' failed: {}", e->node,
                                                    e->status.message()));
      }
      if (m->header.cancel()) {
        ended_ = true;
        return MakeError(StatusCode::kCancelled, "bridge: the remote session was cancelled");
      }
      if (m->type() != PayloadType::kNone && has_output_) out.Emit(0, m->payload);
      if (m->header.end_of_stream()) ended_ = true;
    }
    return OkStatus();
  }

  std::shared_ptr<BridgeClient> client_;
  uint64_t id_;
  bool has_output_;
  bool parks_;
  bool closing_ = false;
  bool ended_ = false;
};

}  // namespace

Result<std::unique_ptr<NodeSession>> ZmqSendNode::OpenSession(const SessionInfo& info) {
  auto id = client_->OpenSession();
  if (!id.ok()) return Status(id.status().code(), id_ + ": " + id.status().message());
  return std::unique_ptr<NodeSession>(
      new ZmqSendSession(client_, *id, has_output_, info.wake));
}

Status RegisterBridgeNodes(NodeRegistry& registry) {
  NodeTypeInfo info = MakeNodeType<ZmqSendNode>();
  info.spec_for_options = [](const NodeOptionsBase& o) {
    return ZmqSendNode::SpecFor(static_cast<const NodeOptionsHolder<ZmqSendOptions>&>(o).options);
  };
  COSY_RETURN_IF_ERROR(registry.Register(std::move(info)));
  NodeTypeInfo recv = MakeNodeType<ZmqReceiveNode>();
  recv.spec_for_options = [](const NodeOptionsBase& o) {
    return ZmqReceiveNode::SpecFor(
        static_cast<const NodeOptionsHolder<ZmqReceiveOptions>&>(o).options);
  };
  return registry.Register(std::move(recv));
}

const NodeRegistry& FullNodeRegistry() {
  static const NodeRegistry registry = [] {
    NodeRegistry r;
    Status s = RegisterBuiltinNodes(r);
    if (s.ok()) s = RegisterBridgeNodes(r);
    assert(s.ok() && "duplicate node type");
    (void)s;
    return r;
  }();
  return registry;
}

}  // namespace cosyflow::bridges
