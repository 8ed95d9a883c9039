// cpu::Linear's int16 weights (WeightType::kInt16, linear.h; the state in linear_impl.h): W
// quantized once per output row into the panels of the kernel table's gemm_panels_i16, x per
// call and row by its quantize_i16_rows (docs/kernels.md "int16 products for the flow").
#include <algorithm>
#include <cmath>

#include "runtime/kernels/cpu/dnnl_context.h"
#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/cpu/linear.h"
#include "runtime/kernels/cpu/linear_impl.h"

namespace cosyflow::kernels::cpu {

// Both layouts: the panels serve every m (a GEMV would read 2-byte weights as the bf16 one).
Status Linear::Impl::PackInt16(const float* w, const float* bias) {
  const int64_t pairs = (k + 1) / 2;
  i16 = true;
  w_i16.assign(static_cast<size_t>(I16PanelElems(n, k)), 0);
  scales_i16.assign(
      static_cast<size_t>((n + kGemmPanelWidth - 1) / kGemmPanelWidth * kGemmPanelWidth), 0.0f);
  for (int64_t j = 0; j < n; ++j) {
    const float* row = w + j * k;
    float amax = 0.0f;
    for (int64_t c = 0; c < k; ++c) amax = std::max(amax, std::fabs(row[c]));
    if (!std::isfinite(amax)) {
      return InvalidArgument("linear: int16 weights: row {} holds NaN or infinity", j);
    }
    const float scale = amax > 0.0f ? amax / static_cast<float>(kI16WeightMax) : 1.0f;
    scales_i16[j] = scale;
    int16_t* dst =
        w_i16.data() + ((j / kGemmPanelWidth) * pairs * kGemmPanelWidth + j % kGemmPanelWidth) * 2;
    for (int64_t c = 0; c < k; ++c) {
      const float q = std::nearbyint(row[c] / scale);
      dst[(c / 2) * 2 * kGemmPanelWidth + c % 2] = static_cast<int16_t>(
          std::clamp(q, -static_cast<float>(kI16WeightMax), static_cast<float>(kI16WeightMax)));
    }
  }
  if (bias != nullptr) bias_f32.assign(bias, bias + n);
  return OkStatus();
}

Status Linear::ForwardI16(const float* x, int64_t m, float* y, LinearEpilogue epilogue) const {
  const Impl& im = *impl_;
  if (epilogue != LinearEpilogue::kNone && epilogue != LinearEpilogue::kGeluErf &&
      epilogue != LinearEpilogue::kAccumulate) {
    return InvalidArgument("linear: unknown epilogue {}", static_cast<int>(epilogue));
  }
  // x quantized per row into the thread's scratch: rows of I16RowStride(k) int16, then m scales
  const int64_t ldq = I16RowStride(im.k);
  const size_t qbytes = static_cast<size_t>((m * ldq * 2 + 63) / 64 * 64);
  void* scratch = nullptr;
  COSY_RETURN_IF_ERROR(GuardDnnl("linear: forward", [&]() -> Status {  // bad_alloc -> Status
    scratch = ThreadScratch(ScratchSlot::kConvert, qbytes + static_cast<size_t>(m) * 4);
    return OkStatus();
  }));
  auto* xq = static_cast<int16_t*>(scratch);
  auto* sx = reinterpret_cast<float*>(static_cast<char*>(scratch) + qbytes);
  const KernelTable& t = Kernels();
  t.quantize_i16_rows(x, m, im.k, xq, ldq, sx);
  t.gemm_panels_i16(xq, ldq, sx, m, im.k, im.w_i16.data(), im.scales_i16.data(), im.n, im.BiasPtr(),
                    y, static_cast<GemmEpilogue>(epilogue));
  return OkStatus();
}

}  // namespace cosyflow::kernels::cpu
