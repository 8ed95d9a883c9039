// SpinBarrier: no thread leaves phase p before every thread has finished phase p's work, across
// many phases, with more threads than cores (so waits outlast the spin and sleep).
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "runtime/spin_barrier.h"

namespace cosyflow {
namespace {

TEST_CASE("SpinBarrier: every phase's writes are seen by all threads after the barrier") {
  for (const int threads : {1, 2, 3, 8}) {
    CAPTURE(threads);
    constexpr int kPhases = 2000;
    SpinBarrier barrier(threads);
    std::vector<std::atomic<int>> done(static_cast<size_t>(kPhases));
    std::atomic<int> violations{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (int p = 0; p < kPhases; ++p) {
          if (p % 97 == t) std::this_thread::sleep_for(std::chrono::microseconds(200));  // slow one
          done[static_cast<size_t>(p)].fetch_add(1, std::memory_order_relaxed);
          barrier.Wait();
          if (done[static_cast<size_t>(p)].load(std::memory_order_relaxed) != threads) ++violations;
        }
      });
    }
    for (auto& th : pool) th.join();
    CHECK(violations.load() == 0);
    for (int p = 0; p < kPhases; ++p) CHECK(done[static_cast<size_t>(p)].load() == threads);
  }
}

}  // namespace
}  // namespace cosyflow
