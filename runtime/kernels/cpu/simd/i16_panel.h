// The pieces of the int16 products shared by gemm_i16.cpp (WeightType::kInt16 Linear layers)
// and attention_i16.cpp (AttentionParams::int16): the row quantizer and the register-tile
// kernel that sums one W panel against up to kRows quantized rows exactly in int32 blocks of
// kI16Block channels (kernel_table.h: quantize_i16_rows, gemm_panels_i16).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "runtime/kernels/cpu/simd/kernels.h"
#include "runtime/kernels/cpu/simd/simd.h"
#include "runtime/kernels/cpu/simd/vec_math.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS::i16_panel {

static_assert(kI16Block % 2 == 0 &&
                  kI16Block * int64_t{kI16ActMax} * kI16WeightMax < (int64_t{1} << 31),
              "a block's integer sum fits int32");

constexpr int64_t kPanel = kGemmPanelWidth;  // W columns per panel: 2 x 8 int32 lanes
constexpr int kRows = 6;                     // x rows per block (12 accumulators)
constexpr int64_t kPairsPerBlock = kI16Block / 2;

#if defined(COSY_SIMD_AVX512)
// acc += vpmaddwd(x, w) on 512 bits: the panel's 16 columns in one register per row.
// With kVnni (CPUs with AVX512_VNNI, chosen at run time): vpdpwssd, the same sum in one
// instruction (written in asm: the variant is not compiled for VNNI). The sums never leave int32
// (kI16Block), so its wrap-around never happens and both give the same bits.
template <bool kVnni>
__attribute__((always_inline)) inline void MaddAdd(__m512i& acc, __m512i x, __m512i w) {
  if constexpr (kVnni) {
    asm("vpdpwssd %[w], %[x], %[a]" : [a] "+v"(acc) : [x] "v"(x), [w] "v"(w));
  } else {
    __m512i t;
    asm("vpmaddwd %[w], %[x], %[t]\n\tvpaddd %[t], %[a], %[a]"
        : [a] "+v"(acc), [t] "=&v"(t)
        : [x] "v"(x), [w] "v"(w));
  }
}

template <int R, bool kVnni>
__attribute__((always_inline)) inline void BlockSums(const int16_t* xq, int64_t ldq,
                                                     const int16_t* wp, int64_t p0, int64_t p1,
                                                     float (*sum)[kPanel]) {
  __m512i acc[R];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_si512();
  const int16_t* w = wp + p0 * 2 * kPanel;
  for (int64_t p = p0; p < p1; ++p, w += 2 * kPanel) {
    const __m512i wv = _mm512_loadu_si512(w);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const int16_t* xp = xq + r * ldq + 2 * p;
      if constexpr (kVnni) {
        // the x pair broadcast from memory inside the instruction (no broadcast of its own)
        asm("vpdpwssd %[x]%{1to16%}, %[w], %[a]"
            : [a] "+v"(acc[r])
            : [x] "m"(*reinterpret_cast<const int32_t*>(xp)), [w] "v"(wv));
      } else {
        int32_t pair;
        std::memcpy(&pair, xp, 4);
        MaddAdd<kVnni>(acc[r], _mm512_set1_epi32(pair), wv);
      }
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    const __m512 v = _mm512_cvtepi32_ps(acc[r]);
    _mm512_store_ps(sum[r], p0 == 0 ? v : _mm512_add_ps(_mm512_load_ps(sum[r]), v));
  }
}
#elif defined(COSY_SIMD_AVX2)
// acc += vpmaddwd(x, w), written out so that GCC adds into the accumulator in place (from the
// intrinsics it computed each sum in a new register and copied it back: 12 extra moves per
// 12 products, a third of the issue slots).
__attribute__((always_inline)) inline void MaddAdd(__m256i& acc, __m256i x, __m256i w) {
  __m256i t;
  asm("vpmaddwd %[w], %[x], %[t]\n\tvpaddd %[t], %[a], %[a]"
      : [a] "+x"(acc), [t] "=&x"(t)
      : [x] "x"(x), [w] "x"(w));
}

// The exact int32 sums of pairs [p0, p1) of R x rows against the panel's 16 columns, converted
// to f32 and stored into sum[r] (first block) or added to it.
template <int R, bool kVnni>
__attribute__((always_inline)) inline void BlockSums(const int16_t* xq, int64_t ldq,
                                                     const int16_t* wp, int64_t p0, int64_t p1,
                                                     float (*sum)[kPanel]) {
  // (AVX-VNNI's vpdpwssd on 256 bits, one instruction for the pair below, was tried: no clean
  // gain measured on the Zen 5 VM (docs/kernels.md); not used.)
  static_assert(!kVnni, "no VNNI products in this variant");
  __m256i acc[R][2];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  const int16_t* w = wp + p0 * 2 * kPanel;
  for (int64_t p = p0; p < p1; ++p, w += 2 * kPanel) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + kPanel));
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      int32_t pair;
      std::memcpy(&pair, xq + r * ldq + 2 * p, 4);
      const __m256i xb = _mm256_set1_epi32(pair);
      MaddAdd(acc[r][0], xb, w0);
      MaddAdd(acc[r][1], xb, w1);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const __m256 v = _mm256_cvtepi32_ps(acc[r][h]);
      _mm256_store_ps(sum[r] + 8 * h,
                      p0 == 0 ? v : _mm256_add_ps(_mm256_load_ps(sum[r] + 8 * h), v));
    }
  }
}
#else
template <int R, bool kVnni>
inline void BlockSums(const int16_t* xq, int64_t ldq, const int16_t* wp, int64_t p0, int64_t p1,
                      float (*sum)[kPanel]) {
  static_assert(!kVnni, "no VNNI products in this variant");
  int32_t part[R][kPanel] = {};
  for (int64_t p = p0; p < p1; ++p) {
    const int16_t* w = wp + p * 2 * kPanel;
    // the pair of each row first: GCC's vectorizer read one pair past the last row's end when the
    // row loads sat inside the column loop (valgrind; a crash where that pair was unmapped)
    int32_t xs[R][2];
    for (int r = 0; r < R; ++r) {
      xs[r][0] = xq[r * ldq + 2 * p];
      xs[r][1] = xq[r * ldq + 2 * p + 1];
    }
    for (int r = 0; r < R; ++r) {
      for (int64_t j = 0; j < kPanel; ++j) {
        part[r][j] += xs[r][0] * w[2 * j] + xs[r][1] * w[2 * j + 1];
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int64_t j = 0; j < kPanel; ++j) {
      const float v = static_cast<float>(part[r][j]);
      sum[r][j] = p0 == 0 ? v : sum[r][j] + v;
    }
  }
}
#endif

// The panel's first `cols` output columns a vector at a time: f(c, full, left, scale_w, bias_v)
// for column offset c, `left` columns from c (full: at least kLanes), the column scales and the
// bias (zero where null) loaded (partially past cols). Then StoreColumns(out, t, full, left).
template <class F>
__attribute__((always_inline)) inline void ForPanelColumns(const float* sw, const float* bias,
                                                           int64_t cols, F&& f) {
  for (int64_t c = 0; c < kPanel; c += kLanes) {
    const int64_t left = cols - c;
    if (left <= 0) break;
    const bool full = left >= kLanes;
    const Vf scale_w = full ? Load(sw + c) : LoadN(sw + c, left);
    const Vf bv = bias == nullptr ? Zero() : (full ? Load(bias + c) : LoadN(bias + c, left));
    f(c, full, left, scale_w, bv);
  }
}
__attribute__((always_inline)) inline void StoreColumns(float* out, Vf t, bool full, int64_t left) {
  if (full) {
    Store(out, t);
  } else {
    StoreN(out, t, left);
  }
}

// y rows [0, R) (stride ldy) x panel columns [0, cols): the block sums of every kI16Block
// channels in order, scaled by sx[r] sw[j], plus the bias, then the epilogue. Not inlined: inside
// the driver's loop GCC kept the caller's values in registers and reloaded W for every row
// (int16 products at the f32 rate).
template <int R, bool kVnni>
__attribute__((noinline)) void PanelBlock(const int16_t* xq, int64_t ldq, const float* sx,
                                          int64_t pairs, const int16_t* wp, const float* sw,
                                          const float* bias, int64_t cols, float* y, int64_t ldy,
                                          GemmEpilogue ep) {
  alignas(64) float sum[R][kPanel];
  for (int64_t p0 = 0; p0 < pairs; p0 += kPairsPerBlock) {  // pairs >= 1 (k >= 1)
    BlockSums<R, kVnni>(xq, ldq, wp, p0, MinI(pairs, p0 + kPairsPerBlock), sum);
  }
  ForPanelColumns(
      sw, bias, cols,
      [&](int64_t c, bool full, int64_t left, Vf scale_w, Vf b) __attribute__((always_inline)) {
        Vf t[R];
        for (int r = 0; r < R; ++r) t[r] = Fmadd(Load(sum[r] + c), Mul(scale_w, Set1(sx[r])), b);
        // as the GeluErf pass (pointwise.cpp) and Linear's accumulation compute it (the R rows'
        // GELU evaluated side by side: vec_math.h, NormalCdfN)
        if (ep == GemmEpilogue::kGeluErf) GeluErfN(t);
        for (int r = 0; r < R; ++r) {
          float* out = y + r * ldy + c;
          if (ep == GemmEpilogue::kAccumulate)
            t[r] = Add(full ? Load(out) : LoadN(out, left), t[r]);
          StoreColumns(out, t[r], full, left);
        }
      });
}

#if defined(COSY_SIMD_AVX512) || defined(COSY_SIMD_AVX2)
// 8 rows of 8 32-bit words (v[r] word c) -> o[c] word r: the panels' channel-pair words of 8
// rows (keys, W rows) side by side.
__attribute__((always_inline)) inline void Transpose8x8Words(const __m256i (&v)[8],
                                                             __m256i (&o)[8]) {
  const __m256i t0 = _mm256_unpacklo_epi32(v[0], v[1]), t1 = _mm256_unpackhi_epi32(v[0], v[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(v[2], v[3]), t3 = _mm256_unpackhi_epi32(v[2], v[3]);
  const __m256i t4 = _mm256_unpacklo_epi32(v[4], v[5]), t5 = _mm256_unpackhi_epi32(v[4], v[5]);
  const __m256i t6 = _mm256_unpacklo_epi32(v[6], v[7]), t7 = _mm256_unpackhi_epi32(v[6], v[7]);
  const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
  const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
  const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
  const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
  // word c: rows 0-3 in u[c % 4]'s 128-bit lane c / 4, rows 4-7 in u[4 + c % 4]'s
  o[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
  o[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
  o[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
  o[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
  o[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
  o[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
  o[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
  o[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

// dst[2c] = a[c], dst[2c + 1] = b[c] for c < 16 (two rows' int16 interleaved into pair words).
__attribute__((always_inline)) inline void Interleave16(const int16_t* a, const int16_t* b,
                                                        int16_t* dst) {
  const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a));
  const __m256i vb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
  const __m256i lo = _mm256_unpacklo_epi16(va, vb), hi = _mm256_unpackhi_epi16(va, vb);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm256_permute2x128_si256(lo, hi, 0x20));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 16),
                      _mm256_permute2x128_si256(lo, hi, 0x31));
}
#endif

// Rows whose max|x| is below this are scaled by kI16TinyScale (a power of two: exact) before
// qmax / max|x| is taken, which would otherwise overflow f32 (max|x| < qmax / FLT_MAX).
inline constexpr float kI16TinyMax = 0x1p-64f;
inline constexpr float kI16TinyScale = 0x1p64f;

// x[0, k) -> q[0, ldq) given a = max|x| > 0 (finite): q = x (qmax / a) rounded to nearest even
// (|q| <= qmax; for a < kI16TinyMax: (x 2^64) (qmax / (a 2^64))), zeros past k; returns the
// scale a / qmax.
inline float QuantizeRowWithMax(const float* row, int64_t k, int32_t qmax, float a, int16_t* q,
                                int64_t ldq) {
  const Vf vmax = Set1(static_cast<float>(qmax));
  const bool tiny = a < kI16TinyMax;
  const float pre = tiny ? kI16TinyScale : 1.0f;
  const float inv = static_cast<float>(qmax) / (a * pre);
  const Vf vinv = Set1(inv), vpre = Set1(pre);
  int64_t c = 0;
  for (; c + kLanes <= k; c += kLanes) {
    // |x inv| <= qmax (1 + 2^-23): after rounding to nearest even at most qmax
    const Vf x = tiny ? Mul(Load(row + c), vpre) : Load(row + c);
    const Vf t = Min(Max(Round(Mul(x, vinv)), Sub(Zero(), vmax)), vmax);
#if defined(COSY_SIMD_AVX512)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + c),
                        _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(t)));
#elif defined(COSY_SIMD_AVX2)
    const __m256i i32 = _mm256_cvtps_epi32(t);
    const __m128i i16 =
        _mm_packs_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + c), i16);
#else
    float tv[kLanes];
    Store(tv, t);
    for (int l = 0; l < kLanes; ++l) q[c + l] = static_cast<int16_t>(tv[l]);
#endif
  }
  const float fmax = static_cast<float>(qmax);
  for (; c < k; ++c) {
    const float t = std::nearbyint(row[c] * pre * inv);
    q[c] = static_cast<int16_t>(t < -fmax ? -fmax : (t > fmax ? fmax : t));
  }
  for (; c < ldq; ++c) q[c] = 0;
  return a / static_cast<float>(qmax);
}

// x[0, k) -> q[0, ldq): q = x (qmax / max|x|) rounded to nearest even (|q| <= qmax), zeros past
// k; returns the scale max|x| / qmax: 0 for a zero row, NaN when x holds NaN or infinity (then q
// is all zeros). qmax <= 32767.
inline float QuantizeRow(const float* row, int64_t k, int32_t qmax, int16_t* q, int64_t ldq) {
  // max |x| (exact in any order) and x * 0 summed: NaN when any x is NaN or infinite. Four
  // vectors a step on their own sums: one chain of x * 0 + sum (an FMA's latency per vector) was
  // most of the time of quantizing a 64-channel row.
  Vf amax = Zero(), bad = Zero();
  int64_t c = 0;
  {
    Vf m1 = Zero(), m2 = Zero(), m3 = Zero(), b1 = Zero(), b2 = Zero(), b3 = Zero();
    for (; c + 4 * kLanes <= k; c += 4 * kLanes) {
      const Vf v0 = Load(row + c), v1 = Load(row + c + kLanes);
      const Vf v2 = Load(row + c + 2 * kLanes), v3 = Load(row + c + 3 * kLanes);
      amax = Max(amax, Abs(v0));
      m1 = Max(m1, Abs(v1));
      m2 = Max(m2, Abs(v2));
      m3 = Max(m3, Abs(v3));
      bad = Add(bad, Mul(v0, Zero()));
      b1 = Add(b1, Mul(v1, Zero()));
      b2 = Add(b2, Mul(v2, Zero()));
      b3 = Add(b3, Mul(v3, Zero()));
    }
    amax = Max(Max(amax, m1), Max(m2, m3));
    bad = Add(Add(bad, b1), Add(b2, b3));
  }
  for (; c + kLanes <= k; c += kLanes) {
    const Vf v = Load(row + c);
    amax = Max(amax, Abs(v));
    bad = Add(bad, Mul(v, Zero()));
  }
  if (c < k) {
    const Vf v = LoadN(row + c, k - c);
    amax = Max(amax, Abs(v));
    bad = Add(bad, Mul(v, Zero()));
  }
  const float a = ReduceMax(amax);
  const float nonfinite = ReduceAdd(bad);
  if (nonfinite != 0.0f || !(a > 0.0f)) {
    for (int64_t j = 0; j < ldq; ++j) q[j] = 0;
    return nonfinite != 0.0f ? nonfinite : 0.0f;
  }
  return QuantizeRowWithMax(row, k, qmax, a, q, ldq);
}

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS::i16_panel
