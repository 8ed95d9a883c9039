// SessionState: what every runner shares about one session (flags, flow-control counters,
// timing). Internal to graph/.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <memory>
#include <mutex>
#include <vector>

#include "nodes/core/message.h"

namespace cosyflow {

struct SessionState {
  SessionState(uint64_t session_id, size_t runners, size_t inputs, size_t outputs)
      : id(session_id),
        queued(runners + outputs),
        runner_closed(runners),
        node_ns(runners),
        first_input_ns(runners),
        first_emit_ns(runners),
        first_emit_call_ns(runners),
        calls(runners),
        closed_ns(runners),
        input_seq(inputs),
        remaining(static_cast<int>(runners)) {}

  const uint64_t id;
  std::atomic<bool> cancelled{false};
  std::atomic<bool> cancel_injected{false};
  std::atomic<bool> failed{false};
  // Messages waiting in each runner's queue (then each pull-mode graph output) for this session.
  std::vector<std::atomic<int>> queued;
  std::vector<std::atomic<bool>> runner_closed;
  std::vector<std::atomic<int64_t>> node_ns;  // time spent in Process/Continue/Close per runner
  // Steady-clock times per runner (0 = not yet): first data message delivered to its queue,
  // first data message it sent, and when it closed the session.
  std::vector<std::atomic<int64_t>> first_input_ns;
  std::vector<std::atomic<int64_t>> first_emit_ns;
  std::vector<std::atomic<int64_t>> first_emit_call_ns;  // start of the call that first emitted
  std::vector<std::atomic<int64_t>> calls;  // Process/Continue/Close calls per runner
  std::vector<std::atomic<int64_t>> closed_ns;
  std::vector<std::atomic<uint64_t>> input_seq;  // next sequence number per graph input
  std::atomic<int> remaining;                 // runners that have not closed the session
  int64_t start_ns = NowNs();
  std::atomic<int64_t> first_output_ns{0};
  std::atomic<int64_t> done_ns{0};

  // Guards `error` and wakes producers waiting for room and callers waiting for the end.
  std::mutex mu;
  std::condition_variable cv;
  Status error;
  std::string error_node;
  std::atomic<int> waiters{0};
  // Pipeline side (guarded by mu): pull-mode outbox and the caller's callback.
  std::deque<std::pair<int, MessagePtr>> outbox;
  int outputs_ended = 0;
  std::function<void(const std::string& output, const MessagePtr&)> on_output;

  void NotifyAll() {
    std::lock_guard<std::mutex> lock(mu);
    cv.notify_all();
  }
};

using SessionPtr = std::shared_ptr<SessionState>;

}  // namespace cosyflow
