// Reference layer norm / RMS norm.
#include "runtime/kernels/ref/norm.h"

#include <cmath>

#include "runtime/kernels/kernel_checks.h"

namespace cosyflow::kernels::ref {

Status LayerNorm(const float* x, const float* gamma, const float* beta, int64_t rows, int64_t dim,
                 float eps, float* y) {
  COSY_RETURN_IF_ERROR(CheckNormArgs("layer_norm", x, rows, dim, eps, y));
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    double mean = 0.0;
    for (int64_t i = 0; i < dim; ++i) mean += xr[i];
    mean /= static_cast<double>(dim);
    double var = 0.0;
    for (int64_t i = 0; i < dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= static_cast<double>(dim);
    const double inv = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < dim; ++i) {
      const double g = gamma ? gamma[i] : 1.0;
      const double b = beta ? beta[i] : 0.0;
      yr[i] = static_cast<float>((xr[i] - mean) * inv * g + b);
    }
  }
  return OkStatus();
}

Status RmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps,
               float* y) {
  COSY_RETURN_IF_ERROR(CheckNormArgs("rms_norm", x, rows, dim, eps, y));
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    double ss = 0.0;
    for (int64_t i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(dim) + eps);
    for (int64_t i = 0; i < dim; ++i) {
      yr[i] = static_cast<float>(xr[i] * inv * (weight ? weight[i] : 1.0));
    }
  }
  return OkStatus();
}

}  // namespace cosyflow::kernels::ref
