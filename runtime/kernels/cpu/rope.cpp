// Fast rotary position embedding: AVX-512 over each half head, masked tail.
#include "runtime/kernels/cpu/rope.h"

#include "runtime/kernels/cpu/vec_math.h"
#include "runtime/kernels/kernel_checks.h"

namespace cosyflow::kernels::cpu {

Status ApplyRope(float* x, int64_t tokens, int64_t heads, int64_t head_dim, int64_t token_stride,
                 int64_t start_pos, const float* cos_table, const float* sin_table,
                 int64_t max_pos) {
  COSY_RETURN_IF_ERROR(CheckRopeArgs(x, tokens, heads, head_dim, &token_stride, start_pos,
                                     cos_table, sin_table, max_pos));
  const int64_t half = head_dim / 2;
  for (int64_t t = 0; t < tokens; ++t) {
    const float* c = cos_table + (start_pos + t) * half;
    const float* s = sin_table + (start_pos + t) * half;
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x + t * token_stride + h * head_dim;
      int64_t i = 0;
#if COSY_AVX512
      for (; i < half; i += 16) {
        const int64_t left = half - i;
        const __mmask16 m = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1u);
        const __m512 a = _mm512_maskz_loadu_ps(m, v + i),
                     b = _mm512_maskz_loadu_ps(m, v + i + half);
        const __m512 vc = _mm512_maskz_loadu_ps(m, c + i), vs = _mm512_maskz_loadu_ps(m, s + i);
        _mm512_mask_storeu_ps(v + i, m, _mm512_fmsub_ps(a, vc, _mm512_mul_ps(b, vs)));
        _mm512_mask_storeu_ps(v + i + half, m, _mm512_fmadd_ps(b, vc, _mm512_mul_ps(a, vs)));
      }
#endif
      for (; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        v[i] = a * c[i] - b * s[i];
        v[i + half] = b * c[i] + a * s[i];
      }
    }
  }
  return OkStatus();
}

}  // namespace cosyflow::kernels::cpu
