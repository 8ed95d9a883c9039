// Fixed CFM noise: a bit-exact C++ re-creation of torch's CPU `torch.manual_seed(s); torch.randn(n)`.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/status.h"

namespace cosyflow::flow {

// Returns what torch (CPU, float32, AVX2 kernel dispatch; torch 1.13 .. 2.x) yields for
// `torch.manual_seed(seed); torch.randn(n)`, n >= 16:
//   1. std::mt19937 seeded with `seed`; n uniforms u = (draw & 0xFFFFFF) / 2^24 in [0, 1).
//   2. Box-Muller on each block of 16: element j pairs with j + 8 (u1 = 1 - u[j], u2 = u[j+8]),
//      out[j] = sqrt(-2 ln u1) cos(2 pi u2), out[j+8] = sqrt(-2 ln u1) sin(2 pi u2).
//   3. When n % 16 != 0, the last 16 values are redrawn from 16 fresh uniforms and recomputed.
// ln / sincos are torch's vectorised Cephes-style polynomials evaluated with the same fused
// multiply-adds the AVX2 build uses, so the result matches torch bit for bit (verified against
// the tiny-seed0 golden cfm_rand_noise_full: 1,200,000 of 1,200,000 values identical).
Result<std::vector<float>> TorchRandn(uint64_t seed, int64_t n);

// The CausalConditionalCFM noise table: seed 0, [80, 15000] channel-major (80 mel bins x 15000
// absolute frames counted from the first prompt frame).
inline constexpr int64_t kCfmNoiseBins = 80;
inline constexpr int64_t kCfmNoiseFrames = 15000;
Result<std::vector<float>> MakeCfmNoise();

}  // namespace cosyflow::flow
