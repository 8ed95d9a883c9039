// Tests of LlmLinear (the speech LM's private linear helper) against a double-precision loop.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "nodes/llm/llm_linear.h"

namespace cosyflow {
namespace {

std::vector<float> Pattern(size_t n, float scale, uint32_t seed) {
  std::vector<float> v(n);
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = scale * (static_cast<float>(seed >> 8) / 8388608.0f - 1.0f);
  }
  return v;
}

void CheckLinear(int64_t m, int64_t n, int64_t k, kernels::cpu::WeightType type, float tol) {
  const auto w = Pattern(static_cast<size_t>(n * k), 0.1f, 1);
  const auto b = Pattern(static_cast<size_t>(n), 0.5f, 2);
  const auto x = Pattern(static_cast<size_t>(m * k), 1.0f, 3);
  auto lin = LlmLinear::Create(w.data(), b.data(), n, k, type);
  REQUIRE(lin.ok());
  std::vector<float> y(static_cast<size_t>(m * n));
  REQUIRE((*lin)->Forward(x.data(), m, y.data()).ok());
  double worst = 0;
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      double s = b[j];
      for (int64_t i = 0; i < k; ++i) s += double(w[j * k + i]) * x[r * k + i];
      worst = std::max(worst, std::fabs(s - y[r * n + j]));
    }
  }
  CHECK(worst < tol);
}

TEST_CASE("LlmLinear: f32 one-row GEMV matches a double loop, with tails in n and k") {
  CheckLinear(1, 1152, 896, kernels::cpu::WeightType::kF32, 1e-4f);
  CheckLinear(1, 7, 37, kernels::cpu::WeightType::kF32, 1e-5f);
  CheckLinear(1, 6564, 64, kernels::cpu::WeightType::kF32, 1e-5f);
}

TEST_CASE("LlmLinear: f32 several rows and bf16 weights match a double loop") {
  CheckLinear(5, 130, 96, kernels::cpu::WeightType::kF32, 1e-4f);
  CheckLinear(1, 64, 256, kernels::cpu::WeightType::kBF16, 0.1f);
  CheckLinear(3, 64, 256, kernels::cpu::WeightType::kBF16, 0.1f);
}

}  // namespace
}  // namespace cosyflow
