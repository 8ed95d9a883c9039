// Streaming read bandwidth of this machine at the moment of a bench run: the LM's decode (and
// so a request's time to first audio) is bound by it, and on shared VMs it drifts by ~15 %
// within minutes (docs/benchmarks.md), so the benches that depend on it report it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <thread>
#include <vector>

#include "runtime/huge_pages.h"

namespace cosyflow::bench {

// GB/s of `threads` readers over a 1 GiB buffer (much larger than the caches), best of 3. The
// buffer is on huge pages where the system gives them, as the weights are (WeightAlloc): from
// 4 KiB pages the same loop read ~20 % less on the Xeon VM (docs/benchmarks.md).
inline double ReadBandwidth(int threads) {
  const size_t n = size_t{256} << 20;  // 1 GiB of floats
  std::vector<float, AlignedAllocator<float>> buf(n, 1.0f);
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<float> sums(static_cast<size_t>(threads));
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const size_t a = n * t / threads, b = n * (t + 1) / threads;
        float acc[16] = {};
        for (size_t i = a; i + 16 <= b; i += 16) {
          for (int l = 0; l < 16; ++l) acc[l] += buf[i + l];
        }
        float s = 0;
        for (float x : acc) s += x;
        sums[static_cast<size_t>(t)] = s;
      });
    }
    for (auto& th : pool) th.join();
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(n * sizeof(float)) / sec / 1e9);
  }
  return best;
}

}  // namespace cosyflow::bench
