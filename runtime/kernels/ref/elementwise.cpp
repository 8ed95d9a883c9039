// Reference elementwise kernels: index arithmetic over a padded 4-D broadcast shape.
#include "runtime/kernels/ref/elementwise.h"

#include <fmt/ranges.h>

#include <algorithm>

namespace cosyflow::kernels::ref {

Status BroadcastShape(std::span<const int64_t> a_shape, std::span<const int64_t> b_shape,
                      std::vector<int64_t>* out_shape) {
  if (a_shape.size() > kMaxBroadcastRank || b_shape.size() > kMaxBroadcastRank) {
    return InvalidArgument("broadcast: rank must be <= {}, got a{} and b{}", kMaxBroadcastRank,
                           a_shape, b_shape);
  }
  const size_t rank = std::max(a_shape.size(), b_shape.size());
  out_shape->assign(rank, 1);
  for (size_t i = 0; i < rank; ++i) {  // i counts from the right
    const int64_t da = i < a_shape.size() ? a_shape[a_shape.size() - 1 - i] : 1;
    const int64_t db = i < b_shape.size() ? b_shape[b_shape.size() - 1 - i] : 1;
    if (da < 0 || db < 0) {
      return InvalidArgument("broadcast: negative dim in a{} or b{}", a_shape, b_shape);
    }
    if (da != db && da != 1 && db != 1) {
      return InvalidArgument("broadcast: shapes a{} and b{} differ at dim -{} ({} vs {})", a_shape,
                             b_shape, i + 1, da, db);
    }
    (*out_shape)[rank - 1 - i] = da == 1 ? db : da;
  }
  return OkStatus();
}

namespace {
// Element strides of `shape` padded on the left to 4 dims, 0 where the dim broadcasts.
void PaddedStrides(std::span<const int64_t> shape, int64_t strides[4]) {
  int64_t s = 1;
  for (int i = 3; i >= 0; --i) {
    const int k = i - (4 - static_cast<int>(shape.size()));
    const int64_t d = k >= 0 ? shape[k] : 1;
    strides[i] = d == 1 ? 0 : s;
    s *= d;
  }
}
}  // namespace

Status PrepareBinary(const float* a, std::span<const int64_t> a_shape, const float* b,
                     std::span<const int64_t> b_shape, const float* out, int64_t dims[4],
                     int64_t sa[4], int64_t sb[4], bool* empty) {
  std::vector<int64_t> shape;
  COSY_RETURN_IF_ERROR(BroadcastShape(a_shape, b_shape, &shape));
  for (int i = 0; i < 4; ++i) dims[i] = 1;
  for (size_t i = 0; i < shape.size(); ++i) dims[4 - shape.size() + i] = shape[i];
  *empty = dims[0] * dims[1] * dims[2] * dims[3] == 0;
  if (*empty) return OkStatus();
  if (a == nullptr || b == nullptr || out == nullptr) {
    return InvalidArgument("binary: a, b and out must be non-null");
  }
  PaddedStrides(a_shape, sa);
  PaddedStrides(b_shape, sb);
  return OkStatus();
}

Status Binary(BinaryOp op, const float* a, std::span<const int64_t> a_shape, const float* b,
              std::span<const int64_t> b_shape, float* out) {
  int64_t dims[4], sa[4], sb[4];
  bool empty = false;
  COSY_RETURN_IF_ERROR(PrepareBinary(a, a_shape, b, b_shape, out, dims, sa, sb, &empty));
  if (empty) return OkStatus();
  int64_t o = 0;
  for (int64_t i0 = 0; i0 < dims[0]; ++i0)
    for (int64_t i1 = 0; i1 < dims[1]; ++i1)
      for (int64_t i2 = 0; i2 < dims[2]; ++i2)
        for (int64_t i3 = 0; i3 < dims[3]; ++i3) {
          const float va = a[i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + i3 * sa[3]];
          const float vb = b[i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + i3 * sb[3]];
          out[o++] = ApplyBinaryOp(op, va, vb);
        }
  return OkStatus();
}

Status Axpy(int64_t n, float alpha, const float* x, float* y) {
  if (n < 0) return InvalidArgument("axpy: n must be >= 0, got {}", n);
  if (n > 0 && (!x || !y)) return InvalidArgument("axpy: x and y must be non-null");
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
  return OkStatus();
}

Status ScaleAdd(const float* x, float alpha, const float* y, float beta, int64_t n, float* out) {
  if (n < 0) return InvalidArgument("scale_add: n must be >= 0, got {}", n);
  if (n > 0 && (!x || !y || !out)) return InvalidArgument("scale_add: x, y, out must be non-null");
  for (int64_t i = 0; i < n; ++i) out[i] = alpha * x[i] + beta * y[i];
  return OkStatus();
}

Status Clamp(const float* x, int64_t n, float lo, float hi, float* y) {
  if (n < 0) return InvalidArgument("clamp: n must be >= 0, got {}", n);
  if (!(lo <= hi)) return InvalidArgument("clamp: need lo <= hi, got lo={} hi={}", lo, hi);
  if (n > 0 && (!x || !y)) return InvalidArgument("clamp: x and y must be non-null");
  for (int64_t i = 0; i < n; ++i) y[i] = std::min(std::max(x[i], lo), hi);
  return OkStatus();
}

}  // namespace cosyflow::kernels::ref
