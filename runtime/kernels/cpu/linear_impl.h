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
  std::vector<float> scales;                                 // int8: [n]
  std::vector<float> bias_f32;                               // tiled path: [n] or empty

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
