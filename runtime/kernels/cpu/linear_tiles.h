// The many-row products of row-major Linear weights on the kernel table's register tiles
// (kernel_table.h: gemm_i8_bf16, gemm_f32, gemm_i8_f32, gemm_bf16_f32, gemm_i8_i16): the path
// behind cpu::Linear (linear.h) for f32 and int8 weights with the AVX-512 and AVX2 kernels (int8
// on bf16 pairs where the CPU has AVX512_BF16, else on int16 products in every variant) and bf16
// weights with the AVX2 ones. Internal to the cpu kernels.
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
// The same products on f32 units: int8 W (kt.gemm_i8_f32 must be set), y[i, j] =
// scale[j] * (bf16(x_i) . q_j) + bias[j]; bf16 W [n, k] row-major (kt.gemm_bf16_f32), y = bf16(x)
// W^T + bias (AVX2).
Status TileForwardInt8F32(const KernelTable& kt, const int8_t* w, const float* scales,
                          const float* bias, int64_t n, int64_t k, const float* x, int64_t m,
                          float* y);
Status TileForwardBf16F32(const KernelTable& kt, const uint16_t* w, const float* bias, int64_t n,
                          int64_t k, const float* x, int64_t m, float* y);
// int8 W in the i8_rows.h layout on int16 products (kt.pack_i8_i16_x, kt.gemm_i8_i16):
// y[i, j] = scale[j] * (sum over kI16Block-channel blocks of s_ib (q_ib . W[j])) + bias[j], q_ib
// the 16-bit integers of x_i's block b and s_ib their scale.
Status TileForwardInt8I16(const KernelTable& kt, const int8_t* w, const float* scales,
                          const float* bias, int64_t n, int64_t k, const float* x, int64_t m,
                          float* y);

}  // namespace cosyflow::kernels::cpu::detail
