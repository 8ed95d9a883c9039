// The driver of the many-row register tiles of Linear weights (gemm_tile.cpp: AVX-512,
// gemm_tile_avx2.cpp: AVX2): per chunk of kGemmTileChunk units of k, per block of kGemmTileRows
// W rows, the block's rows go into an L1 buffer (Kind::Load: copied, or widened from int8 /
// bf16) and every column tile of the packed x (kernel_table.h, GemmXIndex) runs Kind::Tile<V>
// (V: the tile's width in 16-column groups) on them. Partial sums per block between chunks when
// k spans more than one; the next block's rows are prefetched from inside the first tile.
#pragma once

#include <cstdint>
#include <cstring>

#include "runtime/kernels/cpu/i8_rows.h"
#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/cpu/simd/simd.h"

#if defined(COSY_SIMD_AVX512) || defined(COSY_SIMD_AVX2)
namespace cosyflow::kernels::cpu::COSY_ISA_NS::gemm_rows {

constexpr int kRows = kGemmTileRows;
constexpr int64_t kChunk = kGemmTileChunk;
constexpr int64_t kTile = kGemmTileCols;

using COSY_ISA_NS::Transpose8x8;  // simd.h

// The weight rows of the next block's chunk, fetched a cache line at a time from inside the
// current block's first tile (the kind's cadence), so the widening finds them cached.
struct Prefetch {
  const char* base = nullptr;  // first row's first byte
  int64_t stride = 0, bytes = 0;
  int rows = 0;
  int row = 0;
  int64_t off = 0;
  inline void Next() {
    if (row >= rows) return;
    _mm_prefetch(base + row * stride + off, _MM_HINT_T0);
    off += 64;
    if (off >= bytes) off = 0, ++row;
  }
};

// The arguments of one tile: the 8 rows of wb ([8][kChunk] units) against the x tile xt (tw
// columns wide, a multiple of 16; pc units, tw apart); `from`: partial sums to start from (null:
// zero); then TileEnd's part / out. pf: null, or the next block's rows to fetch along the way.
template <class X>
struct TileArgs {
  const X* xt;
  int64_t tw, pc;
  const X* wb;
  const float* from;
  float* part;
  int64_t ldp;
  float* out;
  int64_t ldo;
  const float* scale;
  const float* bias;
  int rows;
  int64_t cols;
  Prefetch* pf;
};

// The W rows of the f32-unit tiles, loaded into the L1 buffer as f32 (kPrefetchMask: one
// prefetch line every kPrefetchMask + 1 units covers a block's rows over its first tile).
// f32 rows, row-major: copied.
struct F32Rows {
  using W = float;
  using X = float;
  static constexpr int64_t kPrefetchMask = 1;  // 4 bytes per unit and row
  static int64_t Units(int64_t k) { return k; }
  static void Load(const float* w, int64_t j, int64_t k, int64_t u0, int64_t uc, float* dst) {
    std::memcpy(dst, w + j * k + u0, sizeof(float) * uc);
  }
  static void PrefetchRows(const float* w, int64_t j, int rows, int64_t k, int64_t u0, int64_t uc,
                           Prefetch* pf) {
    pf->base = reinterpret_cast<const char*>(w + j * k + u0);
    pf->stride = k * static_cast<int64_t>(sizeof(float));
    pf->bytes = 4 * uc;
    pf->rows = rows;
  }
};

// int8 rows in the blocks of i8_rows.h: widened to their exact values (the row scale comes
// after the sum).
struct I8Rows {
  using W = int8_t;
  using X = float;
  static constexpr int64_t kPrefetchMask = 7;  // 1 byte per unit and row
  static int64_t Units(int64_t k) { return k; }
  // Row j's columns [u0, u0 + uc) into dst, whole layout chunks (the row's padding is zeros;
  // u0 is a multiple of kChunk, so of kI8Chunk, and dst holds kChunk floats).
  static void Load(const int8_t* w, int64_t j, int64_t k, int64_t u0, int64_t uc, float* dst) {
    static_assert(kChunk % kI8Chunk == 0 && kI8Chunk % kLanes == 0, "whole layout chunks");
    const int8_t* p = w + I8RowOffset(j, k) + I8ColumnOffset(u0);
    for (int64_t c = 0; c < uc; c += kI8Chunk, p += kI8BlockRows * kI8Chunk) {
      for (int64_t i = 0; i < kI8Chunk; i += kLanes) Store(dst + c + i, LoadI8(p + i));
    }
  }
  // The prefetch of rows [j, j + rows)' columns [c0, c0 + cc): the row blocks they lie in, each
  // one run of whole chunks.
  static void PrefetchRows(const int8_t* w, int64_t j, int rows, int64_t k, int64_t c0, int64_t cc,
                           Prefetch* pf) {
    const int64_t q0 = c0 / kI8Chunk, q1 = (c0 + cc + kI8Chunk - 1) / kI8Chunk;
    const int64_t b0 = j / kI8BlockRows, b1 = (j + rows + kI8BlockRows - 1) / kI8BlockRows;
    pf->base = reinterpret_cast<const char*>(w + I8RowOffset(b0 * kI8BlockRows, k) +
                                             I8ColumnOffset(q0 * kI8Chunk));
    pf->stride = kI8BlockRows * I8PaddedK(k);
    pf->bytes = (q1 - q0) * kI8BlockRows * kI8Chunk;
    pf->rows = static_cast<int>(b1 - b0);
  }
};

// bf16 rows, row-major: widened to f32 (exact).
struct Bf16Rows {
  using W = uint16_t;
  using X = float;
  static constexpr int64_t kPrefetchMask = 3;  // 2 bytes per unit and row
  static int64_t Units(int64_t k) { return k; }
  static void Load(const uint16_t* w, int64_t j, int64_t k, int64_t u0, int64_t uc, float* dst) {
    const uint16_t* p = w + j * k + u0;
    int64_t i = 0;
    for (; i + kLanes <= uc; i += kLanes) Store(dst + i, LoadBF16(p + i));
    if (i < uc) StoreN(dst + i, LoadBF16N(p + i, uc - i), uc - i);
  }
  static void PrefetchRows(const uint16_t* w, int64_t j, int rows, int64_t k, int64_t u0,
                           int64_t uc, Prefetch* pf) {
    pf->base = reinterpret_cast<const char*>(w + j * k + u0);
    pf->stride = k * static_cast<int64_t>(sizeof(uint16_t));
    pf->bytes = 2 * uc;
    pf->rows = rows;
  }
};

// Both products: per chunk of k units, per 8-row block of W rows [j0, j1): load the block's
// rows into wb, then every column tile of x. scales: per row, or null (1).
template <class Kind>
__attribute__((always_inline)) inline void GemmRows(const typename Kind::X* xv, int64_t m,
                                                    int64_t k, const typename Kind::W* w,
                                                    const float* scales, const float* bias,
                                                    int64_t j0, int64_t j1, float* y, int64_t ldy,
                                                    void* scratch) {
  using X = typename Kind::X;
  const int64_t units = Kind::Units(k), mpad = (m + 15) / 16 * 16;
  const int64_t blocks = (j1 - j0 + kRows - 1) / kRows;
  auto* wb = static_cast<X*>(scratch);
  // [blocks][8][mpad] f32 partial sums, only when k spans more than one chunk
  float* part = units > kChunk ? reinterpret_cast<float*>(wb + kRows * kChunk) : nullptr;
  for (int64_t u0 = 0; u0 < units; u0 += kChunk) {
    const int64_t uc = units - u0 < kChunk ? units - u0 : kChunk;
    const bool first = u0 == 0, last = u0 + uc == units;
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t jb = j0 + b * kRows;
      const int rows = static_cast<int>(j1 - jb < kRows ? j1 - jb : kRows);
      for (int r = 0; r < kRows; ++r) {
        if (r < rows) {
          Kind::Load(w, jb + r, k, u0, uc, wb + r * kChunk);
        } else {
          std::memset(wb + r * kChunk, 0, sizeof(X) * uc);
        }
      }
      float sc[kRows] = {}, bi[kRows] = {};
      for (int r = 0; r < rows; ++r) {
        sc[r] = scales != nullptr ? scales[jb + r] : 1.0f;
        bi[r] = bias != nullptr ? bias[jb + r] : 0.0f;
      }
      Prefetch pf;
      if (b + 1 < blocks) {
        const int64_t jn = jb + kRows;
        Kind::PrefetchRows(w, jn, static_cast<int>(j1 - jn < kRows ? j1 - jn : kRows), k, u0, uc,
                           &pf);
      }
      float* pb = part != nullptr ? part + b * kRows * mpad : nullptr;
      for (int64_t c0 = 0; c0 < mpad; c0 += kTile) {
        const int64_t tw = mpad - c0 < kTile ? mpad - c0 : kTile;
        float* pt = pb != nullptr ? pb + c0 : nullptr;
        const TileArgs<X> a{xv + c0 * units + u0 * tw,
                            tw,
                            uc,
                            wb,
                            first ? nullptr : pt,
                            last ? nullptr : pt,
                            mpad,
                            last ? y + c0 * ldy + jb : nullptr,
                            ldy,
                            sc,
                            bi,
                            rows,
                            m - c0 < tw ? m - c0 : tw,
                            c0 == 0 ? &pf : nullptr};
        switch (tw / 16) {
          case 3:
            Kind::template Tile<3>(a);
            break;
          case 2:
            Kind::template Tile<2>(a);
            break;
          default:
            Kind::template Tile<1>(a);
            break;
        }
      }
    }
  }
}

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS::gemm_rows
#endif
