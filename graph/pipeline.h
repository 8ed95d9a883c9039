// Pipeline: the public embedding API of cosyflow (see docs/embedding.md).
//
//   auto p = Pipeline::Load("configs/x.json", {.model_dir = "/models/cosyvoice2"});
//   (*p)->Start();
//   auto id = (*p)->Submit({.on_output = [](const std::string& out, const MessagePtr& m) {...}});
//   (*p)->Push(*id, "audio", audio); (*p)->EndInput(*id);   // or PushText / EndText
//   auto result = (*p)->Wait(*id);                           // status + timing
//
// Every method is thread-safe. Outputs arrive either through the session's callback (called
// on a worker thread; keep it short, never call Wait from it) or, without a callback, by
// blocking Pull. A session ends when every node has closed it: after EndInput (all outputs
// then end with an end-of-stream message), Cancel, or a node failure (an Error message).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "graph/graph_plan.h"
#include "nodes/core/message.h"
#include "nodes/core/node_registry.h"

namespace cosyflow {

class GraphExecutor;
class SessionSource;
struct SessionState;

using SessionId = uint64_t;
using OutputCallback = std::function<void(const std::string& output, const MessagePtr& message)>;

struct PipelineOverrides {
  std::string model_dir;             // replaces the file's model_dir when not empty
  int max_in_flight = 0;             // replaces limits.max_in_flight when > 0
  int threads = 0;                   // replaces limits.threads when > 0
  const NodeRegistry* registry = nullptr;  // node types; nullptr = the built-in ones
};

struct SubmitOptions {
  OutputCallback on_output;  // empty: outputs are queued for Pull
};

// Per node, relative to submit (-1 = never happened).
struct NodeSessionTiming {
  std::string node;
  int64_t first_input_ns = -1;   // first data message reached the node's queue
  int64_t first_output_ns = -1;  // the node sent its first data message
  int64_t closed_ns = -1;        // the node closed the session
  // Start of the node call (Process/Continue/Close) that produced that first message: the call
  // took first_output_ns - first_output_call_ns (e.g. the LM's prefill and first token, the
  // flow's first chunk).
  int64_t first_output_call_ns = -1;
  int64_t calls = 0;  // node calls for this session
};

struct SessionTiming {
  int64_t first_output_ns = -1;  // submit -> first data message at a graph output
  int64_t total_ns = -1;         // submit -> every node closed the session
  std::vector<std::pair<std::string, int64_t>> node_ns;  // time inside each node
  std::vector<NodeSessionTiming> nodes;                   // plan node order
};

struct SessionResult {
  Status status;          // Ok, the failing node's error, or kCancelled
  std::string failed_node;
  SessionTiming timing;
};

enum class StopMode { kDrain, kAbort };

class Pipeline {
 public:
  // Passes 1-3 on the graph file; every error is listed in the returned Status.
  static Result<std::unique_ptr<Pipeline>> Load(const std::string& graph_file,
                                                const PipelineOverrides& overrides = {});
  static Result<std::unique_ptr<Pipeline>> FromText(const std::string& json_text,
                                                    const PipelineOverrides& overrides = {});
  ~Pipeline();  // aborts open sessions

  // Starts the graph, then its session sources (nodes such as ZmqReceive, graph/session_source.h).
  Status Start();
  // Opens a session. ResourceExhausted beyond limits.max_sessions open sessions.
  Result<SessionId> Submit(SubmitOptions options = {});
  // Sends one data message to graph input `input`; waits while that input's queue is full.
  Status Push(SessionId id, const std::string& input, Payload payload);
  // Bi-stream text: a TextRequest chunk to the graph's (only) TextRequest input.
  Status PushText(SessionId id, TextRequest chunk);
  Status EndText(SessionId id);
  // Ends graph input `input` ("" = every input).
  Status EndInput(SessionId id, const std::string& input = "");
  // Stops the session's work promptly; nothing more is emitted for it.
  Status Cancel(SessionId id);
  // Pull mode: the next output message (data, end of stream or error), waiting up to
  // `timeout`; nullptr once every output has ended; DeadlineExceeded-like kUnavailable on timeout.
  Result<MessagePtr> Pull(SessionId id, std::string* output = nullptr,
                          std::chrono::milliseconds timeout = std::chrono::hours(24));
  // Waits until the session has ended everywhere, then forgets it.
  Result<SessionResult> Wait(SessionId id);
  // kDrain ends every session's inputs and waits; kAbort cancels them. Submit fails afterwards.
  // Session sources are drained (kDrain) or stopped first.
  Status Stop(StopMode mode = StopMode::kDrain);

  // The graph's session-source nodes (node id, source), plan order.
  const std::vector<std::pair<std::string, SessionSource*>>& sources() const { return sources_; }

  const GraphPlan& plan() const { return *plan_; }
  // The created node with id `id` (nullptr when absent), e.g. to reach a VoiceFrontend's voice
  // store; valid as long as the pipeline.
  const Node* FindNode(const std::string& id) const;
  // Largest per-session queue depth seen at each node (plan node order).
  std::vector<int> MaxQueueDepths() const;

 private:
  Pipeline() = default;
  static Result<std::unique_ptr<Pipeline>> Build(GraphFile file, const PipelineOverrides& o);
  Result<std::shared_ptr<SessionState>> Find(SessionId id) const;
  void OnOutput(const std::shared_ptr<SessionState>& s, int output, const MessagePtr& m);

  std::unique_ptr<GraphPlan> plan_;
  std::unique_ptr<GraphExecutor> executor_;
  mutable std::mutex mu_;
  std::unordered_map<SessionId, std::shared_ptr<SessionState>> sessions_;
  SessionId next_id_ = 1;
  std::vector<std::pair<std::string, SessionSource*>> sources_;  // owned by the executor's nodes
  bool sources_stopped_ = false;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace cosyflow
