// GraphExecutor and Runner: per-node session queues drained by oneTBB flow-graph tasks.
#include "graph/executor.h"

#include "graph/thread_budget.h"

#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/task_arena.h>

#include <deque>
#include <exception>
#include <unordered_map>

#include "runtime/logging.h"

namespace cosyflow {

// What a node's SessionInfo::wake reaches: cleared when the executor goes away, so a late
// wake from another thread (a network I/O thread) finds nothing instead of a freed runner.
struct WakeHub {
  std::mutex mu;
  GraphExecutor* executor = nullptr;
};

struct GraphExecutor::Impl {
  explicit Impl(int threads) : budget(threads), hub(std::make_shared<WakeHub>()) {}
  tbb::flow::graph graph;
  ThreadBudget budget;
  std::shared_ptr<WakeHub> hub;
};

namespace {

// Collects a Process/Close call's outputs so a failing call emits nothing.
class CollectingEmitter : public Emitter {
 public:
  void Emit(int port, Payload payload) override { items.emplace_back(port, std::move(payload)); }
  std::vector<std::pair<int, Payload>> items;
};

template <typename Fn>
Status Guarded(const std::string& node, const char* what, Fn&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return Internal("{}: {} threw: {}", node, what, e.what());
  } catch (...) {
    return Internal("{}: {} threw a non-standard exception", node, what);
  }
}

}  // namespace

class Runner {
 public:
  Runner(GraphExecutor* ex, int index, Node* node, tbb::flow::graph& g)
      : ex_(ex),
        index_(index),
        plan_node_(ex->plan().nodes[index]),
        spec_(plan_node_.spec),
        node_(node),
        graph_(g),
        fn_(g, tbb::flow::unlimited, [this](const SessionPtr& s) {
          // Nothing may escape into oneTBB: that would cancel the whole graph.
          try {
            Drain(s);
          } catch (...) {
            Log(LogLevel::kError, "{}: unexpected exception in runner", plan_node_.id);
          }
          return tbb::flow::continue_msg();
        }) {}

  void Deliver(const SessionPtr& s, int port, const MessagePtr& m) {
    bool kick = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (s->runner_closed[index_]) return;  // late message for a session this node closed
      auto [it, fresh] = slots_.try_emplace(s->id);
      Slot& slot = it->second;
      if (fresh) {
        slot.open_inputs = spec_.source ? 1 : static_cast<int>(spec_.inputs.size());
        slot.out_seq.assign(spec_.outputs.size(), 0);
      }
      slot.queue.push_back({port, m});
      if (m->type() != PayloadType::kNone && m->type() != PayloadType::kError) {
        int64_t zero = 0;
        s->first_input_ns[index_].compare_exchange_strong(zero, NowNs());
      }
      int depth = ++s->queued[index_];
      int seen = max_depth_.load();
      while (depth > seen && !max_depth_.compare_exchange_weak(seen, depth)) {
      }
      if (m->header.cancel() || m->header.error()) {  // control jumps the limit and the wait
        slot.blocked = false;
        slot.parked = false;
      }
      if (!slot.scheduled && !slot.blocked && !slot.parked) kick = slot.scheduled = true;
    }
    if (kick) fn_.try_put(s);
  }

  void Unblock(const SessionPtr& s) {
    bool kick = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = slots_.find(s->id);
      if (it == slots_.end() || !it->second.blocked) return;
      it->second.blocked = false;
      Slot& sl = it->second;
      if (!sl.scheduled && !sl.parked && (!sl.queue.empty() || sl.pending || sl.woken)) {
        kick = sl.scheduled = true;
      }
    }
    if (kick) fn_.try_put(s);
  }

  // The session was cancelled: a slot waiting for room downstream or for a wake runs again, so
  // it drains its queue as urgent (its upstream may have closed already, so no cancel message
  // would come to it, and the downstream it waits on may be gone).
  void Kick(const SessionPtr& s) {
    bool kick = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = slots_.find(s->id);
      if (it == slots_.end() || it->second.closed) return;
      Slot& sl = it->second;
      sl.blocked = false;
      sl.parked = false;
      if (!sl.scheduled && (!sl.queue.empty() || sl.pending)) kick = sl.scheduled = true;
    }
    if (kick) fn_.try_put(s);
  }

  // SessionInfo::wake: resumes a parked session, or has an idle one re-ask HasMoreWork().
  void Wake(const SessionPtr& s) {
    bool kick = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = slots_.find(s->id);
      if (it == slots_.end() || it->second.closed) return;
      Slot& sl = it->second;
      sl.woken = true;
      sl.parked = false;
      if (!sl.scheduled && !sl.blocked) kick = sl.scheduled = true;
    }
    if (kick) fn_.try_put(s);
  }

  int max_depth() const { return max_depth_.load(); }

 private:
  struct Inbound {
    int port;
    MessagePtr msg;
  };
  struct Slot {
    std::deque<Inbound> queue;
    bool scheduled = false;  // a task is draining this session (guarded by mu_)
    bool blocked = false;    // parked until a downstream queue has room (guarded by mu_)
    bool pending = false;    // state->HasMoreWork(): Continue before the next message (mu_)
    bool parked = false;     // pending work waits for SessionInfo::wake (state->Waiting(), mu_)
    bool woken = false;      // wake since the draining task last looked (mu_)
    // Owned by the draining task:
    std::unique_ptr<NodeSession> state;
    int open_inputs = 0;
    std::vector<uint64_t> out_seq;
    bool flushing = false;   // Close(kEndOfStream) left work: end the outputs once it is done
    int64_t origin_ns = 0;   // origin of the message whose work is pending
    bool closed = false;
  };

  // Drains the session's queue; pending work (HasMoreWork) runs first, one Continue per task
  // so other sessions and the downstream nodes get the workers in between.
  void Drain(const SessionPtr& s) {
    for (;;) {
      Inbound in;
      Slot* slot = nullptr;
      enum { kMessage, kContinue, kCancelPending, kRecheck } what = kMessage;
      {
        std::unique_lock<std::mutex> lock(mu_);
        auto it = slots_.find(s->id);
        if (it == slots_.end()) return;
        if (it->second.closed) {  // discard what arrived after the close
          const int dropped = static_cast<int>(it->second.queue.size());
          const int left = s->queued[index_] -= dropped;
          slots_.erase(it);
          lock.unlock();
          if (dropped > 0 && left < ex_->max_in_flight()) {  // an upstream may wait for room here
            for (int u : plan_node_.upstream) ex_->Unblock(s, u);
            if (s->waiters.load() > 0) s->NotifyAll();
          }
          return;
        }
        Slot& sl = it->second;
        slot = &sl;
        if (sl.parked) {
          sl.scheduled = false;
          return;
        }
        const bool woken = sl.woken;
        sl.woken = false;
        const bool front_control = !sl.queue.empty() && (sl.queue.front().msg->header.cancel() ||
                                                         sl.queue.front().msg->header.error());
        if (sl.pending && !s->cancelled && !front_control) {
          if (!ex_->HasRoom(s, index_)) {
            sl.blocked = true;
            sl.scheduled = false;
            return;
          }
          what = kContinue;
        } else if (sl.queue.empty()) {
          if (!sl.pending && woken && sl.state) {
            what = kRecheck;  // an outside event may have made work
          } else if (!sl.pending) {
            sl.scheduled = false;
            return;
          } else {
            what = kCancelPending;  // cancelled while work was pending, nothing queued
          }
        } else {
          const MessageHeader& h = sl.queue.front().msg->header;
          bool urgent = s->cancelled || h.cancel() || h.error();
          if (!urgent && !ex_->HasRoom(s, index_)) {
            sl.blocked = true;
            sl.scheduled = false;
            return;
          }
          in = std::move(sl.queue.front());
          sl.queue.pop_front();
        }
      }
      if (what == kRecheck) {
        (void)UpdatePending(s, *slot);
        continue;
      } else if (what == kContinue) {
        Resume(s, *slot);
      } else if (what == kCancelPending) {
        CloseSlot(s, *slot, CloseReason::kCancel, nullptr);
      } else {
        int left = --s->queued[index_];
        if (left == ex_->max_in_flight() - 1) {
          for (int u : plan_node_.upstream) ex_->Unblock(s, u);
        }
        if (s->waiters.load() > 0) s->NotifyAll();
        Handle(s, *slot, in);
      }
      if (!slot->closed && slot->pending) {  // yield; the new task continues (scheduled stays)
        if (!Park(s, *slot)) Yield(s);
        return;
      }
    }
  }

  // Parks a session whose pending work waits for an outside event (NodeSession::Waiting) until
  // its wake; false when it must run on (woken meanwhile, a control message queued, cancelled).
  bool Park(const SessionPtr& s, Slot& slot) {
    bool waiting = false;
    Status st = Guarded(plan_node_.id, "Waiting", [&] {
      waiting = slot.state != nullptr && slot.state->Waiting();
      return OkStatus();
    });
    if (!st.ok()) {
      FailSlot(s, slot, st);
      return false;  // the next task discards the closed slot
    }
    if (!waiting) return false;
    std::lock_guard<std::mutex> lock(mu_);
    const bool control = !slot.queue.empty() && (slot.queue.front().msg->header.cancel() ||
                                                 slot.queue.front().msg->header.error());
    if (slot.woken || control || s->cancelled) return false;
    slot.parked = true;
    slot.scheduled = false;
    return true;
  }

  // Drains the session again from a task queued behind the arena's other work. A plain try_put
  // from here would be spawned into this worker's LIFO deque and run next, starving the
  // downstream tasks this call's messages just scheduled (on a one-worker arena, forever).
  void Yield(const SessionPtr& s) {
    graph_.reserve_wait();  // wait_for_all must see the hand-off
    tbb::this_task_arena::enqueue([this, s] {
      try {
        fn_.try_put(s);
      } catch (...) {
        Log(LogLevel::kError, "{}: could not reschedule a session", plan_node_.id);
      }
      graph_.release_wait();
    });
  }

  // One slice of pending work; ends the outputs when a flush's work is done.
  void Resume(const SessionPtr& s, Slot& slot) {
    CollectingEmitter em;
    int64_t t0 = NowNs();
    Status st = Compute("Continue", [&] { return slot.state->Continue(em); });
    Account(s, t0, em);
    if (st.ok()) st = EmitAll(s, slot, em, slot.origin_ns);
    if (!st.ok()) return FailSlot(s, slot, st);
    if (UpdatePending(s, slot) || slot.closed) return;
    if (slot.flushing) EndOutputs(s, slot, CloseReason::kEndOfStream, nullptr);
  }

  // Time and call count of one node call that started at t0; the start of the first call that
  // emitted data (SessionTiming: how long the call behind a node's first output took).
  void Account(const SessionPtr& s, int64_t t0, const CollectingEmitter& em) {
    s->node_ns[index_] += NowNs() - t0;
    s->calls[index_].fetch_add(1, std::memory_order_relaxed);
    if (!em.items.empty()) {
      int64_t zero = 0;
      s->first_emit_call_ns[index_].compare_exchange_strong(zero, t0);
    }
  }

  // A node call that may compute: under a ThreadBudget lease (OpenMP team size) and guarded.
  template <typename Fn>
  Status Compute(const char* what, Fn&& fn) {
    ThreadBudget::Lease lease(ex_->impl_->budget);
    return Guarded(plan_node_.id, what, std::forward<Fn>(fn));
  }

  // Asks the session whether work is pending and records it; true when it is. An exception
  // fails the session (slot.closed is then set).
  bool UpdatePending(const SessionPtr& s, Slot& slot) {
    bool more = false;
    Status st = Guarded(plan_node_.id, "HasMoreWork", [&] {
      more = slot.state != nullptr && slot.state->HasMoreWork();
      return OkStatus();
    });
    if (!st.ok()) {
      FailSlot(s, slot, st);
      return false;
    }
    std::lock_guard<std::mutex> lock(mu_);
    slot.pending = more;
    return more;
  }

  void Handle(const SessionPtr& s, Slot& slot, const Inbound& in) {
    const MessageHeader& h = in.msg->header;
    if (h.error()) return CloseSlot(s, slot, CloseReason::kError, in.msg);
    if (h.cancel() || s->cancelled) return CloseSlot(s, slot, CloseReason::kCancel, nullptr);
    if (h.end_of_stream()) {
      if (--slot.open_inputs == 0) CloseSlot(s, slot, CloseReason::kEndOfStream, nullptr);
      return;
    }
    CollectingEmitter em;
    int64_t t0 = NowNs();
    Status st = Compute("Process", [&]() -> Status {
      if (!slot.state) {
        SessionInfo info{s->id, &s->cancelled, WakeFor(s)};
        COSY_ASSIGN_OR_RETURN(slot.state, node_->OpenSession(info));
      }
      return slot.state->Process(in.port, *in.msg, em);
    });
    Account(s, t0, em);
    if (st.ok()) st = EmitAll(s, slot, em, h.origin_ns);
    if (!st.ok()) return FailSlot(s, slot, st);
    if (UpdatePending(s, slot)) slot.origin_ns = h.origin_ns;
  }

  Status EmitAll(const SessionPtr& s, Slot& slot, CollectingEmitter& em, int64_t origin_ns) {
    for (auto& [port, payload] : em.items) {  // check everything before sending anything
      if (port < 0 || port >= static_cast<int>(spec_.outputs.size())) {
        return Internal("{}: emitted on output port {} of {}", plan_node_.id, port,
                        spec_.outputs.size());
      }
      if (TypeOf(payload) != spec_.outputs[port].type) {
        return Internal("{}: port '{}' carries {}, node emitted {}", plan_node_.id,
                        spec_.outputs[port].name, PayloadTypeName(spec_.outputs[port].type),
                        PayloadTypeName(TypeOf(payload)));
      }
    }
    for (auto& [port, payload] : em.items) Send(s, slot, port, 0, std::move(payload), origin_ns);
    return OkStatus();
  }

  void Send(const SessionPtr& s, Slot& slot, int port, uint32_t flags, Payload payload,
            int64_t origin_ns) {
    MessageHeader h;
    h.session_id = s->id;
    h.sequence = slot.out_seq[port]++;
    h.flags = flags;
    h.origin_ns = origin_ns;
    h.emitted_ns = NowNs();
    if (flags == 0) {
      int64_t zero = 0;
      s->first_emit_ns[index_].compare_exchange_strong(zero, h.emitted_ns);
    }
    MessagePtr m = MakeMessage(h, std::move(payload));
    for (const PlanTarget& t : plan_node_.targets[port]) ex_->Route(s, t.node, t.port, m);
  }

  // Ends the session here: flush (end of stream) or drop, then pass the end downstream. A flush
  // that leaves work pending ends the outputs after its last Continue (see Resume).
  void CloseSlot(const SessionPtr& s, Slot& slot, CloseReason reason, const MessagePtr& error) {
    if (slot.closed) return;
    CollectingEmitter em;
    Status st;
    if (slot.state && !slot.flushing) {  // Close was already called when flushing
      int64_t t0 = NowNs();
      st = Compute("Close", [&] { return slot.state->Close(reason, em); });
      Account(s, t0, em);
    }
    if (reason == CloseReason::kEndOfStream) {
      if (st.ok()) st = EmitAll(s, slot, em, 0);
      if (!st.ok()) return FailSlot(s, slot, st);
      if (UpdatePending(s, slot)) {
        slot.flushing = true;
        slot.origin_ns = 0;
        return;
      }
      if (slot.closed) return;  // HasMoreWork threw
    }
    EndOutputs(s, slot, reason, error);
  }

  void EndOutputs(const SessionPtr& s, Slot& slot, CloseReason reason, const MessagePtr& error) {
    for (size_t p = 0; p < spec_.outputs.size(); ++p) {
      if (reason == CloseReason::kError && error) {
        Send(s, slot, static_cast<int>(p), kFlagError, error->payload, 0);
      } else {
        Send(s, slot, static_cast<int>(p),
             reason == CloseReason::kEndOfStream ? kFlagEndOfStream : kFlagCancel, {}, 0);
      }
    }
    MarkClosed(s, slot);
  }

  // This node failed the session: drop its state, send the Error downstream, cancel upstream.
  void FailSlot(const SessionPtr& s, Slot& slot, const Status& status) {
    ex_->Fail(s, plan_node_.id, status);
    if (slot.state && !slot.flushing) {
      CollectingEmitter ignored;
      (void)Guarded(plan_node_.id, "Close", [&] { return slot.state->Close(CloseReason::kError, ignored); });
    }
    for (size_t p = 0; p < spec_.outputs.size(); ++p) {
      Send(s, slot, static_cast<int>(p), kFlagError, ErrorInfo{status, plan_node_.id}, 0);
    }
    MarkClosed(s, slot);
  }

  std::function<void()> WakeFor(const SessionPtr& s) {
    return [hub = ex_->impl_->hub, index = index_, weak = std::weak_ptr<SessionState>(s)] {
      SessionPtr session = weak.lock();
      if (!session) return;
      std::lock_guard<std::mutex> lock(hub->mu);
      if (hub->executor) hub->executor->runners_[index]->Wake(session);
    };
  }

  void MarkClosed(const SessionPtr& s, Slot& slot) {
    (void)Guarded(plan_node_.id, "session teardown", [&] {
      slot.state.reset();
      return OkStatus();
    });
    {
      std::lock_guard<std::mutex> lock(mu_);
      slot.closed = true;
      slot.pending = false;
      s->runner_closed[index_] = true;
    }
    s->closed_ns[index_] = NowNs();
    if (--s->remaining == 0) {
      s->done_ns = NowNs();
      if (ex_->callbacks_.on_done) ex_->callbacks_.on_done(s);
      s->NotifyAll();
    }
  }

  GraphExecutor* ex_;
  const int index_;
  const PlanNode& plan_node_;
  const NodeSpec& spec_;
  Node* node_;
  tbb::flow::graph& graph_;
  tbb::flow::function_node<SessionPtr> fn_;
  std::mutex mu_;
  std::unordered_map<uint64_t, Slot> slots_;
  std::atomic<int> max_depth_{0};
};

GraphExecutor::GraphExecutor(const GraphPlan& plan, std::vector<std::unique_ptr<Node>> nodes,
                             ExecutorCallbacks callbacks)
    : plan_(plan),
      max_in_flight_(plan.file.limits.max_in_flight),
      callbacks_(std::move(callbacks)),
      impl_(std::make_unique<Impl>(plan.file.limits.threads)),
      nodes_(std::move(nodes)) {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    runners_.push_back(std::make_unique<Runner>(this, static_cast<int>(i), nodes_[i].get(),
                                                impl_->graph));
  }
  std::lock_guard<std::mutex> lock(impl_->hub->mu);
  impl_->hub->executor = this;
}

GraphExecutor::~GraphExecutor() {
  {
    std::lock_guard<std::mutex> lock(impl_->hub->mu);
    impl_->hub->executor = nullptr;
  }
  WaitIdle();
}

SessionPtr GraphExecutor::NewSession(uint64_t id) {
  return std::make_shared<SessionState>(id, runners_.size(), plan_.inputs.size(),
                                        plan_.outputs.size());
}

void GraphExecutor::Route(const SessionPtr& s, int node, int port, const MessagePtr& m) {
  if (node >= 0) {
    runners_[node]->Deliver(s, port, m);
  } else if (callbacks_.on_output) {
    callbacks_.on_output(s, port, m);
  }
}

bool GraphExecutor::HasRoom(const SessionPtr& s, int node) const {
  for (const auto& targets : plan_.nodes[node].targets) {
    for (const PlanTarget& t : targets) {
      size_t slot = t.node >= 0 ? static_cast<size_t>(t.node) : runners_.size() + t.port;
      if (s->queued[slot].load() >= max_in_flight_) return false;
    }
  }
  return true;
}

void GraphExecutor::Unblock(const SessionPtr& s, int node) { runners_[node]->Unblock(s); }

Status GraphExecutor::Push(const SessionPtr& s, int input, Payload payload) {
  if (input < 0 || input >= static_cast<int>(plan_.inputs.size())) {
    return InvalidArgument("graph has no input #{}", input);
  }
  const PlanInput& in = plan_.inputs[input];
  if (TypeOf(payload) != in.type) {
    return InvalidArgument("graph input '{}' takes {}, got {}", in.name, PayloadTypeName(in.type),
                           PayloadTypeName(TypeOf(payload)));
  }
  {
    std::unique_lock<std::mutex> lock(s->mu);
    ++s->waiters;
    s->cv.wait(lock, [&] { return s->queued[in.node].load() < max_in_flight_ || s->cancelled; });
    --s->waiters;
  }
  if (s->cancelled) return MakeError(StatusCode::kCancelled, "session {} was cancelled", s->id);
  MessageHeader h;
  h.session_id = s->id;
  h.sequence = s->input_seq[input]++;
  h.origin_ns = h.emitted_ns = NowNs();
  Route(s, in.node, in.port, MakeMessage(h, std::move(payload)));
  return OkStatus();
}

void GraphExecutor::EndInput(const SessionPtr& s, int input) {
  const PlanInput& in = plan_.inputs[input];
  MessageHeader h;
  h.session_id = s->id;
  h.sequence = s->input_seq[input]++;
  h.flags = kFlagEndOfStream;
  h.emitted_ns = NowNs();
  Route(s, in.node, in.port, MakeMessage(h, {}));
}

void GraphExecutor::Cancel(const SessionPtr& s) {
  s->cancelled = true;
  s->NotifyAll();
  if (s->cancel_injected.exchange(true)) return;
  for (size_t i = 0; i < plan_.inputs.size(); ++i) {
    MessageHeader h;
    h.session_id = s->id;
    h.flags = kFlagCancel;
    h.emitted_ns = NowNs();
    Route(s, plan_.inputs[i].node, plan_.inputs[i].port, MakeMessage(h, {}));
  }
  // A node whose upstream had closed (end of input) gets no cancel message, and one waiting
  // for room in a queue of a node that failed would wait for good: every node drains now.
  for (auto& r : runners_) r->Kick(s);
}

void GraphExecutor::Fail(const SessionPtr& s, const std::string& node, Status status) {
  {
    std::lock_guard<std::mutex> lock(s->mu);
    if (!s->failed.exchange(true)) {
      s->error = std::move(status);
      s->error_node = node;
    }
  }
  Cancel(s);
}

void GraphExecutor::OutputConsumed(const SessionPtr& s, int output) {
  int left = --s->queued[runners_.size() + output];
  if (left == max_in_flight_ - 1) Unblock(s, plan_.outputs[output].node);
}

void GraphExecutor::WaitIdle() { impl_->graph.wait_for_all(); }

std::vector<int> GraphExecutor::MaxQueueDepths() const {
  std::vector<int> d;
  for (const auto& r : runners_) d.push_back(r->max_depth());
  return d;
}

}  // namespace cosyflow
