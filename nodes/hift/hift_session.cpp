// HiftSession: noise, non-streaming synthesis and the token2wav streaming caches.
#include "nodes/hift/hift_session.h"

#include <cmath>
#include <cstring>
#include <numbers>

#include "nodes/hift/hift_dsp.h"

namespace cosyflow::hift {
namespace {

// Standard normal via Box-Muller on 53-bit uniforms (portable, unlike std::normal_distribution).
// The generator runs sequentially into `draws`; the transform (log, sqrt, sincos: most of the
// cost) is split across threads, so the values do not depend on the thread count.
void FillNormal(std::mt19937_64* rng, float* out, int64_t n, std::vector<uint64_t>* draws) {
  const int64_t pairs = (n + 1) / 2;
  draws->resize(static_cast<size_t>(2 * pairs));
  for (uint64_t& d : *draws) d = (*rng)();
  const uint64_t* u = draws->data();
  auto uniform = [](uint64_t v) { return (static_cast<double>(v >> 11) + 0.5) * 0x1.0p-53; };
#pragma omp parallel for schedule(static) if (pairs >= 4096)
  for (int64_t p = 0; p < pairs; ++p) {
    const int64_t i = 2 * p;
    const double r = std::sqrt(-2.0 * std::log(uniform(u[i])));
    const double a = 2.0 * std::numbers::pi * uniform(u[i + 1]);
    out[i] = static_cast<float>(r * std::cos(a));
    if (i + 1 < n) out[i + 1] = static_cast<float>(r * std::sin(a));
  }
}

}  // namespace

Status HiftSessionOptions::Validate() const {
  if (mel_cache_frames < 1) {
    return InvalidArgument("hift: mel_cache_frames must be >= 1, got {}", mel_cache_frames);
  }
  return OkStatus();
}

HiftSession::HiftSession(std::shared_ptr<const HiftVocoder> vocoder, HiftSessionOptions options)
    : vocoder_(std::move(vocoder)), opt_(options), rng_(options.seed),
      scratch_(vocoder_->AcquireScratch()) {
  overlap_ = static_cast<int64_t>(opt_.mel_cache_frames) * vocoder_->config().SamplesPerFrame();
  window_ = HammingWindow(static_cast<int>(2 * overlap_));
}

HiftSession::~HiftSession() { vocoder_->ReleaseScratch(std::move(scratch_)); }

Status HiftSession::InjectNoise(std::vector<float> rand_ini, std::vector<float> sine_noise) {
  const int h = vocoder_->harmonics();
  if (!rand_ini.empty() && static_cast<int>(rand_ini.size()) != h) {
    return InvalidArgument("hift: injected rand_ini has {} values, expected {}", rand_ini.size(),
                           h);
  }
  if (sine_noise.size() % static_cast<size_t>(h) != 0) {
    return InvalidArgument("hift: injected sine_noise has {} values, not a multiple of {}",
                           sine_noise.size(), h);
  }
  inject_ini_ = std::move(rand_ini);
  inject_noise_ = std::move(sine_noise);
  injected_ = true;
  return OkStatus();
}

Status HiftSession::Run(const float* mel, int64_t ld, int64_t frames, const float* cache_source,
                        int64_t cache_len, const HiftCapture* capture) {
  const int h = vocoder_->harmonics();
  const int64_t samples = frames * vocoder_->config().SamplesPerFrame();
  HiftNoise noise;
  if (injected_) {
    injected_ = false;  // consumed by this call, whatever its outcome
    if (static_cast<int64_t>(inject_noise_.size()) != samples * h) {
      return InvalidArgument("hift: injected sine_noise has {} values but this call needs {} "
                             "([{}, {}])", inject_noise_.size(), samples * h, samples, h);
    }
    noise.rand_ini = inject_ini_.empty() ? nullptr : inject_ini_.data();
    noise.sine_noise = inject_noise_.data();
  } else if (opt_.noise == HiftNoiseMode::kRandom) {
    scratch_->noise.resize(static_cast<size_t>(samples * h));
    FillNormal(&rng_, scratch_->noise.data(), samples * h, &scratch_->draws);
    noise.sine_noise = scratch_->noise.data();
  }
  return vocoder_->Inference(mel, ld, frames, noise, cache_source, cache_len, scratch_.get(),
                             &last_.raw_speech, &last_.source, capture);
}

Status HiftSession::Synthesize(const float* mel, int64_t ld, int64_t frames,
                               std::vector<float>* speech, const HiftCapture* capture) {
  COSY_RETURN_IF_ERROR(Run(mel, ld, frames, nullptr, 0, capture));
  *speech = last_.raw_speech;
  return OkStatus();
}

void HiftSession::Fade(std::vector<float>* speech) const {
  // fade_in_out: float64 window products, stored back as float32.
  const int64_t n = overlap_;
  const size_t tail0 = cache_speech_.size() - static_cast<size_t>(n);
  for (int64_t i = 0; i < n; ++i) {
    const double a = static_cast<double>((*speech)[static_cast<size_t>(i)]) * window_[i];
    const double b = static_cast<double>(cache_speech_[tail0 + static_cast<size_t>(i)]) *
                     window_[static_cast<size_t>(n + i)];
    (*speech)[static_cast<size_t>(i)] = static_cast<float>(a + b);
  }
}

Status HiftSession::Push(const float* mel, int64_t ld, int64_t frames, bool finalize,
                         std::vector<float>* out) {
  if (finished_) return InvalidArgument("hift: session already finalized");
  const int c = vocoder_->config().in_channels;
  const int64_t cached = has_cache_ ? opt_.mel_cache_frames : 0;
  const int64_t total = cached + frames;
  if (!finalize && total < opt_.mel_cache_frames) {
    return InvalidArgument("hift: a non-final chunk needs at least {} mel frames including the "
                           "cache, got {}", opt_.mel_cache_frames, total);
  }
  if (total < 1) return InvalidArgument("hift: final chunk has no mel frames");
  mel_in_.resize(static_cast<size_t>(c * total));
  for (int ch = 0; ch < c; ++ch) {
    float* dst = mel_in_.data() + ch * total;
    if (cached > 0) std::memcpy(dst, cache_mel_.data() + ch * cached, sizeof(float) * cached);
    if (frames > 0) std::memcpy(dst + cached, mel + ch * ld, sizeof(float) * frames);
  }
  last_.mel = mel_in_;
  last_.frames = total;
  last_.cache_source = has_cache_ ? cache_source_ : std::vector<float>();
  COSY_RETURN_IF_ERROR(Run(mel_in_.data(), total, total,
                           has_cache_ ? cache_source_.data() : nullptr,
                           has_cache_ ? static_cast<int64_t>(cache_source_.size()) : 0, nullptr));
  std::vector<float> speech = last_.raw_speech;
  if (has_cache_) Fade(&speech);
  if (finalize) {
    out->insert(out->end(), speech.begin(), speech.end());
    finished_ = true;
    has_cache_ = false;
    return OkStatus();
  }
  const int64_t keep = opt_.mel_cache_frames;
  cache_mel_.resize(static_cast<size_t>(c * keep));
  for (int ch = 0; ch < c; ++ch) {
    std::memcpy(cache_mel_.data() + ch * keep, mel_in_.data() + ch * total + (total - keep),
                sizeof(float) * keep);
  }
  const auto& src = last_.source;
  cache_source_.assign(src.end() - overlap_, src.end());
  cache_speech_.assign(speech.end() - overlap_, speech.end());
  has_cache_ = true;
  out->insert(out->end(), speech.begin(), speech.end() - overlap_);
  return OkStatus();
}

void HiftSession::Reset() {
  has_cache_ = false;
  finished_ = false;
  cache_mel_.clear();
  cache_source_.clear();
  cache_speech_.clear();
}

Status HiftSession::Flush(std::vector<float>* out) {
  if (finished_) return InvalidArgument("hift: session already finalized");
  if (has_cache_) out->insert(out->end(), cache_speech_.begin(), cache_speech_.end());
  finished_ = true;
  has_cache_ = false;
  return OkStatus();
}

}  // namespace cosyflow::hift
