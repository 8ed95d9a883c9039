// Fast softmax kernels: pass 1 masks and finds the max, pass 2 exponentiates and sums, pass 3
// scales; the row stays in L1 between passes.
#include "runtime/kernels/cpu/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/kernels/cpu/vec_math.h"
#include "runtime/kernels/kernel_checks.h"

namespace cosyflow::kernels::cpu {

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

#if COSY_AVX512
inline __mmask16 TailMask(int64_t left) {
  return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1u);
}
#endif

// y = masked x; returns max(y).
float MaskAndMax(const float* x, const float* add, const uint8_t* keep, int64_t n, float* y) {
#if COSY_AVX512
  const __m512 ninf = _mm512_set1_ps(kNegInf);
  __m512 mx = ninf;
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    if (add) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, add + i));
    if (keep) {
      const __m128i k = _mm_maskz_loadu_epi8(m, keep + i);
      const __mmask16 drop = _mm_cmpeq_epi8_mask(k, _mm_setzero_si128());
      v = _mm512_mask_mov_ps(v, drop, ninf);
    }
    if (add || keep || y != x) _mm512_mask_storeu_ps(y + i, m, v);
    mx = _mm512_mask_max_ps(mx, m, mx, v);
  }
  return _mm512_reduce_max_ps(mx);
#else
  float mx = kNegInf;
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i];
    if (add) v += add[i];
    if (keep && keep[i] == 0) v = kNegInf;
    y[i] = v;
    mx = std::max(mx, v);
  }
  return mx;
#endif
}

// y = exp(y - shift) (exactly 0 where y is -inf), stored when `store`; returns the sum.
float ExpShiftSum(float* y, int64_t n, float shift, bool store) {
#if COSY_AVX512
  const __m512 sh = _mm512_set1_ps(shift), ninf = _mm512_set1_ps(kNegInf);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, y + i);
    const __mmask16 live = _mm512_mask_cmp_ps_mask(m, v, ninf, _CMP_NEQ_OQ);
    const __m512 e = _mm512_maskz_mov_ps(live, vec::Exp(_mm512_sub_ps(v, sh)));
    sum = _mm512_add_ps(sum, e);
    if (store) _mm512_mask_storeu_ps(y + i, m, e);
  }
  return _mm512_reduce_add_ps(sum);
#else
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    const float e = y[i] == -INFINITY ? 0.0f : std::exp(y[i] - shift);
    if (store) y[i] = e;
    sum += e;
  }
  return sum;
#endif
}

void ScaleInPlace(float* y, int64_t n, float s) {
#if COSY_AVX512
  const __m512 vs = _mm512_set1_ps(s);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + i), vs));
  }
#else
  for (int64_t i = 0; i < n; ++i) y[i] *= s;
#endif
}
}  // namespace

Status Softmax(const float* x, int64_t rows, int64_t cols, float* y) {
  return SoftmaxMasked(x, nullptr, nullptr, 0, rows, cols, y);
}

Status SoftmaxMasked(const float* x, const float* add_mask, const uint8_t* keep_mask,
                     int64_t mask_row_stride, int64_t rows, int64_t cols, float* y) {
  COSY_RETURN_IF_ERROR(CheckSoftmaxMaskedArgs(x, mask_row_stride, rows, cols, y));
  for (int64_t r = 0; r < rows; ++r) {
    float* yr = y + r * cols;
    const float mx = MaskAndMax(x + r * cols, add_mask ? add_mask + r * mask_row_stride : nullptr,
                                keep_mask ? keep_mask + r * mask_row_stride : nullptr, cols, yr);
    if (mx == kNegInf) {
      std::fill(yr, yr + cols, 0.0f);
      continue;
    }
    const float sum = ExpShiftSum(yr, cols, mx, true);
    ScaleInPlace(yr, cols, 1.0f / sum);
  }
  return OkStatus();
}

Status LogSoftmax(const float* x, int64_t rows, int64_t cols, float* y) {
  COSY_RETURN_IF_ERROR(CheckSoftmaxArgs("log_softmax", x, rows, cols, y));
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float mx = MaskAndMax(xr, nullptr, nullptr, cols, yr);  // copies x into y
    const float sum = ExpShiftSum(yr, cols, mx, false);
    const float lse = mx + std::log(sum);
#if COSY_AVX512
    const __m512 vl = _mm512_set1_ps(lse);
    for (int64_t i = 0; i < cols; i += 16) {
      const __mmask16 m = TailMask(cols - i);
      _mm512_mask_storeu_ps(yr + i, m, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, yr + i), vl));
    }
#else
    for (int64_t i = 0; i < cols; ++i) yr[i] -= lse;
#endif
  }
  return OkStatus();
}

}  // namespace cosyflow::kernels::cpu
