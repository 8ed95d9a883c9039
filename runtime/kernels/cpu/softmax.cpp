// Fast softmax kernels: argument checks, then the selected ISA variant (kernel_table.h), whose
// pass 1 masks and finds the max, pass 2 exponentiates and sums, pass 3 scales; the row stays in
// L1 between passes.
#include "runtime/kernels/cpu/softmax.h"

#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/kernel_checks.h"

namespace cosyflow::kernels::cpu {

Status Softmax(const float* x, int64_t rows, int64_t cols, float* y) {
  return SoftmaxMasked(x, nullptr, nullptr, 0, rows, cols, y);
}

Status SoftmaxMasked(const float* x, const float* add_mask, const uint8_t* keep_mask,
                     int64_t mask_row_stride, int64_t rows, int64_t cols, float* y) {
  COSY_RETURN_IF_ERROR(CheckSoftmaxMaskedArgs(x, mask_row_stride, rows, cols, y));
  if (rows > 0) Kernels().softmax_masked(x, add_mask, keep_mask, mask_row_stride, rows, cols, y);
  return OkStatus();
}

Status LogSoftmax(const float* x, int64_t rows, int64_t cols, float* y) {
  COSY_RETURN_IF_ERROR(CheckSoftmaxArgs("log_softmax", x, rows, cols, y));
  if (rows > 0) Kernels().log_softmax(x, rows, cols, y);
  return OkStatus();
}

}  // namespace cosyflow::kernels::cpu
