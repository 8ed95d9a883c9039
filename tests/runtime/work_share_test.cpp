// WorkShare: chunks from the front for the owner, from the back for other threads, every item
// taken exactly once; and the same under contention, with a slow owner whose share the others
// finish, across many phases between barriers (the decode step's use).
#include "runtime/work_share.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "runtime/spin_barrier.h"

namespace cosyflow {
namespace {

TEST_CASE("WorkShare: front chunks, back chunks of at most half, empty ranges") {
  WorkShare s;
  int64_t b0 = -1, b1 = -1;
  CHECK_FALSE(s.TakeFront(4, &b0, &b1));  // a new share is empty
  CHECK_FALSE(s.TakeBack(4, &b0, &b1));
  s.Reset(10, 30);
  CHECK(s.remaining() == 20);
  REQUIRE(s.TakeFront(8, &b0, &b1));
  CHECK((b0 == 10 && b1 == 18));
  REQUIRE(s.TakeBack(8, &b0, &b1));  // 12 left: 6 of them at most
  CHECK((b0 == 24 && b1 == 30));
  REQUIRE(s.TakeBack(2, &b0, &b1));  // the chunk caps it
  CHECK((b0 == 22 && b1 == 24));
  REQUIRE(s.TakeFront(8, &b0, &b1));  // what is left: 4
  CHECK((b0 == 18 && b1 == 22));
  CHECK(s.remaining() == 0);
  CHECK_FALSE(s.TakeFront(8, &b0, &b1));
  CHECK_FALSE(s.TakeBack(8, &b0, &b1));
  s.Reset(5, 6);  // one item: a thief takes it (half rounded up)
  REQUIRE(s.TakeBack(8, &b0, &b1));
  CHECK((b0 == 5 && b1 == 6));
  CHECK_FALSE(s.TakeFront(1, &b0, &b1));
  s.Reset(7, 3);  // end before begin: empty
  CHECK(s.remaining() == 0);
  CHECK_FALSE(s.TakeFront(1, &b0, &b1));
}

TEST_CASE("WorkShare: under contention every item is taken exactly once, every phase") {
  for (const int threads : {1, 2, 3, 8}) {
    CAPTURE(threads);
    constexpr int kPhases = 300;
    constexpr int64_t kItems = 1000;  // not a multiple of the thread counts
    std::vector<WorkShare> shares(static_cast<size_t>(threads));
    std::vector<std::atomic<int>> taken(static_cast<size_t>(kPhases * kItems));
    std::atomic<int64_t> stolen{0};
    SpinBarrier barrier(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (int p = 0; p < kPhases; ++p) {
          const int64_t per = (kItems + threads - 1) / threads;
          shares[static_cast<size_t>(t)].Reset(std::min(kItems, per * t),
                                               std::min(kItems, per * (t + 1)));
          auto mark = [&](int64_t b0, int64_t b1) {
            for (int64_t i = b0; i < b1; ++i) {
              taken[static_cast<size_t>(p * kItems + i)].fetch_add(1, std::memory_order_relaxed);
            }
          };
          const bool slow = p % threads == t;  // each phase has another slow owner
          int64_t b0 = 0, b1 = 0;
          while (shares[static_cast<size_t>(t)].TakeFront(3, &b0, &b1)) {
            if (slow) std::this_thread::sleep_for(std::chrono::microseconds(20));
            mark(b0, b1);
          }
          for (int v = 1; v < threads; ++v) {
            while (shares[static_cast<size_t>((t + v) % threads)].TakeBack(3, &b0, &b1)) {
              stolen.fetch_add(b1 - b0, std::memory_order_relaxed);
              mark(b0, b1);
            }
          }
          barrier.Wait();
        }
      });
    }
    for (auto& th : pool) th.join();
    int64_t wrong = 0;
    for (const auto& n : taken) wrong += n.load() != 1;
    CHECK(wrong == 0);
    if (threads > 1) CHECK(stolen.load() > 0);  // the slow owners' shares were finished by others
  }
}

}  // namespace
}  // namespace cosyflow
