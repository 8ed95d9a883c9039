// AVX-512 building blocks for the hand-written cpu kernels: fast exp/sin/tanh/erf on 16 floats.
// Internal header (runtime/kernels/cpu only). Everything here is behind COSY_AVX512; the kernels
// keep a scalar fallback for other CPUs. Accuracy (measured by the kernel tests against double
// references): Exp ~2 ulp, Sin ~1e-7 absolute for |x| < 1e4, Tanh/Sigmoid/Erfc ~1e-7 relative.
#pragma once

// The fast paths need the Skylake-X subset (F, BW, VL, DQ); anything else takes the scalar path.
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#define COSY_AVX512 1
#else
#define COSY_AVX512 0
#endif

#if COSY_AVX512
#include <immintrin.h>

// GCC 12 reports its own _mm512_undefined_* placeholders inside the AVX-512 intrinsics as
// "may be used uninitialized" once inlined; a known false positive, silenced for the including
// kernel files (the middle end emits it at the end of the unit, so no push/pop).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace cosyflow::kernels::cpu::vec {

inline __m512 Set1(float v) { return _mm512_set1_ps(v); }

// e^x. Range reduction x = n ln2 + r, |r| <= ln2/2, degree-7 polynomial for e^r, then scale by
// 2^n with scalef (which saturates cleanly to 0 / inf, so no special cases are needed).
inline __m512 Exp(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, Set1(89.0f)), Set1(-104.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, Set1(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, Set1(0.693145751953125f), x);  // ln2 split hi/lo
  r = _mm512_fnmadd_ps(n, Set1(1.428606765330187045e-06f), r);
  __m512 p = Set1(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, r, Set1(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, r, Set1(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, Set1(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, Set1(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, Set1(0.5f));
  p = _mm512_fmadd_ps(p, r, Set1(1.0f));
  p = _mm512_fmadd_ps(p, r, Set1(1.0f));
  return _mm512_scalef_ps(p, n);
}

// sin(x): x = k*pi + r with a three-part pi (Cody-Waite), odd Taylor polynomial to r^13 on
// [-pi/2, pi/2], sign flipped for odd k.
inline __m512 Sin(__m512 x) {
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, Set1(0.318309886183790672f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, Set1(3.140625f), x);
  r = _mm512_fnmadd_ps(k, Set1(9.67502593994140625e-04f), r);
  r = _mm512_fnmadd_ps(k, Set1(1.509957990978376432e-07f), r);
  const __m512 r2 = _mm512_mul_ps(r, r);
  __m512 p = Set1(1.6059043836821614e-10f);  // 1/13!
  p = _mm512_fmadd_ps(p, r2, Set1(-2.5052108385441720e-08f));
  p = _mm512_fmadd_ps(p, r2, Set1(2.7557319223985893e-06f));
  p = _mm512_fmadd_ps(p, r2, Set1(-1.9841269841269841e-04f));
  p = _mm512_fmadd_ps(p, r2, Set1(8.3333333333333333e-03f));
  p = _mm512_fmadd_ps(p, r2, Set1(-1.6666666666666667e-01f));
  p = _mm512_mul_ps(p, r2);
  __m512 s = _mm512_fmadd_ps(p, r, r);
  // Odd k: negate (flip the sign bit).
  const __m512i ki = _mm512_cvtps_epi32(k);
  const __m512i sign = _mm512_slli_epi32(_mm512_and_si512(ki, _mm512_set1_epi32(1)), 31);
  return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(s), sign));
}

// 1 / (1 + e^-x).
inline __m512 Sigmoid(__m512 x) {
  const __m512 e = Exp(_mm512_sub_ps(_mm512_setzero_ps(), x));
  return _mm512_div_ps(Set1(1.0f), _mm512_add_ps(Set1(1.0f), e));
}

// tanh(x). Small |x| (< 0.3) uses the odd Taylor series (avoids the cancellation of the exp
// form); otherwise sign(x) * (1 - 2 / (e^{2|x|} + 1)).
inline __m512 Tanh(__m512 x) {
  const __m512 ax = _mm512_abs_ps(x);
  const __m512 e = Exp(_mm512_mul_ps(ax, Set1(2.0f)));
  __m512 big = _mm512_sub_ps(Set1(1.0f), _mm512_div_ps(Set1(2.0f), _mm512_add_ps(e, Set1(1.0f))));
  const __m512 x2 = _mm512_mul_ps(x, x);
  __m512 p = Set1(-0.00886323552990219656f);  // -1382/155925: series to x^11
  p = _mm512_fmadd_ps(p, x2, Set1(0.0218694885361552028f));
  p = _mm512_fmadd_ps(p, x2, Set1(-0.0539682539682539682540f));
  p = _mm512_fmadd_ps(p, x2, Set1(0.1333333333333333333333f));
  p = _mm512_fmadd_ps(p, x2, Set1(-0.3333333333333333333333f));
  p = _mm512_mul_ps(p, x2);
  const __m512 small = _mm512_fmadd_ps(p, x, x);
  // Copy the sign of x onto the large-|x| branch.
  const __m512i sign_bit = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN));
  big = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(big), sign_bit));
  const __mmask16 is_small = _mm512_cmp_ps_mask(ax, Set1(0.3f), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(is_small, big, small);
}

// Standard normal CDF Phi(x) = 0.5 * erfc(-x / sqrt 2), with relative error ~1e-7 on both tails:
// erfc(z) = t * exp(-z^2 + P(t)), t = 1 / (1 + z/2) for z >= 0 (Chebyshev fit from Numerical
// Recipes, fractional error < 1.2e-7), and erfc(-z) = 2 - erfc(z).
inline __m512 NormalCdf(__m512 x) {
  const __m512 z = _mm512_mul_ps(_mm512_abs_ps(x), Set1(0.70710678118654752f));
  const __m512 t = _mm512_div_ps(Set1(1.0f), _mm512_fmadd_ps(z, Set1(0.5f), Set1(1.0f)));
  __m512 p = Set1(0.17087277f);
  p = _mm512_fmadd_ps(p, t, Set1(-0.82215223f));
  p = _mm512_fmadd_ps(p, t, Set1(1.48851587f));
  p = _mm512_fmadd_ps(p, t, Set1(-1.13520398f));
  p = _mm512_fmadd_ps(p, t, Set1(0.27886807f));
  p = _mm512_fmadd_ps(p, t, Set1(-0.18628806f));
  p = _mm512_fmadd_ps(p, t, Set1(0.09678418f));
  p = _mm512_fmadd_ps(p, t, Set1(0.37409196f));
  p = _mm512_fmadd_ps(p, t, Set1(1.00002368f));
  p = _mm512_fmadd_ps(p, t, Set1(-1.26551223f));
  p = _mm512_fnmadd_ps(z, z, p);
  const __m512 half_erfc = _mm512_mul_ps(_mm512_mul_ps(t, Exp(p)), Set1(0.5f));  // Phi(-|x|)
  const __mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
  return _mm512_mask_blend_ps(pos, half_erfc, _mm512_sub_ps(Set1(1.0f), half_erfc));
}

}  // namespace cosyflow::kernels::cpu::vec

#endif  // COSY_AVX512
