// Fast STFT / iSTFT: kissfft real FFT per frame (see cpu/stft.h for why kissfft).
#include "runtime/kernels/cpu/stft.h"

#include <kissfft/kiss_fftr.h>

namespace cosyflow::kernels::cpu {

Status Stft(const StftPlan& plan, const float* x, int64_t samples, float* re, float* im,
            float* scratch, int64_t scratch_floats) {
  COSY_RETURN_IF_ERROR(
      ref::detail::CheckStftArgs(plan, x, samples, re, im, scratch, scratch_floats));
  const int64_t n_fft = plan.n_fft(), bins = plan.bins(), frames = plan.Frames(samples);
  float* frame = scratch;
  auto* spec = reinterpret_cast<kiss_fft_cpx*>(scratch + n_fft);
  auto cfg = static_cast<kiss_fftr_cfg>(plan.kiss_forward());
  for (int64_t m = 0; m < frames; ++m) {
    ref::detail::WindowedFrame(plan, x, samples, m, frame);
    kiss_fftr(cfg, frame, spec);
    for (int64_t f = 0; f < bins; ++f) {
      re[f * frames + m] = spec[f].r;
      im[f * frames + m] = spec[f].i;
    }
  }
  return OkStatus();
}

namespace {
struct IstftCtx {
  const StftPlan* plan;
  const float* re;
  const float* im;
  int64_t frames;
  float* spec_scratch;  // 2 * bins floats
};
void InverseFrame(const void* ctx_ptr, int64_t m, float* frame) {
  const auto& c = *static_cast<const IstftCtx*>(ctx_ptr);
  const int64_t n_fft = c.plan->n_fft(), bins = c.plan->bins();
  auto* spec = reinterpret_cast<kiss_fft_cpx*>(c.spec_scratch);
  for (int64_t f = 0; f < bins; ++f) {
    spec[f].r = c.re[f * c.frames + m];
    spec[f].i = c.im[f * c.frames + m];
  }
  // kiss_fftri ignores the imaginary parts of DC and Nyquist and does not scale.
  kiss_fftri(static_cast<kiss_fftr_cfg>(c.plan->kiss_inverse()), spec, frame);
  const float inv = 1.0f / static_cast<float>(n_fft);
  const float* w = c.plan->window();
  for (int64_t n = 0; n < n_fft; ++n) frame[n] *= inv * w[n];
}
}  // namespace

Status Istft(const StftPlan& plan, const float* re, const float* im, int64_t frames, float* out,
             float* scratch, int64_t scratch_floats) {
  // The frame function uses scratch[0, n_fft) for the frame and [n_fft, n_fft + 2 bins) for the
  // spectrum; both lie inside the 4 n_fft + 4 floats the driver leaves to it.
  IstftCtx ctx{&plan, re, im, frames, scratch ? scratch + plan.n_fft() : nullptr};
  return ref::detail::IstftOverlapAdd(plan, re, im, frames, out, scratch, scratch_floats,
                                      InverseFrame, &ctx);
}

}  // namespace cosyflow::kernels::cpu
