// ThreadBudget: per-call OpenMP team sizes from one process budget (see thread_budget.h).
#include "graph/thread_budget.h"

#include <algorithm>
#include <thread>

#include "runtime/kernels/cpu/dnnl_context.h"

namespace cosyflow {

ThreadBudget::ThreadBudget(int threads)
    : threads_(threads > 0 ? threads
                           : std::max(1, static_cast<int>(std::thread::hardware_concurrency()))) {}

int ThreadBudget::TeamFor(int in_flight) const {
  return std::max(1, threads_ / std::max(1, in_flight));
}

ThreadBudget::Lease::Lease(ThreadBudget& budget)
    : budget_(budget), previous_(kernels::cpu::DnnlNumThreads()) {
  const int n = budget_.in_flight_.fetch_add(1, std::memory_order_relaxed) + 1;
  team_ = budget_.TeamFor(n);
  kernels::cpu::SetDnnlNumThreads(team_);
}

ThreadBudget::Lease::~Lease() {
  budget_.in_flight_.fetch_sub(1, std::memory_order_relaxed);
  kernels::cpu::SetDnnlNumThreads(previous_);
}

}  // namespace cosyflow
