// The many-row products of row-major Linear weights on the kernel table's register tiles
// (kernel_table.h: gemm_i8_bf16, gemm_f32): the path behind cpu::Linear (linear.h) for int8
// weights where the CPU has AVX512_BF16 and f32 weights on AVX-512 CPUs. Internal to the cpu
// kernels.
#pragma once

#include <cstdint>

#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/status.h"

namespace cosyflow::kernels::cpu::detail {

// y: [m, n] = scale[j] * (bf16(x) . W[j]) + bias[j]; w: [n, k] int8 row-major, scales: [n];
// kt.gemm_i8_bf16 must be set.
Status TileForwardInt8(const KernelTable& kt, const int8_t* w, const float* scales,
                       const float* bias, int64_t n, int64_t k, const float* x, int64_t m,
                       float* y);
// y: [m, n] = x W^T + bias; w: [n, k] f32 row-major; kt.gemm_f32 must be set.
Status TileForwardF32(const KernelTable& kt, const float* w, const float* bias, int64_t n,
                      int64_t k, const float* x, int64_t m, float* y);

}  // namespace cosyflow::kernels::cpu::detail
