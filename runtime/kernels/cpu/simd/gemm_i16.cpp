// The products of WeightType::kInt16 Linear layers (kernel_table.h: quantize_i16_rows,
// gemm_panels_i16): x rows quantized to 14-bit integers with one scale per row, W to 12-bit
// integers with one scale per output row, both held in int16; the integer products summed
// exactly in int32 over blocks of kI16Block channels, the blocks summed in f32 in order, then
// scaled, biased and passed through the epilogue. The integer sums are the same in every
// variant; the vector variants multiply pairs of channels with vpmaddwd (16 products per
// instruction, twice the multiply-adds of an f32 FMA of the same width; vpdpwssd in the AVX-512
// variant where the CPU has AVX512_VNNI), so on CPUs without bf16 arithmetic (AVX2) this runs
// the flow's GEMMs about 1.4-1.7x as fast as f32.
#include <omp.h>

#include "runtime/kernels/cpu/simd/i16_panel.h"
#include "runtime/kernels/cpu/simd/kernels.h"
#include "runtime/kernels/cpu/simd/panel_rows.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS {
namespace {
using i16_panel::kPanel;
using i16_panel::kRows;
using i16_panel::PanelBlock;
constexpr int64_t kParallelMinWork = int64_t{1} << 18;
}  // namespace

void QuantizeI16Rows(const float* x, int64_t m, int64_t k, int16_t* xq, int64_t ldq, float* sx) {
#pragma omp parallel for schedule(static) if (m * k >= (int64_t{1} << 16) && !omp_in_parallel())
  for (int64_t i = 0; i < m; ++i) {
    // zero row: scale 0 (y = bias); NaN or inf in it: scale NaN (the row's outputs are NaN, as
    // the f32 product's would be NaN or infinite)
    sx[i] = i16_panel::QuantizeRow(x + i * k, k, kI16ActMax, xq + i * ldq, ldq);
  }
}

namespace {
template <bool kVnni>
void PanelsI16(const int16_t* xq, int64_t ldq, const float* sx, int64_t m, int64_t k,
               const int16_t* wp, const float* sw, int64_t n, const float* bias, float* y,
               GemmEpilogue ep) {
  static_assert(kPanel % kLanes == 0, "a panel is whole vectors");
  const int64_t pairs = (k + 1) / 2;
  const int64_t panels = (n + kPanel - 1) / kPanel;
  // Panels split over the team; each panel (pairs x 32 int16) serves every row block from cache.
#pragma omp parallel for schedule(static) if (m * n * k >= kParallelMinWork && !omp_in_parallel())
  for (int64_t p = 0; p < panels; ++p) {
    const int16_t* w = wp + p * pairs * 2 * kPanel;
    const float* s = sw + p * kPanel;
    const float* b = bias == nullptr ? nullptr : bias + p * kPanel;
    const int64_t cols = n - p * kPanel < kPanel ? n - p * kPanel : kPanel;
    float* yp = y + p * kPanel;
    const int64_t next_bytes =
        p + 1 < panels ? pairs * 2 * kPanel * static_cast<int64_t>(sizeof(int16_t)) : 0;
    PanelRowBlocks<kRows>(m, w + pairs * 2 * kPanel, next_bytes, [&]<int R>(int64_t r0) {
      PanelBlock<R, kVnni>(xq + r0 * ldq, ldq, sx + r0, pairs, w, s, b, cols, yp + r0 * n, n, ep);
    });
  }
}

}  // namespace

void GemmPanelsI16(const int16_t* xq, int64_t ldq, const float* sx, int64_t m, int64_t k,
                   const int16_t* wp, const float* sw, int64_t n, const float* bias, float* y,
                   GemmEpilogue ep) {
  PanelsI16<false>(xq, ldq, sx, m, k, wp, sw, n, bias, y, ep);
}

#if defined(COSY_SIMD_AVX512)
void GemmPanelsI16Vnni(const int16_t* xq, int64_t ldq, const float* sx, int64_t m, int64_t k,
                       const int16_t* wp, const float* sw, int64_t n, const float* bias, float* y,
                       GemmEpilogue ep) {
  PanelsI16<true>(xq, ldq, sx, m, k, wp, sw, n, bias, y, ep);
}
#endif

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS
