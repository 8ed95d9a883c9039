// The layout of int8 weight rows (cpu::Linear's int8 weights, the int8 kernels' W): rows in
// blocks of 4, interleaved every 64 columns. Block b holds rows 4b .. 4b + 3; its bytes are,
// for each 64-column chunk q in turn, row 4b's 64 bytes of chunk q, then row 4b + 1's, 4b + 2's,
// 4b + 3's (256 bytes per chunk). Rows are padded with zeros to a multiple of 64 columns and
// the last block with zero rows to 4. (On CPUs with AMX-INT8, Linear keeps its rows in the tile
// layout of kernel_table.h's gemv_i8_amx_rows instead, packed from this one at load.)
//
// Why: a GEMV streams 4 rows at a time (one pass over x per block). Row-major, that is four
// read streams a row apart (896 bytes for most of the speech LM's products), which two Zen 5
// cores read at ~37 GB/s with the int8 kernel's work and ~38 GB/s without it; this layout makes
// the block one sequential stream, read at ~52 GB/s with the same work (a standalone loop over
// the speech LM's 24 x 4 int8 products, best of 30, alternating; docs/kernels.md).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace cosyflow::kernels::cpu {

inline constexpr int64_t kI8BlockRows = 4;
inline constexpr int64_t kI8Chunk = 64;

// Columns per row in the layout: k rounded up to a whole chunk.
inline constexpr int64_t I8PaddedK(int64_t k) { return (k + kI8Chunk - 1) / kI8Chunk * kI8Chunk; }

// Bytes of n rows of k columns.
inline constexpr int64_t I8RowsBytes(int64_t n, int64_t k) {
  return (n + kI8BlockRows - 1) / kI8BlockRows * kI8BlockRows * I8PaddedK(k);
}

// Offset of row j's column 0; column c of that row is I8ColumnOffset(c) further.
inline constexpr int64_t I8RowOffset(int64_t j, int64_t k) {
  return j / kI8BlockRows * kI8BlockRows * I8PaddedK(k) + j % kI8BlockRows * kI8Chunk;
}
inline constexpr int64_t I8ColumnOffset(int64_t c) {
  return c / kI8Chunk * (kI8BlockRows * kI8Chunk) + c % kI8Chunk;
}

// Row-major q [n, k] into dst (I8RowsBytes(n, k) bytes, padding zeroed).
inline void PackI8Rows(const int8_t* q, int64_t n, int64_t k, int8_t* dst) {
  std::memset(dst, 0, static_cast<size_t>(I8RowsBytes(n, k)));
  for (int64_t j = 0; j < n; ++j) {
    int8_t* row = dst + I8RowOffset(j, k);
    for (int64_t c = 0; c < k; c += kI8Chunk) {
      std::memcpy(row + I8ColumnOffset(c), q + j * k + c,
                  static_cast<size_t>(std::min(kI8Chunk, k - c)));
    }
  }
}

// f(column, pointer, count) for each run of row j's columns [c0, c1) that is contiguous in the
// layout (at most one chunk each), in column order.
template <class F>
inline void ForEachI8Run(const int8_t* w, int64_t k, int64_t j, int64_t c0, int64_t c1, F&& f) {
  const int8_t* row = w + I8RowOffset(j, k);
  for (int64_t c = c0; c < c1;) {
    const int64_t n = std::min(c1 - c, kI8Chunk - c % kI8Chunk);
    f(c, row + I8ColumnOffset(c), n);
    c += n;
  }
}

}  // namespace cosyflow::kernels::cpu
