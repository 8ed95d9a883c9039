// Fast layer norm / RMS norm: per row, vector sums with masked tails, then one scaling pass.
#include "runtime/kernels/cpu/norm.h"

#include <cmath>

#include "runtime/kernels/cpu/vec_math.h"
#include "runtime/kernels/kernel_checks.h"

namespace cosyflow::kernels::cpu {

namespace {

#if COSY_AVX512
inline __mmask16 TailMask(int64_t remaining) {
  return remaining >= 16 ? __mmask16(0xffff) : __mmask16((1u << remaining) - 1u);
}
#endif

// Sum of x[0..n) and sum of (x - shift)^2.
void RowSums(const float* x, int64_t n, float shift, float* sum, float* sumsq) {
#if COSY_AVX512
  __m512 s = _mm512_setzero_ps(), q = _mm512_setzero_ps();
  const __m512 sh = _mm512_set1_ps(shift);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    s = _mm512_add_ps(s, v);
    const __m512 d = _mm512_maskz_sub_ps(m, v, sh);
    q = _mm512_fmadd_ps(d, d, q);
  }
  *sum = _mm512_reduce_add_ps(s);
  *sumsq = _mm512_reduce_add_ps(q);
#else
  float s = 0.0f, q = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    s += x[i];
    q += (x[i] - shift) * (x[i] - shift);
  }
  *sum = s;
  *sumsq = q;
#endif
}

// y = (x - shift) * scale * g + b, g/b optional.
void ScaleRow(const float* x, int64_t n, float shift, float scale, const float* g, const float* b,
              float* y) {
#if COSY_AVX512
  const __m512 sh = _mm512_set1_ps(shift), sc = _mm512_set1_ps(scale);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), sh), sc);
    if (g) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, g + i));
    if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + i));
    _mm512_mask_storeu_ps(y + i, m, v);
  }
#else
  for (int64_t i = 0; i < n; ++i) {
    float v = (x[i] - shift) * scale;
    if (g) v *= g[i];
    if (b) v += b[i];
    y[i] = v;
  }
#endif
}
}  // namespace

Status LayerNorm(const float* x, const float* gamma, const float* beta, int64_t rows, int64_t dim,
                 float eps, float* y) {
  COSY_RETURN_IF_ERROR(CheckNormArgs("layer_norm", x, rows, dim, eps, y));
  const float inv_dim = 1.0f / static_cast<float>(dim);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float sum, unused, sq;
    RowSums(xr, dim, 0.0f, &sum, &unused);
    const float mean = sum * inv_dim;
    RowSums(xr, dim, mean, &unused, &sq);  // two-pass variance: no cancellation for large means
    const float inv = 1.0f / std::sqrt(sq * inv_dim + eps);
    ScaleRow(xr, dim, mean, inv, gamma, beta, y + r * dim);
  }
  return OkStatus();
}

Status RmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps,
               float* y) {
  COSY_RETURN_IF_ERROR(CheckNormArgs("rms_norm", x, rows, dim, eps, y));
  const float inv_dim = 1.0f / static_cast<float>(dim);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float unused, sq;
    RowSums(xr, dim, 0.0f, &unused, &sq);
    const float inv = 1.0f / std::sqrt(sq * inv_dim + eps);
    ScaleRow(xr, dim, 0.0f, inv, weight, nullptr, y + r * dim);
  }
  return OkStatus();
}

}  // namespace cosyflow::kernels::cpu
