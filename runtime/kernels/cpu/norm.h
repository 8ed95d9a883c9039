// Fast (AVX-512, single pass) layer norm and RMS norm; same contract as ref/norm.h.
#pragma once

#include <cstdint>

#include "runtime/status.h"

namespace cosyflow::kernels::cpu {

// x, y: [rows, dim] f32 row-major; gamma, beta: [dim] (nullptr means 1 / 0). y may alias x.
// y = (x - mean) / sqrt(var + eps) * gamma + beta, biased variance (torch.nn.LayerNorm).
Status LayerNorm(const float* x, const float* gamma, const float* beta, int64_t rows, int64_t dim,
                 float eps, float* y);

// x, y: [rows, dim] f32 row-major; weight: [dim] (nullptr means 1). y may alias x.
// y = x * rsqrt(mean(x^2) + eps) * weight (Qwen2RMSNorm, computed in f32).
Status RmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps, float* y);

}  // namespace cosyflow::kernels::cpu
