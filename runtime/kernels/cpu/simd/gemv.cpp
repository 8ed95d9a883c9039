// Small-m linear kernels of one ISA variant: y: [m, n] = x: [m, k] W^T (+ bias), W: [n, k]
// row-major f32 or bf16, or int8 (per-row scales) in the 4-row blocks of cpu/i8_rows.h. Memory
// bound: W is streamed once per group of up to kMaxRows x rows, 4 W rows at a time, the n rows
// split over OpenMP threads.
#include <omp.h>

#include <cmath>

#include "runtime/kernels/cpu/i8_rows.h"
#include "runtime/kernels/cpu/simd/amx_tiles.h"
#include "runtime/kernels/cpu/simd/kernels.h"
#include "runtime/kernels/cpu/simd/simd.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS {

bool gemv_prefetch_nta = true;

namespace {

// W rows per block; x rows that share one pass over a block (accumulators R*4 + 4 W vectors + 1
// x vector must fit the register file).
constexpr int64_t kBlock = 4;
static_assert(kBlock == kI8BlockRows, "an int8 block of i8_rows.h is one GEMV block");
// Software prefetch distance in bytes ahead of each W row stream.
constexpr int64_t kPrefetchBytes = 16384;
// The prefetch of the W line kPrefetchBytes ahead: prefetchnta where FillKernelTable chose it
// (gemv_prefetch_nta, kernels.h), else prefetcht2. The choice is read once per call or block.
inline void PrefetchW(const void* p, bool nta) {
  if (nta) {
    __builtin_prefetch(p, 0, 0);
  } else {
    __builtin_prefetch(p, 0, 1);
  }
}
constexpr int kMaxRows = kVecRegisters >= 32 ? 4 : 2;
// Below this many weight elements a single thread is faster than waking the team. Inside a
// parallel region (SpeechLm's decode step calls many row chunks per thread) no region is
// entered at all: an inactive one (`if (false)`) still costs libgomp a team set-up per call,
// with allocations that made the two threads contend on the heap's lock (bf16 decode 15 -> 50
// ms/token when the chunks went through it).
constexpr int64_t kParallelMinWork = int64_t{1} << 16;
inline bool Parallel(int64_t n, int64_t k) {
  return n * k >= kParallelMinWork && !omp_in_parallel();
}

// Element loads, and where row r of a 4-row block and its column c lie: row-major for f32 and
// bf16, the interleaved blocks of i8_rows.h for int8.
struct RowMajor {
  template <class T>
  static const T* Block(const T* w, int64_t j0, int64_t k) {
    return w + j0 * k;
  }
  template <class T>
  static const T* Row(const T* block, int64_t r, int64_t k) {
    return block + r * k;
  }
  static int64_t Col(int64_t c) { return c; }
};
struct F32Elems : RowMajor {
  using T = float;
  static Vf Full(const float* p) { return Load(p); }
  static Vf Part(const float* p, int64_t n) { return LoadN(p, n); }
};
struct BF16Elems : RowMajor {
  using T = uint16_t;
  static Vf Full(const uint16_t* p) { return LoadBF16(p); }
  static Vf Part(const uint16_t* p, int64_t n) { return LoadBF16N(p, n); }
};
struct I8Elems {
  using T = int8_t;
  static Vf Full(const int8_t* p) { return LoadI8(p); }
  static Vf Part(const int8_t* p, int64_t n) { return LoadI8N(p, n); }
  // j0 % 4 == 0
  static const int8_t* Block(const int8_t* w, int64_t j0, int64_t k) {
    return w + j0 * I8PaddedK(k);
  }
  static const int8_t* Row(const int8_t* block, int64_t r, int64_t) { return block + r * kI8Chunk; }
  static int64_t Col(int64_t c) { return I8ColumnOffset(c); }  // kLanes divides the 64 of a chunk
};
static_assert(kI8Chunk % kLanes == 0, "an int8 vector lies inside one chunk");

// y[i * ldy + r] = W[r] . x[i] for rows_w <= 4 rows of W and R rows of x; the W loads are
// shared. Missing W rows (rows_w < 4) repeat row 0 and are not written.
template <int R, class XE, class WE>
void Dots4(const typename XE::T* x, const typename WE::T* w, int64_t rows_w, int64_t k,
           int64_t ldy, float* y) {
  const typename WE::T* wr[kBlock];
  for (int r = 0; r < kBlock; ++r) wr[r] = WE::Row(w, r < rows_w ? r : 0, k);
  Vf acc[R][kBlock];
  for (int i = 0; i < R; ++i)
    for (int r = 0; r < kBlock; ++r) acc[i][r] = Zero();
  const bool nta = gemv_prefetch_nta;
  int64_t c = 0;
  for (; c + kLanes <= k; c += kLanes) {
    // Short rows (1.8 KB in bf16) defeat the hardware prefetcher: once per 64 bytes, fetch the
    // line kPrefetchBytes ahead of each row stream (this thread's blocks are contiguous, so the
    // four streams together cover the next kPrefetchBytes of its range; int8: the block's
    // 4 x 64 bytes of the chunk, one stream).
    if (((c * static_cast<int64_t>(sizeof(typename WE::T))) & 63) == 0) {
      for (int r = 0; r < kBlock; ++r) {
        PrefetchW(reinterpret_cast<const char*>(wr[r] + WE::Col(c)) + kPrefetchBytes, nta);
      }
    }
    Vf wv[kBlock];
    for (int r = 0; r < kBlock; ++r) wv[r] = WE::Full(wr[r] + WE::Col(c));
    for (int i = 0; i < R; ++i) {
      const Vf xv = XE::Full(x + i * k + c);
      for (int r = 0; r < kBlock; ++r) acc[i][r] = Fmadd(wv[r], xv, acc[i][r]);
    }
  }
  if (c < k) {  // zero-filled tail
    Vf wv[kBlock];
    for (int r = 0; r < kBlock; ++r) wv[r] = WE::Part(wr[r] + WE::Col(c), k - c);
    for (int i = 0; i < R; ++i) {
      const Vf xv = XE::Part(x + i * k + c, k - c);
      for (int r = 0; r < kBlock; ++r) acc[i][r] = Fmadd(wv[r], xv, acc[i][r]);
    }
  }
  for (int i = 0; i < R; ++i) {
    float s[kBlock];
    Reduce4(acc[i][0], acc[i][1], acc[i][2], acc[i][3], s);
    for (int r = 0; r < rows_w; ++r) y[i * ldy + r] = s[r];
  }
}

// Rows [i0, i0 + rows_x) of x against W rows [j0, j0 + rows_w), in groups of kMaxRows.
template <class XE, class WE>
void BlockDots(const typename XE::T* x, const typename WE::T* w, int64_t m, int64_t j0,
               int64_t rows_w, int64_t n, int64_t k, float* y) {
  for (int64_t i0 = 0; i0 < m; i0 += kMaxRows) {
    const int64_t rows_x = MinI(kMaxRows, m - i0);
    const typename XE::T* xb = x + i0 * k;
    const typename WE::T* wb = WE::Block(w, j0, k);
    float* yb = y + i0 * n + j0;
    if constexpr (kMaxRows >= 4) {
      if (rows_x == 4) { Dots4<4, XE, WE>(xb, wb, rows_w, k, n, yb); continue; }
      if (rows_x == 3) { Dots4<3, XE, WE>(xb, wb, rows_w, k, n, yb); continue; }
    }
    if (rows_x >= 2) {
      Dots4<2, XE, WE>(xb, wb, rows_w, k, n, yb);
    } else {
      Dots4<1, XE, WE>(xb, wb, rows_w, k, n, yb);
    }
  }
}

// Runs BlockDots over every W block, blocks split over threads (each streamed once), then the
// per-row scale (int8) and the bias.
template <class XE, class WE>
void Gemv(const typename XE::T* x, const typename WE::T* w, const float* scales,
          const float* bias, float* y, int64_t m, int64_t n, int64_t k) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  auto block = [&](int64_t b) {
    const int64_t j0 = b * kBlock, rows_w = MinI(kBlock, n - j0);
    BlockDots<XE, WE>(x, w, m, j0, rows_w, n, k, y);
    if (scales != nullptr || bias != nullptr) {
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = j0; j < j0 + rows_w; ++j) {
          float v = y[i * n + j];
          if (scales != nullptr) v *= scales[j];
          if (bias != nullptr) v += bias[j];
          y[i * n + j] = v;
        }
      }
    }
  };
  if (Parallel(n, k)) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) block(b);
  } else {
    for (int64_t b = 0; b < blocks; ++b) block(b);
  }
}

}  // namespace

void GemvF32(const float* x, const float* w, const float* bias, float* y, int64_t m, int64_t n,
             int64_t k) {
  Gemv<F32Elems, F32Elems>(x, w, nullptr, bias, y, m, n, k);
}

void GemvBF16(const uint16_t* x, const uint16_t* w, const float* bias, float* y, int64_t m,
              int64_t n, int64_t k) {
  Gemv<BF16Elems, BF16Elems>(x, w, nullptr, bias, y, m, n, k);
}

void GemvI8(const float* x, const int8_t* w, const float* scales, const float* bias, float* y,
            int64_t m, int64_t n, int64_t k) {
  Gemv<F32Elems, I8Elems>(x, w, scales, bias, y, m, n, k);
}

#if defined(COSY_SIMD_AVX512)
// ---- AVX512_BF16: 32 bf16 products per instruction (pairs summed in f32) -------------------
#define COSY_TARGET_BF16 __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))
namespace {
template <int R>
COSY_TARGET_BF16 inline void DotBf16Step(const uint16_t* x, const uint16_t* const* wr, int64_t k,
                                         __mmask32 mask, __m512 (&acc)[R][kBlock]) {
  __m512bh wv[kBlock];
  for (int r = 0; r < kBlock; ++r) {
    wv[r] = reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(mask, wr[r]));
  }
  for (int i = 0; i < R; ++i) {
    const auto xv = reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(mask, x + i * k));
    for (int r = 0; r < kBlock; ++r) acc[i][r] = _mm512_dpbf16_ps(acc[i][r], wv[r], xv);
  }
}

template <int R>
COSY_TARGET_BF16 void DotsBf16(const uint16_t* x, const uint16_t* w, int64_t rows_w, int64_t k,
                               int64_t ldy, float* y) {
  const uint16_t* wr[kBlock];
  for (int r = 0; r < kBlock; ++r) wr[r] = w + (r < rows_w ? r : 0) * k;
  __m512 acc[R][kBlock];
  for (int i = 0; i < R; ++i)
    for (int r = 0; r < kBlock; ++r) acc[i][r] = _mm512_setzero_ps();
  const bool nta = gemv_prefetch_nta;
  int64_t c = 0;
  const uint16_t* wc[kBlock];
  for (; c + 32 <= k; c += 32) {
    for (int r = 0; r < kBlock; ++r) {
      wc[r] = wr[r] + c;
      PrefetchW(reinterpret_cast<const char*>(wc[r]) + kPrefetchBytes, nta);
    }
    DotBf16Step<R>(x + c, wc, k, ~__mmask32{0}, acc);
  }
  if (c < k) {
    for (int r = 0; r < kBlock; ++r) wc[r] = wr[r] + c;
    DotBf16Step<R>(x + c, wc, k, __mmask32((1u << (k - c)) - 1), acc);
  }
  for (int i = 0; i < R; ++i) {
    float s[kBlock];
    Reduce4(acc[i][0], acc[i][1], acc[i][2], acc[i][3], s);
    for (int r = 0; r < rows_w; ++r) y[i * ldy + r] = s[r];
  }
}
}  // namespace

COSY_TARGET_BF16 void GemvBF16Dot(const uint16_t* x, const uint16_t* w, const float* bias,
                                  float* y, int64_t m, int64_t n, int64_t k) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  auto block = [&](int64_t b) COSY_TARGET_BF16 {
    const int64_t j0 = b * kBlock, rows_w = MinI(kBlock, n - j0);
    for (int64_t i0 = 0; i0 < m; i0 += 4) {
      const int64_t rows_x = MinI(4, m - i0);
      const uint16_t* xb = x + i0 * k;
      const uint16_t* wb = w + j0 * k;
      float* yb = y + i0 * n + j0;
      switch (rows_x) {
        case 1:
          DotsBf16<1>(xb, wb, rows_w, k, n, yb);
          break;
        case 2:
          DotsBf16<2>(xb, wb, rows_w, k, n, yb);
          break;
        case 3:
          DotsBf16<3>(xb, wb, rows_w, k, n, yb);
          break;
        default:
          DotsBf16<4>(xb, wb, rows_w, k, n, yb);
          break;
      }
    }
    if (bias != nullptr) {
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = j0; j < j0 + rows_w; ++j) y[i * n + j] += bias[j];
      }
    }
  };
  if (Parallel(n, k)) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) block(b);
  } else {
    for (int64_t b = 0; b < blocks; ++b) block(b);
  }
}
#undef COSY_TARGET_BF16

// ---- AVX512_VNNI: int8 W against x in fixed point, exact integer products ---------------------
// Each row of x becomes x_int = round(x * 2^e) with 2^29 <= max|x_int| <= 2^30, stored as four
// byte planes: bits 0-7, 8-15 and 16-23 unsigned, the top h = x_int >> 24 signed. vpdpbusd sums
// 4 u8 x s8 products into each int32 lane, so one instruction takes 64 weights against one
// plane: the three low planes as u8 against W as s8; the top plane as s8 against W + 128 as u8
// (W xor 0x80), whose sum is W . h + 128 sum(h), with sum(h) known per row of x. Four
// vpdpbusd and one xor per 64 weights replace 4 x (sign extend, convert, FMA) per 16, and the
// int8 rows stream at memory speed. The dot products are exact integers (lane sums stay below
// 2^31 for k <= kGemvI8FixedMaxK); only x's rounding to 2^-e and the final scaling round.
#define COSY_TARGET_VNNI \
  __attribute__((target("avx512vnni,avx512f,avx512bw,avx512vl,avx512dq")))
namespace {
constexpr int kFixedPlanes = 4;

// Row x[0..k) into planes[p * stride + c] (c < stride, zeros past k), 2^-e and sum(h); false
// where x has a non-finite value or max|x| < 2^-64 (the f32 kernel takes those rows).
COSY_TARGET_VNNI bool QuantizeFixed(const float* x, int64_t k, int64_t stride, uint8_t* planes,
                                    double* unit, int64_t* top_sum) {
  __m512 amax = _mm512_setzero_ps(), bad = _mm512_setzero_ps();
  const __m512 zero = _mm512_setzero_ps();
  int64_t c = 0;
  for (; c + 16 <= k; c += 16) {
    const __m512 v = _mm512_loadu_ps(x + c);
    amax = _mm512_max_ps(amax, _mm512_abs_ps(v));
    bad = _mm512_fmadd_ps(v, zero, bad);  // NaN from here on once v holds an inf or a NaN
  }
  if (c < k) {
    const __m512 v = _mm512_maskz_loadu_ps(HeadMask(k - c), x + c);
    amax = _mm512_max_ps(amax, _mm512_abs_ps(v));
    bad = _mm512_fmadd_ps(v, zero, bad);
  }
  if (_mm512_cmp_ps_mask(bad, bad, _CMP_UNORD_Q) != 0) return false;
  const float m = _mm512_reduce_max_ps(amax);
  if (!(m >= 0x1p-64f)) return false;
  const int e = 29 - std::ilogb(m);  // m * 2^e in [2^29, 2^30); e in [-98, 93]
  const __m512 scale = _mm512_set1_ps(std::ldexp(1.0f, e));
  __m512i hsum = _mm512_setzero_si512();
  for (c = 0; c < stride; c += 16) {
    // Exact (a power of two), then rounded to nearest even whatever MXCSR says; zeros past k.
    const __m512i xi = _mm512_cvt_roundps_epi32(
        _mm512_mul_ps(_mm512_maskz_loadu_ps(HeadMask(k - c), x + c), scale),
        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512i h = _mm512_srai_epi32(xi, 24);
    hsum = _mm512_add_epi32(hsum, h);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(planes + c), _mm512_cvtepi32_epi8(xi));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(planes + stride + c),
                     _mm512_cvtepi32_epi8(_mm512_srli_epi32(xi, 8)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(planes + 2 * stride + c),
                     _mm512_cvtepi32_epi8(_mm512_srli_epi32(xi, 16)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(planes + 3 * stride + c),
                     _mm512_cvtepi32_epi8(h));
  }
  *unit = std::ldexp(1.0, -e);
  *top_sum = _mm512_reduce_add_epi32(hsum);  // |h| <= 64: at most 2^22 in all
  return true;
}

// Lane sums of a, b, c, d as lanes 0..3.
COSY_TARGET_VNNI inline __m128i Reduce4I32(__m512i a, __m512i b, __m512i c, __m512i d) {
  const __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
  const __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
  const __m512i abcd =
      _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
  const __m256i h =
      _mm256_add_epi32(_mm512_castsi512_si256(abcd), _mm512_extracti64x4_epi64(abcd, 1));
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

// One W row's 64 columns against the four planes.
COSY_TARGET_VNNI __attribute__((always_inline)) inline void FixedRow(
    __m512i wv, __m512i flip, __m512i x0, __m512i x1, __m512i x2, __m512i x3, __m512i& a0,
    __m512i& a1, __m512i& a2, __m512i& a3) {
  a0 = _mm512_dpbusd_epi32(a0, x0, wv);
  a1 = _mm512_dpbusd_epi32(a1, x1, wv);
  a2 = _mm512_dpbusd_epi32(a2, x2, wv);
  a3 = _mm512_dpbusd_epi32(a3, _mm512_xor_si512(wv, flip), x3);
}

// dot[r] = W[r] . x_int for rows_w <= 4 rows of W (missing rows repeat row 0, not written).
// Not inlined: inside the OpenMP body GCC spilled accumulators in the loop.
COSY_TARGET_VNNI __attribute__((noinline)) void DotsFixed(const uint8_t* planes, int64_t stride,
                                                          int64_t top_sum, const int8_t* w,
                                                          int64_t rows_w, int64_t k,
                                                          int64_t* dot) {
  static_assert(kBlock == 4 && kFixedPlanes == 4);
  // The block's rows (i8_rows.h): chunk c / 64 of row r at w + 4 c + 64 r.
  const int8_t* w0 = w;
  const int8_t* w1 = w + (rows_w > 1 ? 1 : 0) * kI8Chunk;
  const int8_t* w2 = w + (rows_w > 2 ? 2 : 0) * kI8Chunk;
  const int8_t* w3 = w + (rows_w > 3 ? 3 : 0) * kI8Chunk;
  // aRP: row R against plane P. Named variables, not an array: GCC kept an array of them on
  // the stack and stored it every step.
  __m512i a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33;
  a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = _mm512_setzero_si512();
  a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = _mm512_setzero_si512();
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  const bool nta = gemv_prefetch_nta;
  // One loop with the tail's mask in its last step (masked-off weights are 0, their planes 0).
  for (int64_t c = 0; c < k; c += 64) {
    const __mmask64 mask = k - c >= 64 ? ~__mmask64{0} : (uint64_t{1} << (k - c)) - 1;
    const int64_t wc = kI8BlockRows * c;
    PrefetchW(w0 + wc + kPrefetchBytes, nta);
    PrefetchW(w1 + wc + kPrefetchBytes, nta);
    PrefetchW(w2 + wc + kPrefetchBytes, nta);
    PrefetchW(w3 + wc + kPrefetchBytes, nta);
    const __m512i x0 = _mm512_loadu_si512(planes + c);
    const __m512i x1 = _mm512_loadu_si512(planes + stride + c);
    const __m512i x2 = _mm512_loadu_si512(planes + 2 * stride + c);
    const __m512i x3 = _mm512_loadu_si512(planes + 3 * stride + c);
    FixedRow(_mm512_maskz_loadu_epi8(mask, w0 + wc), flip, x0, x1, x2, x3, a00, a01, a02, a03);
    FixedRow(_mm512_maskz_loadu_epi8(mask, w1 + wc), flip, x0, x1, x2, x3, a10, a11, a12, a13);
    FixedRow(_mm512_maskz_loadu_epi8(mask, w2 + wc), flip, x0, x1, x2, x3, a20, a21, a22, a23);
    FixedRow(_mm512_maskz_loadu_epi8(mask, w3 + wc), flip, x0, x1, x2, x3, a30, a31, a32, a33);
  }
  // Through memory: reduced straight from the registers, GCC shuffled the accumulators between
  // registers (and the stack) inside the loop.
  __m512i out[kBlock][kFixedPlanes] = {{a00, a01, a02, a03}, {a10, a11, a12, a13},
                                       {a20, a21, a22, a23}, {a30, a31, a32, a33}};
  asm volatile("" : : "r"(out) : "memory");
  alignas(16) int32_t s[kFixedPlanes][kBlock];
  for (int p = 0; p < kFixedPlanes; ++p) {
    _mm_store_si128(reinterpret_cast<__m128i*>(s[p]),
                    Reduce4I32(out[0][p], out[1][p], out[2][p], out[3][p]));
  }
  for (int r = 0; r < rows_w; ++r) {
    dot[r] = int64_t{s[0][r]} + (int64_t{s[1][r]} << 8) + (int64_t{s[2][r]} << 16) +
             (int64_t{s[3][r]} - 128 * top_sum) * (int64_t{1} << 24);
  }
}

// Rows [0, n) of W against the prepared rows of x (GemvI8FixedQuantize's scratch), W blocks
// [b0, b1) of kBlock rows.
COSY_TARGET_VNNI inline void FixedBlocks(const void* scratch, const int8_t* w, const float* scales,
                                         const float* bias, float* y, int64_t m, int64_t n,
                                         int64_t k, int64_t b0, int64_t b1) {
  const int64_t stride = GemvI8FixedStride(k);
  const auto* planes = static_cast<const uint8_t*>(scratch);
  const auto* unit = reinterpret_cast<const double*>(planes + m * kFixedPlanes * stride);
  const auto* top_sum = reinterpret_cast<const int64_t*>(unit + m);
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t j0 = b * kBlock, rows_w = MinI(kBlock, n - j0);
    for (int64_t i = 0; i < m; ++i) {  // rows after the first read the block from L1
      int64_t dot[kBlock];
      DotsFixed(planes + i * kFixedPlanes * stride, stride, top_sum[i], w + j0 * I8PaddedK(k),
                rows_w, k, dot);
      for (int64_t r = 0; r < rows_w; ++r) {
        const int64_t j = j0 + r;
        // |dot| <= 2^53: exact in double; one rounding here, one to f32.
        float v = static_cast<float>(static_cast<double>(dot[r]) *
                                     (static_cast<double>(scales[j]) * unit[i]));
        if (bias != nullptr) v += bias[j];
        y[i * n + j] = v;
      }
    }
  }
}
}  // namespace

COSY_TARGET_VNNI bool GemvI8FixedQuantize(const float* x, int64_t m, int64_t k, void* scratch) {
  const int64_t stride = GemvI8FixedStride(k);
  auto* planes = static_cast<uint8_t*>(scratch);
  auto* unit = reinterpret_cast<double*>(planes + m * kFixedPlanes * stride);
  auto* top_sum = reinterpret_cast<int64_t*>(unit + m);
  for (int64_t i = 0; i < m; ++i) {
    if (!QuantizeFixed(x + i * k, k, stride, planes + i * kFixedPlanes * stride, &unit[i],
                       &top_sum[i])) {
      return false;
    }
  }
  return true;
}

COSY_TARGET_VNNI void GemvI8FixedRows(const void* scratch, const int8_t* w, const float* scales,
                                      const float* bias, float* y, int64_t m, int64_t n,
                                      int64_t k) {
  FixedBlocks(scratch, w, scales, bias, y, m, n, k, 0, (n + kBlock - 1) / kBlock);
}

COSY_TARGET_VNNI bool GemvI8Fixed(const float* x, const int8_t* w, const float* scales,
                                  const float* bias, float* y, int64_t m, int64_t n, int64_t k,
                                  void* scratch) {
  if (!GemvI8FixedQuantize(x, m, k, scratch)) return false;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  if (Parallel(n, k)) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks; ++b)
      FixedBlocks(scratch, w, scales, bias, y, m, n, k, b, b + 1);
  } else {
    FixedBlocks(scratch, w, scales, bias, y, m, n, k, 0, blocks);
  }
  return true;
}
#undef COSY_TARGET_VNNI

// ---- AMX-INT8: the same fixed-point product on the tile unit ---------------------------------
// vpdpbusd takes one byte plane per instruction: 4 of them and an xor per 64 weights kept the
// core busy enough to slow the weights' stream (the speech LM's decode products at ~26 GB/s
// where a plain read of the same 365 MB runs at ~31). Here one TDPBUSD multiplies a column
// block's chunk (the B tile: 16 W rows x 64 channels, 1 KiB, kernel_table.h's layout) by all
// planes of x at once (the A tile: 5 rows x 64 channels). x_int is offset to x_int + 2^30 (0 <
// it < 2^31: four unsigned bytes, planes 0-3) and plane 4 is all ones, so the accumulator's row
// 4 is W's row sum and dot = sum_p 2^(8p) C[p] - 2^30 C[4]: the exact integer of the vpdpbusd
// kernel, hence the same bits. Lane sums |C[p]| <= 128 x 255 x k < 2^31 for k <= 65536.
// Scratch per row of x: the 5 planes (GemvI8FixedStride(k) bytes each), then 2^-e (double) and
// 0 (int64) per row, as GemvI8FixedScratchBytes counts.
#define COSY_TARGET_AMX_I8 \
  __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512dq")))
namespace {
constexpr int kAmxPlanes = 5;
constexpr int32_t kAmxOffset = int32_t{1} << 30;
}  // namespace

COSY_TARGET_AMX_I8 void PackI8Amx(const int8_t* w_i8, int64_t n, int64_t k, int8_t* dst) {
  const int64_t stride = GemvI8FixedStride(k), chunks = stride / 64;
  const int64_t blocks = (n + kI8AmxBlockRows - 1) / kI8AmxBlockRows;
  for (int64_t b = 0; b < blocks; ++b) {
    for (int64_t q = 0; q < chunks; ++q) {
      // r[c] = W row 16 b + c, channels 64 q ..: 16 dwords of 4 channels; transposed, r[g] holds
      // channel group g of the 16 rows: the tile's row g.
      __m512i r[16];
      for (int c = 0; c < 16; ++c) {
        const int64_t j = b * kI8AmxBlockRows + c;
        r[c] = j < n ? _mm512_loadu_si512(w_i8 + I8RowOffset(j, k) + I8ColumnOffset(q * 64))
                     : _mm512_setzero_si512();
      }
      Transpose16x16(r);
      int8_t* tile = dst + (b * chunks + q) * 1024;
      for (int g = 0; g < 16; ++g) _mm512_storeu_si512(tile + g * 64, r[g]);
    }
  }
}

COSY_TARGET_AMX_I8 bool GemvI8AmxQuantize(const float* x, int64_t m, int64_t k, void* scratch) {
  const int64_t stride = GemvI8FixedStride(k);
  auto* planes = static_cast<uint8_t*>(scratch);
  auto* unit = reinterpret_cast<double*>(planes + m * kAmxPlanes * stride);
  auto* zero = reinterpret_cast<int64_t*>(unit + m);
  const __m512i offset = _mm512_set1_epi32(kAmxOffset);
  const __m512 zerof = _mm512_setzero_ps();
  for (int64_t i = 0; i < m; ++i) {
    const float* xi = x + i * k;
    __m512 amax = _mm512_setzero_ps(), bad = _mm512_setzero_ps();
    for (int64_t c = 0; c < k; c += 16) {
      const __m512 v = _mm512_maskz_loadu_ps(HeadMask(k - c), xi + c);
      amax = _mm512_max_ps(amax, _mm512_abs_ps(v));
      bad = _mm512_fmadd_ps(v, zerof, bad);  // NaN from here on once v holds an inf or a NaN
    }
    if (_mm512_cmp_ps_mask(bad, bad, _CMP_UNORD_Q) != 0) return false;
    const float mx = _mm512_reduce_max_ps(amax);
    if (!(mx >= 0x1p-64f)) return false;
    const int e = 29 - std::ilogb(mx);  // as QuantizeFixed: mx 2^e in [2^29, 2^30)
    const __m512 scale = _mm512_set1_ps(std::ldexp(1.0f, e));
    uint8_t* p = planes + i * kAmxPlanes * stride;
    for (int64_t c = 0; c < stride; c += 16) {
      // x_int as QuantizeFixed rounds it (zeros past k), offset to unsigned
      const __m512i v =
          _mm512_add_epi32(_mm512_cvt_roundps_epi32(
                               _mm512_mul_ps(_mm512_maskz_loadu_ps(HeadMask(k - c), xi + c), scale),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                           offset);
      for (int b = 0; b < 4; ++b) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(p + b * stride + c),
                         _mm512_cvtepi32_epi8(_mm512_srli_epi32(v, 8 * b)));
      }
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p + 4 * stride + c), _mm_set1_epi8(1));
    }
    unit[i] = std::ldexp(1.0, -e);
    zero[i] = 0;
  }
  return true;
}

namespace {
// Rows [j0, j0 + rows) of y from the accumulator rows of one column block (acc: 5 x 16 int32).
COSY_TARGET_AMX_I8 inline void AmxI8Outputs(const int32_t* acc, int64_t j0, int64_t rows,
                                            const float* scales, const float* bias, double unit,
                                            float* y) {
  const __mmask16 mask = static_cast<__mmask16>(rows >= 16 ? 0xffff : (1u << rows) - 1u);
  for (int h = 0; h < 2; ++h) {
    const __mmask8 m8 = static_cast<__mmask8>(mask >> (8 * h));
    if (m8 == 0) break;
    auto plane = [&](int p) COSY_TARGET_AMX_I8 {
      return _mm512_cvtepi32_epi64(
          _mm256_load_si256(reinterpret_cast<const __m256i*>(acc + p * 16 + 8 * h)));
    };
    __m512i d = plane(0);
    d = _mm512_add_epi64(d, _mm512_slli_epi64(plane(1), 8));
    d = _mm512_add_epi64(d, _mm512_slli_epi64(plane(2), 16));
    d = _mm512_add_epi64(d, _mm512_slli_epi64(plane(3), 24));
    d = _mm512_sub_epi64(d, _mm512_slli_epi64(plane(4), 30));
    const int64_t j = j0 + 8 * h;
    // |dot| <= 2^53: exact in double; one rounding here, one to f32 (as FixedBlocks).
    const __m512d s =
        _mm512_mul_pd(_mm512_cvtps_pd(_mm256_maskz_loadu_ps(m8, scales + j)), _mm512_set1_pd(unit));
    __m256 v = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtepi64_pd(d), s));
    if (bias != nullptr) v = _mm256_add_ps(v, _mm256_maskz_loadu_ps(m8, bias + j));
    _mm256_mask_storeu_ps(y + j, m8, v);
  }
}
}  // namespace

