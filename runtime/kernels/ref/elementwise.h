// Reference elementwise kernels: binary ops with numpy broadcasting, axpy, scale-add, clamp.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "runtime/status.h"

namespace cosyflow::kernels::ref {

enum class BinaryOp { kAdd, kSub, kMul, kDiv };

inline constexpr int kMaxBroadcastRank = 4;

// Numpy broadcast of two shapes (right-aligned; each dim equal or 1), ranks 0..4.
// Error names both shapes and the offending dim.
Status BroadcastShape(std::span<const int64_t> a_shape, std::span<const int64_t> b_shape,
                      std::vector<int64_t>* out_shape);

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

}  // namespace cosyflow::kernels::ref
