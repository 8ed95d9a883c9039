// Fast layer norm / RMS norm: argument checks, then the selected ISA variant (kernel_table.h).
#include "runtime/kernels/cpu/norm.h"

#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/kernel_checks.h"

namespace cosyflow::kernels::cpu {

Status LayerNorm(const float* x, const float* gamma, const float* beta, int64_t rows, int64_t dim,
                 float eps, float* y) {
  COSY_RETURN_IF_ERROR(CheckNormArgs("layer_norm", x, rows, dim, eps, y));
  if (rows > 0) Kernels().layer_norm(x, gamma, beta, rows, dim, eps, y);
  return OkStatus();
}

Status RmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps,
               float* y) {
  COSY_RETURN_IF_ERROR(CheckNormArgs("rms_norm", x, rows, dim, eps, y));
  if (rows > 0) Kernels().rms_norm(x, weight, rows, dim, eps, y);
  return OkStatus();
}

}  // namespace cosyflow::kernels::cpu
