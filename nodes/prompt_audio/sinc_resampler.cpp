// torchaudio sinc-Hann resampler: kernel built once per rate pair, strided convolution.
#include "nodes/prompt_audio/sinc_resampler.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <numbers>
#include <numeric>
#include <utility>

namespace cosyflow::prompt_audio {
namespace {

constexpr double kRolloff = 0.99;
constexpr double kLowpassWidth = 6.0;

}  // namespace

double SincResampler::TapArgument(int phase, int tap) const {
  // torchaudio: idx = arange(-w, w + o, float64) / o; phase = arange(0, -n, -1) / n, an int64
  // tensor divided by an int, hence float32; t = phase + idx (float64); t *= base; clamp.
  double idx = static_cast<double>(tap - width_) / o_;
  float phase_f = static_cast<float>(-phase) / static_cast<float>(n_);
  double t = (static_cast<double>(phase_f) + idx) * base_;
  return std::clamp(t, -kLowpassWidth, kLowpassWidth);
}

float SincResampler::KernelTap(int phase, int tap) const {
  // window = cos(t·π / 6 / 2)² (torch's `** 2` squares); kernel = sinc · (window · base/o).
  double t = TapArgument(phase, tap);
  double window = std::cos(t * std::numbers::pi / kLowpassWidth / 2);
  window *= window;
  double tp = t * std::numbers::pi;
  double sinc = tp == 0 ? 1.0 : std::sin(tp) / tp;
  return static_cast<float>(sinc * (window * (base_ / o_)));
}

Result<std::unique_ptr<SincResampler>> SincResampler::Create(int orig_rate, int new_rate) {
  if (orig_rate <= 0 || new_rate <= 0) {
    return InvalidArgument("resampler: sample rates must be positive, got {} -> {}", orig_rate,
                           new_rate);
  }
  std::unique_ptr<SincResampler> r(new SincResampler());
  r->orig_rate_ = orig_rate;
  r->new_rate_ = new_rate;
  if (orig_rate == new_rate) return r;
  int g = std::gcd(orig_rate, new_rate);
  r->o_ = orig_rate / g;
  r->n_ = new_rate / g;
  r->base_ = std::min(r->o_, r->n_) * kRolloff;
  // In 64 bits: near INT_MAX Hz (a corrupt header) 2 w + o overflows an int, and a negative
  // `full` passed the size check below (then the input's padding asked for gigabytes).
  const auto width = static_cast<int64_t>(std::ceil(kLowpassWidth * r->o_ / r->base_));
  const int64_t full = 2 * width + r->o_;
  // The filter has n phases of `full` taps each: rates with a small common divisor (192001 ->
  // 16000 Hz: 16000 phases x 192147 taps) would take minutes and gigabytes to build.
  constexpr int64_t kMaxKernelTaps = int64_t{1} << 26;
  if (static_cast<int64_t>(r->n_) * full > kMaxKernelTaps) {
    return InvalidArgument(
        "resampler: {} -> {} Hz needs a {} x {} tap filter (the rates' greatest common divisor is "
        "{}); convert the audio to a common rate (16, 22.05, 24, 44.1 or 48 kHz) first",
        orig_rate, new_rate, r->n_, full, g);
  }
  r->width_ = static_cast<int>(width);  // full <= 2^26 here
  r->first_.resize(r->n_);
  r->len_.resize(r->n_);
  r->offset_.resize(r->n_);
  for (int p = 0; p < r->n_; ++p) {
    // Keep the taps strictly inside the clamp; the clamped ones are exactly 0 in float32.
    int first = static_cast<int>(full), last = -1;
    for (int k = 0; k < full; ++k) {
      if (std::abs(r->TapArgument(p, k)) < kLowpassWidth) {
        first = std::min(first, k);
        last = k;
      }
    }
    if (last < 0) first = last = 0;  // cannot happen for o, n >= 1; keeps one tap regardless
    r->first_[p] = first;
    r->len_[p] = last - first + 1;
    r->offset_[p] = r->taps_.size();
    for (int k = first; k <= last; ++k) r->taps_.push_back(r->KernelTap(p, k));
  }
  return r;
}

std::vector<float> SincResampler::FullKernel(int phase) const {
  if (orig_rate_ == new_rate_ || phase < 0 || phase >= n_) return {};
  std::vector<float> k(2 * width_ + o_);
  for (int i = 0; i < static_cast<int>(k.size()); ++i) k[i] = KernelTap(phase, i);
  return k;
}

int64_t SincResampler::OutputLength(int64_t in_samples) const {
  if (orig_rate_ == new_rate_) return in_samples;
  // Python: int(math.ceil(new * length / orig)) in float64.
  return static_cast<int64_t>(
      std::ceil(static_cast<double>(n_) * static_cast<double>(in_samples) / o_));
}

Status SincResampler::Resample(std::span<const float> in, std::vector<float>* out) const {
  if (orig_rate_ == new_rate_) {
    out->assign(in.begin(), in.end());
    return OkStatus();
  }
  const int64_t n_in = static_cast<int64_t>(in.size());
  const int64_t n_out = OutputLength(n_in);
  out->resize(static_cast<size_t>(n_out));
  if (n_out == 0) return OkStatus();
  std::vector<float> pad(static_cast<size_t>(n_in + 2 * width_ + o_), 0.0f);
  std::copy(in.begin(), in.end(), pad.begin() + width_);
  float* y = out->data();
  // y[j·n + p]: frame j reads x_pad from j·o; conv1d frames = N/o + 1 cover n_out.
  for (int64_t j = 0, idx = 0; idx < n_out; ++j) {
    const float* frame = pad.data() + j * o_;
    for (int p = 0; p < n_ && idx < n_out; ++p, ++idx) {
      const float* x = frame + first_[p];
      const float* k = taps_.data() + offset_[p];
      const int len = len_[p];
      // Four partial sums in double: order-independent to ~1e-16, well inside float32.
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int i = 0;
      for (; i + 4 <= len; i += 4) {
        s0 += static_cast<double>(x[i]) * k[i];
        s1 += static_cast<double>(x[i + 1]) * k[i + 1];
        s2 += static_cast<double>(x[i + 2]) * k[i + 2];
        s3 += static_cast<double>(x[i + 3]) * k[i + 3];
      }
      for (; i < len; ++i) s0 += static_cast<double>(x[i]) * k[i];
      y[idx] = static_cast<float>((s0 + s1) + (s2 + s3));
    }
  }
  return OkStatus();
}

Result<std::shared_ptr<const SincResampler>> SharedSincResampler(int orig_rate, int new_rate) {
  static std::mutex mu;
  static std::map<std::pair<int, int>, std::shared_ptr<const SincResampler>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto key = std::make_pair(orig_rate, new_rate);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  COSY_ASSIGN_OR_RETURN(std::unique_ptr<SincResampler> r,
                        SincResampler::Create(orig_rate, new_rate));
  std::shared_ptr<const SincResampler> shared(std::move(r));
  cache.emplace(key, shared);
  return shared;
}

}  // namespace cosyflow::prompt_audio
