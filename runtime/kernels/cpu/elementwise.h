// Fast elementwise kernels (AVX-512 inner loops, broadcast collapsed to a contiguous or scalar
// inner run); same contract as ref/elementwise.h.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "runtime/kernels/ref/elementwise.h"
#include "runtime/status.h"

namespace cosyflow::kernels::cpu {

using ref::BinaryOp;
using ref::BroadcastShape;
using ref::kMaxBroadcastRank;

// a: a_shape f32 row-major, b: b_shape f32 row-major (ranks <= 4, numpy broadcasting);
// out: BroadcastShape(a_shape, b_shape) f32 row-major. out may alias an operand whose shape
// equals the output shape. out = a (op) b.
Status Binary(BinaryOp op, const float* a, std::span<const int64_t> a_shape, const float* b,
              std::span<const int64_t> b_shape, float* out);

// x, y: [n] f32. y += alpha * x.
Status Axpy(int64_t n, float alpha, const float* x, float* y);

// x, y, out: [n] f32. out = alpha * x + beta * y (out may alias x or y).
Status ScaleAdd(const float* x, float alpha, const float* y, float beta, int64_t n, float* out);

// x, y: [n] f32. y = min(max(x, lo), hi); needs lo <= hi. y may alias x.
Status Clamp(const float* x, int64_t n, float lo, float hi, float* y);

// x: [n] f32, y: [n] bf16 bits. y[i] = F32ToBF16(x[i]) (runtime/dtype.h: nearest even, NaN
// kept quiet), bit for bit.
Status NarrowBf16(const float* x, int64_t n, uint16_t* y);

}  // namespace cosyflow::kernels::cpu
