// The row-block walk of the panel GEMMs (gemm_panels.cpp: f32, gemm_i16.cpp: int16): one panel
// of W columns against every block of kRows x rows, then the last (m % kRows) rows, with a share
// of the next panel's cache lines prefetched before each full block (the weights come from memory
// once per call, so the next panel's first block does not wait for them).
#pragma once

#include <cstdint>

#include "runtime/kernels/cpu/simd/simd.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS {

// block.template operator()<R>(r0) computes rows [r0, r0 + R) of the panel; R = kRows for the
// full blocks, else 1 .. kRows - 1 once. next, bytes: the next panel (bytes 0: none).
template <int kRows, class Block>
inline void PanelRowBlocks(int64_t m, const void* next, int64_t bytes, const Block& block) {
  static_assert(kRows >= 1 && kRows <= 6, "row remainders 1 .. 5");
  const char* next_lines = static_cast<const char*>(next);
  const int64_t lines = bytes / 64;
  const int64_t blocks = m > kRows ? (m + kRows - 1) / kRows : 1;
  const int64_t per_block = (lines + blocks - 1) / blocks;
  int64_t fetched = 0;
  int64_t r0 = 0;
  for (; r0 + kRows <= m; r0 += kRows) {
    for (const int64_t e = MinI(lines, fetched + per_block); fetched < e; ++fetched) {
      __builtin_prefetch(next_lines + fetched * 64, 0, 3);
    }
    block.template operator()<kRows>(r0);
  }
  switch (m - r0) {
    case 5:
      block.template operator()<5>(r0);
      break;
    case 4:
      block.template operator()<4>(r0);
      break;
    case 3:
      block.template operator()<3>(r0);
      break;
    case 2:
      block.template operator()<2>(r0);
      break;
    case 1:
      block.template operator()<1>(r0);
      break;
    default:
      break;
  }
}

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS
