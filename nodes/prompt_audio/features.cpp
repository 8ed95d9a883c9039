// Whisper log-mel, Kaldi fbank and Matcha mel: framing + float64 FFT + sparse mel matrices.
#include "nodes/prompt_audio/features.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "nodes/prompt_audio/mel_filters.h"

namespace cosyflow::prompt_audio {
namespace {

// torch.hann_window(n, periodic) in float32: arange · f32(2π/(N − 1)), cos, · −0.5, + 0.5,
// with N = n + 1 when periodic.
std::vector<float> TorchHannWindow(int n, bool periodic) {
  const int len = periodic ? n + 1 : n;
  const float step = static_cast<float>(2.0 * std::numbers::pi / (len - 1));
  std::vector<float> w(n);
  for (int i = 0; i < n; ++i) w[i] = std::cos(static_cast<float>(i) * step) * -0.5f + 0.5f;
  return w;
}

// Index into x for a reflect-padded position (torch 'reflect': no edge repeat). Needs pad < n.
inline int64_t Reflect(int64_t i, int64_t n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

// frame[i] = w[i]·x_reflect(start + i) for i < w.size(), zero after (the FFT size may exceed it).
void ReflectFrame(std::span<const float> x, int64_t start, const std::vector<double>& w,
                  double* frame) {
  const int64_t n = static_cast<int64_t>(x.size());
  const int64_t len = static_cast<int64_t>(w.size());
  if (start >= 0 && start + len <= n) {
    for (int64_t i = 0; i < len; ++i) frame[i] = static_cast<float>(w[i] * x[start + i]);
  } else {
    for (int64_t i = 0; i < len; ++i)
      frame[i] = static_cast<float>(w[i] * x[Reflect(start + i, n)]);
  }
}

}  // namespace

SparseMelRows SparseMelRows::FromDense(const std::vector<float>& dense, int rows, int cols) {
  SparseMelRows s;
  s.rows = rows;
  s.cols = cols;
  s.first.resize(rows);
  s.len.resize(rows);
  s.offset.resize(rows);
  for (int r = 0; r < rows; ++r) {
    const float* row = dense.data() + static_cast<size_t>(r) * cols;
    int first = 0, last = -1;
    for (int c = 0; c < cols; ++c) {
      if (row[c] != 0.0f) {
        if (last < 0) first = c;
        last = c;
      }
    }
    s.first[r] = first;
    s.len[r] = last - first + 1;
    s.offset[r] = s.weights.size();
    s.weights.insert(s.weights.end(), row + first, row + last + 1);
  }
  return s;
}

void SparseMelRows::Apply(const double* x, double* out) const {
  for (int r = 0; r < rows; ++r) {
    const float* w = weights.data() + offset[r];
    const double* xr = x + first[r];
    double acc = 0;
    for (int i = 0; i < len[r]; ++i) acc += static_cast<double>(w[i]) * xr[i];
    out[r] = acc;
  }
}

// ---------------------------------------------------------------------------------------------
// Whisper log-mel

Result<WhisperLogMel> WhisperLogMel::Create(int n_mels) {
  WhisperLogMel m;
  COSY_ASSIGN_OR_RETURN(m.fft_, RealFft::Create(kNfft));
  std::vector<float> w = TorchHannWindow(kNfft, /*periodic=*/true);
  m.window_.assign(w.begin(), w.end());
  COSY_ASSIGN_OR_RETURN(std::vector<float> filters, SlaneyMelFilters(16000, kNfft, n_mels));
  m.mel_ = SparseMelRows::FromDense(filters, n_mels, kNfft / 2 + 1);
  return m;
}

Result<Tensor> WhisperLogMel::Compute(std::span<const float> x16k) const {
  const int64_t n = static_cast<int64_t>(x16k.size());
  if (n <= kNfft / 2) {
    return InvalidArgument("whisper log-mel: need more than {} samples (reflect padding), got {}",
                           kNfft / 2, n);
  }
  const int64_t frames = Frames(n);  // 1 + n/160 STFT frames, the last one dropped
  const int mels = n_mels();
  COSY_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty(Dims{mels, frames}, DType::kF32));
  float* o = out.data<float>();
  std::vector<double> frame(kNfft), power(kNfft / 2 + 1), mel(mels);
  std::vector<std::complex<double>> spec(kNfft / 2 + 1);
  float max_v = -std::numeric_limits<float>::infinity();
  for (int64_t m = 0; m < frames; ++m) {
    ReflectFrame(x16k, m * kHop - kNfft / 2, window_, frame.data());
    fft_.Forward(frame.data(), spec.data());
    for (size_t f = 0; f < spec.size(); ++f) power[f] = std::norm(spec[f]);
    mel_.Apply(power.data(), mel.data());
    for (int b = 0; b < mels; ++b) {
      float v = static_cast<float>(std::log10(std::max(mel[b], 1e-10)));
      o[b * frames + m] = v;
      max_v = std::max(max_v, v);
    }
  }
  const float floor_v = max_v - 8.0f;
  for (int64_t i = 0; i < mels * frames; ++i) o[i] = (std::max(o[i], floor_v) + 4.0f) / 4.0f;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Kaldi fbank

Result<KaldiFbank> KaldiFbank::Create(int num_bins, int sample_rate) {
  if (sample_rate <= 0) return InvalidArgument("kaldi fbank: bad sample rate {}", sample_rate);
  KaldiFbank k;
  // torchaudio: window_size = int(rate · 25 ms), shift = int(rate · 10 ms), padded to 2^k.
  k.frame_ = static_cast<int>(sample_rate * 25.0 * 0.001);
  k.shift_ = static_cast<int>(sample_rate * 10.0 * 0.001);
  int padded = 1;
  while (padded < k.frame_) padded *= 2;
  COSY_ASSIGN_OR_RETURN(k.fft_, RealFft::Create(padded));
  std::vector<float> hann = TorchHannWindow(k.frame_, /*periodic=*/false);
  k.window_f_.resize(k.frame_);
  for (int i = 0; i < k.frame_; ++i) k.window_f_[i] = std::pow(hann[i], 0.85f);
  COSY_ASSIGN_OR_RETURN(std::vector<float> banks,
                        KaldiMelBanks(num_bins, padded, sample_rate, 20.0, 0.0));
  k.mel_ = SparseMelRows::FromDense(banks, num_bins, padded / 2 + 1);
  return k;
}

Result<Tensor> KaldiFbank::Compute(std::span<const float> x16k) const {
  const int64_t n = static_cast<int64_t>(x16k.size());
  const int64_t frames = Frames(n);
  if (frames == 0) {
    return InvalidArgument("kaldi fbank: need at least {} samples (one frame), got {}", frame_, n);
  }
  const int bins = num_bins();
  const int padded = fft_.n();
  COSY_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty(Dims{frames, bins}, DType::kF32));
  float* o = out.data<float>();
  std::vector<float> raw(frame_);
  std::vector<double> frame(padded, 0.0), power(padded / 2 + 1), mel(bins);
  std::vector<std::complex<double>> spec(padded / 2 + 1);
  const double eps = std::numeric_limits<float>::epsilon();
  for (int64_t m = 0; m < frames; ++m) {
    const float* x = x16k.data() + m * shift_;
    // The time-domain steps round to float32 as torchaudio's float32 tensors do. What remains
    // against the reference, in bins far below the frame's peak (pre-emphasis leaves the lowest
    // ~30 dB down), is its float32 FFT noise (docs/prompt_audio.md).
    double sum = 0;
    for (int i = 0; i < frame_; ++i) sum += x[i];
    const float mean = static_cast<float>(sum / frame_);
    for (int i = 0; i < frame_; ++i) raw[i] = x[i] - mean;
    // Pre-emphasis with x[-1] := x[0], then the Povey window; frame[frame_..padded) stays 0.
    for (int i = 0; i < frame_; ++i) {
      const float prev = raw[i == 0 ? 0 : i - 1];
      const float y = raw[i] - 0.97f * prev;
      frame[i] = static_cast<float>(y * window_f_[i]);
    }
    fft_.Forward(frame.data(), spec.data());
    for (size_t f = 0; f < spec.size(); ++f) power[f] = std::norm(spec[f]);
    mel_.Apply(power.data(), mel.data());
    for (int b = 0; b < bins; ++b) {
      o[m * bins + b] = static_cast<float>(std::log(std::max(mel[b], eps)));
    }
  }
  return out;
}

Result<Tensor> KaldiFbank::ComputeMeanNormalized(std::span<const float> x16k) const {
  COSY_ASSIGN_OR_RETURN(Tensor out, Compute(x16k));
  const int64_t frames = out.size(0);
  const int bins = num_bins();
  float* o = out.data<float>();
  for (int b = 0; b < bins; ++b) {
    double sum = 0;
    for (int64_t m = 0; m < frames; ++m) sum += o[m * bins + b];
    const float mean = static_cast<float>(sum / frames);
    for (int64_t m = 0; m < frames; ++m) o[m * bins + b] -= mean;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Matcha mel

Result<MatchaMel> MatchaMel::Create(const MatchaMelConfig& config) {
  if (config.hop <= 0 || config.hop > config.n_fft || (config.n_fft - config.hop) % 2 != 0) {
    return InvalidArgument(
        "matcha mel: need 0 < hop <= n_fft and n_fft − hop even, got n_fft "
        "{}, hop {}",
        config.n_fft, config.hop);
  }
  MatchaMel m;
  m.config_ = config;
  COSY_ASSIGN_OR_RETURN(m.fft_, RealFft::Create(config.n_fft));
  std::vector<float> w = TorchHannWindow(config.n_fft, /*periodic=*/true);
  m.window_.assign(w.begin(), w.end());
  COSY_ASSIGN_OR_RETURN(
      std::vector<float> basis,
      SlaneyMelFilters(config.sample_rate, config.n_fft, config.n_mels, config.fmin, config.fmax));
  m.mel_ = SparseMelRows::FromDense(basis, config.n_mels, config.n_fft / 2 + 1);
  return m;
}

Result<Tensor> MatchaMel::Compute(std::span<const float> x24k) const {
  const int64_t n = static_cast<int64_t>(x24k.size());
  if (n <= Pad()) {
    return InvalidArgument("matcha mel: need more than {} samples (reflect padding), got {}", Pad(),
                           n);
  }
  const int64_t frames = Frames(n);
  const int mels = config_.n_mels;
  COSY_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty(Dims{frames, mels}, DType::kF32));
  float* o = out.data<float>();
  std::vector<double> frame(config_.n_fft), mag(fft_.bins()), mel(mels);
  std::vector<std::complex<double>> spec(fft_.bins());
  for (int64_t m = 0; m < frames; ++m) {
    ReflectFrame(x24k, m * config_.hop - Pad(), window_, frame.data());
    fft_.Forward(frame.data(), spec.data());
    for (size_t f = 0; f < spec.size(); ++f) mag[f] = std::sqrt(std::norm(spec[f]) + 1e-9);
    mel_.Apply(mag.data(), mel.data());
    for (int b = 0; b < mels; ++b) {
      o[m * mels + b] = static_cast<float>(std::log(std::max(mel[b], 1e-5)));
    }
  }
  return out;
}

}  // namespace cosyflow::prompt_audio
