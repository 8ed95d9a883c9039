// HiFT signal processing: SineGen2, harmonic merge and the iSTFT head (on the shared STFT kernels).
#include "nodes/hift/hift_dsp.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace cosyflow::hift {

void SineGen2(const HiftConfig& cfg, const float* f0, int64_t frames, const float* rand_ini,
              const float* noise, float* sine_waves) {
  const int h = cfg.nb_harmonics + 1;
  const int64_t spf = cfg.SamplesPerFrame();
  const int64_t samples = frames * spf;
  const float sr = static_cast<float>(cfg.sampling_rate);
  // Per-sample normalised frequency rad[n, k] = (k * f0_up[n] / sr) mod 1, plus rand_ini on
  // sample 0 only; computed on demand since f0_up repeats each frame value spf times.
  auto rad = [&](int64_t n, int k) {
    float r = (f0[n / spf] * static_cast<float>(k + 1)) / sr;
    r = r - std::floor(r);
    if (n == 0 && rand_ini != nullptr) r += rand_ini[k];
    return r;
  };
  // Linear downsample by spf (align_corners=False, float32 index math), inclusive cumsum over
  // frames accumulated in double and stored as float, then * 2 * pi * spf in float32 ops.
  std::vector<float> p(static_cast<size_t>(frames * h));
  std::vector<double> acc(static_cast<size_t>(h), 0.0);
  const float pi_f = static_cast<float>(std::numbers::pi);
  const float down_scale = static_cast<float>(spf);
  for (int64_t j = 0; j < frames; ++j) {
    float src = down_scale * (static_cast<float>(j) + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    const int64_t i0 = std::min(static_cast<int64_t>(src), samples - 1);
    const int64_t i1 = i0 + (i0 < samples - 1 ? 1 : 0);
    const float l1 = std::min(std::max(src - static_cast<float>(i0), 0.0f), 1.0f);
    const float l0 = 1.0f - l1;
    for (int k = 0; k < h; ++k) {
      const float r = rad(i0, k) * l0 + rad(i1, k) * l1;
      acc[static_cast<size_t>(k)] += static_cast<double>(r);
      const float c = static_cast<float>(acc[static_cast<size_t>(k)]);
      const float phase = (c * 2.0f) * pi_f;
      p[static_cast<size_t>(j * h + k)] = phase * static_cast<float>(spf);
    }
  }
  // Linear upsample (align_corners=False) with float32 index arithmetic, then sin and noise.
  const float scale = static_cast<float>(1.0 / static_cast<double>(spf));
  const float amp = cfg.nsf_alpha;
  const float noise_voiced = cfg.nsf_sigma;
  const float noise_unvoiced = (1.0f * cfg.nsf_alpha) / 3.0f;
  // Independent per sample: split across the OpenMP threads (48000 x 9 sines for 2 s).
#pragma omp parallel for schedule(static) if (samples >= 8192)
  for (int64_t n = 0; n < samples; ++n) {
    float src = scale * (static_cast<float>(n) + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    const int64_t i0 = std::min(static_cast<int64_t>(src), frames - 1);
    const int64_t i1 = i0 + (i0 < frames - 1 ? 1 : 0);
    const float l1 = std::min(std::max(src - static_cast<float>(i0), 0.0f), 1.0f);
    const float l0 = 1.0f - l1;
    const float f0n = f0[n / spf];
    const bool voiced = f0n > cfg.nsf_voiced_threshold;
    const float uv = voiced ? 1.0f : 0.0f;
    const float namp = voiced ? noise_voiced : noise_unvoiced;
    float* out = sine_waves + n * h;
    for (int k = 0; k < h; ++k) {
      const float a = p[static_cast<size_t>(i0 * h + k)] * l0;
      const float b = p[static_cast<size_t>(i1 * h + k)] * l1;
      const float s = std::sin(a + b) * amp;  // float sinf: <= 1 ulp from the double sine
      const float nz = noise != nullptr ? namp * noise[n * h + k] : 0.0f;
      out[k] = s * uv + nz;
    }
  }
}

void MergeHarmonics(const float* sine_waves, int64_t samples, int harmonics, const float* w,
                    float b, float* source) {
  for (int64_t n = 0; n < samples; ++n) {
    const float* s = sine_waves + n * harmonics;
    float acc = 0.0f;
    for (int k = 0; k < harmonics; ++k) acc += w[k] * s[k];
    source[n] = std::tanh(acc + b);
  }
}

Status IstftHead(const HiftConfig& cfg, const kernels::cpu::StftPlan& plan, const float* x,
                 int64_t frames, float* speech, std::vector<float>* scratch) {
  if (frames < 1) return InvalidArgument("hift istft: need at least one frame");
  const int64_t nf = cfg.num_freq(), n = nf * frames;
  const int64_t work = plan.IstftScratchFloats(frames);
  if (static_cast<int64_t>(scratch->size()) < 2 * n + work) {
    scratch->resize(static_cast<size_t>(2 * n + work));
  }
  float* re = scratch->data();
  float* im = re + n;
#pragma omp parallel for schedule(static) if (n >= 16384)
  for (int64_t i = 0; i < n; ++i) {
    const float mag = std::min(std::exp(x[i]), 100.0f);
    const float ph = std::sin(x[n + i]);
    re[i] = mag * std::cos(ph);
    im[i] = mag * std::sin(ph);
  }
  COSY_RETURN_IF_ERROR(kernels::cpu::Istft(plan, re, im, frames, speech, im + n, work));
  const int64_t out_len = plan.IstftLength(frames);
  const float lim = cfg.audio_limit;
  for (int64_t i = 0; i < out_len; ++i) speech[i] = std::min(std::max(speech[i], -lim), lim);
  return OkStatus();
}

std::vector<double> HammingWindow(int n) {
  std::vector<double> w(static_cast<size_t>(n));
  if (n == 1) {
    w[0] = 1.0;
    return w;
  }
  for (int i = 0; i < n; ++i) {
    w[static_cast<size_t>(i)] = 0.54 - 0.46 * std::cos(2.0 * std::numbers::pi * i / (n - 1));
  }
  return w;
}

}  // namespace cosyflow::hift
