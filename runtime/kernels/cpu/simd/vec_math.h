// Vector transcendental functions on Vf (simd.h), written once for every ISA variant. Accuracy,
// measured by the kernel tests against double references on every variant: Exp ~2 ulp, Sin
// ~1e-7 absolute for |x| < 1e4, Tanh / Sigmoid / NormalCdf ~1e-7 relative.
#pragma once

#include "runtime/kernels/cpu/simd/simd.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS {

// e^x for x already clamped to [-87, 89]: range reduction x = n ln2 + r, |r| <= ln2/2, the
// degree-kDegree Taylor polynomial for e^r, then scale by 2^n (n >= -126 and e^r > 1 at n = -126,
// so every result is a normal float; Scale2n saturates cleanly to inf above).
// ExpOfClampedN: the same for N vectors at once, each step over all N before the next (the N
// dependency chains overlap; the same operations per lane, so the same bits as N = 1).
template <int kDegree, int N>
__attribute__((always_inline)) inline void ExpOfClampedN(Vf (&x)[N]) {
  static_assert(kDegree >= 2 && kDegree <= 7, "Taylor degree");
  constexpr float kInvFactorial[8] = {1.0f,        1.0f,         0.5f,          1.0f / 6.0f,
                                      1.0f / 24.0f, 1.0f / 120.0f, 1.0f / 720.0f, 1.0f / 5040.0f};
  Vf n[N], r[N], p[N];
#pragma GCC unroll 8
  for (int j = 0; j < N; ++j) {
    n[j] = Round(Mul(x[j], Set1(1.44269504088896341f)));
    r[j] = Fnmadd(n[j], Set1(0.693145751953125f), x[j]);  // ln2 split hi/lo
    r[j] = Fnmadd(n[j], Set1(1.428606765330187045e-06f), r[j]);
    p[j] = Set1(kInvFactorial[kDegree]);
  }
#pragma GCC unroll 7
  for (int i = kDegree - 1; i >= 0; --i) {
#pragma GCC unroll 8
    for (int j = 0; j < N; ++j) p[j] = Fmadd(p[j], r[j], Set1(kInvFactorial[i]));
  }
#pragma GCC unroll 8
  for (int j = 0; j < N; ++j) x[j] = Scale2n(p[j], n[j]);
}

template <int kDegree>
inline Vf ExpOfClamped(Vf x) {
  Vf v[1] = {x};
  ExpOfClampedN<kDegree>(v);
  return v[0];
}

// Below x = -87 (e^x < 1.7e-38, about the smallest normal float) the result is exactly 0: the
// true value would be a denormal or underflow, and every such lane of a multiply or vscalefps
// costs a microcode assist (a softmax over rows spread over 100 took 20x the time of one over
// rows spread over 10; docs/kernels.md). Those lanes are computed at -87 and replaced.
inline constexpr float kExpFloor = -87.0f;

// e^x, degree 7.
inline Vf Exp(Vf x) {
  const Vf e = ExpOfClamped<7>(Max(Min(x, Set1(89.0f)), Set1(kExpFloor)));
  return Select(Lt(x, Set1(kExpFloor)), Zero(), e);
}

// e^x for x <= 0 (a softmax's score minus its row max): no overflow clamp and degree 6
// (remainder < 1.2e-7 relative on |r| <= ln2/2: within ~2 ulp like Exp). -inf gives +0 as every
// x below -87 does, so masked keys need no separate mask (NaN arguments stay undefined).
inline Vf ExpNonPositive(Vf x) {
  const Vf e = ExpOfClamped<6>(Max(x, Set1(kExpFloor)));
  return Select(Lt(x, Set1(kExpFloor)), Zero(), e);
}

// sin(x): x = k pi + r with a three-part pi (Cody-Waite), odd Taylor polynomial to r^13 on
// [-pi/2, pi/2], sign flipped for odd k.
inline Vf Sin(Vf x) {
  const Vf k = Round(Mul(x, Set1(0.318309886183790672f)));
  Vf r = Fnmadd(k, Set1(3.140625f), x);
  r = Fnmadd(k, Set1(9.67502593994140625e-04f), r);
  r = Fnmadd(k, Set1(1.509957990978376432e-07f), r);
  const Vf r2 = Mul(r, r);
  Vf p = Set1(1.6059043836821614e-10f);  // 1/13!
  p = Fmadd(p, r2, Set1(-2.5052108385441720e-08f));
  p = Fmadd(p, r2, Set1(2.7557319223985893e-06f));
  p = Fmadd(p, r2, Set1(-1.9841269841269841e-04f));
  p = Fmadd(p, r2, Set1(8.3333333333333333e-03f));
  p = Fmadd(p, r2, Set1(-1.6666666666666667e-01f));
  p = Mul(p, r2);
  return NegateIfOdd(Fmadd(p, r, r), k);
}

// 1 / (1 + e^-x).
inline Vf Sigmoid(Vf x) {
  const Vf e = Exp(Sub(Zero(), x));
  return Div(Set1(1.0f), Add(Set1(1.0f), e));
}

// tanh(x). Small |x| (< 0.3) uses the odd Taylor series (avoids the cancellation of the exp
// form); otherwise sign(x) (1 - 2 / (e^{2|x|} + 1)).
inline Vf Tanh(Vf x) {
  const Vf ax = Abs(x);
  const Vf e = Exp(Mul(ax, Set1(2.0f)));
  const Vf big = Sub(Set1(1.0f), Div(Set1(2.0f), Add(e, Set1(1.0f))));
  const Vf x2 = Mul(x, x);
  Vf p = Set1(-0.00886323552990219656f);  // -1382/155925: series to x^11
  p = Fmadd(p, x2, Set1(0.0218694885361552028f));
  p = Fmadd(p, x2, Set1(-0.0539682539682539682540f));
  p = Fmadd(p, x2, Set1(0.1333333333333333333333f));
  p = Fmadd(p, x2, Set1(-0.3333333333333333333333f));
  p = Mul(p, x2);
  const Vf small = Fmadd(p, x, x);
  return Select(Lt(ax, Set1(0.3f)), small, CopySign(big, x));
}

// Standard normal CDF Phi(x) = 0.5 erfc(-x / sqrt 2), relative error ~1e-7 on both tails:
// erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2) for z >= 0 (Chebyshev fit from Numerical
// Recipes, fractional error < 1.2e-7), and erfc(-z) = 2 - erfc(z). NormalCdfN computes it for N
// vectors at once, each step over all N before the next: one evaluation is a chain of ~40
// dependent operations (4-cycle FMAs), so a GEMM epilogue that computed its rows' GELU one
// vector after another waited on that latency (the int16 / f32 panel GEMMs' feed-forward
// epilogue cost as much as the products; docs/kernels.md). The same operations per lane, so the
// same bits whatever N.
template <int N>
__attribute__((always_inline)) inline void NormalCdfN(Vf (&x)[N]) {
  // z is held at 9 (|x| > 12.7, where Phi(-|x|) < 2.2e-37) and Phi(-|x|) set to 0 there: e^p
  // and the products after it stay normal floats (a denormal result costs a microcode assist
  // per lane: the flow's feed-forward epilogue ran ~6x slower on such inputs).
  // t = 1 / (1 + z/2) in [0.18, 1] by Recip (simd.h: a reciprocal estimate and Newton steps; a
  // division was a third of the function's time), and e^p directly: p = P(t) - z^2 lies in
  // [-82.3, 0], so the clamps of Exp have nothing to do.
  constexpr float kP[10] = {0.17087277f,  -0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f,
                            -0.18628806f, 0.09678418f,  0.37409196f, 1.00002368f,  -1.26551223f};
  Vf z_in[N], t[N], p[N];
#pragma GCC unroll 8
  for (int j = 0; j < N; ++j) {
    z_in[j] = Mul(Abs(x[j]), Set1(0.70710678118654752f));
    t[j] = Recip(Fmadd(Min(z_in[j], Set1(9.0f)), Set1(0.5f), Set1(1.0f)));
    p[j] = Set1(kP[0]);
  }
#pragma GCC unroll 9
  for (int i = 1; i < 10; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < N; ++j) p[j] = Fmadd(p[j], t[j], Set1(kP[i]));
  }
#pragma GCC unroll 8
  for (int j = 0; j < N; ++j) {
    const Vf z = Min(z_in[j], Set1(9.0f));
    p[j] = Fnmadd(z, z, p[j]);
  }
  ExpOfClampedN<7>(p);
#pragma GCC unroll 8
  for (int j = 0; j < N; ++j) {
    const Vf tail = Mul(Mul(t[j], p[j]), Set1(0.5f));  // Phi(-|x|)
    const Vf half_erfc = Select(Gt(z_in[j], Set1(9.0f)), Zero(), tail);
    x[j] = Select(Gt(x[j], Zero()), Sub(Set1(1.0f), half_erfc), half_erfc);
  }
}

inline Vf NormalCdf(Vf x) {
  Vf v[1] = {x};
  NormalCdfN(v);
  return v[0];
}

// GELU (erf form) x Phi(x) of N vectors in place, as Mul(x, NormalCdf(x)) computes it.
template <int N>
__attribute__((always_inline)) inline void GeluErfN(Vf (&x)[N]) {
  Vf phi[N];
#pragma GCC unroll 8
  for (int j = 0; j < N; ++j) phi[j] = x[j];
  NormalCdfN(phi);
#pragma GCC unroll 8
  for (int j = 0; j < N; ++j) x[j] = Mul(x[j], phi[j]);
}

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS
