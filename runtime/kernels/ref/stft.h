// STFT / iSTFT matching torch.stft / torch.istft (onesided, not normalised), plus the plan
// shared by the reference (direct DFT in double) and the fast kissfft kernels in cpu/stft.h.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/status.h"

namespace cosyflow::kernels::ref {

struct StftConfig {
  int64_t n_fft = 16;
  int64_t hop = 4;
  int64_t win_length = 0;  // 0: n_fft; the window is zero-padded to n_fft, centred (as torch)
  bool center = true;      // stft: reflect-pad n_fft/2 each side; istft: trim n_fft/2 each side
};

// Hann window of length n: 0.5 - 0.5 cos(2 pi i / N), N = n (periodic, torch.hann_window's
// default and scipy fftbins=True) or n - 1 (symmetric). w: [n] f32.
void HannWindow(int64_t n, bool periodic, float* w);

// Config + window (f32, [n_fft] after centring) + kissfft state for the cpu kernels. Built
// once (it allocates); the kernels then run without allocation.
class StftPlan {
 public:
  // window: [win_length] f32, copied; nullptr selects the periodic Hann window. n_fft must be
  // even (kissfft's real FFT) and >= 2, 0 < hop, 0 < win_length <= n_fft.
  static Result<StftPlan> Create(const StftConfig& config, const float* window = nullptr);

  const StftConfig& config() const { return config_; }
  int64_t n_fft() const { return config_.n_fft; }
  int64_t hop() const { return config_.hop; }
  int64_t bins() const { return config_.n_fft / 2 + 1; }
  const float* window() const { return window_.data(); }  // [n_fft], zero-padded
  void* kiss_forward() const { return forward_.get(); }   // kiss_fftr_cfg
  void* kiss_inverse() const { return inverse_.get(); }

  // Frames of a length-`samples` signal: center: 1 + samples / hop; else
  // 1 + (samples - n_fft) / hop (0 when samples < n_fft).
  int64_t Frames(int64_t samples) const;
  // iSTFT output length for `frames` frames: hop * (frames - 1) + (center ? 0 : n_fft).
  int64_t IstftLength(int64_t frames) const;
  // Scratch floats for Stft and for Istft of `frames` frames.
  int64_t StftScratchFloats() const { return 4 * config_.n_fft + 4; }
  int64_t IstftScratchFloats(int64_t frames) const {
    return 4 * config_.n_fft + 4 + config_.n_fft + config_.hop * std::max<int64_t>(frames - 1, 0);
  }

 private:
  StftConfig config_;
  std::vector<float> window_;
  std::shared_ptr<void> forward_, inverse_;
};

// x: [samples] f32; re, im: [bins, frames] f32 row-major (torch's [freq, frame] order), frames
// = plan.Frames(samples). center needs samples > n_fft / 2 (reflect padding, as torch).
// X[f, m] = sum_n w[n] x_pad[m hop + n] e^{-2 pi i f n / n_fft}.
Status Stft(const StftPlan& plan, const float* x, int64_t samples, float* re, float* im,
            float* scratch, int64_t scratch_floats);

// re, im: [bins, frames] f32 (imaginary parts of the DC and Nyquist bins are ignored, as C2R);
// out: [plan.IstftLength(frames)] f32. Inverse real DFT (1/n_fft), times the window,
// overlap-add at hop, divided per sample by the overlap-added window^2 envelope, then centre
// trimming. An envelope below 1e-11 inside the output is an InvalidArgument error (torch's NOLA
// check).
Status Istft(const StftPlan& plan, const float* re, const float* im, int64_t frames, float* out,
             float* scratch, int64_t scratch_floats);

namespace detail {
// Windowed frame m of x (reflect-padded when centred): frame[n] = w[n] x_pad[m hop + n].
void WindowedFrame(const StftPlan& plan, const float* x, int64_t samples, int64_t m, float* frame);
// Checks Stft arguments (pointers, samples vs padding, scratch size).
Status CheckStftArgs(const StftPlan& plan, const float* x, int64_t samples, const float* re,
                     const float* im, const float* scratch, int64_t scratch_floats);
// Fills frame[0..n_fft) with the windowed inverse DFT of frame m (called for m = 0..frames-1).
using IstftFrameFn = void (*)(const void* ctx, int64_t m, float* frame);
// Shared iSTFT driver: overlap-adds the frames into scratch, divides by the window^2 envelope
// and trims into out. scratch: plan.IstftScratchFloats(frames); the first 4 n_fft + 4 floats are
// left to the frame function (passed as `frame_scratch`).
Status IstftOverlapAdd(const StftPlan& plan, const float* re, const float* im, int64_t frames,
                       float* out, float* scratch, int64_t scratch_floats, IstftFrameFn fn,
                       const void* ctx);
}  // namespace detail

// re, im -> magnitude sqrt(re^2 + im^2) and phase atan2(im, re); all [n] f32.
Status ComplexToPolar(const float* re, const float* im, int64_t n, float* mag, float* phase);
// mag, phase -> re = mag cos(phase), im = mag sin(phase); all [n] f32.
Status PolarToComplex(const float* mag, const float* phase, int64_t n, float* re, float* im);

}  // namespace cosyflow::kernels::ref
