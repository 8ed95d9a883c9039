// SpeechLmSampler: CosyVoice2's repetition-aware nucleus sampling (spec §5.6, HEAD behaviour).
//
// Sample(logp, history): optionally masks EOS (ignore_eos, only id `eos` — HEAD), then
//   nucleus: p = softmax(logp); walk p in descending order with ties broken by the lower id
//   (torch's stable sort) taking entries while cum < top_p and count < top_k (the entry that
//   crosses top_p is included); draw one in proportion to p.
//   RAS: if the pick occurs >= win_size·tau_r times in the last win_size history entries, set
//   its score to -inf (HEAD; `ras_exclude_repeated = false` gives the pre-2026-02-04 behaviour)
//   and draw from the full softmax.
// `greedy` replaces everything after EOS masking by argmax (lowest id on ties), as the fixture
// goldens do. Random numbers come from a SpeechLmRandom (seeded per session, or injected).
// Buffers are sized once at construction; Sample does not allocate.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "runtime/status.h"

namespace cosyflow {

// Uniform numbers in [0, 1).
class SpeechLmRandom {
 public:
  virtual ~SpeechLmRandom() = default;
  virtual double Uniform() = 0;
};

// mt19937_64 seeded by the request; 53-bit uniforms (same seed => same numbers everywhere).
class SpeechLmSeededRandom : public SpeechLmRandom {
 public:
  explicit SpeechLmSeededRandom(uint64_t seed) : engine_(seed) {}
  double Uniform() override { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

 private:
  std::mt19937_64 engine_;
};

struct SpeechLmSamplingOptions {
  float top_p = 0.8f;      // (0, 1]
  int32_t top_k = 25;      // >= 1
  int32_t win_size = 10;   // RAS window, >= 1
  double tau_r = 0.1;      // RAS threshold ratio, (0, 1]; win_size·tau_r in double as Python
  bool greedy = false;     // argmax everywhere (parity tests)
  bool ras_exclude_repeated = true;  // HEAD: the repeated id is excluded from the fallback draw

  Status Validate() const;
  std::string ToString() const;
};

class SpeechLmSampler {
 public:
  SpeechLmSampler(const SpeechLmSamplingOptions& options, int64_t vocab);

  const SpeechLmSamplingOptions& options() const { return options_; }

  // logp: [vocab] log-probs, modified in place like the reference (EOS / RAS masking).
  // history: earlier picks of this request (the RAS window looks at its tail).
  int32_t Sample(float* logp, std::span<const int32_t> history, bool mask_eos, int32_t eos,
                 SpeechLmRandom& rng);

  // The nucleus candidate set for `scores` (descending p, ties by lower id) with the
  // un-renormalised probabilities; ids/probs are overwritten.
  void Nucleus(const float* scores, std::vector<int32_t>* ids, std::vector<float>* probs);

 private:
  int32_t NucleusDraw(const float* scores, SpeechLmRandom& rng);
  int32_t FullDraw(const float* scores, SpeechLmRandom& rng);
  int32_t Argmax(const float* scores) const;
  int32_t CollectNucleus(const float* scores);  // fills order_[0..n), probs_; returns n

  SpeechLmSamplingOptions options_;
  int64_t vocab_;
  std::vector<float> probs_;
  std::vector<int32_t> order_;
};

}  // namespace cosyflow
