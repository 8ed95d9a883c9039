// The many-row products of row-major Linear weights on AVX2 (kernel_table.h: pack_gemm_f32_x
// with gemm_f32, gemm_i8_f32 and gemm_bf16_f32): the driver of the AVX-512 tiles
// (gemm_rows.h: x packed once per call into column tiles, W loaded per block of 8 rows and
// chunk of k into an L1 buffer) with f32 units throughout. int8 rows are widened to their exact
// values (the row scale comes after the sum) and bf16 rows to f32 as they are loaded; then
// each 8-row block runs as two register tiles of 4 W rows x 24 columns of x (12 accumulators, 3
// x vectors and one broadcast weight: the 16 AVX2 registers), each output one FMA chain over k
// in unit order. Before it, oneDNN's run-time-M f32 matmul ran these products on W tiles widened
// per call (and repacked them again inside), at about three quarters of the FMA peak.
#include <cstdint>
#include <cstring>

#include "runtime/kernels/cpu/simd/gemm_rows.h"
#include "runtime/kernels/cpu/simd/kernels.h"
#include "runtime/kernels/cpu/simd/simd.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS {

#if defined(COSY_SIMD_AVX2)
#define COSY_INLINE __attribute__((always_inline)) inline
namespace {

using gemm_rows::kChunk;
using gemm_rows::kRows;
using gemm_rows::Prefetch;
using gemm_rows::TileArgs;
using gemm_rows::Transpose8x8;

constexpr int kHalf = 4;  // W rows per register tile

// One register tile: W rows [r0, r0 + 4) of the block against the x tile's 8-column vectors
// [v0, v0 + P). Starts from zero or a.from, ends in a.part or (scaled, biased and transposed)
// in a.out. pf_mask: a prefetch line every pf_mask + 1 units when pf is set.
template <int P>
COSY_INLINE void Pass(const TileArgs<float>& a, int r0, int v0, Prefetch* pf, int64_t pf_mask) {
  __m256 acc[kHalf][P];
#pragma GCC unroll 4
  for (int r = 0; r < kHalf; ++r) {
#pragma GCC unroll 3
    for (int v = 0; v < P; ++v) {
      acc[r][v] = a.from != nullptr ? _mm256_loadu_ps(a.from + (r0 + r) * a.ldp + 8 * (v0 + v))
                                    : _mm256_setzero_ps();
    }
  }
  const float* wb = a.wb + r0 * kChunk;
  const float* xp = a.xt + 8 * v0;
  for (int64_t p = 0; p < a.pc; ++p, xp += a.tw) {
    if (pf != nullptr && (p & pf_mask) == 0) pf->Next();
    __m256 xa[P];
#pragma GCC unroll 3
    for (int v = 0; v < P; ++v) xa[v] = _mm256_loadu_ps(xp + 8 * v);
#pragma GCC unroll 4
    for (int r = 0; r < kHalf; ++r) {
      const __m256 wr = _mm256_broadcast_ss(wb + r * kChunk + p);
#pragma GCC unroll 3
      for (int v = 0; v < P; ++v) acc[r][v] = _mm256_fmadd_ps(xa[v], wr, acc[r][v]);
    }
  }
  if (a.out == nullptr) {
#pragma GCC unroll 4
    for (int r = 0; r < kHalf; ++r) {
#pragma GCC unroll 3
      for (int v = 0; v < P; ++v)
        _mm256_storeu_ps(a.part + (r0 + r) * a.ldp + 8 * (v0 + v), acc[r][v]);
    }
    return;
  }
  // out[c * ldo + r0 + r] for the tile's first `cols` columns and the block's first `rows` rows
  const __m128i row_mask = _mm_cmpgt_epi32(_mm_set1_epi32(a.rows - r0), _mm_setr_epi32(0, 1, 2, 3));
#pragma GCC unroll 3
  for (int v = 0; v < P; ++v) {
    const int64_t c0 = 8 * (v0 + v);
    if (c0 >= a.cols) break;
    __m256 y[kHalf];
    for (int r = 0; r < kHalf; ++r) {
      y[r] = _mm256_fmadd_ps(acc[r][v], _mm256_set1_ps(a.scale[r0 + r]),
                             _mm256_set1_ps(a.bias[r0 + r]));
    }
    // 4 rows x 8 columns -> t[q]: column q in the low 128 bits, column 4 + q in the high.
    const __m256 lo01 = _mm256_unpacklo_ps(y[0], y[1]), hi01 = _mm256_unpackhi_ps(y[0], y[1]);
    const __m256 lo23 = _mm256_unpacklo_ps(y[2], y[3]), hi23 = _mm256_unpackhi_ps(y[2], y[3]);
    const __m256 t[4] = {_mm256_shuffle_ps(lo01, lo23, 0x44), _mm256_shuffle_ps(lo01, lo23, 0xee),
                         _mm256_shuffle_ps(hi01, hi23, 0x44), _mm256_shuffle_ps(hi01, hi23, 0xee)};
    const int n = a.cols - c0 < 8 ? static_cast<int>(a.cols - c0) : 8;
    float* out = a.out + c0 * a.ldo + r0;
    for (int c = 0; c < n; ++c) {
      const __m128 col = c < 4 ? _mm256_castps256_ps128(t[c]) : _mm256_extractf128_ps(t[c - 4], 1);
      _mm_maskstore_ps(out + c * a.ldo, row_mask, col);
    }
  }
}

// The tile of every kind (f32 units in wb and xt): V 16-column groups = 2V vectors, in parts
// of 3 (or 2) vectors; per part both halves of the block (the part's x columns twice in a row,
// from L1 where they fit). A half past the block's rows is skipped (its weights are zeros and
// it is never stored). The first pass issues the next block's prefetches.
template <int V>
COSY_INLINE void TileF32(const TileArgs<float>& a, int64_t pf_mask) {
  constexpr int kPart = V == 3 ? 3 : 2;
  constexpr int kParts = 2 * V / kPart;
#pragma GCC unroll 2
  for (int q = 0; q < kParts; ++q) {
    for (int r0 = 0; r0 < kRows && r0 < a.rows; r0 += kHalf) {
      Pass<kPart>(a, r0, q * kPart, q == 0 && r0 == 0 ? a.pf : nullptr, pf_mask);
    }
  }
}

// A kind of gemm_rows.h's driver: the rows' loader and the tile.
template <class Rows>
struct Kind : Rows {
  template <int V>
  static void Tile(const TileArgs<float>& a) {
    TileF32<V>(a, Rows::kPrefetchMask);
  }
};

}  // namespace

// 16 rows of x (zeros past m) per 8 x 8 register transposes into GemmXIndex's column tiles;
// with round_bf16 each value rounded to bf16 (as F32ToBF16) and back to f32.
void PackGemmF32X(const float* x, int64_t ldx, int64_t m, int64_t k, int64_t i0, int64_t i1,
                  bool round_bf16, float* xv) {
  const int64_t mpad = (m + 15) / 16 * 16;
  for (int64_t ib = i0; ib < i1 && ib < mpad; ib += 8) {
    for (int64_t c0 = 0; c0 < k; c0 += 8) {
      const int64_t nf = k - c0 < 8 ? k - c0 : 8;
      const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(nf)),
                                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      __m256 r[8];
      for (int i = 0; i < 8; ++i) {
        r[i] = ib + i < m ? _mm256_maskload_ps(x + (ib + i) * ldx + c0, mask) : _mm256_setzero_ps();
        if (round_bf16) {
          r[i] =
              _mm256_castsi256_ps(_mm256_slli_epi32(Bf16BitsLanes(_mm256_castps_si256(r[i])), 16));
        }
      }
      Transpose8x8(r);
      for (int64_t q = 0; q < nf; ++q) _mm256_storeu_ps(xv + GemmXIndex(ib, c0 + q, mpad, k), r[q]);
    }
  }
}

void GemmF32(const float* xv, int64_t m, int64_t k, const float* w, const float* bias, int64_t j0,
             int64_t j1, float* y, int64_t ldy, void* scratch) {
  gemm_rows::GemmRows<Kind<gemm_rows::F32Rows>>(xv, m, k, w, nullptr, bias, j0, j1, y, ldy,
                                                scratch);
}

void GemmI8F32(const float* xv, int64_t m, int64_t k, const int8_t* w, const float* scales,
               const float* bias, int64_t j0, int64_t j1, float* y, int64_t ldy, void* scratch) {
  gemm_rows::GemmRows<Kind<gemm_rows::I8Rows>>(xv, m, k, w, scales, bias, j0, j1, y, ldy, scratch);
}

void GemmBf16F32(const float* xv, int64_t m, int64_t k, const uint16_t* w, const float* bias,
                 int64_t j0, int64_t j1, float* y, int64_t ldy, void* scratch) {
  gemm_rows::GemmRows<Kind<gemm_rows::Bf16Rows>>(xv, m, k, w, nullptr, bias, j0, j1, y, ldy,
                                                 scratch);
}
#undef COSY_INLINE
#endif

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS
