// STFT plan, shared framing / overlap-add helpers, and the reference (direct DFT) kernels.
#include "runtime/kernels/ref/stft.h"

#include <kissfft/kiss_fftr.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace cosyflow::kernels::ref {

void HannWindow(int64_t n, bool periodic, float* w) {
  const double denom = periodic ? static_cast<double>(n) : static_cast<double>(n - 1);
  for (int64_t i = 0; i < n; ++i) {
    w[i] = denom > 0 ? static_cast<float>(0.5 - 0.5 * std::cos(2.0 * M_PI * i / denom)) : 1.0f;
  }
}

Result<StftPlan> StftPlan::Create(const StftConfig& config, const float* window) {
  StftConfig c = config;
  if (c.win_length == 0) c.win_length = c.n_fft;
  if (c.n_fft < 2 || c.n_fft % 2 != 0 || c.n_fft > (1 << 24)) {
    return InvalidArgument("stft: n_fft must be even and in [2, 2^24], got {}", c.n_fft);
  }
  if (c.hop <= 0) return InvalidArgument("stft: hop must be > 0, got {}", c.hop);
  if (c.win_length < 0 || c.win_length > c.n_fft) {
    return InvalidArgument("stft: win_length must be in (0, n_fft={}], got {}", c.n_fft,
                           c.win_length);
  }
  StftPlan plan;
  plan.config_ = c;
  plan.window_.assign(c.n_fft, 0.0f);
  const int64_t left = (c.n_fft - c.win_length) / 2;
  if (window) {
    std::copy(window, window + c.win_length, plan.window_.begin() + left);
  } else {
    HannWindow(c.win_length, /*periodic=*/true, plan.window_.data() + left);
  }
  const int n = static_cast<int>(c.n_fft);
  plan.forward_ = std::shared_ptr<void>(kiss_fftr_alloc(n, 0, nullptr, nullptr), std::free);
  plan.inverse_ = std::shared_ptr<void>(kiss_fftr_alloc(n, 1, nullptr, nullptr), std::free);
  if (!plan.forward_ || !plan.inverse_) {
    return Internal("stft: kissfft could not allocate a plan for n_fft={}", c.n_fft);
  }
  return plan;
}

int64_t StftPlan::Frames(int64_t samples) const {
  if (config_.center) return 1 + samples / config_.hop;
  return samples < config_.n_fft ? 0 : 1 + (samples - config_.n_fft) / config_.hop;
}

int64_t StftPlan::IstftLength(int64_t frames) const {
  if (frames <= 0) return 0;
  return config_.hop * (frames - 1) + (config_.center ? 0 : config_.n_fft);
}

namespace detail {

void WindowedFrame(const StftPlan& plan, const float* x, int64_t samples, int64_t m, float* frame) {
  const int64_t n_fft = plan.n_fft(), pad = plan.config().center ? n_fft / 2 : 0;
  const float* w = plan.window();
  const int64_t start = m * plan.hop() - pad;
  if (start >= 0 && start + n_fft <= samples) {
    for (int64_t n = 0; n < n_fft; ++n) frame[n] = w[n] * x[start + n];
    return;
  }
  for (int64_t n = 0; n < n_fft; ++n) {
    int64_t k = start + n;
    if (k < 0) k = -k;  // reflect (edge sample not repeated)
    if (k >= samples) k = 2 * (samples - 1) - k;
    frame[n] = w[n] * x[k];
  }
}

Status CheckStftArgs(const StftPlan& plan, const float* x, int64_t samples, const float* re,
                     const float* im, const float* scratch, int64_t scratch_floats) {
  const int64_t pad = plan.n_fft() / 2;
  if (plan.config().center && samples <= pad) {
    return InvalidArgument("stft: reflect padding of {} needs more than {} samples, got {}", pad,
                           pad, samples);
  }
  if (!plan.config().center && samples < plan.n_fft()) {
    return InvalidArgument("stft: need at least n_fft={} samples, got {}", plan.n_fft(), samples);
  }
  if (!x || !re || !im) return InvalidArgument("stft: x, re and im must be non-null");
  if (!scratch || scratch_floats < plan.StftScratchFloats()) {
    return InvalidArgument("stft: scratch needs {} floats, got {}", plan.StftScratchFloats(),
                           scratch ? scratch_floats : 0);
  }
  return OkStatus();
}

Status IstftOverlapAdd(const StftPlan& plan, const float* re, const float* im, int64_t frames,
                       float* out, float* scratch, int64_t scratch_floats, IstftFrameFn fn,
                       const void* ctx) {
  if (frames <= 0) return InvalidArgument("istft: need frames > 0, got {}", frames);
  if (!re || !im || !out) return InvalidArgument("istft: re, im and out must be non-null");
  const int64_t need = plan.IstftScratchFloats(frames);
  if (!scratch || scratch_floats < need) {
    return InvalidArgument("istft: scratch needs {} floats, got {}", need,
                           scratch ? scratch_floats : 0);
  }
  const int64_t n_fft = plan.n_fft(), hop = plan.hop();
  const int64_t padded = n_fft + hop * (frames - 1);
  float* frame = scratch;
  float* ola = scratch + 4 * n_fft + 4;
  std::fill(ola, ola + padded, 0.0f);
  for (int64_t m = 0; m < frames; ++m) {
    fn(ctx, m, frame);
    float* dst = ola + m * hop;
    for (int64_t n = 0; n < n_fft; ++n) dst[n] += frame[n];
  }
  const int64_t trim = plan.config().center ? n_fft / 2 : 0;
  const int64_t len = plan.IstftLength(frames);
  const float* w = plan.window();
  for (int64_t t = 0; t < len; ++t) {
    const int64_t k = t + trim;
    // Envelope: sum of w^2 over the frames covering padded sample k.
    const int64_t m_lo = std::max<int64_t>(0, (k - n_fft + hop) / hop);
    const int64_t m_hi = std::min<int64_t>(frames - 1, k / hop);
    float env = 0.0f;
    for (int64_t m = m_lo; m <= m_hi; ++m) {
      const int64_t n = k - m * hop;
      if (n >= 0 && n < n_fft) env += w[n] * w[n];
    }
    if (env < 1e-11f) {
      return InvalidArgument("istft: window envelope {} < 1e-11 at output sample {} (NOLA)", env,
                             t);
    }
    out[t] = ola[k] / env;
  }
  return OkStatus();
}

}  // namespace detail

Status Stft(const StftPlan& plan, const float* x, int64_t samples, float* re, float* im,
            float* scratch, int64_t scratch_floats) {
  COSY_RETURN_IF_ERROR(detail::CheckStftArgs(plan, x, samples, re, im, scratch, scratch_floats));
  const int64_t n_fft = plan.n_fft(), bins = plan.bins(), frames = plan.Frames(samples);
  float* frame = scratch;
  for (int64_t m = 0; m < frames; ++m) {
    detail::WindowedFrame(plan, x, samples, m, frame);
    for (int64_t f = 0; f < bins; ++f) {
      double sr = 0.0, si = 0.0;
      for (int64_t n = 0; n < n_fft; ++n) {
        const double a = -2.0 * M_PI * static_cast<double>((f * n) % n_fft) / n_fft;
        sr += frame[n] * std::cos(a);
        si += frame[n] * std::sin(a);
      }
      re[f * frames + m] = static_cast<float>(sr);
      im[f * frames + m] = static_cast<float>(si);
    }
  }
  return OkStatus();
}

namespace {
struct RefIstftCtx {
  const StftPlan* plan;
  const float* re;
  const float* im;
  int64_t frames;
};
void RefInverseFrame(const void* ctx_ptr, int64_t m, float* frame) {
  const auto& c = *static_cast<const RefIstftCtx*>(ctx_ptr);
  const int64_t n_fft = c.plan->n_fft(), bins = c.plan->bins();
  for (int64_t n = 0; n < n_fft; ++n) {
    double acc = 0.0;
    for (int64_t f = 0; f < bins; ++f) {
      const double a = 2.0 * M_PI * static_cast<double>((f * n) % n_fft) / n_fft;
      const double xr = c.re[f * c.frames + m], xi = c.im[f * c.frames + m];
      if (f == 0 || f == bins - 1) {
        acc += xr * std::cos(a);  // DC and Nyquist: real part only
      } else {
        acc += 2.0 * (xr * std::cos(a) - xi * std::sin(a));
      }
    }
    frame[n] = static_cast<float>(acc / n_fft) * c.plan->window()[n];
  }
}
}  // namespace

Status Istft(const StftPlan& plan, const float* re, const float* im, int64_t frames, float* out,
             float* scratch, int64_t scratch_floats) {
  const RefIstftCtx ctx{&plan, re, im, frames};
  return detail::IstftOverlapAdd(plan, re, im, frames, out, scratch, scratch_floats,
                                 RefInverseFrame, &ctx);
}

Status ComplexToPolar(const float* re, const float* im, int64_t n, float* mag, float* phase) {
  if (n < 0) return InvalidArgument("complex_to_polar: n must be >= 0, got {}", n);
  if (n > 0 && (!re || !im || !mag || !phase)) {
    return InvalidArgument("complex_to_polar: pointers must be non-null");
  }
  for (int64_t i = 0; i < n; ++i) {
    const float r = re[i], m = im[i];
    mag[i] = std::sqrt(r * r + m * m);
    phase[i] = std::atan2(m, r);
  }
  return OkStatus();
}

Status PolarToComplex(const float* mag, const float* phase, int64_t n, float* re, float* im) {
  if (n < 0) return InvalidArgument("polar_to_complex: n must be >= 0, got {}", n);
  if (n > 0 && (!re || !im || !mag || !phase)) {
    return InvalidArgument("polar_to_complex: pointers must be non-null");
  }
  for (int64_t i = 0; i < n; ++i) {
    const float m = mag[i], p = phase[i];
    re[i] = m * std::cos(p);
    im[i] = m * std::sin(p);
  }
  return OkStatus();
}

}  // namespace cosyflow::kernels::ref
