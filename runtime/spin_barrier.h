// SpinBarrier: a reusable barrier for the threads of one short parallel region whose phases are
// tens of microseconds apart (SpeechLm's decode step: ~170 phases per token). It spins for a
// bounded time, then sleeps (C++20 atomic wait, a futex on Linux), so a phase that takes long —
// or a thread the OS descheduled — does not burn a core for longer than the spin.
//
// Why not OpenMP's own barrier or one parallel region per phase: with OMP_WAIT_POLICY=passive
// (what a shared machine needs, docs/architecture.md) every region start and barrier is a futex
// sleep / wake-up, 10-30 us each in our VMs: 2.5 ms of a 10 ms int8 decode step. Spinning only
// inside this region keeps that policy everywhere else.
#pragma once

#include <atomic>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace cosyflow {

class SpinBarrier {
 public:
  // `threads` >= 1 threads call Wait() the same number of times.
  explicit SpinBarrier(int threads) : threads_(threads) {}
  SpinBarrier(const SpinBarrier&) = delete;
  SpinBarrier& operator=(const SpinBarrier&) = delete;

  void Wait() {
    if (threads_ <= 1) return;
    const uint32_t gen = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == threads_) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.store(gen + 1, std::memory_order_seq_cst);
      if (sleepers_.load(std::memory_order_seq_cst) > 0) generation_.notify_all();
      return;
    }
    for (int i = 0; i < kSpins; ++i) {
      if (generation_.load(std::memory_order_acquire) != gen) return;
      Pause();
    }
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    while (generation_.load(std::memory_order_seq_cst) == gen) {
      generation_.wait(gen, std::memory_order_seq_cst);
    }
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  // About 0.1-1 ms of pause instructions (their latency differs by CPU), above the longest
  // serial phase of a decode step (attention over a few thousand cached positions).
  static constexpr int kSpins = 1 << 14;

  static void Pause() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
  }

  const int threads_;
  std::atomic<int> arrived_{0};
  std::atomic<uint32_t> generation_{0};
  std::atomic<int> sleepers_{0};
};

}  // namespace cosyflow
