// bf16 GEMM on the AMX tile unit (kernel_table.h: pack_gemm_amx_w, pack_gemm_amx_x,
// gemm_amx_bf16), for the AVX-512 variant on CPUs with AMX-BF16. W is packed once into B tiles
// (16 columns x 16 channel pairs, 1 KiB each, a column block's tiles contiguous), x per call
// into A tiles (16 rows x 32 channels, contiguous), so every tile load reads 16 consecutive
// 64-byte lines. One column block at a time: its B tile per 32 channels is loaded once and
// multiplied into up to four 16-row accumulators (row groups of 64 rows, the column block's
// tiles re-read from L1 for the next group), while the next block's B tiles are prefetched.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "runtime/dtype.h"
#include "runtime/kernels/cpu/i8_rows.h"
#include "runtime/kernels/cpu/simd/amx_tiles.h"
#include "runtime/kernels/cpu/simd/kernels.h"
#include "runtime/kernels/cpu/simd/simd.h"
#include "runtime/kernels/cpu/simd/vec_math.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS {

#if defined(COSY_SIMD_AVX512)

void PackGemmAmxW(const float* w, int64_t n, int64_t k, uint16_t* wt) {
  const int64_t kc = GemmAmxChunks(k), nb = (n + 15) / 16;
  std::memset(wt, 0, static_cast<size_t>(nb * kc * 512) * sizeof(uint16_t));
  for (int64_t j = 0; j < n; ++j) {
    uint16_t* col = wt + (j / 16) * kc * 512 + (j % 16) * 2;
    const float* row = w + j * k;
    for (int64_t c = 0; c < k; ++c) {
      col[(c / 32) * 512 + ((c % 32) / 2) * 32 + c % 2] = F32ToBF16(row[c]);
    }
  }
}

namespace {

// How far ahead (column blocks) GemmBlocks prefetches B tiles into L2.
constexpr int64_t kPrefetchBlocks = 4;

// One A tile row: 32 channels of x from c0 (zeros past k), rounded to bf16 or copied.
inline void PackRowF32(const float* x, int64_t c0, int64_t k, uint16_t* dst) {
  const int64_t left = k - c0;
  if (left >= 32) {
    const __m512i lo = Bf16BitsLanes(_mm512_castps_si512(_mm512_loadu_ps(x + c0)));
    const __m512i hi = Bf16BitsLanes(_mm512_castps_si512(_mm512_loadu_ps(x + c0 + 16)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm512_cvtepi32_epi16(lo));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 16), _mm512_cvtepi32_epi16(hi));
    return;
  }
  for (int64_t c = 0; c < 32; ++c) dst[c] = c < left ? F32ToBF16(x[c0 + c]) : uint16_t{0};
}

inline void PackRowBf16(const uint16_t* x, int64_t c0, int64_t k, uint16_t* dst) {
  const int64_t left = k - c0;
  if (left >= 32) {
    std::memcpy(dst, x + c0, 64);
    return;
  }
  for (int64_t c = 0; c < 32; ++c) dst[c] = c < left ? x[c0 + c] : uint16_t{0};
}

template <class T>
void PackX(const T* x, int64_t ldx, int64_t m, int64_t k, uint16_t* xt) {
  const int64_t kc = GemmAmxChunks(k), mt = (m + 15) / 16;
  for (int64_t t = 0; t < mt; ++t) {
    for (int64_t r = 0; r < 16; ++r) {
      const int64_t i = t * 16 + r;
      for (int64_t cc = 0; cc < kc; ++cc) {
        uint16_t* dst = xt + ((t * kc + cc) * 16 + r) * 32;
        if (i >= m) {
          std::memset(dst, 0, 64);
        } else if constexpr (std::is_same_v<T, float>) {
          PackRowF32(x + i * ldx, cc * 32, k, dst);
        } else {
          PackRowBf16(x + i * ldx, cc * 32, k, dst);
        }
      }
    }
  }
}

// The epilogue of one 16 x 16 block (acc: 16 rows of 16 floats) for its first `rows` rows and
// `cols` columns.
inline void Epilogue(const float* acc, int rows, int64_t cols, const float* scale,
                     const float* bias, int64_t i0, int64_t j0, float* y, uint16_t* y16,
                     int64_t ldy, GemmEpilogue epilogue) {
  const __mmask16 mask = cols >= 16 ? __mmask16(0xffff) : __mmask16((1u << cols) - 1u);
  const __m512 b = bias != nullptr ? _mm512_maskz_loadu_ps(mask, bias + j0) : _mm512_setzero_ps();
  const __m512 sc =
      scale != nullptr ? _mm512_maskz_loadu_ps(mask, scale + j0) : _mm512_setzero_ps();
  for (int r = 0; r < rows; ++r) {
    __m512 v = _mm512_load_ps(acc + r * 16);
    if (scale != nullptr) v = _mm512_mul_ps(v, sc);
    v = _mm512_add_ps(v, b);
    const int64_t at = (i0 + r) * ldy + j0;
    if (epilogue == GemmEpilogue::kGeluErf) v = Mul(v, NormalCdf(v));  // as the GeluErf pass
    if (y16 != nullptr) {
      const __m256i h = _mm512_cvtepi32_epi16(Bf16BitsLanes(_mm512_castps_si512(v)));
      _mm256_mask_storeu_epi16(y16 + at, mask, h);
      continue;
    }
    if (epilogue == GemmEpilogue::kAccumulate) {
      v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, y + at), v);
    }
    _mm512_mask_storeu_ps(y + at, mask, v);
  }
}

// Column blocks [jb0, jb1) of y for all m rows, on the calling thread.
COSY_TARGET_AMX void GemmBlocks(const uint16_t* xt, int64_t m, int64_t k, const uint16_t* wt,
                                int64_t n, const float* scale, const float* bias, float* y,
                                uint16_t* y16, int64_t ldy, GemmEpilogue epilogue, int64_t jb0,
                                int64_t jb1) {
  const TileConfig cfg = FullTiles(8);
  _tile_loadconfig(&cfg);
  const int64_t kc = GemmAmxChunks(k), mt = (m + 15) / 16;
  const int64_t panel = kc * 512, a_tile_step = kc * 512;  // uint16 per column block / row tile
  alignas(64) float acc[256];
  // Whole 16 x 16 blocks without an epilogue go straight to y; the others through acc.
  const bool plain =
      epilogue == GemmEpilogue::kNone && scale == nullptr && bias == nullptr && y16 == nullptr;
  const auto store = [&](int t, int64_t i0, int64_t j0) COSY_TARGET_AMX {
    const int64_t cols = n - j0 < 16 ? n - j0 : 16;
    const bool direct = plain && cols == 16 && m - i0 >= 16;
    float* dst = direct ? y + i0 * ldy + j0 : acc;
    const int64_t stride = direct ? ldy * 4 : 64;
    if (t == 0) _tile_stored(0, dst, stride);
    if (t == 1) _tile_stored(1, dst, stride);
    if (t == 2) _tile_stored(2, dst, stride);
    if (t == 3) _tile_stored(3, dst, stride);
    if (!direct) {
      Epilogue(acc, static_cast<int>(m - i0 < 16 ? m - i0 : 16), cols, scale, bias, i0, j0, y, y16,
               ldy, epilogue);
    }
  };
  // Up to 128 rows in one pass over W; more rows in chunks of 64, each pass over W with the
  // chunk's A tiles near the core (650 rows in one pass re-read all A tiles from L2 for every
  // column block: the flow's final call's linears 1.49-1.52 s; in chunks 1.45-1.48 s, still
  // behind oneDNN's brgemm at 1.25-1.28 s, docs/kernels.md).
  const int64_t chunk_tiles = mt <= 8 ? mt : 4;
  for (int64_t t0 = 0; t0 < mt; t0 += chunk_tiles) {
    const int64_t t1 = t0 + chunk_tiles < mt ? t0 + chunk_tiles : mt;
    // Two column blocks by two row tiles at a time (accumulators 0-3, A tiles 4-5, B tiles
    // 6-7): one tile load per product, against 1.25 for four row tiles times one column block.
    for (int64_t jb = jb0; jb < jb1; jb += 2) {
      const bool two_cols = jb + 1 < jb1;
      const uint16_t* b0 = wt + jb * panel;
      const uint16_t* b1 = b0 + panel;
      // The column pair after the next into L2, spread evenly over this pair's products (all
      // at once they stall; one pair ahead into L1 stalled on the fill buffers).
      const int64_t ahead = jb + kPrefetchBlocks;
      const char* next = reinterpret_cast<const char*>(wt + ahead * panel);
      const int64_t next_blocks = ahead < jb1 ? (jb1 - ahead < 2 ? jb1 - ahead : 2) : 0;
      const int64_t next_bytes = next_blocks * panel * 2;
      const int64_t steps = (t1 - t0 + 1) / 2 * kc;
      const int64_t pf_step = (next_bytes / 64 + steps - 1) / steps * 64;
      int64_t pf = 0;
      for (int64_t g = t0; g < t1; g += 2) {
        const bool two_rows = g + 1 < t1;
        COSY_AMX_ZERO_ACC();
        const uint16_t* a = xt + g * a_tile_step;
        for (int64_t cc = 0; cc < kc; ++cc) {
          const uint16_t* ac = a + cc * 512;
          _tile_loadd(4, ac, 64);
          _tile_loadd(6, b0 + cc * 512, 64);
          _tile_dpbf16ps(0, 4, 6);
          if (two_rows) {
            _tile_loadd(5, ac + a_tile_step, 64);
            _tile_dpbf16ps(2, 5, 6);
          }
          if (two_cols) {
            _tile_loadd(7, b1 + cc * 512, 64);
            _tile_dpbf16ps(1, 4, 7);
            if (two_rows) _tile_dpbf16ps(3, 5, 7);
          }
          for (const int64_t e = pf + pf_step < next_bytes ? pf + pf_step : next_bytes; pf < e;
               pf += 64) {
            _mm_prefetch(next + pf, _MM_HINT_T1);
          }
        }
        const int64_t i0 = g * 16, j0 = jb * 16;
        store(0, i0, j0);
        if (two_cols) store(1, i0, j0 + 16);
        if (two_rows) store(2, i0 + 16, j0);
        if (two_rows && two_cols) store(3, i0 + 16, j0 + 16);
      }
    }
  }
  _tile_release();
}

}  // namespace

void PackGemmAmxX(const float* x, int64_t m, int64_t k, uint16_t* xt) { PackX(x, k, m, k, xt); }

void PackGemmAmxXBf16(const uint16_t* x, int64_t m, int64_t k, uint16_t* xt) {
  PackX(x, k, m, k, xt);
}

void GemmAmxBf16(const uint16_t* xt, int64_t m, int64_t k, const uint16_t* wt, int64_t n,
                 const float* bias, float* y, uint16_t* y16, GemmEpilogue epilogue) {
  const int64_t blocks = (n + 15) / 16;
  const int team = omp_in_parallel() ? 1 : omp_get_max_threads();
  // Below ~4 MFLOP a second thread costs more to wake than it saves.
  if (team <= 1 || blocks < 2 || m * n * k < (int64_t{2} << 20)) {
    GemmBlocks(xt, m, k, wt, n, nullptr, bias, y, y16, n, epilogue, 0, blocks);
    return;
  }
  const int threads = static_cast<int>(std::min<int64_t>(team, blocks));
#pragma omp parallel num_threads(threads)
  {
    const int64_t me = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t jb0 = blocks * me / nt, jb1 = blocks * (me + 1) / nt;
    if (jb1 > jb0) GemmBlocks(xt, m, k, wt, n, nullptr, bias, y, y16, n, epilogue, jb0, jb1);
  }
}

void GemmAmxBf16Scaled(const uint16_t* xt, int64_t m, int64_t k, const uint16_t* wt, int64_t n,
                       const float* scale, const float* bias, float* y, int64_t ldy) {
  GemmBlocks(xt, m, k, wt, n, scale, bias, y, nullptr, ldy, GemmEpilogue::kNone, 0, (n + 15) / 16);
}

// One B tile from 16 int8 rows (i8_rows.h layout): each row's 32 channels widened to bf16 (exact)
// as 16 pairs, then the 16 x 16 pairs transposed so that line p holds pair p of every row.
void WidenI8RowsAmx(const int8_t* w, int64_t k, int64_t j0, int64_t rows, uint16_t* wt) {
  const int64_t kc = GemmAmxChunks(k), nb = (rows + 15) / 16;
  const __m512i zero = _mm512_setzero_si512();
  for (int64_t jb = 0; jb < nb; ++jb) {
    const int64_t live = rows - jb * 16 < 16 ? rows - jb * 16 : 16;
    const int8_t* src[16];
    for (int64_t r = 0; r < 16; ++r) {
      src[r] = r < live ? w + I8RowOffset(j0 + jb * 16 + r, k) : nullptr;
    }
    for (int64_t cc = 0; cc < kc; ++cc) {
      const int64_t col = I8ColumnOffset(cc * 32);
      __m512i v[16];
      for (int r = 0; r < 16; ++r) {
        if (src[r] == nullptr) {
          v[r] = zero;
          continue;
        }
        const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src[r] + col));
        const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src[r] + col + 16));
        // int8 -> f32 (exact) -> the upper half of the bits = bf16 (exact: 8 significant bits)
        const __m512i flo = _mm512_srli_epi32(
            _mm512_castps_si512(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo))), 16);
        const __m512i fhi = _mm512_srli_epi32(
            _mm512_castps_si512(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi))), 16);
        v[r] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi32_epi16(flo)),
                                  _mm512_cvtepi32_epi16(fhi), 1);
      }
      // v[p] = pair p of every row: line p of the B tile
      Transpose16x16(v);
      uint16_t* tile = wt + (jb * kc + cc) * 512;
      for (int p = 0; p < 16; ++p) _mm512_storeu_si512(tile + p * 32, v[p]);
    }
  }
}

#endif  // COSY_SIMD_AVX512

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS
