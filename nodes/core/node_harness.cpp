// NodeHarness: single-threaded node driver for tests.
#include "nodes/core/node_harness.h"

#include <exception>

namespace cosyflow {

struct NodeHarness::SessionRecord : Emitter {
  const NodeSpec* spec = nullptr;
  uint64_t id = 0;
  std::unique_ptr<NodeSession> state;
  std::vector<MessagePtr> outputs;
  std::vector<int> ports;
  std::vector<uint64_t> next_seq;
  uint64_t in_seq = 0;
  bool closed = false;
  Status emit_error;

  void Emit(int port, Payload payload) override {
    if (port < 0 || port >= static_cast<int>(spec->outputs.size())) {
      emit_error = Internal("node {}: emitted on output port {} of {}", spec->type, port,
                            spec->outputs.size());
      return;
    }
    if (TypeOf(payload) != spec->outputs[port].type) {
      emit_error = Internal("node {}: port {} expects {}, emitted {}", spec->type,
                            spec->outputs[port].name, PayloadTypeName(spec->outputs[port].type),
                            PayloadTypeName(TypeOf(payload)));
      return;
    }
    MessageHeader h;
    h.session_id = id;
    h.sequence = next_seq[port]++;
    h.emitted_ns = NowNs();
    outputs.push_back(MakeMessage(h, std::move(payload)));
    ports.push_back(port);
  }
};

NodeHarness::NodeHarness(NodeSpec spec, std::unique_ptr<Node> node)
    : spec_(std::move(spec)), node_(std::move(node)) {}

Status NodeHarness::Guard(uint64_t session, const char* what, const std::function<Status()>& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return Internal("node {}: session {}: {} threw: {}", spec_.type, session, what, e.what());
  } catch (...) {
    return Internal("node {}: session {}: {} threw a non-standard exception", spec_.type, session,
                    what);
  }
}

Status NodeHarness::Finish(uint64_t session, NodeSession* state, Emitter& out) {
  for (;;) {
    bool more = false;
    COSY_RETURN_IF_ERROR(Guard(session, "HasMoreWork", [&] {
      more = state->HasMoreWork();
      return OkStatus();
    }));
    if (!more) return OkStatus();
    COSY_RETURN_IF_ERROR(Guard(session, "Continue", [&] { return state->Continue(out); }));
  }
}

Status NodeHarness::Open(uint64_t session, const std::atomic<bool>* cancelled) {
  if (sessions_.count(session)) return InvalidArgument("harness: session {} already open", session);
  auto rec = std::make_shared<SessionRecord>();
  rec->spec = &spec_;
  rec->id = session;
  rec->next_seq.assign(spec_.outputs.size(), 0);
  Status s = Guard(session, "OpenSession", [&]() -> Status {
    COSY_ASSIGN_OR_RETURN(rec->state, node_->OpenSession(SessionInfo{session, cancelled}));
    return OkStatus();
  });
  if (!s.ok()) return s;
  sessions_[session] = rec;
  return OkStatus();
}

Status NodeHarness::Push(uint64_t session, int port, Payload payload) {
  auto it = sessions_.find(session);
  if (it == sessions_.end() || it->second->closed) {
    return InvalidArgument("harness: session {} is not open", session);
  }
  if (port < 0 || port >= static_cast<int>(spec_.inputs.size())) {
    return InvalidArgument("harness: node {} has no input port {}", spec_.type, port);
  }
  SessionRecord& rec = *it->second;
  MessageHeader h;
  h.session_id = session;
  h.sequence = rec.in_seq++;
  h.emitted_ns = NowNs();
  MessagePtr m = MakeMessage(h, std::move(payload));
  Status s = Guard(session, "Process", [&] { return rec.state->Process(port, *m, rec); });
  if (s.ok()) s = Finish(session, rec.state.get(), rec);
  if (s.ok() && !rec.emit_error.ok()) s = rec.emit_error;
  return s;
}

Status NodeHarness::Close(uint64_t session, CloseReason reason) {
  auto it = sessions_.find(session);
  if (it == sessions_.end() || it->second->closed) {
    return InvalidArgument("harness: session {} is not open", session);
  }
  SessionRecord& rec = *it->second;
  rec.closed = true;
  Status s = Guard(session, "Close", [&] { return rec.state->Close(reason, rec); });
  if (s.ok() && reason == CloseReason::kEndOfStream) s = Finish(session, rec.state.get(), rec);
  rec.state.reset();
  if (s.ok() && !rec.emit_error.ok()) s = rec.emit_error;
  return s;
}

const std::vector<MessagePtr>& NodeHarness::Outputs(uint64_t session) const {
  static const std::vector<MessagePtr> kEmpty;
  auto it = sessions_.find(session);
  return it == sessions_.end() ? kEmpty : it->second->outputs;
}

const std::vector<int>& NodeHarness::OutputPorts(uint64_t session) const {
  static const std::vector<int> kEmpty;
  auto it = sessions_.find(session);
  return it == sessions_.end() ? kEmpty : it->second->ports;
}

std::vector<float> NodeHarness::AudioSamples(uint64_t session) const {
  std::vector<float> all;
  for (const auto& m : Outputs(session)) {
    if (const auto* a = m->get<Audio>()) all.insert(all.end(), a->view().begin(), a->view().end());
  }
  return all;
}

}  // namespace cosyflow
