// GraphExecutor: the oneTBB assembly of a validated plan (internal; embedders use Pipeline).
//
// Each graph node runs inside a Runner owning its sessions: per session a FIFO queue of
// inbound messages drained by at most one oneTBB task at a time, so messages of one session
// are processed serially and in order while different sessions run concurrently. Every
// exception from a node is caught in the runner and fails only that session (an Error message
// travels downstream, the session is cancelled upstream). Flow control: before each Process a
// runner checks that each downstream queue of the session holds fewer than max_in_flight
// messages; otherwise it parks the session until the consumer drains (backpressure). Control
// messages (end of stream, cancel, error) are never held back. A session whose node reports
// HasMoreWork() gets Continue calls, each a new task after the previous call's messages were
// sent downstream, under the same room check, before its next queued message; a cancel or an
// error drops that work. The bound per edge and session is max_in_flight + (data outputs per
// Process/Continue/Close call - 1) + 1 control message.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "graph/graph_plan.h"
#include "graph/session_state.h"
#include "nodes/core/node.h"

namespace cosyflow {

class Runner;

struct ExecutorCallbacks {
  // A message reached graph output `output` (data, end of stream, or error). Called from a
  // worker thread; must not block.
  std::function<void(const SessionPtr&, int output, const MessagePtr&)> on_output;
  // Every runner has closed the session.
  std::function<void(const SessionPtr&)> on_done;
};

class GraphExecutor {
 public:
  GraphExecutor(const GraphPlan& plan, std::vector<std::unique_ptr<Node>> nodes,
                ExecutorCallbacks callbacks);
  ~GraphExecutor();

  SessionPtr NewSession(uint64_t id);
  // Delivers a data payload to graph input `input`; waits while its queue is full (the
  // caller's thread, never a worker). Cancelled when the session was cancelled meanwhile.
  Status Push(const SessionPtr& s, int input, Payload payload);
  // End of stream on graph input `input`.
  void EndInput(const SessionPtr& s, int input);
  // Cancels the session everywhere; its nodes drop their state and emit nothing more.
  void Cancel(const SessionPtr& s);
  // Records a failure (first one wins) and cancels the session.
  void Fail(const SessionPtr& s, const std::string& node, Status status);
  // A pull-mode consumer removed one message of graph output `output`.
  void OutputConsumed(const SessionPtr& s, int output);
  // Waits for every scheduled task to finish.
  void WaitIdle();

  int max_in_flight() const { return max_in_flight_; }
  size_t num_runners() const { return runners_.size(); }
  // Largest per-session queue depth seen so far at each node (index = plan node index).
  std::vector<int> MaxQueueDepths() const;
  const GraphPlan& plan() const { return plan_; }
  // The created node at plan index `index` (immutable model; its sessions live elsewhere).
  const Node* node(int index) const { return nodes_[static_cast<size_t>(index)].get(); }

 private:
  friend class Runner;
  void Route(const SessionPtr& s, int node, int port, const MessagePtr& m);
  bool HasRoom(const SessionPtr& s, int node) const;
  void Unblock(const SessionPtr& s, int node);

  struct Impl;
  const GraphPlan& plan_;
  int max_in_flight_;
  ExecutorCallbacks callbacks_;
  std::unique_ptr<Impl> impl_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Runner>> runners_;
};

}  // namespace cosyflow
