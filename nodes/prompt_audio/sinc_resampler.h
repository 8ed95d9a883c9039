// SincResampler: torchaudio's default `Resample` (sinc-Hann) reproduced for one rate pair.
#pragma once

#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "runtime/status.h"

namespace cosyflow::prompt_audio {

// One-shot (not streaming) conversion of a whole mono f32 signal, matching
// `torchaudio.transforms.Resample(orig, new)` defaults (sinc_interp_hann, lowpass_filter_width 6,
// rolloff 0.99) as CosyVoice's `load_wav` uses it:
//   g = gcd(orig, new); o = orig/g; n = new/g; base = min(o, n)·0.99; w = ceil(6·o/base);
//   phase p in [0, n), tap k in [0, 2w + o): t = (k − w)/o + float32(−p/n), then
//   t = clamp(t·base, −6, 6); K = (t == 0 ? 1 : sin(πt)/(πt)) · cos(πt/6/2)² · base/o,
//   computed in float64 except the phase −p/n, which torchaudio divides in float32 (an int64
//   arange over an int); the kernel is then stored as float32.
//   y[j·n + p] = Σ_k x_pad[j·o + k]·K[p][k] with x_pad = [w zeros, x, w + o zeros];
//   output length ceil(n·N/o).
// Taps whose |t·base| reaches the clamp are skipped: their window cos²(π/2) ≈ 3.7e-33 times
// sin(6π)/(6π) ≈ 4e-17 underflows to exactly 0 in the float32 kernel, so the sum is the same
// (44.1k -> 16k keeps 33-34 of 475 taps per phase). Equal rates copy the input. The kernel is
// built once at Create; Resample only reads it, so one instance may serve many threads.
class SincResampler {
 public:
  static Result<std::unique_ptr<SincResampler>> Create(int orig_rate, int new_rate);

  int orig_rate() const { return orig_rate_; }
  int new_rate() const { return new_rate_; }
  int orig_step() const { return o_; }  // o = orig / gcd
  int new_step() const { return n_; }   // n = new / gcd
  int width() const { return width_; }  // w (zero taps added each side, as torchaudio)
  // Output samples for `in_samples` input samples: ceil(n·N/o).
  int64_t OutputLength(int64_t in_samples) const;

  // in: [N] f32 -> *out: [OutputLength(N)] f32 (resized). One padded copy of the input is
  // allocated per call; the convolution loop allocates nothing.
  Status Resample(std::span<const float> in, std::vector<float>* out) const;

  // The full float32 kernel of one phase, [2w + o] taps, clamped taps included (for tests).
  std::vector<float> FullKernel(int phase) const;
  // The taps [first, end) of FullKernel(phase) that Resample uses.
  std::pair<int, int> TapRange(int phase) const {
    return {first_[phase], first_[phase] + len_[phase]};
  }

 private:
  SincResampler() = default;
  double TapArgument(int phase, int tap) const;  // clamp(t·base, −6, 6) before ·π
  float KernelTap(int phase, int tap) const;     // K[phase][tap] as torchaudio stores it

  int orig_rate_ = 0, new_rate_ = 0;
  int o_ = 1, n_ = 1, width_ = 0;
  double base_ = 0;
  // Per phase p: taps [first_[p], first_[p] + len_[p]) of the full kernel, at taps_[offset_[p]].
  std::vector<int> first_, len_;
  std::vector<size_t> offset_;
  std::vector<float> taps_;
};

// A process-wide cache of resamplers by rate pair (thread-safe; built on first use, kept).
Result<std::shared_ptr<const SincResampler>> SharedSincResampler(int orig_rate, int new_rate);

}  // namespace cosyflow::prompt_audio
