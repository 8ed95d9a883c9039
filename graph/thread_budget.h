// ThreadBudget: one compute-thread policy for a running graph, so oneTBB's node tasks and the
// OpenMP teams that oneDNN and the GEMV/conv kernels start inside them do not oversubscribe the
// cores. Every Process/Continue/Close call takes a lease; the lease sets the OpenMP team size of
// the calling worker to max(1, budget / calls in flight), so one request alone gets every thread
// for its big GEMMs, and concurrent requests split the budget instead of each running a full
// team (with 2 cores: 1 session -> 2 threads per call, 2+ sessions -> 1 thread each).
//
// The budget is the graph file's limits.threads (0 = the machine's hardware threads). It sizes
// the OpenMP teams only: how many node calls run at once is oneTBB's (one task per session and
// node at a time, at most the machine's hardware threads).
#pragma once

#include <atomic>

namespace cosyflow {

class ThreadBudget {
 public:
  // threads <= 0: std::thread::hardware_concurrency(); at most 4 x that (logged when capped).
  explicit ThreadBudget(int threads);

  int threads() const { return threads_; }
  int in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

  // RAII: counts one node call in flight and sets the calling thread's OpenMP team size for
  // its duration (restored afterwards).
  class Lease {
   public:
    explicit Lease(ThreadBudget& budget);
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    int team() const { return team_; }

   private:
    ThreadBudget& budget_;
    int team_;
    int previous_;
  };

  // The team size a call gets when `in_flight` calls (itself included) run at once.
  int TeamFor(int in_flight) const;

 private:
  int threads_;
  std::atomic<int> in_flight_{0};
};

}  // namespace cosyflow
