// Small-m linear kernels: argument checks and the bf16 rounding of x, then the selected ISA
// variant (simd/gemv.cpp).
#include "runtime/kernels/cpu/gemv.h"

#include <new>

#include "runtime/dtype.h"
#include "runtime/kernels/cpu/dnnl_context.h"
#include "runtime/kernels/cpu/kernel_table.h"

namespace cosyflow::kernels::cpu {
namespace {

Status CheckArgs(const char* what, const void* x, const void* w, const float* y, int64_t m,
                 int64_t n, int64_t k) {
  if (m <= 0 || n <= 0 || k <= 0) {
    return InvalidArgument("{}: dims must be > 0, got m={} n={} k={}", what, m, n, k);
  }
  if (x == nullptr || w == nullptr || y == nullptr) {
    return InvalidArgument("{}: x, w and y must not be null", what);
  }
  return OkStatus();
}

}  // namespace

Status GemvF32(const float* x, const float* w, const float* bias, float* y, int64_t m, int64_t n,
               int64_t k) {
  COSY_RETURN_IF_ERROR(CheckArgs("gemv f32", x, w, y, m, n, k));
  Kernels().gemv_f32(x, w, bias, y, m, n, k);
  return OkStatus();
}

Status GemvBF16(const float* x, const uint16_t* w, const float* bias, float* y, int64_t m,
                int64_t n, int64_t k, uint16_t* x_bf16) {
  COSY_RETURN_IF_ERROR(CheckArgs("gemv bf16", x, w, y, m, n, k));
  if (x_bf16 == nullptr) return InvalidArgument("gemv bf16: x_bf16 scratch must not be null");
  Kernels().narrow_bf16(x, m * k, x_bf16);
  Kernels().gemv_bf16(x_bf16, w, bias, y, m, n, k);
  return OkStatus();
}

Status GemvI8(const float* x, const int8_t* w, const float* scales, const float* bias, float* y,
              int64_t m, int64_t n, int64_t k) {
  COSY_RETURN_IF_ERROR(CheckArgs("gemv int8", x, w, y, m, n, k));
  if (scales == nullptr) return InvalidArgument("gemv int8: scales must not be null");
  const KernelTable& t = Kernels();
  if (t.gemv_i8_fixed != nullptr && k <= kGemvI8FixedMaxK) {
    void* scratch = nullptr;
    try {
      scratch = ThreadScratch(ScratchSlot::kGemvX,
                              static_cast<size_t>(GemvI8FixedScratchBytes(m, k)));
    } catch (const std::bad_alloc&) {
      scratch = nullptr;  // the f32 kernel needs no scratch
    }
    if (scratch != nullptr && t.gemv_i8_fixed(x, w, scales, bias, y, m, n, k, scratch)) {
      return OkStatus();
    }
  }
  t.gemv_i8(x, w, scales, bias, y, m, n, k);
  return OkStatus();
}

}  // namespace cosyflow::kernels::cpu
