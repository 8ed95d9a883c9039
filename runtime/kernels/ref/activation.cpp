// Reference activations in double precision.
#include "runtime/kernels/ref/activation.h"

#include <cmath>

#include "runtime/kernels/kernel_checks.h"

namespace cosyflow::kernels::ref {

namespace {

template <typename F>
Status Map(const char* name, const float* x, int64_t n, float* y, F f) {
  COSY_RETURN_IF_ERROR(CheckUnaryArgs(name, x, n, y));
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(f(static_cast<double>(x[i])));
  return OkStatus();
}

double Sigm(double v) { return 1.0 / (1.0 + std::exp(-v)); }
}  // namespace

Status GeluErf(const float* x, int64_t n, float* y) {
  // erfc form keeps relative accuracy on the negative tail.
  return Map("gelu", x, n, y, [](double v) { return 0.5 * v * std::erfc(-v / std::sqrt(2.0)); });
}
Status GeluTanh(const float* x, int64_t n, float* y) {
  return Map("gelu_tanh", x, n, y, [](double v) {
    const double k = std::sqrt(2.0 / M_PI);
    return 0.5 * v * (1.0 + std::tanh(k * (v + 0.044715 * v * v * v)));
  });
}
Status Silu(const float* x, int64_t n, float* y) {
  return Map("silu", x, n, y, [](double v) { return v * Sigm(v); });
}
Status Mish(const float* x, int64_t n, float* y) {
  return Map("mish", x, n, y, [](double v) { return v * std::tanh(std::log1p(std::exp(v))); });
}
Status LeakyRelu(const float* x, int64_t n, float slope, float* y) {
  return Map("leaky_relu", x, n, y, [slope](double v) { return v >= 0.0 ? v : slope * v; });
}
Status Tanh(const float* x, int64_t n, float* y) {
  return Map("tanh", x, n, y, [](double v) { return std::tanh(v); });
}
Status Sigmoid(const float* x, int64_t n, float* y) { return Map("sigmoid", x, n, y, Sigm); }
Status Exp(const float* x, int64_t n, float* y) {
  return Map("exp", x, n, y, [](double v) { return std::exp(v); });
}
Status Sin(const float* x, int64_t n, float* y) {
  return Map("sin", x, n, y, [](double v) { return std::sin(v); });
}

Status Snake(const float* x, const float* alpha, int64_t channels, int64_t time, float* y) {
  COSY_RETURN_IF_ERROR(CheckSnakeArgs(x, alpha, channels, time, y));
  for (int64_t c = 0; c < channels; ++c) {
    const double a = alpha[c];
    const double inv = 1.0 / (a + 1e-9);
    for (int64_t t = 0; t < time; ++t) {
      const double v = x[c * time + t];
      const double s = std::sin(a * v);
      y[c * time + t] = static_cast<float>(v + inv * s * s);
    }
  }
  return OkStatus();
}

}  // namespace cosyflow::kernels::ref
