// int8 weights at many rows on int16 products (kernel_table.h: pack_i8_i16_x, gemm_i8_i16): x
// quantized per block of kI16Block channels to 16-bit integers, each panel of kGemmPanelWidth W
// rows widened from the i8_rows.h layout to int16 once per call into the scratch, then the int16
// GEMM's panel kernel (i16_panel.h) against every row block of x; each block's exact int32 sum
// is scaled by its x block's scale as it is added. Without bf16 arithmetic (AVX2, AVX-512
// without AVX512_BF16) vpmaddwd multiplies twice the pairs of an f32 FMA of the same width, so
// the speech LM's prefill products run about 1.9x the rate of the widened-f32 tile (gemm_i8_f32)
// on AVX2 (docs/kernels.md "int8 prefill on int16 products").
#include "runtime/kernels/cpu/i8_rows.h"
#include "runtime/kernels/cpu/simd/i16_panel.h"
#include "runtime/kernels/cpu/simd/kernels.h"
#include "runtime/kernels/cpu/simd/panel_rows.h"

#if defined(COSY_SIMD_AVX512) || defined(COSY_SIMD_AVX2)
namespace cosyflow::kernels::cpu::COSY_ISA_NS {
namespace {
using i16_panel::kPairsPerBlock;
using i16_panel::kPanel;
using i16_panel::kRows;
static_assert(kPanel == kGemmPanelWidth && kI8Chunk % 16 == 0,
              "panels of the int16 GEMM; 16-channel groups inside the i8 layout's chunks");

// W rows [j0, j0 + cols) (j0 a multiple of kI8BlockRows, cols <= kPanel) widened into one int16
// panel of the int16 GEMM: wp[p * 2 kPanel + jj * 2 + e] = W[j0 + jj][2p + e] for p < pairs
// rounded up to 8 (columns past k are the layout's zero padding), zeros for jj >= cols.
void WidenPanel(const int8_t* w, int64_t k, int64_t j0, int64_t cols, int64_t pairs, int16_t* wp) {
  const int64_t pk = I8PaddedK(k);
  const int64_t chans = MinI(pk, (2 * pairs + 15) / 16 * 16);
  // 8 rows x 16 channels at a time: each row's bytes sign-extended to 8 words of channel pairs,
  // then the 8 x 8 words transposed so that each pair's 8 rows are one store.
  for (int64_t h = 0; h < kPanel; h += 8) {
    const int8_t* rows[8];
    for (int r = 0; r < 8; ++r) {
      rows[r] = h + r < cols ? w + I8RowOffset(j0 + h + r, k) : nullptr;
    }
    for (int64_t c = 0; c < chans; c += 16) {
      const int64_t off = I8ColumnOffset(c);
      __m256i v[8];
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) {
        v[r] = rows[r] == nullptr ? _mm256_setzero_si256()
                                  : _mm256_cvtepi8_epi16(_mm_loadu_si128(
                                        reinterpret_cast<const __m128i*>(rows[r] + off)));
      }
      __m256i o[8];
      i16_panel::Transpose8x8Words(v, o);
      int16_t* dst = wp + (c / 2) * 2 * kPanel + 2 * h;
#pragma GCC unroll 8
      for (int p = 0; p < 8; ++p) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + p * 2 * kPanel), o[p]);
      }
    }
  }
}

// y rows [0, R) (stride ldy) x panel columns [0, cols): per kI16Block channels the exact block
// sums, scaled by the x rows' block scales sb[r * blocks + b] as they are added, then
// fmadd(acc, sw[j], bias[j]).
template <int R, bool kVnni>
__attribute__((noinline)) void PanelBlockI8(const int16_t* xq, int64_t ldq, const float* sb,
                                            int64_t blocks, int64_t pairs, const int16_t* wp,
                                            const float* sw, const float* bias, int64_t cols,
                                            float* y, int64_t ldy) {
  alignas(64) float acc[R][kPanel];
  alignas(64) float part[R][kPanel];
  int64_t b = 0;
  for (int64_t p0 = 0; p0 < pairs; p0 += kPairsPerBlock, ++b) {  // pairs >= 1
    const int64_t np = MinI(pairs - p0, kPairsPerBlock);
    i16_panel::BlockSums<R, kVnni>(xq + 2 * p0, ldq, wp + p0 * 2 * kPanel, 0, np, part);
    for (int r = 0; r < R; ++r) {
      const Vf s = Set1(sb[r * blocks + b]);
      for (int64_t v = 0; v * kLanes < kPanel; ++v) {
        const Vf d = Load(part[r] + v * kLanes);
        Store(acc[r] + v * kLanes, b == 0 ? Mul(s, d) : Fmadd(d, s, Load(acc[r] + v * kLanes)));
      }
    }
  }
  i16_panel::ForPanelColumns(
      sw, bias, cols,
      [&](int64_t c, bool full, int64_t left, Vf scale_w, Vf bv) __attribute__((always_inline)) {
        for (int r = 0; r < R; ++r) {
          i16_panel::StoreColumns(y + r * ldy + c, Fmadd(Load(acc[r] + c), scale_w, bv), full,
                                  left);
        }
      });
}

template <bool kVnni>
void GemmI8I16Impl(const void* xv, int64_t m, int64_t k, const int8_t* w, const float* scales,
                   const float* bias, int64_t j0, int64_t j1, float* y, int64_t ldy,
                   void* scratch) {
  if (m <= 0 || j0 >= j1) return;
  const GemmI8I16X l = GemmI8I16XLayout(m, k);
  const auto* xq = static_cast<const int16_t*>(xv);
  const auto* sb = reinterpret_cast<const float*>(static_cast<const char*>(xv) + l.scales);
  auto* wp =
      reinterpret_cast<int16_t*>((reinterpret_cast<uintptr_t>(scratch) + 63) & ~uintptr_t{63});
  const int64_t pairs = (k + 1) / 2;
  for (int64_t jp = j0; jp < j1; jp += kPanel) {
    const int64_t cols = MinI(kPanel, j1 - jp);
    WidenPanel(w, k, jp, cols, pairs, wp);
    const float* b = bias == nullptr ? nullptr : bias + jp;
    PanelRowBlocks<kRows>(m, nullptr, 0, [&]<int R>(int64_t r0) {
      PanelBlockI8<R, kVnni>(xq + r0 * l.ldq, l.ldq, sb + r0 * l.blocks, l.blocks, pairs, wp,
                             scales + jp, b, cols, y + r0 * ldy + jp, ldy);
    });
  }
}

}  // namespace

void PackI8I16X(const float* x, int64_t ldx, int64_t m, int64_t k, int64_t i0, int64_t i1,
                void* xv) {
  const GemmI8I16X l = GemmI8I16XLayout(m, k);
  auto* xq = static_cast<int16_t*>(xv);
  auto* sb = reinterpret_cast<float*>(static_cast<char*>(xv) + l.scales);
  for (int64_t i = i0; i < MinI(i1, m); ++i) {
    const float* row = x + i * ldx;
    int16_t* q = xq + i * l.ldq;
    for (int64_t b = 0; b < l.blocks; ++b) {
      const int64_t c0 = b * kI16Block, n = MinI(kI16Block, k - c0);
      sb[i * l.blocks + b] = i16_panel::QuantizeRow(row + c0, n, kI8I16ActMax, q + c0, n);
    }
    for (int64_t c = k; c < l.ldq; ++c) q[c] = 0;
  }
}

void GemmI8I16(const void* xv, int64_t m, int64_t k, const int8_t* w, const float* scales,
               const float* bias, int64_t j0, int64_t j1, float* y, int64_t ldy, void* scratch) {
  GemmI8I16Impl<false>(xv, m, k, w, scales, bias, j0, j1, y, ldy, scratch);
}

#if defined(COSY_SIMD_AVX2)
// ---- The decode GEMV on the same definition (kernel_table.h gemv_i8_i16_rows) ---------------
// Per 16 channels of a W row: one vpmovsxbw from the i8_rows.h layout, then vpmaddwd + vpaddd
// against each x row's 16-bit block (the widened-f32 GEMV: vpmovsxbd + vcvtdq2ps + FMA per 8
// channels, twice the instructions, which held the AVX2 int8 decode above its bandwidth floor).
// A block's four W rows' lane sums are reduced to four exact int32 sums (vphaddd), converted
// and added as gemm_i8_i16 adds them, so both give the same bits for a row of x.
namespace {
constexpr int64_t kGemvPrefetchBytes = 16384;  // as the other GEMVs (gemv.cpp)

// Lanes 0..3: the sums of a, b, c, d's eight lanes (exact: each fits int32).
inline __m128i Sum4I32(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i abcd =
      _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));  // per 128-bit half
  return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

// One W block of 4 rows (w: its start in the i8_rows.h layout) against R rows of x: acc[r]'s
// lanes 0..3 = the four rows' block-scaled sums (the definition's acc).
template <int R>
__attribute__((always_inline)) inline void DotsI8I16(const int16_t* xq, int64_t ldq,
                                                     const float* sb, int64_t blocks,
                                                     const int8_t* w, bool nta, __m128 (&acc)[R]) {
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t c0 = b * kI16Block, c1 = MinI(c0 + kI16Block, ldq);
    __m256i a[R][kI8BlockRows];
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i)
      for (int r = 0; r < kI8BlockRows; ++r) a[i][r] = _mm256_setzero_si256();
    for (int64_t c = c0; c < c1; c += 16) {
      const int8_t* wc = w + I8ColumnOffset(c);
      if (c % kI8Chunk == 0) {
        for (int r = 0; r < kI8BlockRows; ++r) {
          const int8_t* ahead = wc + r * kI8Chunk + kGemvPrefetchBytes;
          if (nta) {
            __builtin_prefetch(ahead, 0, 0);
          } else {
            __builtin_prefetch(ahead, 0, 1);
          }
        }
      }
      __m256i xv[R];
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i) {
        xv[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + i * ldq + c));
      }
#pragma GCC unroll 4
      for (int r = 0; r < kI8BlockRows; ++r) {
        const __m256i wv = _mm256_cvtepi8_epi16(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(wc + r * kI8Chunk)));
#pragma GCC unroll 4
        for (int i = 0; i < R; ++i) i16_panel::MaddAdd(a[i][r], xv[i], wv);
      }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      const __m128 d = _mm_cvtepi32_ps(Sum4I32(a[i][0], a[i][1], a[i][2], a[i][3]));
      const __m128 s = _mm_set1_ps(sb[i * blocks + b]);
      acc[i] = b == 0 ? _mm_mul_ps(s, d) : _mm_fmadd_ps(d, s, acc[i]);
    }
  }
}

template <int R>
void BlockRowsI8I16(const int16_t* xq, int64_t ldq, const float* sb, int64_t blocks,
                    const int8_t* w, int64_t rows_w, const float* scales, const float* bias,
                    bool nta, float* y, int64_t ldy) {
  __m128 acc[R];
  DotsI8I16<R>(xq, ldq, sb, blocks, w, nta, acc);
  alignas(16) float sw[kI8BlockRows] = {}, bv[kI8BlockRows] = {}, out[kI8BlockRows];
  for (int64_t r = 0; r < rows_w; ++r) {
    sw[r] = scales[r];
    if (bias != nullptr) bv[r] = bias[r];
  }
  for (int i = 0; i < R; ++i) {
    _mm_store_ps(out, _mm_fmadd_ps(acc[i], _mm_load_ps(sw), _mm_load_ps(bv)));
    for (int64_t r = 0; r < rows_w; ++r) y[i * ldy + r] = out[r];
  }
}
}  // namespace

void GemvI8I16Rows(const void* xv, int64_t m, int64_t k, const int8_t* w, const float* scales,
                   const float* bias, float* y, int64_t ldy, int64_t n) {
  if (m <= 0 || n <= 0) return;
  const GemmI8I16X l = GemmI8I16XLayout(m, k);
  const auto* xq = static_cast<const int16_t*>(xv);
  const auto* sb = reinterpret_cast<const float*>(static_cast<const char*>(xv) + l.scales);
  const bool nta = gemv_prefetch_nta;
  const int64_t block_bytes = kI8BlockRows * I8PaddedK(k);
  for (int64_t j0 = 0; j0 < n; j0 += kI8BlockRows) {
    const int8_t* wb = w + j0 / kI8BlockRows * block_bytes;
    const int64_t rows_w = MinI(kI8BlockRows, n - j0);
    const float* bj = bias == nullptr ? nullptr : bias + j0;
    // rows of x in pairs: the block's 4 W rows are read from L1 after the first pair
    for (int64_t i = 0; i < m; i += 2) {
      if (m - i >= 2) {
        BlockRowsI8I16<2>(xq + i * l.ldq, l.ldq, sb + i * l.blocks, l.blocks, wb, rows_w,
                          scales + j0, bj, nta, y + i * ldy + j0, ldy);
      } else {
        BlockRowsI8I16<1>(xq + i * l.ldq, l.ldq, sb + i * l.blocks, l.blocks, wb, rows_w,
                          scales + j0, bj, nta, y + i * ldy + j0, ldy);
      }
    }
  }
}
#endif

#if defined(COSY_SIMD_AVX512)
void GemmI8I16Vnni(const void* xv, int64_t m, int64_t k, const int8_t* w, const float* scales,
                   const float* bias, int64_t j0, int64_t j1, float* y, int64_t ldy,
                   void* scratch) {
  GemmI8I16Impl<true>(xv, m, k, w, scales, bias, j0, j1, y, ldy, scratch);
}
#endif

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS
#endif  // the vector variants (the scalar one keeps int8 on oneDNN's f32 matmul)
