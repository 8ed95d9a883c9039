// NodeHarness: runs one node without oneTBB, for tests. Sessions are driven by hand and every
// emitted message is recorded per session; exceptions from the node are caught and reported as
// Status (as the graph runner does), so a test can assert on them.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "nodes/core/message.h"
#include "nodes/core/node.h"
#include "nodes/core/node_registry.h"

namespace cosyflow {

class NodeHarness {
 public:
  // Wraps an already created node described by `spec`.
  NodeHarness(NodeSpec spec, std::unique_ptr<Node> node);
  // Parses `options` (JSON) and creates a NodeT.
  template <typename NodeT>
  static Result<NodeHarness> Make(const nlohmann::json& options, NodeContext ctx = {}) {
    COSY_ASSIGN_OR_RETURN(auto opts, ParseNodeOptions<typename NodeT::Options>(options));
    COSY_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, NodeT::Create(opts, ctx));
    return NodeHarness(NodeT::Spec(), std::move(node));
  }

  // `cancelled` (may be null) is the session's cancel flag as the graph runner hands it over.
  Status Open(uint64_t session, const std::atomic<bool>* cancelled = nullptr);
  // Sends a data message on input `port` of the session; runs Continue until no work is left.
  Status Push(uint64_t session, int port, Payload payload);
  // Ends the session: kEndOfStream flushes (and runs Continue until done), kCancel/kError drop.
  Status Close(uint64_t session, CloseReason reason = CloseReason::kEndOfStream);

  // Messages emitted so far by the session, in order (with port in `ports`).
  const std::vector<MessagePtr>& Outputs(uint64_t session) const;
  const std::vector<int>& OutputPorts(uint64_t session) const;
  // Concatenated samples of every Audio output of the session.
  std::vector<float> AudioSamples(uint64_t session) const;
  // The node under test (for node-specific statistics).
  Node& node() { return *node_; }

 private:
  struct SessionRecord;
  Status Guard(uint64_t session, const char* what, const std::function<Status()>& fn);
  // Calls Continue while the session has more work (as the graph runner does, minus the
  // scheduling in between).
  Status Finish(uint64_t session, NodeSession* state, Emitter& out);

  NodeSpec spec_;
  std::unique_ptr<Node> node_;
  std::map<uint64_t, std::shared_ptr<SessionRecord>> sessions_;
};

}  // namespace cosyflow
