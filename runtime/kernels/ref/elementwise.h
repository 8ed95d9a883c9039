// Reference elementwise kernels: binary ops with numpy broadcasting, axpy, scale-add, clamp.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "runtime/status.h"

namespace cosyflow::kernels::ref {

enum class BinaryOp { kAdd, kSub, kMul, kDiv };

inline constexpr int kMaxBroadcastRank = 4;

// a (op) b in f32; the scalar operation of Binary in both ref and cpu.
inline float ApplyBinaryOp(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::kAdd:
      return a + b;
    case BinaryOp::kSub:
      return a - b;
    case BinaryOp::kMul:
      return a * b;
    case BinaryOp::kDiv:
      return a / b;
  }
  return a;
}

// Numpy broadcast of two shapes (right-aligned; each dim equal or 1), ranks 0..4.
// Error names both shapes and the offending dim.
Status BroadcastShape(std::span<const int64_t> a_shape, std::span<const int64_t> b_shape,
                      std::vector<int64_t>* out_shape);

// Shared setup of Binary (ref and cpu): broadcasts the shapes, writes the output shape padded on
// the left to 4 dims into dims, and each operand's element strides over those 4 dims into sa / sb
// (0 where the operand broadcasts). *empty is set, and the pointers go unchecked, when the output
// has no elements; otherwise a, b and out must be non-null.
Status PrepareBinary(const float* a, std::span<const int64_t> a_shape, const float* b,
                     std::span<const int64_t> b_shape, const float* out, int64_t dims[4],
                     int64_t sa[4], int64_t sb[4], bool* empty);

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
