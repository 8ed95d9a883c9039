// ThreadBudget: per-call OpenMP team sizes from one process budget (see thread_budget.h).
#include "graph/thread_budget.h"

#include <algorithm>
#include <thread>

#include "runtime/kernels/cpu/dnnl_context.h"
#include "runtime/logging.h"

namespace cosyflow {

namespace {
// More OpenMP threads than this many per hardware thread only oversubscribe the cores (512 on a
// 2-core machine turned a one-line request into 38 s, 4096 into a stall): the budget is capped.
constexpr int kMaxThreadsPerCore = 4;

int Budget(int threads) {
  const int hw = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  if (threads <= 0) return hw;
  if (threads > kMaxThreadsPerCore * hw) {
    Log(LogLevel::kWarning,
        "limits.threads {} is more than {} x this machine's {} hardware threads: "
        "using {}",
        threads, kMaxThreadsPerCore, hw, kMaxThreadsPerCore * hw);
    return kMaxThreadsPerCore * hw;
  }
  return threads;
}
}  // namespace

ThreadBudget::ThreadBudget(int threads) : threads_(Budget(threads)) {}

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
