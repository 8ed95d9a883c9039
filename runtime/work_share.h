// WorkShare: one thread's share of a split loop, for threads that balance a phase between two
// barriers themselves (SpeechLm's decode step: a product's row blocks over the threads of one
// parallel region). The share is the range [next, end) of item indices in one 64-bit word
// (next | end << 32): the owner takes chunks from the front, other threads take chunks from the
// back once their own share is done, each by compare-and-swap on the word, so every item is
// taken exactly once; while nobody steals, the word stays in the owner's cache.
//
// Reset only while no other thread takes from this share (between barriers). A thread that finds
// another's share empty, because it is done or not yet reset for the current phase, moves on: the
// owner then does its whole share itself.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace cosyflow {

class alignas(64) WorkShare {
 public:
  // Items are in [0, 2^32).
  void Reset(int64_t begin, int64_t end) {
    word_.store(Pack(begin, std::max(begin, end)), std::memory_order_relaxed);
  }

  // The owner's next chunk of at most `chunk` items: [*b0, *b1). False once the share is empty.
  bool TakeFront(int64_t chunk, int64_t* b0, int64_t* b1) {
    uint64_t cur = word_.load(std::memory_order_relaxed);
    for (;;) {
      const int64_t next = Next(cur), end = End(cur);
      if (next >= end) return false;
      const int64_t take = std::min(chunk, end - next);
      if (word_.compare_exchange_weak(cur, Pack(next + take, end), std::memory_order_relaxed)) {
        *b0 = next;
        *b1 = next + take;
        return true;
      }
    }
  }

  // Another thread's chunk from the back: at most `chunk` items and at most half of what is left
  // (rounded up), so the owner keeps working on its front meanwhile.
  bool TakeBack(int64_t chunk, int64_t* b0, int64_t* b1) {
    uint64_t cur = word_.load(std::memory_order_relaxed);
    for (;;) {
      const int64_t next = Next(cur), end = End(cur);
      if (next >= end) return false;
      const int64_t take = std::min(chunk, (end - next + 1) / 2);
      if (word_.compare_exchange_weak(cur, Pack(next, end - take), std::memory_order_relaxed)) {
        *b0 = end - take;
        *b1 = end;
        return true;
      }
    }
  }

  // Items not taken yet.
  int64_t remaining() const {
    const uint64_t w = word_.load(std::memory_order_relaxed);
    return End(w) - Next(w);
  }

 private:
  static uint64_t Pack(int64_t next, int64_t end) {
    return static_cast<uint64_t>(next) | (static_cast<uint64_t>(end) << 32);
  }
  static int64_t Next(uint64_t w) { return static_cast<int64_t>(w & 0xffffffffu); }
  static int64_t End(uint64_t w) { return static_cast<int64_t>(w >> 32); }

  std::atomic<uint64_t> word_{0};
};

}  // namespace cosyflow