COSY_TARGET_AMX_I8 void GemvI8AmxRows(const void* scratch, const int8_t* w, const float* scales,
                                      const float* bias, float* y, int64_t ldy, int64_t m,
                                      int64_t n, int64_t k) {
  const int64_t stride = GemvI8FixedStride(k), chunks = stride / 64;
  const auto* planes = static_cast<const uint8_t*>(scratch);
  const auto* unit = reinterpret_cast<const double*>(planes + m * kAmxPlanes * stride);
  TileConfig cfg;
  for (int t : {0, 1}) {  // accumulators (two, alternating): 5 rows x 16 int32
    cfg.rows[t] = kAmxPlanes;
    cfg.colsb[t] = 64;
  }
  cfg.rows[2] = 16;  // B: a column block's chunk
  cfg.colsb[2] = 64;
  cfg.rows[3] = kAmxPlanes;  // A: the planes' chunk
  cfg.colsb[3] = 64;
  _tile_loadconfig(&cfg);
  const bool nta = gemv_prefetch_nta;
  const int64_t blocks = (n + kI8AmxBlockRows - 1) / kI8AmxBlockRows;
  // A block's outputs are computed while the next block's products run (the accumulator's
  // store waits for its chain of products).
  alignas(64) int32_t acc[2][kAmxPlanes * 16];
  for (int64_t i = 0; i < m; ++i) {
    const uint8_t* xp = planes + i * kAmxPlanes * stride;
    float* yi = y + i * ldy;
    int64_t pending = -1;
    for (int64_t b = 0; b < blocks; ++b) {
      const int8_t* wb = w + b * chunks * 1024;
      const int set = static_cast<int>(b & 1);
      if (set == 0) {
        _tile_zero(0);
      } else {
        _tile_zero(1);
      }
      for (int64_t q = 0; q < chunks; ++q) {
        // one tile ahead into L2 (rows after the first read the blocks from L1/L2)
        if (i == 0) {
          for (int64_t l = 0; l < 1024; l += 64) PrefetchW(wb + (q + 1) * 1024 + l, nta);
        }
        _tile_loadd(3, xp + q * 64, stride);
        _tile_loadd(2, wb + q * 1024, 64);
        if (set == 0) {
          _tile_dpbusd(0, 3, 2);
        } else {
          _tile_dpbusd(1, 3, 2);
        }
        if (q == 0 && pending >= 0) {
          const int64_t j0 = pending * kI8AmxBlockRows;
          AmxI8Outputs(acc[set ^ 1], j0, MinI(kI8AmxBlockRows, n - j0), scales, bias, unit[i], yi);
          pending = -1;
        }
      }
      if (set == 0) {
        _tile_stored(0, acc[0], 64);
      } else {
        _tile_stored(1, acc[1], 64);
      }
      pending = b;
    }
    if (pending >= 0) {
      const int64_t j0 = pending * kI8AmxBlockRows;
      AmxI8Outputs(acc[pending & 1], j0, MinI(kI8AmxBlockRows, n - j0), scales, bias, unit[i], yi);
    }
  }
  _tile_release();
}

// B tiles of the bf16 tile GEMM (gemm_amx.cpp's layout: per 16-column block, 32-channel chunk c:
// 16 pair rows x 16 columns x 2) from rows [j0, j0 + rows) of the AMX-INT8 layout, j0 a multiple
// of 16: int8 tile row g (channels 4g .. 4g + 3 of 16 rows) widened exactly to bf16 holds, as
// 32-bit units, (4g, 4g + 1) of each row at even units and (4g + 2, 4g + 3) at odd ones: pair
// rows 2g and 2g + 1.
COSY_TARGET_AMX_I8 void WidenI8AmxBf16(const int8_t* w, int64_t k, int64_t j0, int64_t rows,
                                       uint16_t* wt) {
  const int64_t stride = GemvI8FixedStride(k), chunks = stride / 64, kc = GemmAmxChunks(k);
  const int64_t nb = (rows + 15) / 16;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  auto widen16 = [](__m128i b) COSY_TARGET_AMX_I8 {  // 16 int8 -> 16 bf16 (exact)
    const __m512i f =
        _mm512_srli_epi32(_mm512_castps_si512(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b))), 16);
    return _mm512_cvtepi32_epi16(f);
  };
  for (int64_t jb = 0; jb < nb; ++jb) {
    const int8_t* src = w + (j0 / 16 + jb) * chunks * 1024;
    for (int64_t c = 0; c < kc; ++c) {  // bf16 chunk c: int8 chunk c / 2, tile rows 8 (c % 2) ..
      const int8_t* t8 = src + (c / 2) * 1024 + (c % 2) * 8 * 64;
      uint16_t* tile = wt + (jb * kc + c) * 512;
      for (int g = 0; g < 8; ++g) {
        const __m512i row = _mm512_loadu_si512(t8 + g * 64);
        const __m512i lo =
            _mm512_inserti64x4(_mm512_castsi256_si512(widen16(_mm512_castsi512_si128(row))),
                               widen16(_mm512_extracti32x4_epi32(row, 1)), 1);
        const __m512i hi =
            _mm512_inserti64x4(_mm512_castsi256_si512(widen16(_mm512_extracti32x4_epi32(row, 2))),
                               widen16(_mm512_extracti32x4_epi32(row, 3)), 1);
        _mm512_storeu_si512(tile + (2 * g) * 32, _mm512_permutex2var_epi32(lo, even, hi));
        _mm512_storeu_si512(tile + (2 * g + 1) * 32, _mm512_permutex2var_epi32(lo, odd, hi));
      }
    }
  }
}
#undef COSY_TARGET_AMX_I8
#endif

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS
