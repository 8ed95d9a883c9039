// Per-ISA vector vocabulary of the multi-ISA cpu kernels: a float vector Vf of kLanes lanes, a
// lane mask Vm, and the handful of operations the kernels use, so each kernel is written once.
// Every source in this folder is compiled once per ISA (runtime/CMakeLists.txt): AVX-512
// (F/BW/VL/DQ, 16 lanes), AVX2+FMA+F16C (8 lanes) and portable C++ without intrinsics (8 lanes
// of plain loops, the "scalar" variant); COSY_ISA_NS names the namespace of that copy, so the
// copies never meet at link time. These sources include nothing but the C/C++ headers below and
// ref/attention.h, and call no inline library function that could be emitted out of line (an
// AVX-512 copy of a shared inline function could otherwise be picked by the linker for all).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#ifndef COSY_ISA_NS
#error "simd.h belongs to the per-ISA kernel sources; COSY_ISA_NS names the ISA"
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512DQ__)
#define COSY_SIMD_AVX512 1
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define COSY_SIMD_AVX2 1
#endif

#if defined(COSY_SIMD_AVX512) || defined(COSY_SIMD_AVX2)
#include <immintrin.h>
#endif

// GCC 12 reports its own _mm512_undefined_* placeholders inside the AVX-512 intrinsics as
// "may be used uninitialized" once inlined: a known false positive (emitted at the end of the
// unit, so no push/pop).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#if !defined(COSY_SIMD_AVX512) && !defined(COSY_SIMD_AVX2)
namespace cosyflow {
float F16ToF32(uint16_t h);  // runtime/dtype.h (defined out of line in the baseline core)
}
#endif

