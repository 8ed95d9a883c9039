// bf16-product 1-D convolution (kernel_table.h: pack_bf16_pairs, conv1d_bf16): inputs packed
// as channel pairs, weights pre-packed per block of 8 output rows; the vdpbf16ps tile runs in
// the AVX-512 variant on CPUs with AVX512_BF16 only (conv.cpp emulates it elsewhere).
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "runtime/kernels/cpu/simd/amx_tiles.h"
#include "runtime/kernels/cpu/simd/bf16_tile.h"
#include "runtime/kernels/cpu/simd/kernels.h"
#include "runtime/kernels/cpu/simd/simd.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS {

void PackBf16Pairs(const float* x, int64_t ldx, int64_t channels, int64_t cols, uint32_t* xv,
                   int64_t ldv) {
  const int64_t pairs = (channels + 1) / 2;
  for (int64_t cp = 0; cp < pairs; ++cp) {
    const float* a = x + 2 * cp * ldx;
    const float* b = 2 * cp + 1 < channels ? a + ldx : nullptr;
    uint32_t* d = xv + cp * ldv;
    int64_t j = 0;
#if defined(COSY_SIMD_AVX512)
    for (; j + 16 <= cols; j += 16) {
      const __m512i lo = Bf16BitsLanes(_mm512_castps_si512(_mm512_loadu_ps(a + j)));
      const __m512i hi = b != nullptr ? Bf16BitsLanes(_mm512_castps_si512(_mm512_loadu_ps(b + j)))
                                      : _mm512_setzero_si512();
      _mm512_storeu_si512(d + j, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
    }
#elif defined(COSY_SIMD_AVX2)
    for (; j + 8 <= cols; j += 8) {
      const __m256i lo = Bf16BitsLanes(_mm256_castps_si256(_mm256_loadu_ps(a + j)));
      const __m256i hi = b != nullptr ? Bf16BitsLanes(_mm256_castps_si256(_mm256_loadu_ps(b + j)))
                                      : _mm256_setzero_si256();
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + j),
                          _mm256_or_si256(lo, _mm256_slli_epi32(hi, 16)));
    }
#endif
    for (; j < cols; ++j) {
      const uint32_t lo = Bf16Bits(a[j]);
      const uint32_t hi = b != nullptr ? Bf16Bits(b[j]) : 0u;
      d[j] = lo | (hi << 16);
    }
  }
}

#if defined(COSY_SIMD_AVX512)
#define COSY_TARGET_BF16 __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))
namespace {

constexpr int kRows = kConvBf16Rows;       // output rows per tile (one broadcast each)
constexpr int kVecs = kConvBf16Cols / 16;  // 16-column vectors per tile row

// One tile: rows [0, 8) of the block, columns [0, 48) from xv's column 0. w: the block's
// packed weights [k][pairs][8]; y rows ldy apart.
COSY_TARGET_BF16 inline void Tile(const uint32_t* w, const float* bias, int64_t pairs, int64_t k,
                                  int64_t dil, const uint32_t* xv, int64_t ldv, float* y,
                                  int64_t ldy) {
  __m512 acc[kRows][kVecs];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) acc[r][v] = _mm512_set1_ps(bias[r]);
  }
  for (int64_t kk = 0; kk < k; ++kk) {
    const uint32_t* xk = xv + kk * dil;
    for (int64_t cp = 0; cp < pairs; ++cp) {
      Bf16PairStep<kRows, kVecs>(acc, xk + cp * ldv, w, 1);
      w += kRows;
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) _mm512_storeu_ps(y + r * ldy + 16 * v, acc[r][v]);
  }
}

}  // namespace

COSY_TARGET_BF16 void Conv1dBf16(const uint32_t* wp, const float* bias, int64_t cout, int64_t pairs,
                                 int64_t k, int64_t dil, const uint32_t* xv, int64_t ldv,
                                 int64_t cols, float* y, int64_t ldy, float* tail) {
  // Column blocks of ~512 keep one block of xv (pairs x (512 + halo) x 4 bytes) in L2 while
  // every row block's weights pass over it.
  constexpr int64_t kColBlock = 512;
  const int64_t blocks = (cout + kRows - 1) / kRows;
  const int64_t wblock = k * pairs * kRows;
  float zero_bias[kRows] = {};
  for (int64_t c0 = 0; c0 < cols; c0 += kColBlock) {
    const int64_t c1 = cols - c0 < kColBlock ? cols : c0 + kColBlock;
    for (int64_t ob = 0; ob < blocks; ++ob) {
      const int64_t r0 = ob * kRows;
      const int64_t rows = cout - r0 < kRows ? cout - r0 : kRows;
      float rb[kRows];
      for (int r = 0; r < kRows; ++r) rb[r] = r < rows && bias != nullptr ? bias[r0 + r] : 0.0f;
      const float* bb = bias != nullptr ? rb : zero_bias;
      const uint32_t* w = wp + ob * wblock;
      for (int64_t c = c0; c < c1; c += kConvBf16Cols) {
        if (rows == kRows && c + kConvBf16Cols <= cols) {
          Tile(w, bb, pairs, k, dil, xv + c, ldv, y + r0 * ldy + c, ldy);
        } else {
          Tile(w, bb, pairs, k, dil, xv + c, ldv, tail, kConvBf16Cols);
          const int64_t n = cols - c < kConvBf16Cols ? cols - c : kConvBf16Cols;
          for (int64_t r = 0; r < rows; ++r)
            std::memcpy(y + (r0 + r) * ldy + c, tail + r * kConvBf16Cols, sizeof(float) * n);
        }
      }
    }
  }
}
#undef COSY_TARGET_BF16

// ---- AMX-BF16: the same convolution on the tile unit (TDPBF16PS) ----------------------------
// y[16 output rows][16 columns] per accumulator tile: A = the weights of 16 output rows x 16
// channel pairs of one tap (repacked once per call from the 8-row blocks of wp into
// thread-local row-major tiles), B = 16 pair rows x 16 columns of xv as they lie (a pair row
// of xv is AMX's VNNI layout). Four accumulators cover 64 columns; a last chunk of fewer than
// 16 pairs runs on its own A / B tile shapes. Products exact, summed in f32.
namespace {

// The per-thread buffer of repacked weights (grows, never shrinks; freed at thread exit).
struct AmxWeights {
  uint32_t* p = nullptr;
  int64_t words = 0;
  ~AmxWeights() { std::free(p); }
  uint32_t* Get(int64_t n) {
    if (n > words) {
      std::free(p);
      words = 0;
      p = static_cast<uint32_t*>(std::aligned_alloc(64, static_cast<size_t>((n + 15) / 16 * 64)));
      if (p != nullptr) words = n;
    }
    return p;
  }
};
thread_local AmxWeights amx_weights;

// Accumulators 0-3 stored, bias added, the live rows x columns copied to y.
COSY_TARGET_AMX inline void StoreAmx(int nct, const float* bias, int64_t r0, int rows, int64_t c,
                                     int64_t cols, float* y, int64_t ldy) {
  alignas(64) float acc[16 * 64];
  COSY_AMX_STORE_ACC(nct, acc, 256);
  const int64_t n = cols - c < 16 * nct ? cols - c : 16 * nct;
  for (int r = 0; r < rows; ++r) {
    const __m512 b = _mm512_set1_ps(bias != nullptr ? bias[r0 + r] : 0.0f);
    float* yr = y + (r0 + r) * ldy + c;
    for (int64_t j = 0; j < n; j += 16) {
      const int64_t left = n - j;
      const __mmask16 m = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1u);
      _mm512_mask_storeu_ps(yr + j, m, _mm512_add_ps(_mm512_load_ps(acc + r * 64 + j), b));
    }
  }
}

}  // namespace

COSY_TARGET_AMX void Conv1dAmx(const uint32_t* wp, const float* bias, int64_t cout, int64_t pairs,
                               int64_t k, int64_t dil, const uint32_t* xv, int64_t ldv,
                               int64_t cols, float* y, int64_t ldy, float* tail) {
  const int64_t chunks = (pairs + 15) / 16, rem = pairs % 16;
  const int64_t full = rem == 0 ? chunks : chunks - 1;
  uint32_t* aw = amx_weights.Get(k * chunks * 256);
  if (aw == nullptr) {  // no memory for the repacked weights: the vdpbf16ps tile
    Conv1dBf16(wp, bias, cout, pairs, k, dil, xv, ldv, cols, y, ldy, tail);
    return;
  }
  TileConfig cfg = FullTiles(6);
  if (rem != 0) {
    cfg.colsb[6] = static_cast<uint16_t>(rem * 4);  // A: 16 rows x rem pairs
    cfg.rows[6] = 16;
    cfg.colsb[7] = 64;  // B: rem pair rows x 16 columns
    cfg.rows[7] = static_cast<uint8_t>(rem);
  }
  _tile_loadconfig(&cfg);
  const int64_t wblock = k * pairs * kRows, blocks8 = (cout + kRows - 1) / kRows;
  const int64_t xstride = ldv * 4;
  for (int64_t r0 = 0; r0 < cout; r0 += 16) {
    const int rows = static_cast<int>(cout - r0 < 16 ? cout - r0 : 16);
    // aw[((kk * chunks + ch) * 16 + r) * 16 + c] = wp(r0 + r, kk, 16 ch + c), zeros past pairs
    // and past the packed rows
    for (int64_t kk = 0; kk < k; ++kk) {
      for (int64_t ch = 0; ch < chunks; ++ch) {
        uint32_t* a = aw + (kk * chunks + ch) * 256;
        const int64_t np = pairs - 16 * ch < 16 ? pairs - 16 * ch : 16;
        for (int half = 0; half < 2; ++half) {
          const int64_t blk = r0 / kRows + half;
          for (int r = 0; r < kRows; ++r) {
            uint32_t* row = a + (half * kRows + r) * 16;
            if (blk >= blocks8) {
              std::memset(row, 0, 64);
              continue;
            }
            const uint32_t* src = wp + blk * wblock + (kk * pairs + 16 * ch) * kRows + r;
            int64_t c = 0;
            for (; c < np; ++c) row[c] = src[c * kRows];
            for (; c < 16; ++c) row[c] = 0;
          }
        }
      }
    }
    for (int64_t c = 0; c < cols; c += 64) {
      const int nct = static_cast<int>(cols - c >= 64 ? 4 : (cols - c + 15) / 16);
      COSY_AMX_ZERO_ACC();
      for (int64_t kk = 0; kk < k; ++kk) {
        const uint32_t* xk = xv + c + kk * dil;
        for (int64_t ch = 0; ch < full; ++ch) {
          _tile_loadd(4, aw + (kk * chunks + ch) * 256, 64);
          COSY_AMX_ROW_TIMES_COLS(4, 5, nct, xk + 16 * ch * ldv, xstride, 64);
        }
        if (rem != 0) {
          _tile_loadd(6, aw + (kk * chunks + full) * 256, 64);
          COSY_AMX_ROW_TIMES_COLS(6, 7, nct, xk + 16 * full * ldv, xstride, 64);
        }
      }
      StoreAmx(nct, bias, r0, rows, c, cols, y, ldy);
    }
  }
  _tile_release();
}
#endif

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS
