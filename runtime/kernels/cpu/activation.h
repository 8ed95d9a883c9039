// Fast activations (AVX-512 polynomial exp/sin/tanh/erfc, ~1e-7 relative); same contract as
// ref/activation.h.
#pragma once

#include <cstdint>

#include "runtime/status.h"

namespace cosyflow::kernels::cpu {

// Elementwise activations. x, y: [n] f32 contiguous (any shape flattened); y may alias x.
Status GeluErf(const float* x, int64_t n, float* y);  // 0.5 x (1 + erf(x / sqrt 2))
// 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))
Status GeluTanh(const float* x, int64_t n, float* y);
Status Silu(const float* x, int64_t n, float* y);  // x * sigmoid(x)
Status Mish(const float* x, int64_t n, float* y);  // x * tanh(softplus(x))
Status LeakyRelu(const float* x, int64_t n, float slope, float* y);  // x >= 0 ? x : slope * x
Status Elu(const float* x, int64_t n, float* y);  // x > 0 ? x : e^x - 1 (alpha 1; ~3e-7 abs)
Status Tanh(const float* x, int64_t n, float* y);
Status Sigmoid(const float* x, int64_t n, float* y);
Status Exp(const float* x, int64_t n, float* y);
Status Sin(const float* x, int64_t n, float* y);

// x, y: [channels, time] f32 row-major; alpha: [channels]. y may alias x.
// Snake (HiFT, alpha_logscale=False, so alpha is used as stored):
//   y = x + 1 / (alpha_c + 1e-9) * sin^2(alpha_c * x).
Status Snake(const float* x, const float* alpha, int64_t channels, int64_t time, float* y);

}  // namespace cosyflow::kernels::cpu