namespace cosyflow::kernels::cpu::COSY_ISA_NS {

inline float Bf16ToF32Bits(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

#if defined(COSY_SIMD_AVX512)
// ---- AVX-512: 16 lanes, k-register masks ----------------------------------------------------
using Vf = __m512;
using Vm = __mmask16;
inline constexpr int kLanes = 16;
inline constexpr int kVecRegisters = 32;

inline Vf Set1(float v) { return _mm512_set1_ps(v); }
inline Vf Zero() { return _mm512_setzero_ps(); }
// Lanes [0, n) set; n <= 0 gives none, n >= kLanes all.
inline Vm HeadMask(int64_t n) {
  return n <= 0 ? Vm(0) : n >= 16 ? Vm(0xffff) : Vm((1u << n) - 1u);
}
inline Vf Load(const float* p) { return _mm512_loadu_ps(p); }
inline Vf LoadN(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(HeadMask(n), p); }
inline void Store(float* p, Vf v) { _mm512_storeu_ps(p, v); }
inline void StoreN(float* p, Vf v, int64_t n) { _mm512_mask_storeu_ps(p, HeadMask(n), v); }
inline Vf Add(Vf a, Vf b) { return _mm512_add_ps(a, b); }
inline Vf Sub(Vf a, Vf b) { return _mm512_sub_ps(a, b); }
inline Vf Mul(Vf a, Vf b) { return _mm512_mul_ps(a, b); }
inline Vf Div(Vf a, Vf b) { return _mm512_div_ps(a, b); }
// 1 / b for normal b far from overflow: vrcp14ps (2^-14 relative) and one Newton step, ~2^-27
// (a few ulp at most); vdivps takes one lane group per ~10 cycles on the divider.
inline Vf Recip(Vf b) {
  const __m512 r = _mm512_rcp14_ps(b);
  return _mm512_mul_ps(r, _mm512_fnmadd_ps(b, r, _mm512_set1_ps(2.0f)));
}
inline Vf Min(Vf a, Vf b) { return _mm512_min_ps(a, b); }
inline Vf Max(Vf a, Vf b) { return _mm512_max_ps(a, b); }
inline Vf Abs(Vf a) { return _mm512_abs_ps(a); }
inline Vf Fmadd(Vf a, Vf b, Vf c) { return _mm512_fmadd_ps(a, b, c); }    // a b + c
inline Vf Fnmadd(Vf a, Vf b, Vf c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a b
inline Vf Fmsub(Vf a, Vf b, Vf c) { return _mm512_fmsub_ps(a, b, c); }    // a b - c
inline Vf Round(Vf x) {
  return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
// p * 2^n for integral n (saturates cleanly to 0 / inf).
inline Vf Scale2n(Vf p, Vf n) { return _mm512_scalef_ps(p, n); }
inline Vm Lt(Vf a, Vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
inline Vm Gt(Vf a, Vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
inline Vm Eq(Vf a, Vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
inline Vm Ne(Vf a, Vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_NEQ_OQ); }
inline Vm And(Vm a, Vm b) { return static_cast<Vm>(a & b); }
inline Vf Select(Vm m, Vf if_true, Vf if_false) { return _mm512_mask_blend_ps(m, if_false, if_true); }
inline Vf ZeroUnless(Vm m, Vf v) { return _mm512_maskz_mov_ps(m, v); }
// |mag| with the sign of `sign`.
inline Vf CopySign(Vf mag, Vf sign) {
  const __m512i s = _mm512_and_si512(_mm512_castps_si512(sign), _mm512_set1_epi32(INT32_MIN));
  return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(_mm512_abs_ps(mag)), s));
}
// -v where the integral k is odd.
inline Vf NegateIfOdd(Vf v, Vf k) {
  const __m512i sign =
      _mm512_slli_epi32(_mm512_and_si512(_mm512_cvtps_epi32(k), _mm512_set1_epi32(1)), 31);
  return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), sign));
}
inline float ReduceAdd(Vf v) { return _mm512_reduce_add_ps(v); }
inline float ReduceMax(Vf v) { return _mm512_reduce_max_ps(v); }
// Lanes whose byte p[i] is non-zero (i < n; lanes >= n are false).
inline Vm NonZeroBytes(const uint8_t* p, int64_t n) {
  const __m128i b = _mm_maskz_loadu_epi8(HeadMask(n), p);
  return static_cast<Vm>(~_mm_cmpeq_epi8_mask(b, _mm_setzero_si128()) & HeadMask(n));
}
inline Vf LoadBF16(const uint16_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
inline Vf LoadBF16N(const uint16_t* p, int64_t n) {
  const __m256i h = _mm256_maskz_loadu_epi16(HeadMask(n), p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
inline Vf LoadF16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline Vf LoadI8(const int8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
inline Vf LoadI8N(const int8_t* p, int64_t n) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(HeadMask(n), p)));
}
// out[0..4) = horizontal sums of a, b, c, d.
inline void Reduce4(Vf a, Vf b, Vf c, Vf d, float* out) {
  auto half = [](__m512 v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v),
                         _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  };
  const __m256 ab = _mm256_hadd_ps(half(a), half(b));
  const __m256 cd = _mm256_hadd_ps(half(c), half(d));
  const __m256 abcd = _mm256_hadd_ps(ab, cd);
  _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
}

#elif defined(COSY_SIMD_AVX2)
// ---- AVX2 + FMA + F16C: 8 lanes, vector masks --------------------------------------------------
using Vf = __m256;
using Vm = __m256;
inline constexpr int kLanes = 8;
inline constexpr int kVecRegisters = 16;

inline Vf Set1(float v) { return _mm256_set1_ps(v); }
inline Vf Zero() { return _mm256_setzero_ps(); }
inline __m256i HeadMaskI(int64_t n) {
  const int c = n >= 8 ? 8 : n <= 0 ? 0 : static_cast<int>(n);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline Vm HeadMask(int64_t n) { return _mm256_castsi256_ps(HeadMaskI(n)); }
inline Vf Load(const float* p) { return _mm256_loadu_ps(p); }
inline Vf LoadN(const float* p, int64_t n) { return _mm256_maskload_ps(p, HeadMaskI(n)); }
inline void Store(float* p, Vf v) { _mm256_storeu_ps(p, v); }
inline void StoreN(float* p, Vf v, int64_t n) { _mm256_maskstore_ps(p, HeadMaskI(n), v); }
inline Vf Add(Vf a, Vf b) { return _mm256_add_ps(a, b); }
inline Vf Sub(Vf a, Vf b) { return _mm256_sub_ps(a, b); }
inline Vf Mul(Vf a, Vf b) { return _mm256_mul_ps(a, b); }
inline Vf Div(Vf a, Vf b) { return _mm256_div_ps(a, b); }
// 1 / b for normal b far from overflow: vrcpps (1.5 x 2^-12 relative) and two Newton steps
// (one leaves ~2^-23, a few ulp; two reach the rounding of the last multiply).
inline Vf Recip(Vf b) {
  __m256 r = _mm256_rcp_ps(b);
  r = _mm256_mul_ps(r, _mm256_fnmadd_ps(b, r, _mm256_set1_ps(2.0f)));
  return _mm256_mul_ps(r, _mm256_fnmadd_ps(b, r, _mm256_set1_ps(2.0f)));
}
inline Vf Min(Vf a, Vf b) { return _mm256_min_ps(a, b); }
inline Vf Max(Vf a, Vf b) { return _mm256_max_ps(a, b); }
inline Vf Abs(Vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
inline Vf Fmadd(Vf a, Vf b, Vf c) { return _mm256_fmadd_ps(a, b, c); }
inline Vf Fnmadd(Vf a, Vf b, Vf c) { return _mm256_fnmadd_ps(a, b, c); }
inline Vf Fmsub(Vf a, Vf b, Vf c) { return _mm256_fmsub_ps(a, b, c); }
inline Vf Round(Vf x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
// p * 2^n for integral n in [-252, 254]: two exponent-field scalings of at most 2^±127 each, so
// results that underflow or overflow come out as 0 / inf like scalef.
inline Vf Scale2n(Vf p, Vf n) {
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1);
  const __m256i n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const Vf s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const Vf s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}
inline Vm Lt(Vf a, Vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
inline Vm Gt(Vf a, Vf b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
inline Vm Eq(Vf a, Vf b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
inline Vm Ne(Vf a, Vf b) { return _mm256_cmp_ps(a, b, _CMP_NEQ_OQ); }
inline Vm And(Vm a, Vm b) { return _mm256_and_ps(a, b); }
inline Vf Select(Vm m, Vf if_true, Vf if_false) { return _mm256_blendv_ps(if_false, if_true, m); }
inline Vf ZeroUnless(Vm m, Vf v) { return _mm256_and_ps(m, v); }
inline Vf CopySign(Vf mag, Vf sign) {
  const Vf sb = _mm256_set1_ps(-0.0f);
  return _mm256_or_ps(_mm256_andnot_ps(sb, mag), _mm256_and_ps(sb, sign));
}
inline Vf NegateIfOdd(Vf v, Vf k) {
  const __m256i sign =
      _mm256_slli_epi32(_mm256_and_si256(_mm256_cvtps_epi32(k), _mm256_set1_epi32(1)), 31);
  return _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(v), sign));
}
inline float ReduceAdd(Vf v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float ReduceMax(Vf v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline Vm NonZeroBytes(const uint8_t* p, int64_t n) {
  uint8_t buf[8] = {};
  if (n > 0) std::memcpy(buf, p, static_cast<size_t>(n >= 8 ? 8 : n));
  const __m256i w = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(buf)));
  const __m256i z = _mm256_cmpeq_epi32(w, _mm256_setzero_si256());
  return _mm256_castsi256_ps(_mm256_xor_si256(z, _mm256_set1_epi32(-1)));
}
inline Vf WidenBF16(__m128i h) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
inline Vf LoadBF16(const uint16_t* p) {
  return WidenBF16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline Vf LoadBF16N(const uint16_t* p, int64_t n) {
  uint16_t buf[8] = {};
  if (n > 0) std::memcpy(buf, p, static_cast<size_t>(n >= 8 ? 8 : n) * 2);
  return LoadBF16(buf);
}
inline Vf LoadF16(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline Vf LoadI8(const int8_t* p) {
  return _mm256_cvtepi32_ps(
      _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
inline Vf LoadI8N(const int8_t* p, int64_t n) {
  int8_t buf[8] = {};
  if (n > 0) std::memcpy(buf, p, static_cast<size_t>(n >= 8 ? 8 : n));
  return LoadI8(buf);
}
inline void Reduce4(Vf a, Vf b, Vf c, Vf d, float* out) {
  const __m256 ab = _mm256_hadd_ps(a, b);
  const __m256 cd = _mm256_hadd_ps(c, d);
  const __m256 abcd = _mm256_hadd_ps(ab, cd);
  _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
}

#else
// ---- Portable C++: 8 lanes of plain loops (the compiler may use the baseline SSE2) ------------
inline constexpr int kLanes = 8;
inline constexpr int kVecRegisters = 16;
struct Vf {
  float v[kLanes];
};
struct Vm {
  bool m[kLanes];
};

template <typename F>
inline Vf MapLanes(F f) {
  Vf r;
  for (int i = 0; i < kLanes; ++i) r.v[i] = f(i);
  return r;
}
template <typename F>
inline Vm MaskLanes(F f) {
  Vm r;
  for (int i = 0; i < kLanes; ++i) r.m[i] = f(i);
  return r;
}

inline Vf Set1(float s) { return MapLanes([s](int) { return s; }); }
inline Vf Zero() { return Set1(0.0f); }
inline Vm HeadMask(int64_t n) { return MaskLanes([n](int i) { return i < n; }); }
inline Vf Load(const float* p) { return MapLanes([p](int i) { return p[i]; }); }
inline Vf LoadN(const float* p, int64_t n) {
  return MapLanes([p, n](int i) { return i < n ? p[i] : 0.0f; });
}
inline void Store(float* p, Vf v) {
  for (int i = 0; i < kLanes; ++i) p[i] = v.v[i];
}
inline void StoreN(float* p, Vf v, int64_t n) {
  for (int i = 0; i < kLanes && i < n; ++i) p[i] = v.v[i];
}
inline Vf Add(Vf a, Vf b) { return MapLanes([&](int i) { return a.v[i] + b.v[i]; }); }
inline Vf Sub(Vf a, Vf b) { return MapLanes([&](int i) { return a.v[i] - b.v[i]; }); }
inline Vf Mul(Vf a, Vf b) { return MapLanes([&](int i) { return a.v[i] * b.v[i]; }); }
inline Vf Div(Vf a, Vf b) { return MapLanes([&](int i) { return a.v[i] / b.v[i]; }); }
inline Vf Recip(Vf b) {
  return MapLanes([&](int i) { return 1.0f / b.v[i]; });
}
inline Vf Min(Vf a, Vf b) { return MapLanes([&](int i) { return b.v[i] < a.v[i] ? b.v[i] : a.v[i]; }); }
inline Vf Max(Vf a, Vf b) { return MapLanes([&](int i) { return b.v[i] > a.v[i] ? b.v[i] : a.v[i]; }); }
inline Vf Abs(Vf a) { return MapLanes([&](int i) { return std::fabs(a.v[i]); }); }
inline Vf Fmadd(Vf a, Vf b, Vf c) { return MapLanes([&](int i) { return a.v[i] * b.v[i] + c.v[i]; }); }
inline Vf Fnmadd(Vf a, Vf b, Vf c) { return MapLanes([&](int i) { return c.v[i] - a.v[i] * b.v[i]; }); }
inline Vf Fmsub(Vf a, Vf b, Vf c) { return MapLanes([&](int i) { return a.v[i] * b.v[i] - c.v[i]; }); }
inline Vf Round(Vf x) { return MapLanes([&](int i) { return std::nearbyint(x.v[i]); }); }
inline Vf Scale2n(Vf p, Vf n) {
  return MapLanes([&](int i) { return std::ldexp(p.v[i], static_cast<int>(n.v[i])); });
}
inline Vm Lt(Vf a, Vf b) { return MaskLanes([&](int i) { return a.v[i] < b.v[i]; }); }
inline Vm Gt(Vf a, Vf b) { return MaskLanes([&](int i) { return a.v[i] > b.v[i]; }); }
inline Vm Eq(Vf a, Vf b) { return MaskLanes([&](int i) { return a.v[i] == b.v[i]; }); }
inline Vm Ne(Vf a, Vf b) { return MaskLanes([&](int i) { return a.v[i] != b.v[i]; }); }
inline Vm And(Vm a, Vm b) { return MaskLanes([&](int i) { return a.m[i] && b.m[i]; }); }
inline Vf Select(Vm m, Vf t, Vf f) { return MapLanes([&](int i) { return m.m[i] ? t.v[i] : f.v[i]; }); }
inline Vf ZeroUnless(Vm m, Vf v) { return MapLanes([&](int i) { return m.m[i] ? v.v[i] : 0.0f; }); }
inline Vf CopySign(Vf mag, Vf sign) {
  return MapLanes([&](int i) { return std::copysign(mag.v[i], sign.v[i]); });
}
inline Vf NegateIfOdd(Vf v, Vf k) {
  return MapLanes([&](int i) { return (static_cast<int32_t>(k.v[i]) & 1) ? -v.v[i] : v.v[i]; });
}
inline float ReduceAdd(Vf v) {
  // Pairwise, as the vector variants fold.
  float s4[4];
  for (int i = 0; i < 4; ++i) s4[i] = v.v[i] + v.v[i + 4];
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}
inline float ReduceMax(Vf v) {
  float m = v.v[0];
  for (int i = 1; i < kLanes; ++i) m = v.v[i] > m ? v.v[i] : m;
  return m;
}
inline Vm NonZeroBytes(const uint8_t* p, int64_t n) {
  return MaskLanes([&](int i) { return i < n && p[i] != 0; });
}
inline Vf LoadBF16(const uint16_t* p) { return MapLanes([p](int i) { return Bf16ToF32Bits(p[i]); }); }
inline Vf LoadBF16N(const uint16_t* p, int64_t n) {
  return MapLanes([p, n](int i) { return i < n ? Bf16ToF32Bits(p[i]) : 0.0f; });
}
inline Vf LoadF16(const uint16_t* p) {
  return MapLanes([p](int i) { return ::cosyflow::F16ToF32(p[i]); });
}
inline Vf LoadI8(const int8_t* p) { return MapLanes([p](int i) { return static_cast<float>(p[i]); }); }
inline Vf LoadI8N(const int8_t* p, int64_t n) {
  return MapLanes([p, n](int i) { return i < n ? static_cast<float>(p[i]) : 0.0f; });
}
inline void Reduce4(Vf a, Vf b, Vf c, Vf d, float* out) {
  out[0] = ReduceAdd(a);
  out[1] = ReduceAdd(b);
  out[2] = ReduceAdd(c);
  out[3] = ReduceAdd(d);
}
#endif

// ---- Shared helpers ------------------------------------------------------------------------
inline int64_t MinI(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t MaxI(int64_t a, int64_t b) { return a > b ? a : b; }

// F32ToBF16 / the bf16 rounding of runtime/dtype.h for one value (round to nearest even, NaN
// kept quiet), defined per variant here: dtype.h's inline functions are shared with baseline
// TUs, and an out-of-line copy emitted with this variant's instructions could be picked by the
// linker for every caller.
inline uint16_t Bf16Bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
#if defined(COSY_SIMD_AVX512)
// 16 rows of 16 dwords -> 16 columns of 16 dwords (r[c] becomes column c).
inline void Transpose16x16(__m512i r[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  // u[4g + q]: in each 128-bit lane L, column 4L + q of rows 4g .. 4g + 3.
  for (int g = 0; g < 4; ++g) {
    const __m512i* tg = t + 4 * g;
    u[4 * g + 0] = _mm512_unpacklo_epi64(tg[0], tg[2]);
    u[4 * g + 1] = _mm512_unpackhi_epi64(tg[0], tg[2]);
    u[4 * g + 2] = _mm512_unpacklo_epi64(tg[1], tg[3]);
    u[4 * g + 3] = _mm512_unpackhi_epi64(tg[1], tg[3]);
  }
  for (int q = 0; q < 4; ++q) {
    const __m512i a = _mm512_shuffle_i32x4(u[q], u[4 + q], 0x88);       // cols q, 8+q; rows 0-7
    const __m512i b = _mm512_shuffle_i32x4(u[q], u[4 + q], 0xdd);       // cols 4+q, 12+q; rows 0-7
    const __m512i c = _mm512_shuffle_i32x4(u[8 + q], u[12 + q], 0x88);  // rows 8-15
    const __m512i d = _mm512_shuffle_i32x4(u[8 + q], u[12 + q], 0xdd);
    r[q] = _mm512_shuffle_i32x4(a, c, 0x88);
    r[8 + q] = _mm512_shuffle_i32x4(a, c, 0xdd);
    r[4 + q] = _mm512_shuffle_i32x4(b, d, 0x88);
    r[12 + q] = _mm512_shuffle_i32x4(b, d, 0xdd);
  }
}

// Bf16Bits of 16 f32 bit patterns, in the low half of each 32-bit lane.
inline __m512i Bf16BitsLanes(__m512i u) {
  const __m512i hi = _mm512_srli_epi32(u, 16);
  const __m512i r = _mm512_srli_epi32(
      _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff),
                                           _mm512_and_si512(hi, _mm512_set1_epi32(1)))),
      16);
  const __mmask16 nan = _mm512_cmpgt_epi32_mask(
      _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  return _mm512_mask_or_epi32(r, nan, hi, _mm512_set1_epi32(0x40));
}
#elif defined(COSY_SIMD_AVX2)
// Bf16Bits of 8 f32 bit patterns, in the low half of each 32-bit lane.
inline __m256i Bf16BitsLanes(__m256i u) {
  const __m256i hi = _mm256_srli_epi32(u, 16);
  const __m256i r = _mm256_srli_epi32(
      _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff),
                                           _mm256_and_si256(hi, _mm256_set1_epi32(1)))),
      16);
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
                                         _mm256_set1_epi32(0x7f800000));
  return _mm256_blendv_epi8(r, _mm256_or_si256(hi, _mm256_set1_epi32(0x40)), nan);
}
#endif
#if defined(COSY_SIMD_AVX512) || defined(COSY_SIMD_AVX2)
// 8 rows of 8 floats -> 8 columns (r[c] becomes column c).
inline void Transpose8x8(__m256 r[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int g = 0; g < 2; ++g) {
    const __m256* tg = t + 4 * g;
    s[4 * g + 0] = _mm256_shuffle_ps(tg[0], tg[2], 0x44);
    s[4 * g + 1] = _mm256_shuffle_ps(tg[0], tg[2], 0xee);
    s[4 * g + 2] = _mm256_shuffle_ps(tg[1], tg[3], 0x44);
    s[4 * g + 3] = _mm256_shuffle_ps(tg[1], tg[3], 0xee);
  }
  for (int q = 0; q < 4; ++q) {
    r[q] = _mm256_permute2f128_ps(s[q], s[4 + q], 0x20);
    r[4 + q] = _mm256_permute2f128_ps(s[q], s[4 + q], 0x31);
  }
}
#endif
inline float RoundBf16(float x) {
  const uint32_t u = static_cast<uint32_t>(Bf16Bits(x)) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// x[0..n) -> y[0..n) through vf, kLanes at a time with a masked tail.
template <typename VF>
inline void MapRow(const float* x, int64_t n, float* y, VF vf) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) Store(y + i, vf(Load(x + i)));
  if (i < n) StoreN(y + i, vf(LoadN(x + i, n - i)), n - i);
}

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS
