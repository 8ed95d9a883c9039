// f32 GEMM on weights packed in 16-column panels, for CPUs where oneDNN 2.6 has no blocked-
// weight GEMM (AVX2): y: [m, n] = x: [m, k] W^T + bias. The run-time-M oneDNN GEMM repacks W on
// every call; this one packs it once (cpu::Linear, WeightLayout::kGemm) and multiplies blocks of
// up to 6 x rows by one panel with 6 x 16 accumulators (12 AVX2 registers), each output element
// one FMA chain over k in order; a GELU or an accumulation into y applied as each output is
// stored (cpu::Linear's epilogues, no pass over y after).
#include <omp.h>

#include "runtime/kernels/cpu/simd/kernels.h"
#include "runtime/kernels/cpu/simd/panel_rows.h"
#include "runtime/kernels/cpu/simd/simd.h"
#include "runtime/kernels/cpu/simd/vec_math.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS {
namespace {

constexpr int64_t kPanel = 16;                  // W columns per panel (kGemmPanelWidth)
constexpr int kVecs = static_cast<int>(kPanel) / kLanes;  // vectors per panel row
constexpr int kRows = 6;                        // x rows per block
constexpr int64_t kParallelMinWork = int64_t{1} << 18;

// y rows [0, R) (stride ldy) x panel columns [0, cols) = x rows . panel + bias, then the
// epilogue.
template <int R>
void PanelBlock(const float* x, int64_t k, const float* wp, const float* bias, int64_t cols,
                float* y, int64_t ldy, GemmEpilogue ep) {
  Vf acc[R][kVecs];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < kVecs; ++v) acc[r][v] = Zero();
  for (int64_t c = 0; c < k; ++c) {
    Vf w[kVecs];
    for (int v = 0; v < kVecs; ++v) w[v] = Load(wp + c * kPanel + v * kLanes);
    for (int r = 0; r < R; ++r) {
      const Vf xb = Set1(x[r * k + c]);
      for (int v = 0; v < kVecs; ++v) acc[r][v] = Fmadd(xb, w[v], acc[r][v]);
    }
  }
  for (int v = 0; v < kVecs; ++v) {
    const int64_t left = cols - v * kLanes;
    if (left <= 0) break;
    const Vf b = bias == nullptr ? Zero() : (left >= kLanes ? Load(bias + v * kLanes)
                                                            : LoadN(bias + v * kLanes, left));
    Vf t[R];
    for (int r = 0; r < R; ++r) t[r] = Add(acc[r][v], b);
    // as the GeluErf pass (pointwise.cpp) and Linear's accumulation compute it (the R rows'
    // GELU evaluated side by side: vec_math.h, NormalCdfN)
    if (ep == GemmEpilogue::kGeluErf) GeluErfN(t);
    for (int r = 0; r < R; ++r) {
      float* out = y + r * ldy + v * kLanes;
      if (ep == GemmEpilogue::kAccumulate) {
        t[r] = Add(left >= kLanes ? Load(out) : LoadN(out, left), t[r]);
      }
      if (left >= kLanes)
        Store(out, t[r]);
      else
        StoreN(out, t[r], left);
    }
  }
}

}  // namespace

void GemmPanelsF32(const float* x, int64_t m, int64_t k, const float* wp, int64_t n,
                   const float* bias, float* y, GemmEpilogue ep) {
  static_assert(kPanel % kLanes == 0, "a panel is whole vectors");
  const int64_t panels = (n + kPanel - 1) / kPanel;
  // Panels split over the team; each panel (k x 16 floats) serves every row block from cache.
  // (Chunking the rows to keep x in L2 across panels measured slower: more team wake-ups.)
#pragma omp parallel for schedule(static) if (m * n * k >= kParallelMinWork && !omp_in_parallel())
  for (int64_t p = 0; p < panels; ++p) {
    const float* w = wp + p * k * kPanel;
    const float* b = bias == nullptr ? nullptr : bias + p * kPanel;
    const int64_t cols = n - p * kPanel < kPanel ? n - p * kPanel : kPanel;
    float* yp = y + p * kPanel;
    const int64_t next_bytes =
        p + 1 < panels ? k * kPanel * static_cast<int64_t>(sizeof(float)) : 0;
    PanelRowBlocks<kRows>(m, w + k * kPanel, next_bytes, [&]<int R>(int64_t r0) {
      PanelBlock<R>(x + r0 * k, k, w, b, cols, yp + r0 * n, n, ep);
    });
  }
}

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS
