// AMX tile helpers of the AVX-512 variant's tile-unit kernels (attention_bf16dot.cpp,
// conv_bf16.cpp). Tile numbers are literals in the intrinsics' inline assembly, hence macros.
#pragma once

#include <cstdint>

#include "runtime/kernels/cpu/simd/simd.h"

#if defined(COSY_SIMD_AVX512)

#define COSY_TARGET_AMX \
  __attribute__((target("amx-tile,amx-bf16,avx512bf16,avx512f,avx512bw,avx512vl,avx512dq")))

namespace cosyflow::kernels::cpu::COSY_ISA_NS {

// LDTILECFG's 64-byte operand (palette 1).
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Tiles [0, count) as 16 rows x 64 bytes.
inline TileConfig FullTiles(int count) {
  TileConfig c;
  for (int t = 0; t < count; ++t) {
    c.colsb[t] = 64;
    c.rows[t] = 16;
  }
  return c;
}

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS

// Accumulator tiles 0 .. 3 zeroed.
#define COSY_AMX_ZERO_ACC() \
  do {                      \
    _tile_zero(0);          \
    _tile_zero(1);          \
    _tile_zero(2);          \
    _tile_zero(3);          \
  } while (0)

// Accumulators 0 .. n - 1 (n <= 4) += tile A times the B operands at b, b + step, ... (bytes),
// each loaded into tile B with rows `stride` bytes apart.
#define COSY_AMX_ROW_TIMES_COLS(A, B, n, b, stride, step)  \
  do {                                                     \
    const char* cosy_b = reinterpret_cast<const char*>(b); \
    _tile_loadd(B, cosy_b, stride);                        \
    _tile_dpbf16ps(0, A, B);                               \
    if ((n) > 1) {                                         \
      _tile_loadd(B, cosy_b + (step), stride);             \
      _tile_dpbf16ps(1, A, B);                             \
    }                                                      \
    if ((n) > 2) {                                         \
      _tile_loadd(B, cosy_b + 2 * (step), stride);         \
      _tile_dpbf16ps(2, A, B);                             \
    }                                                      \
    if ((n) > 3) {                                         \
      _tile_loadd(B, cosy_b + 3 * (step), stride);         \
      _tile_dpbf16ps(3, A, B);                             \
    }                                                      \
  } while (0)

// Accumulators 0 .. n - 1 stored at dst, dst + 16, ... (floats), rows `stride` bytes apart.
#define COSY_AMX_STORE_ACC(n, dst, stride)            \
  do {                                                \
    _tile_stored(0, (dst), stride);                   \
    if ((n) > 1) _tile_stored(1, (dst) + 16, stride); \
    if ((n) > 2) _tile_stored(2, (dst) + 32, stride); \
    if ((n) > 3) _tile_stored(3, (dst) + 48, stride); \
  } while (0)
#endif
