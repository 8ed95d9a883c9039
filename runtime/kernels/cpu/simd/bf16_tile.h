// The inner step of the vdpbf16ps tiles (conv_bf16.cpp, gemm_tile.cpp): one channel pair of
// an R-row x V-vector block of f32 accumulators. AVX-512 variant only (the callers are compiled
// with AVX512_BF16 enabled for their own functions only).
#pragma once

#include <cstdint>

#include "runtime/kernels/cpu/simd/simd.h"

#if defined(COSY_SIMD_AVX512)
namespace cosyflow::kernels::cpu::COSY_ISA_NS {
namespace {

// acc[r][v] += the pair dot product of x's v-th 16-column vector at xp (each uint32 two bf16,
// the lower channel in the low half) and the weight word w[r * ws] broadcast, for r < R, v < V.
// Always inlined, so the accumulators stay in registers across the caller's loop (as a call of
// its own GCC keeps them in memory).
template <int R, int V>
__attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl"), always_inline)) inline void
Bf16PairStep(__m512 (&acc)[R][V], const uint32_t* xp, const uint32_t* w, int64_t ws) {
  __m512bh xa[V];
#pragma GCC unroll 4
  for (int v = 0; v < V; ++v) xa[v] = (__m512bh)_mm512_loadu_si512(xp + 16 * v);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const __m512bh wb = (__m512bh)_mm512_set1_epi32(static_cast<int>(w[r * ws]));
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], xa[v], wb);
  }
}

}  // namespace
}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS
#endif
