// The many-row products of Linear weights (f32 row-major, int8 in the row blocks of
// cpu/i8_rows.h) on an 8-row x 48-column register tile
// (kernel_table.h: pack_gemm_bf16_x + gemm_i8_bf16, pack_gemm_f32_x + gemm_f32): x packed once
// per call, transposed into column tiles; W loaded per block of 8 rows and chunk of k into an
// L1 buffer (int8 widened to exact bf16 pair words, f32 copied) and broadcast one k unit at a
// time against 3 vectors of x. AVX-512 variant (gemm_tile_avx2.cpp: AVX2): the int8 kernel on
// bf16 pairs for CPUs with AVX512_BF16 (vdpbf16ps); the f32 one, and int8 on f32 units (the
// int8 tile of CPUs without AVX512_BF16), on every AVX-512 CPU.
#include <cstdint>
#include <cstring>

#include "runtime/kernels/cpu/i8_rows.h"
#include "runtime/kernels/cpu/simd/bf16_tile.h"
#include "runtime/kernels/cpu/simd/gemm_rows.h"
#include "runtime/kernels/cpu/simd/kernels.h"
#include "runtime/kernels/cpu/simd/simd.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS {

#if defined(COSY_SIMD_AVX512)
#define COSY_TARGET_BF16 __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl,avx512dq")))
#define COSY_INLINE __attribute__((always_inline)) inline
namespace {

using gemm_rows::kChunk;
using gemm_rows::kRows;
using gemm_rows::Prefetch;
using gemm_rows::TileArgs;
using gemm_rows::Transpose8x8;

// 32 int8 values -> 16 words of two bf16 (WidenPairs below).
COSY_TARGET_BF16 inline void Widen32(const int8_t* src, uint32_t* out) {
  const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
  const __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q)));
  const __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1)));
  _mm512_storeu_si512(out, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

// n int8 values -> ceil(n / 2) words of two bf16 (the exact values: |q| <= 128 has at most 8
// significant bits), the lower index in the low half; an odd n's last word pairs with +0.
COSY_TARGET_BF16 inline void WidenPairs(const int8_t* src, int64_t n, uint32_t* out) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) Widen32(src + i, out + i / 2);
  for (; i < n; i += 2) {
    const uint32_t a = Bf16Bits(static_cast<float>(src[i]));
    const uint32_t b = i + 1 < n ? Bf16Bits(static_cast<float>(src[i + 1])) : 0u;
    out[i / 2] = a | b << 16;
  }
}

// A tile's accumulators: zero, or the partial sums of earlier chunks (rows ldp apart).
template <int V>
COSY_INLINE void TileStart(__m512 (&acc)[kRows][V], const float* part, int64_t ldp) {
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      acc[r][v] = part != nullptr ? _mm512_loadu_ps(part + r * ldp + 16 * v) : _mm512_setzero_ps();
    }
  }
}

// The accumulators end in `part` (out == nullptr) or, scaled and biased per row, transposed
// into out (columns ldo apart: out[c * ldo + r]) for the first `cols` columns and `rows` rows.
template <int V>
COSY_INLINE void TileEnd(__m512 (&acc)[kRows][V], float* part, int64_t ldp, float* out, int64_t ldo,
                         const float* scale, const float* bias, int rows, int64_t cols) {
  if (out == nullptr) {
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) _mm512_storeu_ps(part + r * ldp + 16 * v, acc[r][v]);
    }
    return;
  }
  const __mmask8 row_mask = static_cast<__mmask8>((1u << rows) - 1u);
#pragma GCC unroll 4
  for (int v = 0; v < V; ++v) {
    for (int h = 0; h < 2; ++h) {
      const int64_t c0 = 16 * v + 8 * h;
      if (c0 >= cols) break;
      __m256 col[8];
      for (int r = 0; r < kRows; ++r) {
        const __m512 y =
            _mm512_fmadd_ps(acc[r][v], _mm512_set1_ps(scale[r]), _mm512_set1_ps(bias[r]));
        col[r] = h == 0 ? _mm512_castps512_ps256(y) : _mm512_extractf32x8_ps(y, 1);
      }
      Transpose8x8(col);
      const int n = cols - c0 < 8 ? static_cast<int>(cols - c0) : 8;
      for (int c = 0; c < n; ++c) _mm256_mask_storeu_ps(out + (c0 + c) * ldo, row_mask, col[c]);
    }
  }
}

// int8 weights: x and W as bf16 pair words, vdpbf16ps.
struct I8Bf16Kind {
  using W = int8_t;
  using X = uint32_t;
  static int64_t Units(int64_t k) { return (k + 1) / 2; }
  // Row j's units [u0, u0 + uc) (W in the blocks of i8_rows.h) into dst, chunk by chunk.
  COSY_TARGET_BF16 static void Load(const int8_t* w, int64_t j, int64_t k, int64_t u0, int64_t uc,
                                    uint32_t* dst) {
    static_assert(2 * kChunk % kI8Chunk == 0, "a k chunk starts at a layout chunk");
    const int64_t c1 = 2 * (u0 + uc) < k ? 2 * (u0 + uc) : k;
    int64_t c = 2 * u0;
    const int8_t* p = w + I8RowOffset(j, k) + I8ColumnOffset(c);
    for (; c + kI8Chunk <= c1; c += kI8Chunk, p += kI8BlockRows * kI8Chunk, dst += kI8Chunk / 2) {
      Widen32(p, dst);
      Widen32(p + 32, dst + 16);
    }
    if (c < c1) WidenPairs(p, c1 - c, dst);  // odd only at k's end
  }
  // The prefetch of rows [j, j + rows)' pairs [u0, u0 + uc): their channels' bytes.
  static void PrefetchRows(const int8_t* w, int64_t j, int rows, int64_t k, int64_t u0, int64_t uc,
                           Prefetch* pf) {
    gemm_rows::I8Rows::PrefetchRows(w, j, rows, k, 2 * u0, 2 * uc, pf);
  }
  template <int V>
  COSY_TARGET_BF16 static void Tile(const TileArgs<uint32_t>& a) {
    __m512 acc[kRows][V];
    TileStart<V>(acc, a.from, a.ldp);
    for (int64_t p = 0; p < a.pc; ++p) {
      if ((p & 3) == 0 && a.pf != nullptr) a.pf->Next();  // 2 bytes per unit and row
      Bf16PairStep<kRows, V>(acc, a.xt + p * a.tw, a.wb + p, kChunk);
    }
    TileEnd<V>(acc, a.part, a.ldp, a.out, a.ldo, a.scale, a.bias, a.rows, a.cols);
  }
};

// The f32-unit tile: 8 broadcast weights x V vectors of x per unit, 24 accumulators at most; a
// prefetch line every pf_mask + 1 units.
template <int V>
COSY_INLINE void TileF32(const TileArgs<float>& a, int64_t pf_mask) {
  __m512 acc[kRows][V];
  TileStart<V>(acc, a.from, a.ldp);
  for (int64_t p = 0; p < a.pc; ++p) {
    if ((p & pf_mask) == 0 && a.pf != nullptr) a.pf->Next();
    const float* xp = a.xt + p * a.tw;
    __m512 xa[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) xa[v] = _mm512_loadu_ps(xp + 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const __m512 wr = _mm512_set1_ps(a.wb[r * kChunk + p]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(xa[v], wr, acc[r][v]);
    }
  }
  TileEnd<V>(acc, a.part, a.ldp, a.out, a.ldo, a.scale, a.bias, a.rows, a.cols);
}

// f32 weights (f32 x and W, one FMA per unit) and int8 weights widened to f32 (the int8 tile
// of CPUs without AVX512_BF16): gemm_rows.h's loaders with the f32 tile.
template <class Rows>
struct F32UnitKind : Rows {
  template <int V>
  static void Tile(const TileArgs<float>& a) {
    TileF32<V>(a, Rows::kPrefetchMask);
  }
};

// 16 rows of x ([ib, ib + 16), zeros past m) as 16 units each from unit u0, transposed into xv
// (`units` per row, column tiles of GemmXIndex). row(i, dst) writes row i's 16 units as dwords.
template <class RowUnits>
COSY_INLINE void PackRows(int64_t m, int64_t units, int64_t ib, int64_t u0, uint32_t* xv,
                          RowUnits row) {
  const int64_t mpad = (m + 15) / 16 * 16;
  __m512i r[16];
  for (int i = 0; i < 16; ++i) r[i] = ib + i < m ? row(ib + i) : _mm512_setzero_si512();
  Transpose16x16(r);
  const int64_t n = units - u0 < 16 ? units - u0 : 16;
  for (int64_t q = 0; q < n; ++q)
    _mm512_storeu_si512(xv + GemmXIndex(ib, u0 + q, mpad, units), r[q]);
}

}  // namespace

COSY_TARGET_BF16 void PackGemmBf16X(const float* x, int64_t ldx, int64_t m, int64_t k, int64_t i0,
                                    int64_t i1, uint32_t* xv) {
  const int64_t pairs = (k + 1) / 2, mpad = (m + 15) / 16 * 16;
  for (int64_t ib = i0; ib < i1 && ib < mpad; ib += 16) {
    for (int64_t p0 = 0; p0 < pairs; p0 += 16) {
      // Row i's 16 pair words from its floats 2 p0 .. 2 p0 + 31 (zeros past k).
      const int64_t nf = k - 2 * p0 < 32 ? k - 2 * p0 : 32;
      const __mmask16 lo_mask = static_cast<__mmask16>(nf >= 16 ? 0xffffu : (1u << nf) - 1u);
      const __mmask16 hi_mask =
          static_cast<__mmask16>(nf >= 32 ? 0xffffu : (nf > 16 ? (1u << (nf - 16)) - 1u : 0u));
      PackRows(m, pairs, ib, p0, xv, [&](int64_t i) COSY_TARGET_BF16 {
        const float* xr = x + i * ldx + 2 * p0;
        const __m512i lo = Bf16BitsLanes(_mm512_castps_si512(_mm512_maskz_loadu_ps(lo_mask, xr)));
        const __m512i hi =
            Bf16BitsLanes(_mm512_castps_si512(_mm512_maskz_loadu_ps(hi_mask, xr + 16)));
        return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi32_epi16(lo)),
                                  _mm512_cvtepi32_epi16(hi), 1);
      });
    }
  }
}

void PackGemmF32X(const float* x, int64_t ldx, int64_t m, int64_t k, int64_t i0, int64_t i1,
                  bool round_bf16, float* xv) {
  const int64_t mpad = (m + 15) / 16 * 16;
  for (int64_t ib = i0; ib < i1 && ib < mpad; ib += 16) {
    for (int64_t c0 = 0; c0 < k; c0 += 16) {
      const int64_t nf = k - c0 < 16 ? k - c0 : 16;
      const __mmask16 mask = static_cast<__mmask16>(nf >= 16 ? 0xffffu : (1u << nf) - 1u);
      PackRows(m, k, ib, c0, reinterpret_cast<uint32_t*>(xv), [&](int64_t i) {
        const __m512i u = _mm512_castps_si512(_mm512_maskz_loadu_ps(mask, x + i * ldx + c0));
        return round_bf16 ? _mm512_slli_epi32(Bf16BitsLanes(u), 16) : u;
      });
    }
  }
}

COSY_TARGET_BF16 void GemmI8Bf16(const uint32_t* xv, int64_t m, int64_t k, const int8_t* w,
                                 const float* scales, const float* bias, int64_t j0, int64_t j1,
                                 float* y, int64_t ldy, void* scratch) {
  gemm_rows::GemmRows<I8Bf16Kind>(xv, m, k, w, scales, bias, j0, j1, y, ldy, scratch);
}

void GemmF32(const float* xv, int64_t m, int64_t k, const float* w, const float* bias, int64_t j0,
             int64_t j1, float* y, int64_t ldy, void* scratch) {
  gemm_rows::GemmRows<F32UnitKind<gemm_rows::F32Rows>>(xv, m, k, w, nullptr, bias, j0, j1, y, ldy,
                                                       scratch);
}

void GemmI8F32(const float* xv, int64_t m, int64_t k, const int8_t* w, const float* scales,
               const float* bias, int64_t j0, int64_t j1, float* y, int64_t ldy, void* scratch) {
  gemm_rows::GemmRows<F32UnitKind<gemm_rows::I8Rows>>(xv, m, k, w, scales, bias, j0, j1, y, ldy,
                                                      scratch);
}
#undef COSY_INLINE
#undef COSY_TARGET_BF16
#endif

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS
