// SessionSource: a node that opens sessions itself instead of being fed by the embedder — a
// network ingress such as the bridges' ZmqReceive, the receiving half of a split graph.
//
// Such a node type sets NodeSpec::source: it has no input ports, and the graph plan gives it an
// implicit graph input named after the node id (typed as its first output port). The node's
// class also derives from SessionSource; Pipeline::Start hands it the pipeline and that input
// name, and the node then opens sessions with Submit (an output callback routes every message
// of the session's graph outputs — data, end of stream, error — back to the node, which
// forwards them to its remote peer), Pushes what its peer sends into the implicit input (from
// its own threads, never a graph worker: Push waits for room) and ends or cancels them.
// Pipeline::Stop and the Pipeline destructor stop every source before the graph goes away.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "runtime/status.h"

namespace cosyflow {

class Pipeline;

class SessionSource {
 public:
  virtual ~SessionSource() = default;
  // Starts accepting sessions for graph input `input` of `pipeline` (started; it outlives the
  // source until StopSource returns).
  virtual Status StartSource(Pipeline* pipeline, const std::string& input) = 0;
  // Refuses new sessions and waits up to `timeout` for the open ones to finish, then cancels
  // the rest; returns how many had to be cancelled.
  virtual int DrainSource(std::chrono::milliseconds timeout) = 0;
  // Cancels open sessions and stops accepting; idempotent.
  virtual void StopSource() = 0;
  // Where peers reach it (bound endpoints, port 0 resolved), for ready lines and logs.
  virtual std::vector<std::string> SourceEndpoints() const = 0;
};

}  // namespace cosyflow
