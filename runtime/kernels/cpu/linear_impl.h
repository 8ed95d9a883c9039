// The state behind cpu::Linear (linear.h) and the helpers its source files share; internal to
// the cpu kernels (linear.cpp: creation and the oneDNN / GEMV / tile paths; linear_int8.cpp: the
// int8 weights' many-row products on widened tiles).
#pragma once

#include <omp.h>

#include <cstdint>
#include <dnnl.hpp>
#include <memory>
#include <vector>

#include "runtime/huge_pages.h"
#include "runtime/kernels/cpu/i8_rows.h"
#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/cpu/linear.h"

namespace cosyflow::kernels::cpu {

namespace detail {
// The bf16 x bf16 -> f32 matmul the int8 tiles run on where the tile GEMM of our own is not used
// (GetBf16TileMatMul, linear.cpp).
struct Bf16TileMatMul {
  dnnl::matmul prim;
  dnnl_memory_desc_t scratchpad{};
};
const Bf16TileMatMul* GetBf16TileMatMul();
bool AmxGemmEnabled();
}  // namespace detail

using memory = dnnl::memory;

struct Linear::Impl {
  int64_t n = 0, k = 0;
  WeightType weight_type = WeightType::kF32;
  bool tiles = false;   // larger m: convert W tiles to f32 (no oneDNN primitive for the type)
  bool packed = false;  // WeightLayout::kGemm: `weights` in the brgemm layout, no `prim`
  // WeightLayout::kGemm without brgemm (AVX2 kernels): f32 W only in w_panels, every m through
  // the kernel table's gemm_panels_f32.
  bool panels = false;
  std::vector<float, AlignedAllocator<float>> w_panels;
  // WeightType::kInt16: W only in the int16 panels of the kernel table's gemm_panels_i16 and
  // its row scales (padded to whole panels), every m through that GEMM.
  bool i16 = false;
  std::vector<int16_t, AlignedAllocator<int16_t>> w_i16;
  std::vector<float, AlignedAllocator<float>> scales_i16;
  // Fills w_i16, scales_i16 and bias_f32 from W [n, k] f32 (linear_int16.cpp); InvalidArgument
  // for a row holding NaN or infinity.
  Status PackInt16(const float* w, const float* bias);
  // WeightLayout::kGemm, bf16, on CPUs with AMX-BF16 (AVX-512 kernels in force at Create): W
  // only in the B tiles of the kernel table's pack_gemm_amx_w, every m through its
  // gemm_amx_bf16 (the functions kept from Create, whatever variant is forced later).
  bool amx = false;
  std::vector<uint16_t, AlignedAllocator<uint16_t>> w_amx;
  decltype(KernelTable::pack_gemm_amx_x) amx_pack_x = nullptr;
  decltype(KernelTable::pack_gemm_amx_x_bf16) amx_pack_x_bf16 = nullptr;
  decltype(KernelTable::gemm_amx_bf16) amx_gemm = nullptr;
  dnnl::matmul prim;
  dnnl_memory_desc_t scratchpad;
  memory weights;  // oneDNN path: [n, k] row-major in the primitive's data type, in w_storage
  std::shared_ptr<void> w_storage;  // AlignedAlloc'd (huge pages): streamed on every call
  memory bias;                      // [1, n] f32, empty when there is no bias
  std::vector<uint16_t, AlignedAllocator<uint16_t>> w_bf16;  // tiled path, bf16: [n, k]
  std::vector<int8_t, AlignedAllocator<int8_t>> w_i8;        // int8: [n, k] in i8_rows.h blocks
  // int8 on AMX-INT8 CPUs: the rows in the tile layout of kernel_table.h's gemv_i8_amx_rows
  // instead of w_i8 (which is then empty)
  std::vector<int8_t, AlignedAllocator<int8_t>> w_i8_amx;
  std::vector<float> scales;                                 // int8: [n]
  std::vector<float> bias_f32;                               // tiled path: [n] or empty

  // W[j][c] of the AMX-INT8 layout.
  int8_t AmxI8At(int64_t j, int64_t c) const {
    const int64_t chunks = GemvI8FixedStride(k) / 64;
    return w_i8_amx[static_cast<size_t>(((j / kI8AmxBlockRows) * chunks + c / 64) * 1024 +
                                        (c % 64) / 4 * 64 + (j % kI8AmxBlockRows) * 4 + c % 4)];
  }
  // y[i * ldy + (j - j0)] for rows [j0, j1) of the AMX-INT8 layout against m rows of x in f32
  // (the rows the fixed-point kernel does not take: non-finite, zero or tiny x): each dot summed
  // in double in channel order, times the row scale, plus the bias, as the f32 definition gives
  // it within its tolerance (NaN and inf where it does). Scalar: those rows are rare.
  Status AmxI8RowsF32(const float* x, int64_t m, int64_t j0, int64_t j1, float* y,
                      int64_t ldy) const {
    const float* bias = BiasPtr();
    const int64_t chunks = GemvI8FixedStride(k) / 64;
    for (int64_t i = 0; i < m; ++i) {
      const float* xi = x + i * k;
      for (int64_t j = j0; j < j1; ++j) {
        // row j's bytes: 4 channels every 64 bytes of each 1 KiB chunk tile
        const int8_t* col =
            w_i8_amx.data() + (j / kI8AmxBlockRows) * chunks * 1024 + (j % kI8AmxBlockRows) * 4;
        double sum = 0.0;
        for (int64_t c = 0; c < k; ++c) {
          sum += double{xi[c]} * col[(c / 64) * 1024 + (c % 64) / 4 * 64 + c % 4];
        }
        float v = static_cast<float>(sum * scales[j]);
        if (bias != nullptr) v += bias[j];
        y[i * ldy + (j - j0)] = v;
      }
    }
    return OkStatus();
  }

  const float* BiasPtr() const {
    if (bias) return static_cast<const float*>(bias.get_data_handle());
    return bias_f32.empty() ? nullptr : bias_f32.data();
  }
  // Rows [j0, j0 + rows) of W as f32 into dst.
  // dst rows = W rows [j0, j0 + rows) in f32 (int8 times its row scale, or bf16 widened): the
  // ISA variant's widening kernel per row, rows spread over the OpenMP team.
  void WidenRows(int64_t j0, int64_t rows, float* dst) const {
    const KernelTable& kt = Kernels();
    const bool int8 = weight_type == WeightType::kInt8;
    if (int8 && !w_i8_amx.empty()) {
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < k; ++c) dst[r * k + c] = scales[j0 + r] * AmxI8At(j0 + r, c);
      }
      return;
    }
#pragma omp parallel for schedule(static) if (rows * k >= (int64_t{1} << 16) && !omp_in_parallel())
    for (int64_t r = 0; r < rows; ++r) {
      if (int8) {
        float* out = dst + r * k;
        ForEachI8Run(w_i8.data(), k, j0 + r, 0, k, [&](int64_t c, const int8_t* p, int64_t n) {
          kt.widen_i8(p, scales[j0 + r], n, out + c);
        });
      } else {
        kt.widen_16(w_bf16.data() + (j0 + r) * k, true, k, dst + r * k);
      }
    }
  }
};

}  // namespace cosyflow::kernels::cpu
