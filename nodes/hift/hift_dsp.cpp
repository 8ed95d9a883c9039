// HiFT signal processing: SineGen2, source STFT and the iSTFT head (direct small DFTs).
#include "nodes/hift/hift_dsp.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace cosyflow::hift {
namespace {

// scipy.signal.get_window("hann", n, fftbins=True) cast to float32.
std::vector<float> PeriodicHann(int n) {
  std::vector<float> w(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    w[static_cast<size_t>(i)] =
        static_cast<float>(0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * i / n));
  }
  return w;
}

}  // namespace

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
      const float s = static_cast<float>(std::sin(static_cast<double>(a + b))) * amp;
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

int64_t StftFrames(const HiftConfig& cfg, int64_t samples) { return samples / cfg.hop_len + 1; }

Status SourceStft(const HiftConfig& cfg, const float* x, int64_t samples, float* out,
                  int64_t ld) {
  const int nfft = cfg.n_fft, hop = cfg.hop_len, half = nfft / 2, nf = cfg.num_freq();
  if (samples <= half) {
    return InvalidArgument("hift stft: reflect padding needs more than {} samples, got {}", half,
                           samples);
  }
  const std::vector<float> win = PeriodicHann(nfft);
  std::vector<double> cs(static_cast<size_t>(nf * nfft)), sn(cs.size());
  for (int f = 0; f < nf; ++f) {
    for (int n = 0; n < nfft; ++n) {
      const double a = 2.0 * std::numbers::pi * ((f * n) % nfft) / nfft;
      cs[static_cast<size_t>(f * nfft + n)] = std::cos(a);
      sn[static_cast<size_t>(f * nfft + n)] = std::sin(a);
    }
  }
  const int64_t frames = StftFrames(cfg, samples);
  std::vector<double> seg(static_cast<size_t>(nfft));
  for (int64_t m = 0; m < frames; ++m) {
    for (int n = 0; n < nfft; ++n) {
      int64_t i = m * hop + n - half;  // index into x with reflect padding
      if (i < 0) i = -i;
      if (i >= samples) i = 2 * (samples - 1) - i;
      seg[static_cast<size_t>(n)] = static_cast<double>(win[static_cast<size_t>(n)]) * x[i];
    }
    for (int f = 0; f < nf; ++f) {
      double re = 0, im = 0;
      for (int n = 0; n < nfft; ++n) {
        re += seg[static_cast<size_t>(n)] * cs[static_cast<size_t>(f * nfft + n)];
        im -= seg[static_cast<size_t>(n)] * sn[static_cast<size_t>(f * nfft + n)];
      }
      out[f * ld + m] = static_cast<float>(re);
      out[(nf + f) * ld + m] = static_cast<float>(im);
    }
  }
  return OkStatus();
}

Status IstftHead(const HiftConfig& cfg, const float* x, int64_t frames, int64_t ld, float* speech,
                 std::vector<double>* scratch) {
  const int nfft = cfg.n_fft, hop = cfg.hop_len, half = nfft / 2, nf = cfg.num_freq();
  if (frames < 1) return InvalidArgument("hift istft: need at least one frame");
  const std::vector<float> win = PeriodicHann(nfft);
  const int64_t full = (frames - 1) * hop + nfft;
  scratch->assign(static_cast<size_t>(2 * full), 0.0);
  double* ola = scratch->data();
  double* env = ola + full;
  std::vector<double> cs(static_cast<size_t>(nf * nfft)), sn(cs.size());
  for (int f = 0; f < nf; ++f) {
    for (int n = 0; n < nfft; ++n) {
      const double a = 2.0 * std::numbers::pi * ((f * n) % nfft) / nfft;
      cs[static_cast<size_t>(f * nfft + n)] = std::cos(a);
      sn[static_cast<size_t>(f * nfft + n)] = std::sin(a);
    }
  }
  std::vector<float> re(static_cast<size_t>(nf)), im(static_cast<size_t>(nf));
  for (int64_t m = 0; m < frames; ++m) {
    for (int f = 0; f < nf; ++f) {
      const float mag = std::min(std::exp(x[f * ld + m]), 100.0f);
      const float ph = std::sin(x[(nf + f) * ld + m]);
      re[static_cast<size_t>(f)] = mag * std::cos(ph);
      im[static_cast<size_t>(f)] = mag * std::sin(ph);
    }
    for (int n = 0; n < nfft; ++n) {
      // C2R inverse DFT: DC and Nyquist imaginary parts are ignored.
      double v = re[0] + re[static_cast<size_t>(half)] * ((n % 2) ? -1.0 : 1.0);
      for (int f = 1; f < half; ++f) {
        v += 2.0 * (re[static_cast<size_t>(f)] * cs[static_cast<size_t>(f * nfft + n)] -
                    im[static_cast<size_t>(f)] * sn[static_cast<size_t>(f * nfft + n)]);
      }
      v /= nfft;
      const double w = win[static_cast<size_t>(n)];
      ola[m * hop + n] += v * w;
      env[m * hop + n] += w * w;
    }
  }
  const int64_t out_len = (frames - 1) * hop;
  const float lim = cfg.audio_limit;
  for (int64_t i = 0; i < out_len; ++i) {
    const double e = env[i + half];
    if (e < 1e-11) return Internal("hift istft: window envelope vanishes at sample {}", i);
    const float v = static_cast<float>(ola[i + half] / e);
    speech[i] = std::min(std::max(v, -lim), lim);
  }
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
