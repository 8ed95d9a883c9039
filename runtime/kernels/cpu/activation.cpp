// Fast activations: one AVX-512 pass per op with masked tails; scalar std:: fallback elsewhere.
#include "runtime/kernels/cpu/activation.h"

#include <cmath>

#include "runtime/kernels/cpu/vec_math.h"
#include "runtime/kernels/kernel_checks.h"

namespace cosyflow::kernels::cpu {

namespace {

// Applies vf to 16 lanes at a time (masked tail) or sf per element without AVX-512.
template <typename VF, typename SF>
Status Map(const char* name, const float* x, int64_t n, float* y, [[maybe_unused]] VF vf,
           [[maybe_unused]] SF sf) {
  COSY_RETURN_IF_ERROR(CheckUnaryArgs(name, x, n, y));
#if COSY_AVX512
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, vf(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(y + i, m, vf(_mm512_maskz_loadu_ps(m, x + i)));
  }
#else
  for (int64_t i = 0; i < n; ++i) y[i] = sf(x[i]);
#endif
  return OkStatus();
}

float SigmoidScalar(float v) { return 1.0f / (1.0f + std::exp(-v)); }
}  // namespace

#if COSY_AVX512
#define COSY_VF(...)       \
  [](__m512 v) -> __m512 { \
    using namespace vec;   \
    __VA_ARGS__            \
  }
#else
#define COSY_VF(...) 0
#endif

Status GeluErf(const float* x, int64_t n, float* y) {
  return Map("gelu", x, n, y, COSY_VF(return _mm512_mul_ps(v, NormalCdf(v));),
             [](float v) { return 0.5f * v * std::erfc(-v * 0.70710678f); });
}

Status GeluTanh(const float* x, int64_t n, float* y) {
  // 0.5 (1 + tanh(u)) == sigmoid(2u): keeps relative accuracy on the negative tail.
  return Map("gelu_tanh", x, n, y,
             COSY_VF(const __m512 v3 = _mm512_mul_ps(_mm512_mul_ps(v, v), v);
                     const __m512 u = _mm512_mul_ps(_mm512_fmadd_ps(v3, Set1(0.044715f), v),
                                                    Set1(2.0f * 0.7978845608028654f));
                     return _mm512_mul_ps(v, Sigmoid(u));),
             [](float v) {
               return 0.5f * v * (1.0f + std::tanh(0.7978845608f * (v + 0.044715f * v * v * v)));
             });
}

Status Silu(const float* x, int64_t n, float* y) {
  return Map("silu", x, n, y, COSY_VF(return _mm512_mul_ps(v, Sigmoid(v));),
             [](float v) { return v * SigmoidScalar(v); });
}

Status Mish(const float* x, int64_t n, float* y) {
  // tanh(log(1 + u)) = (u^2 + 2u) / (u^2 + 2u + 2) with u = e^x; x clamped at 20 where it is 1.
  return Map("mish", x, n, y,
             COSY_VF(const __m512 u = Exp(_mm512_min_ps(v, Set1(20.0f)));
                     const __m512 p = _mm512_mul_ps(u, _mm512_add_ps(u, Set1(2.0f)));
                     return _mm512_mul_ps(v, _mm512_div_ps(p, _mm512_add_ps(p, Set1(2.0f))));),
             [](float v) { return v * std::tanh(std::log1p(std::exp(v))); });
}

Status LeakyRelu(const float* x, int64_t n, float slope, float* y) {
#if COSY_AVX512
  const __m512 s = _mm512_set1_ps(slope);
  auto vf = [s](__m512 v) {
    const __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_mask_mul_ps(v, neg, v, s);
  };
#else
  int vf = 0;
#endif
  return Map("leaky_relu", x, n, y, vf, [slope](float v) { return v >= 0.0f ? v : slope * v; });
}

Status Elu(const float* x, int64_t n, float* y) {
  // e^x - 1 from the ~2 ulp exp: absolute error ~3e-7 near 0, where expm1 would be relative.
  return Map("elu", x, n, y,
             COSY_VF(const __m512 e = _mm512_sub_ps(Exp(_mm512_min_ps(v, Set1(0.0f))), Set1(1.0f));
                     return _mm512_mask_blend_ps(
                         _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), e, v);),
             [](float v) { return v > 0.0f ? v : std::expm1(v); });
}

Status Tanh(const float* x, int64_t n, float* y) {
  return Map("tanh", x, n, y, COSY_VF(return Tanh(v);), [](float v) { return std::tanh(v); });
}
Status Sigmoid(const float* x, int64_t n, float* y) {
  return Map("sigmoid", x, n, y, COSY_VF(return Sigmoid(v);), SigmoidScalar);
}
Status Exp(const float* x, int64_t n, float* y) {
  return Map("exp", x, n, y, COSY_VF(return Exp(v);), [](float v) { return std::exp(v); });
}
Status Sin(const float* x, int64_t n, float* y) {
  return Map("sin", x, n, y, COSY_VF(return Sin(v);), [](float v) { return std::sin(v); });
}

#undef COSY_VF

Status Snake(const float* x, const float* alpha, int64_t channels, int64_t time, float* y) {
  COSY_RETURN_IF_ERROR(CheckSnakeArgs(x, alpha, channels, time, y));
  for (int64_t c = 0; c < channels; ++c) {
    const float a = alpha[c];
    const float inv = 1.0f / (a + 1e-9f);
    const float* xc = x + c * time;
    float* yc = y + c * time;
#if COSY_AVX512
    const __m512 va = _mm512_set1_ps(a), vinv = _mm512_set1_ps(inv);
    for (int64_t t = 0; t < time; t += 16) {
      const int64_t left = time - t;
      const __mmask16 m = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1u);
      const __m512 v = _mm512_maskz_loadu_ps(m, xc + t);
      const __m512 s = vec::Sin(_mm512_mul_ps(va, v));
      _mm512_mask_storeu_ps(yc + t, m, _mm512_fmadd_ps(_mm512_mul_ps(s, s), vinv, v));
    }
#else
    for (int64_t t = 0; t < time; ++t) {
      const float s = std::sin(a * xc[t]);
      yc[t] = xc[t] + inv * s * s;
    }
#endif
  }
  return OkStatus();
}

}  // namespace cosyflow::kernels::cpu
