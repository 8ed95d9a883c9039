// Fast elementwise kernels. Binary collapses the broadcast to at most 3 outer dims around one
// inner run where each operand is either contiguous or a scalar, then runs an AVX-512 loop.
#include "runtime/kernels/cpu/elementwise.h"

#include <algorithm>

#include "runtime/kernels/cpu/vec_math.h"

namespace cosyflow::kernels::cpu {

namespace {

#if COSY_AVX512
inline __mmask16 TailMask(int64_t left) {
  return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1u);
}
inline __m512 ApplyVec(BinaryOp op, __m512 a, __m512 b) {
  switch (op) {
    case BinaryOp::kAdd:
      return _mm512_add_ps(a, b);
    case BinaryOp::kSub:
      return _mm512_sub_ps(a, b);
    case BinaryOp::kMul:
      return _mm512_mul_ps(a, b);
    case BinaryOp::kDiv:
      return _mm512_div_ps(a, b);
  }
  return a;
}
#endif

// out[i] = a[i * sa] (op) b[i * sb] for i < n, sa and sb in {0, 1}.
template <BinaryOp kOp>
void InnerRun(const float* a, int64_t sa, const float* b, int64_t sb, int64_t n, float* out) {
#if COSY_AVX512
  const __m512 a0 = _mm512_set1_ps(*a), b0 = _mm512_set1_ps(*b);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 va = sa ? _mm512_maskz_loadu_ps(m, a + i) : a0;
    const __m512 vb = sb ? _mm512_maskz_loadu_ps(m, b + i) : b0;
    _mm512_mask_storeu_ps(out + i, m, ApplyVec(kOp, va, vb));
  }
#else
  for (int64_t i = 0; i < n; ++i) out[i] = ref::ApplyBinaryOp(kOp, a[i * sa], b[i * sb]);
#endif
}

template <BinaryOp kOp>
void Broadcast4(const int64_t* dims, const int64_t* sa, const int64_t* sb, const float* a,
                const float* b, float* out) {
  const int64_t n = dims[3];
  for (int64_t i0 = 0; i0 < dims[0]; ++i0)
    for (int64_t i1 = 0; i1 < dims[1]; ++i1)
      for (int64_t i2 = 0; i2 < dims[2]; ++i2) {
        const float* pa = a + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
        const float* pb = b + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
        InnerRun<kOp>(pa, sa[3], pb, sb[3], n, out);
        out += n;
      }
}

}  // namespace

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
  switch (op) {
    case BinaryOp::kAdd:
      Broadcast4<BinaryOp::kAdd>(dims, sa, sb, a, b, out);
      break;
    case BinaryOp::kSub:
      Broadcast4<BinaryOp::kSub>(dims, sa, sb, a, b, out);
      break;
    case BinaryOp::kMul:
      Broadcast4<BinaryOp::kMul>(dims, sa, sb, a, b, out);
      break;
    case BinaryOp::kDiv:
      Broadcast4<BinaryOp::kDiv>(dims, sa, sb, a, b, out);
      break;
  }
  return OkStatus();
}

Status Axpy(int64_t n, float alpha, const float* x, float* y) {
  if (n < 0) return InvalidArgument("axpy: n must be >= 0, got {}", n);
  if (n > 0 && (!x || !y)) return InvalidArgument("axpy: x and y must be non-null");
#if COSY_AVX512
  const __m512 va = _mm512_set1_ps(alpha);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 r =
        _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i));
    _mm512_mask_storeu_ps(y + i, m, r);
  }
#else
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
#endif
  return OkStatus();
}

Status ScaleAdd(const float* x, float alpha, const float* y, float beta, int64_t n, float* out) {
  if (n < 0) return InvalidArgument("scale_add: n must be >= 0, got {}", n);
  if (n > 0 && (!x || !y || !out)) return InvalidArgument("scale_add: x, y, out must be non-null");
#if COSY_AVX512
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 r = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i),
                                     _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m, y + i)));
    _mm512_mask_storeu_ps(out + i, m, r);
  }
#else
  for (int64_t i = 0; i < n; ++i) out[i] = alpha * x[i] + beta * y[i];
#endif
  return OkStatus();
}

Status Clamp(const float* x, int64_t n, float lo, float hi, float* y) {
  if (n < 0) return InvalidArgument("clamp: n must be >= 0, got {}", n);
  if (!(lo <= hi)) return InvalidArgument("clamp: need lo <= hi, got lo={} hi={}", lo, hi);
  if (n > 0 && (!x || !y)) return InvalidArgument("clamp: x and y must be non-null");
#if COSY_AVX512
  const __m512 vl = _mm512_set1_ps(lo), vh = _mm512_set1_ps(hi);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_min_ps(_mm512_max_ps(v, vl), vh));
  }
#else
  for (int64_t i = 0; i < n; ++i) y[i] = std::min(std::max(x[i], lo), hi);
#endif
  return OkStatus();
}

}  // namespace cosyflow::kernels::cpu
