// Fast elementwise kernels. Binary collapses the broadcast to at most 3 outer dims around one
// inner run where each operand is either contiguous or a scalar, then runs the selected ISA
// variant (kernel_table.h).
#include "runtime/kernels/cpu/elementwise.h"

#include "runtime/kernels/cpu/kernel_table.h"

namespace cosyflow::kernels::cpu {

Status Binary(BinaryOp op, const float* a, std::span<const int64_t> a_shape, const float* b,
              std::span<const int64_t> b_shape, float* out) {
  int64_t full[4], fa[4], fb[4];
  bool empty = false;
  COSY_RETURN_IF_ERROR(ref::PrepareBinary(a, a_shape, b, b_shape, out, full, fa, fb, &empty));
  if (empty) return OkStatus();
  // Collapse right to left: drop size-1 dims, merge a dim into the one on its right when both
  // operands step through them as one run (covers same-shape, row and column broadcasts).
  int64_t dims[4] = {1, 1, 1, 1}, sa[4] = {0, 0, 0, 0}, sb[4] = {0, 0, 0, 0};
  int k = 3;
  bool have = false;
  for (int i = 3; i >= 0; --i) {
    if (full[i] == 1) continue;
    if (have && fa[i] == sa[k] * dims[k] && fb[i] == sb[k] * dims[k]) {
      dims[k] *= full[i];
      continue;
    }
    if (have) --k;
    dims[k] = full[i];
    sa[k] = fa[i];
    sb[k] = fb[i];
    have = true;
  }
  // The inner run needs unit or zero strides; otherwise (never, after collapsing a row-major
  // operand) fall back to a length-1 inner run.
  if ((sa[3] != 0 && sa[3] != 1) || (sb[3] != 0 && sb[3] != 1)) return Internal("binary: stride");
  Kernels().binary4(static_cast<int>(op), dims, sa, sb, a, b, out);
  return OkStatus();
}

Status Axpy(int64_t n, float alpha, const float* x, float* y) {
  if (n < 0) return InvalidArgument("axpy: n must be >= 0, got {}", n);
  if (n > 0 && (!x || !y)) return InvalidArgument("axpy: x and y must be non-null");
  if (n > 0) Kernels().axpy(n, alpha, x, y);
  return OkStatus();
}

Status ScaleAdd(const float* x, float alpha, const float* y, float beta, int64_t n, float* out) {
  if (n < 0) return InvalidArgument("scale_add: n must be >= 0, got {}", n);
  if (n > 0 && (!x || !y || !out)) return InvalidArgument("scale_add: x, y, out must be non-null");
  if (n > 0) Kernels().scale_add(x, alpha, y, beta, n, out);
  return OkStatus();
}

Status Clamp(const float* x, int64_t n, float lo, float hi, float* y) {
  if (n < 0) return InvalidArgument("clamp: n must be >= 0, got {}", n);
  if (!(lo <= hi)) return InvalidArgument("clamp: need lo <= hi, got lo={} hi={}", lo, hi);
  if (n > 0 && (!x || !y)) return InvalidArgument("clamp: x and y must be non-null");
  if (n > 0) Kernels().clamp(x, n, lo, hi, y);
  return OkStatus();
}

Status NarrowBf16(const float* x, int64_t n, uint16_t* y) {
  if (n < 0) return InvalidArgument("narrow_bf16: n must be >= 0, got {}", n);
  if (n > 0 && (x == nullptr || y == nullptr)) return InvalidArgument("narrow_bf16: null buffer");
  Kernels().narrow_bf16(x, n, y);
  return OkStatus();
}

}  // namespace cosyflow::kernels::cpu
