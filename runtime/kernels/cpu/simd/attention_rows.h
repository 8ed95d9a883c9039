// Per-row pieces shared by the attention kernels of one ISA variant (attention.cpp and
// attention_bf16dot.cpp): the visible key range of a query row and the row softmax.
#pragma once

#include <cmath>
#include <cstdint>

#include "runtime/kernels/cpu/simd/kernels.h"
#include "runtime/kernels/cpu/simd/vec_math.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS::attention_rows {

constexpr float kNegInf = -INFINITY;

// Keys [0, end) that query row i may see under p's mask (before any keep mask).
inline int64_t VisibleEnd(const ref::AttentionParams& p, int64_t i) {
  const int64_t a = p.q_offset + i;
  int64_t end = p.valid_kv_len;
  if (p.mask == ref::AttentionMask::kCausal) end = MinI(end, a + 1);
  if (p.mask == ref::AttentionMask::kChunkCausal) {
    end = MinI(end, (a / p.chunk_size + 1) * p.chunk_size);
  }
  return end;
}

// The softmax's exp is ExpNonPositive (vec_math.h): no overflow clamp, no -inf mask, degree 6;
// together with the two-vector pass ~13 % fewer cycles per vector in the flow's attention.
// Row r of s: keys [0, end) (and the keep mask) exponentiated against the row max, zeros up to
// `width`; returns 1 / sum (0 when no key is visible). The weights go to emit(j, vector) for
// j = 0, kLanes, ... < width (PanelSoftmaxRow: back into s).
// SoftmaxRowToWith: the same with another exponential: exp(v) for v <= 0 (v = score minus the
// row max; -inf for masked keys), e.g. a base-2 one on scores scaled by log2(e).
template <class Emit, class ExpFn>
__attribute__((always_inline)) inline float SoftmaxRowToWith(float* s, int64_t end, int64_t width,
                                                             const uint8_t* keep, Emit&& emit,
                                                             ExpFn&& exp_fn);

template <class Emit>
__attribute__((always_inline)) inline float SoftmaxRowTo(float* s, int64_t end, int64_t width,
                                                         const uint8_t* keep, Emit&& emit) {
  return SoftmaxRowToWith(s, end, width, keep, emit, [](Vf v) { return ExpNonPositive(v); });
}

template <class Emit, class ExpFn>
__attribute__((always_inline)) inline float SoftmaxRowToWith(float* s, int64_t end, int64_t width,
                                                             const uint8_t* keep, Emit&& emit,
                                                             ExpFn&& exp_fn) {
  const Vf ninf = Set1(kNegInf);
  if (keep != nullptr) {
    for (int64_t j = 0; j < end; ++j) {
      if (keep[j] == 0) s[j] = kNegInf;
    }
  }
  Vf mx = ninf;
  int64_t j = 0;
  for (; j + kLanes <= end; j += kLanes) mx = Max(mx, Load(s + j));
  if (j < end) mx = Max(mx, Select(HeadMask(end - j), LoadN(s + j, end - j), ninf));
  float m = ReduceMax(mx);
  if (m == kNegInf) m = 0.0f;  // no visible key: exp(-inf) = 0 everywhere, sum 0
  const Vf shift = Set1(m);
  // Two vectors per pass, two partial sums: the exp's ~20 dependent operations of one vector
  // overlap the other's (bf16 attention 650 x 650: 3.26-3.37 -> 3.19-3.24 ms on one thread).
  Vf sum = Zero(), sum1 = Zero();
  for (j = 0; j + 2 * kLanes <= end; j += 2 * kLanes) {
    const Vf v0 = Load(s + j), v1 = Load(s + j + kLanes);
    const Vf e0 = exp_fn(Sub(v0, shift));
    const Vf e1 = exp_fn(Sub(v1, shift));
    emit(j, e0);
    emit(j + kLanes, e1);
    sum = Add(sum, e0);
    sum1 = Add(sum1, e1);
  }
  sum = Add(sum, sum1);
  for (; j + kLanes <= end; j += kLanes) {
    const Vf v = Load(s + j);
    const Vf e = exp_fn(Sub(v, shift));
    emit(j, e);
    sum = Add(sum, e);
  }
  if (j < end) {
    const Vf v = Select(HeadMask(end - j), LoadN(s + j, end - j), ninf);
    const Vf e = exp_fn(Sub(v, shift));
    emit(j, e);
    sum = Add(sum, e);
    j += kLanes;
  }
  for (; j < width; j += kLanes) emit(j, Zero());
  const float t = ReduceAdd(sum);
  return t > 0.0f ? 1.0f / t : 0.0f;
}

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS::attention_rows
