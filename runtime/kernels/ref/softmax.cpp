// Reference softmax kernels.
#include "runtime/kernels/ref/softmax.h"

#include <cmath>
#include <limits>
#include <vector>

#include "runtime/kernels/kernel_checks.h"

namespace cosyflow::kernels::ref {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Softmax of one row of already-masked scores v (double), written to y.
void SoftmaxRow(const double* v, int64_t cols, float* y) {
  double mx = kNegInf;
  for (int64_t i = 0; i < cols; ++i) mx = std::max(mx, v[i]);
  if (mx == kNegInf) {
    for (int64_t i = 0; i < cols; ++i) y[i] = 0.0f;
    return;
  }
  double sum = 0.0;
  for (int64_t i = 0; i < cols; ++i) sum += std::exp(v[i] - mx);
  for (int64_t i = 0; i < cols; ++i) y[i] = static_cast<float>(std::exp(v[i] - mx) / sum);
}
}  // namespace

Status Softmax(const float* x, int64_t rows, int64_t cols, float* y) {
  return SoftmaxMasked(x, nullptr, nullptr, 0, rows, cols, y);
}

Status SoftmaxMasked(const float* x, const float* add_mask, const uint8_t* keep_mask,
                     int64_t mask_row_stride, int64_t rows, int64_t cols, float* y) {
  COSY_RETURN_IF_ERROR(CheckSoftmaxMaskedArgs(x, mask_row_stride, rows, cols, y));
  std::vector<double> v(cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < cols; ++i) {
      double s = x[r * cols + i];
      if (add_mask) s += add_mask[r * mask_row_stride + i];
      if (keep_mask && keep_mask[r * mask_row_stride + i] == 0) s = kNegInf;
      v[i] = s;
    }
    SoftmaxRow(v.data(), cols, y + r * cols);
  }
  return OkStatus();
}

Status LogSoftmax(const float* x, int64_t rows, int64_t cols, float* y) {
  COSY_RETURN_IF_ERROR(CheckSoftmaxArgs("log_softmax", x, rows, cols, y));
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    double mx = kNegInf;
    for (int64_t i = 0; i < cols; ++i) mx = std::max(mx, static_cast<double>(xr[i]));
    double sum = 0.0;
    for (int64_t i = 0; i < cols; ++i) sum += std::exp(xr[i] - mx);
    const double lse = mx + std::log(sum);
    for (int64_t i = 0; i < cols; ++i) y[r * cols + i] = static_cast<float>(xr[i] - lse);
  }
  return OkStatus();
}

}  // namespace cosyflow::kernels::ref
