// Fast activations: argument checks, then the selected ISA variant (kernel_table.h).
#include "runtime/kernels/cpu/activation.h"

#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/kernel_checks.h"

namespace cosyflow::kernels::cpu {

namespace {
Status Map(const char* name, UnaryKind kind, const float* x, int64_t n, float* y) {
  COSY_RETURN_IF_ERROR(CheckUnaryArgs(name, x, n, y));
  if (n > 0) Kernels().unary[static_cast<int>(kind)](x, n, y);
  return OkStatus();
}
}  // namespace

Status GeluErf(const float* x, int64_t n, float* y) {
  return Map("gelu", UnaryKind::kGeluErf, x, n, y);
}
Status GeluTanh(const float* x, int64_t n, float* y) {
  return Map("gelu_tanh", UnaryKind::kGeluTanh, x, n, y);
}
Status Silu(const float* x, int64_t n, float* y) { return Map("silu", UnaryKind::kSilu, x, n, y); }
Status Mish(const float* x, int64_t n, float* y) { return Map("mish", UnaryKind::kMish, x, n, y); }
Status Elu(const float* x, int64_t n, float* y) { return Map("elu", UnaryKind::kElu, x, n, y); }
Status Tanh(const float* x, int64_t n, float* y) { return Map("tanh", UnaryKind::kTanh, x, n, y); }
Status Sigmoid(const float* x, int64_t n, float* y) {
  return Map("sigmoid", UnaryKind::kSigmoid, x, n, y);
}
Status Exp(const float* x, int64_t n, float* y) { return Map("exp", UnaryKind::kExp, x, n, y); }
Status Sin(const float* x, int64_t n, float* y) { return Map("sin", UnaryKind::kSin, x, n, y); }

Status LeakyRelu(const float* x, int64_t n, float slope, float* y) {
  COSY_RETURN_IF_ERROR(CheckUnaryArgs("leaky_relu", x, n, y));
  if (n > 0) Kernels().leaky_relu(x, n, slope, y);
  return OkStatus();
}

Status Snake(const float* x, const float* alpha, int64_t channels, int64_t time, float* y) {
  COSY_RETURN_IF_ERROR(CheckSnakeArgs(x, alpha, channels, time, y));
  if (channels > 0 && time > 0) Kernels().snake(x, alpha, channels, time, y);
  return OkStatus();
}

}  // namespace cosyflow::kernels::cpu
