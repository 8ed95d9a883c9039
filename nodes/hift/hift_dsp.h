// HiFT signal processing without weights: SineGen2 harmonic source, iSTFT head.
#pragma once

#include <cstdint>
#include <vector>

#include "nodes/hift/hift_config.h"
#include "runtime/kernels/cpu/stft.h"
#include "runtime/status.h"

namespace cosyflow::hift {

// SineGen2's per-sample harmonic excitation before the l_linear merge.
// f0: [frames] Hz; spf = samples per frame; out sine_waves: [frames*spf, H] (H = harmonics + 1,
// time-major, like the reference's [1, L, H]); noise: [frames*spf, H] standard normal draws or
// nullptr (zero-noise mode). The reference's random initial phases (rand_ini) only touch sample
// 0, which the 1/spf linear downsample never reads (for spf >= 2), so they cannot change the
// output; rand_ini [H] (or nullptr) is still applied where the reference applies it.
//
// Arithmetic follows the reference's float32 op order: rad = (k*f0/sr) mod 1 per frame, an
// inclusive cumulative sum accumulated in double and stored as float (PyTorch CPU cumsum),
// phase = cumsum*2*pi*spf, linear upsample with float32 source index / lambda.
void SineGen2(const HiftConfig& cfg, const float* f0, int64_t frames, const float* rand_ini,
              const float* noise, float* sine_waves);

// Merges harmonics: source[n] = tanh(sum_k w[k] * sine_waves[n, k] + b). w: [H].
void MergeHarmonics(const float* sine_waves, int64_t samples, int harmonics, const float* w,
                    float b, float* source);

// The iSTFT head on the shared kernels (runtime/kernels/cpu/stft.h): x = conv_post output
// [2F, frames] channel-major contiguous: magnitude = min(exp(x[:F]), 100), phase = sin(x[F:]);
// torch.istft with the plan's periodic Hann window (division by the summed squared window,
// center trim), then clamp to +-audio_limit. speech: [(frames-1)*hop]. scratch: grow-only.
Status IstftHead(const HiftConfig& cfg, const kernels::cpu::StftPlan& plan, const float* x,
                 int64_t frames, float* speech, std::vector<float>* scratch);

// np.hamming(n) (symmetric) in double.
std::vector<double> HammingWindow(int n);

}  // namespace cosyflow::hift
