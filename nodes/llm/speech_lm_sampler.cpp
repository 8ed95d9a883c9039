// SpeechLmSampler: nucleus + repetition-aware sampling with stable ordering and injected RNG.
#include "nodes/llm/speech_lm_sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "runtime/kernels/cpu/softmax.h"

namespace cosyflow {

Status SpeechLmSamplingOptions::Validate() const {
  if (!(top_p > 0 && top_p <= 1)) return InvalidArgument("top_p must be in (0, 1], got {}", top_p);
  if (top_k < 1) return InvalidArgument("top_k must be >= 1, got {}", top_k);
  if (win_size < 1) return InvalidArgument("win_size must be >= 1, got {}", win_size);
  if (!(tau_r > 0 && tau_r <= 1)) return InvalidArgument("tau_r must be in (0, 1], got {}", tau_r);
  return OkStatus();
}

std::string SpeechLmSamplingOptions::ToString() const {
  return fmt::format("top_p {} top_k {} win_size {} tau_r {} greedy {} ras_exclude_repeated {}",
                     top_p, top_k, win_size, tau_r, greedy, ras_exclude_repeated);
}

SpeechLmSampler::SpeechLmSampler(const SpeechLmSamplingOptions& options, int64_t vocab)
    : options_(options),
      vocab_(vocab),
      probs_(static_cast<size_t>(vocab)),
      order_(static_cast<size_t>(vocab)) {}

int32_t SpeechLmSampler::Argmax(const float* scores) const {
  int32_t best = 0;
  for (int32_t i = 1; i < vocab_; ++i) {
    if (scores[i] > scores[best]) best = i;  // strict: the lowest id wins ties
  }
  return best;
}

int32_t SpeechLmSampler::CollectNucleus(const float* scores) {
  (void)kernels::cpu::Softmax(scores, 1, vocab_, probs_.data());
  const int32_t k = static_cast<int32_t>(std::min<int64_t>(options_.top_k, vocab_));
  std::iota(order_.begin(), order_.end(), 0);
  const float* p = probs_.data();
  // (p descending, id ascending) is a strict total order, so this equals a stable sort's head.
  std::partial_sort(order_.begin(), order_.begin() + k, order_.end(),
                    [p](int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
  float cum = 0.0f;  // the reference accumulates f32 tensors and compares with f32(top_p)
  int32_t n = 0;
  while (n < k && cum < options_.top_p) {
    cum += p[order_[static_cast<size_t>(n)]];
    ++n;
  }
  return n;
}

void SpeechLmSampler::Nucleus(const float* scores, std::vector<int32_t>* ids,
                              std::vector<float>* probs) {
  const int32_t n = CollectNucleus(scores);
  ids->assign(order_.begin(), order_.begin() + n);
  probs->clear();
  for (int32_t i = 0; i < n; ++i) probs->push_back(probs_[static_cast<size_t>(order_[i])]);
}

int32_t SpeechLmSampler::NucleusDraw(const float* scores, SpeechLmRandom& rng) {
  const int32_t n = CollectNucleus(scores);
  double total = 0;
  for (int32_t i = 0; i < n; ++i) total += probs_[static_cast<size_t>(order_[i])];
  const double target = rng.Uniform() * total;
  double cum = 0;
  for (int32_t i = 0; i < n; ++i) {
    cum += probs_[static_cast<size_t>(order_[i])];
    if (target < cum) return order_[static_cast<size_t>(i)];
  }
  return order_[static_cast<size_t>(n - 1)];
}

int32_t SpeechLmSampler::FullDraw(const float* scores, SpeechLmRandom& rng) {
  (void)kernels::cpu::Softmax(scores, 1, vocab_, probs_.data());
  double total = 0;
  for (int64_t i = 0; i < vocab_; ++i) total += probs_[static_cast<size_t>(i)];
  const double target = rng.Uniform() * total;
  double cum = 0;
  int32_t last_nonzero = 0;
  for (int32_t i = 0; i < vocab_; ++i) {
    const float pi = probs_[static_cast<size_t>(i)];
    if (pi <= 0) continue;
    last_nonzero = i;
    cum += pi;
    if (target < cum) return i;
  }
  return last_nonzero;
}

int32_t SpeechLmSampler::Sample(float* logp, std::span<const int32_t> history, bool mask_eos,
                                int32_t eos, SpeechLmRandom& rng) {
  if (mask_eos && eos >= 0 && eos < vocab_) logp[eos] = -std::numeric_limits<float>::infinity();
  if (options_.greedy) return Argmax(logp);
  const int32_t pick = NucleusDraw(logp, rng);
  const size_t win = std::min(history.size(), static_cast<size_t>(options_.win_size));
  const auto tail = history.subspan(history.size() - win);
  const auto repeats = std::count(tail.begin(), tail.end(), pick);
  const double threshold =
      static_cast<double>(options_.win_size) * options_.tau_r;
  if (static_cast<double>(repeats) < threshold) return pick;
  if (options_.ras_exclude_repeated) logp[pick] = -std::numeric_limits<float>::infinity();
  return FullDraw(logp, rng);
}

}  // namespace cosyflow
