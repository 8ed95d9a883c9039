// bf16-product 1-D convolution (kernel_table.h: pack_bf16_pairs, conv1d_bf16): inputs packed
// as channel pairs, weights pre-packed per block of 8 output rows; the vdpbf16ps tile runs in
// the AVX-512 variant on CPUs with AVX512_BF16 only (conv.cpp emulates it elsewhere).
#include <cstdint>
#include <cstring>

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
#endif

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS
