// y: [m, n] = x: [m, k] f32 · W^T + bias for small m, W: [n, k] row-major (nn.Linear layout) in
// f32 or bf16. Matrix-vector products are memory bound: these kernels stream W once per group
// of up to 4 (AVX-512) or 2 (AVX2, scalar) x rows, in the ISA variant chosen at run time (bf16
// via AVX512_BF16 dot products where the CPU has them, else widened to f32 and FMA), splitting the
// n rows of W over OpenMP threads. oneDNN 2.6's run-time-M matmul (gemm:jit)
// repacks W on every call, which at m = 1 reaches only a few GB/s.
#pragma once

#include <cstdint>

#include "runtime/status.h"

namespace cosyflow::kernels::cpu {

// Largest m for which cpu::Linear / cpu::LinearForward use these kernels instead of oneDNN.
inline constexpr int64_t kGemvMaxM = 8;

// x: [m, k] f32, w: [n, k] f32 row-major, bias: [n] f32 or null -> y: [m, n] f32 row-major.
Status GemvF32(const float* x, const float* w, const float* bias, float* y, int64_t m, int64_t n,
               int64_t k);

// x: [m, k] f32 (rounded to bf16 like oneDNN's bf16 path), w: [n, k] bf16 bits row-major,
// bias: [n] f32 or null -> y: [m, n] f32 row-major; products of bf16 values summed in f32.
// `x_bf16` is caller scratch of m·k uint16 (no allocation here).
Status GemvBF16(const float* x, const uint16_t* w, const float* bias, float* y, int64_t m,
                int64_t n, int64_t k, uint16_t* x_bf16);

// Weight-only int8: w: [n, k] int8 in the 4-row blocks of i8_rows.h (PackI8Rows) with per-row
// scales: [n] f32, so that W[j, c] ~ scales[j] * w[j, c]; y = scales[j] * (x[i] . w[j]) +
// bias[j], x f32, sums in f32.
Status GemvI8(const float* x, const int8_t* w, const float* scales, const float* bias, float* y,
              int64_t m, int64_t n, int64_t k);

}  // namespace cosyflow::kernels::cpu
