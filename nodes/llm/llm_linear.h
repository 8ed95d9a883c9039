// LlmLinear: the speech LM's linear layer. bf16 weights use the create-once cpu::Linear; f32
// weights are kept row-major and use a private AVX-512 GEMV for one row (decode, memory-bound)
// and cpu::LinearForward for several rows (prefill). Private helper: oneDNN 2.6's f32 matmul
// with a run-time M (gemm:jit) is ~4x off the bandwidth floor at M = 1 on this machine kind.
#pragma once

#include <cstdint>
#include <memory>

#include "runtime/kernels/cpu/linear.h"
#include "runtime/status.h"
#include "runtime/tensor.h"

namespace cosyflow {

class LlmLinear {
 public:
  // w: [n, k] f32 row-major, bias: [n] or null; both copied (bf16 converts w).
  static Result<std::unique_ptr<LlmLinear>> Create(const float* w, const float* bias, int64_t n,
                                                   int64_t k, kernels::cpu::WeightType type);
  // x: [m, k] f32 row-major -> y: [m, n] f32 row-major; x and y must not overlap.
  Status Forward(const float* x, int64_t m, float* y) const;
  size_t weight_bytes() const;

 private:
  LlmLinear() = default;
  int64_t n_ = 0, k_ = 0;
  Tensor w_, b_;                               // f32 path: [n, k], [n] (b_ undefined: no bias)
  std::unique_ptr<kernels::cpu::Linear> packed_;  // bf16 path
};

// y: [n] = W: [n, k] f32 row-major · x: [k] + bias ([n] or null); rows split over OpenMP threads.
void LlmGemvF32(const float* w, const float* x, const float* bias, int64_t n, int64_t k, float* y);

}  // namespace cosyflow
