// Helpers for kernel tests: seeded random data and fast-vs-reference comparison with messages.
#pragma once

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "runtime/kernels/ref/attention.h"

namespace cosyflow::test {

// One attention call's shape (contiguous layouts unless a test sets strides) and its params.
struct AttnShape {
  int64_t hq, hkv, tq, tk, d;
  kernels::ref::AttentionMask mask;
  int64_t chunk, off;
};
inline kernels::ref::AttentionParams AttnParams(const AttnShape& sh) {
  return {.q_heads = sh.hq,
          .kv_heads = sh.hkv,
          .q_len = sh.tq,
          .kv_len = sh.tk,
          .head_dim = sh.d,
          .mask = sh.mask,
          .q_offset = sh.off,
          .chunk_size = sh.chunk};
}

// Fills `data` with uniform values in [lo, hi) from a generator seeded with `seed`.
inline void FillRandom(std::span<float> data, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (float& v : data) v = dist(rng);
}

// Returns n uniform values in [lo, hi) from a generator seeded with `seed`.
inline std::vector<float> RandomVector(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::vector<float> v(n);
  FillRandom(v, seed, lo, hi);
  return v;
}

// max_i |a_i - b_i|; +inf when sizes differ or any value is NaN.
inline double MaxAbsDiff(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    if (std::isnan(d)) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}

// max_i |a_i - ref_i| / max_i |ref_i| (relative to the reference's largest magnitude, so
// elements near zero do not dominate). Returns the absolute difference when ref is all zero.
inline double MaxRelDiff(std::span<const float> a, std::span<const float> ref) {
  double max_ref = 0.0;
  for (float v : ref) max_ref = std::max(max_ref, std::fabs(static_cast<double>(v)));
  const double abs = MaxAbsDiff(a, ref);
  return max_ref > 0.0 ? abs / max_ref : abs;
}

// Index of the element with the largest |a_i - b_i| (0 if empty or sizes differ).
inline size_t ArgMaxAbsDiff(std::span<const float> a, std::span<const float> b) {
  size_t best = 0;
  double m = -1.0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    if (std::isnan(d)) d = INFINITY;
    if (d > m) {
      m = d;
      best = i;
    }
  }
  return best;
}

// doctest check: MaxRelDiff(actual, expected) <= rel_tol. On failure prints `what` (put the
// shape in it), sizes, max abs/rel error and the worst element with its neighbours.
inline void CheckClose(std::span<const float> actual, std::span<const float> expected,
                       double rel_tol, const std::string& what) {
  const double rel = MaxRelDiff(actual, expected);
  const bool ok = actual.size() == expected.size() && rel <= rel_tol;
  if (!ok) {
    std::string msg = fmt::format(
        "{}: sizes actual={} expected={}, max_abs={:.3g} max_rel={:.3g}"
        " > tol {:.3g}",
        what, actual.size(), expected.size(), MaxAbsDiff(actual, expected), rel, rel_tol);
    if (actual.size() == expected.size() && !actual.empty()) {
      const size_t at = ArgMaxAbsDiff(actual, expected);
      const size_t lo = at >= 3 ? at - 3 : 0;
      const size_t hi = std::min(actual.size(), at + 4);
      msg += fmt::format("\n  worst at [{}]:", at);
      for (size_t i = lo; i < hi; ++i) {
        msg += fmt::format("\n    [{}] actual={:.7g} expected={:.7g}", i, actual[i], expected[i]);
      }
    }
    FAIL_CHECK(msg);
  } else {
    CHECK(ok);
  }
}

}  // namespace cosyflow::test
