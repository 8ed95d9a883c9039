// HiftSession: per-request vocoder state: noise generator, scratch, and the token2wav streaming
// caches (mel overlap, source continuity, Hamming cross-fade) of CosyVoice2Model.
//
// Streaming contract (reference `CosyVoice2Model.token2wav`, spec §6.2/§6.4):
//   Push(mel chunk [in_channels, n] of NEW frames, finalize):
//     mel_in = cached mel (last mel_cache_frames of the previous call's input) ++ chunk;
//     speech, source = vocoder(mel_in, cache_source = previous source tail);
//     if a cache exists: speech[:overlap] = speech[:overlap]*w[:overlap] + prev_tail*w[overlap:]
//       (w = np.hamming(2*overlap), overlap = mel_cache_frames * samples_per_frame);
//     not finalize: cache (mel_in tail, source tail, speech tail); emit speech[:-overlap];
//     finalize: emit all of speech; the session is finished (further pushes are errors).
//   Flush() after a non-final Push emits the cached tail: the same samples as a final Push.
//   A non-final call needs mel_in of at least mel_cache_frames frames.
// Synthesize() is the non-streaming path (one call, no caches).
// Noise: kRandom draws from a per-session generator seeded by `seed` (reproducible);
// kZero reproduces the fixtures' zero mode; InjectNoise() supplies the next call's draws.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "nodes/hift/hift_vocoder.h"
#include "runtime/status.h"

namespace cosyflow::hift {

enum class HiftNoiseMode { kRandom, kZero };

struct HiftSessionOptions {
  HiftNoiseMode noise = HiftNoiseMode::kRandom;
  uint64_t seed = 0;
  int mel_cache_frames = 8;  // CosyVoice2Model.mel_cache_len
  Status Validate() const;
};

// What the last vocoder call saw and produced (parity hooks).
struct HiftCallRecord {
  std::vector<float> mel;           // [in_channels, frames] the vocoder's input
  int64_t frames = 0;
  std::vector<float> cache_source;  // the cache_source it was given
  std::vector<float> raw_speech;    // before fade/trim
  std::vector<float> source;
};

class HiftSession {
 public:
  HiftSession(std::shared_ptr<const HiftVocoder> vocoder, HiftSessionOptions options);
  ~HiftSession();  // hands the scratch back to the vocoder's pool
  HiftSession(const HiftSession&) = delete;
  HiftSession& operator=(const HiftSession&) = delete;

  // Non-streaming: the whole mel [in_channels, frames] (row stride ld) -> speech.
  Status Synthesize(const float* mel, int64_t ld, int64_t frames, std::vector<float>* speech,
                    const HiftCapture* capture = nullptr);
  // Streaming: appends the chunk's audio to *out (see the contract above).
  Status Push(const float* mel, int64_t ld, int64_t frames, bool finalize,
              std::vector<float>* out);
  // Ends a stream whose last chunk was pushed non-final: appends the cached speech tail (the
  // samples a final Push of that chunk would have emitted) and finishes the session. Equal to
  // pushing the last chunk with finalize = true. Nothing to append when no chunk was pushed.
  Status Flush(std::vector<float>* out);
  bool has_cache() const { return has_cache_; }
  // Starts the next utterance: drops the streaming caches and the finished state (the noise
  // generator goes on, so utterances do not repeat each other's noise).
  void Reset();

  // The next vocoder call uses these draws: sine_noise [frames*spf, H], rand_ini [H] or empty.
  Status InjectNoise(std::vector<float> rand_ini, std::vector<float> sine_noise);

  bool finished() const { return finished_; }
  int64_t overlap_samples() const { return overlap_; }
  const HiftCallRecord& last_call() const { return last_; }
  const HiftVocoder& vocoder() const { return *vocoder_; }

 private:
  Status Run(const float* mel, int64_t ld, int64_t frames, const float* cache_source,
             int64_t cache_len, const HiftCapture* capture);
  void Fade(std::vector<float>* speech) const;

  std::shared_ptr<const HiftVocoder> vocoder_;
  HiftSessionOptions opt_;
  int64_t overlap_ = 0;
  std::vector<double> window_;  // np.hamming(2 * overlap_)
  std::mt19937_64 rng_;
  std::unique_ptr<HiftScratch> scratch_;  // from the vocoder's pool (noise draws included)
  std::vector<float> inject_ini_, inject_noise_;
  bool injected_ = false;
  // Streaming caches.
  bool has_cache_ = false;
  bool finished_ = false;
  std::vector<float> mel_in_;  // [C, frames] channel-major work buffer
  std::vector<float> cache_mel_, cache_source_, cache_speech_;
  HiftCallRecord last_;
};

}  // namespace cosyflow::hift
