// SpeechLmGenerator: one-shot and bi-stream speech-token generation, one forward call per Step.
#include "nodes/llm/speech_lm_generator.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "runtime/kernels/cpu/softmax.h"
#include "runtime/logging.h"

namespace cosyflow {

Result<SpeechLmMode> ParseSpeechLmMode(std::string_view name) {
  if (name == "zero_shot") return SpeechLmMode::kZeroShot;
  if (name == "cross_lingual") return SpeechLmMode::kCrossLingual;
  if (name == "instruct2" || name == "instruct") return SpeechLmMode::kInstruct2;
  if (name == "no_prompt" || name == "sft") return SpeechLmMode::kNoPrompt;
  return InvalidArgument(
      "llm: unknown mode \"{}\" (zero_shot, cross_lingual, instruct2 or instruct, no_prompt or "
      "sft; vc skips the LM)",
      name);
}

std::string_view SpeechLmModeName(SpeechLmMode mode) {
  switch (mode) {
    case SpeechLmMode::kZeroShot: return "zero_shot";
    case SpeechLmMode::kCrossLingual: return "cross_lingual";
    case SpeechLmMode::kInstruct2: return "instruct2";
    case SpeechLmMode::kNoPrompt: return "no_prompt";
  }
  return "?";
}

SpeechLmInput SpeechLmInput::ForMode(SpeechLmMode mode) const {
  SpeechLmInput in = *this;
  if (mode == SpeechLmMode::kCrossLingual || mode == SpeechLmMode::kNoPrompt) {
    in.prompt_text.clear();
    in.prompt_speech.clear();
  } else if (mode == SpeechLmMode::kInstruct2) {
    in.prompt_speech.clear();
  }
  return in;
}

Status SpeechLmGenerateOptions::Validate() const {
  COSY_RETURN_IF_ERROR_CTX(sampling.Validate(), "llm sampling");
  if (!(min_token_text_ratio >= 0) || !(max_token_text_ratio >= min_token_text_ratio) ||
      !(max_token_text_ratio <= 1e4)) {
    return InvalidArgument(
        "llm: need 0 <= min_token_text_ratio <= max_token_text_ratio <= 1e4, got {} / {}",
        min_token_text_ratio, max_token_text_ratio);
  }
  if (max_context < 2) return InvalidArgument("llm: max_context must be >= 2, got {}", max_context);
  if (prefill_chunk < 1) {
    return InvalidArgument("llm: prefill_chunk must be >= 1, got {}", prefill_chunk);
  }
  if (final_max_tokens < 0) {
    return InvalidArgument("llm: final_max_tokens must be >= 0, got {}", final_max_tokens);
  }
  if (min_tokens < 0 || max_tokens < 0 || (max_tokens > 0 && min_tokens > max_tokens)) {
    return InvalidArgument("llm: need 0 <= min_tokens <= max_tokens (0 = none), got {} / {}",
                           min_tokens, max_tokens);
  }
  return OkStatus();
}

std::string SpeechLmGenerateOptions::ToString() const {
  return fmt::format(
      "{} min_ratio {} max_ratio {} max_context {} prefill_chunk {} final_max {} min_tokens {} "
      "max_tokens {}",
      sampling.ToString(), min_token_text_ratio, max_token_text_ratio, max_context, prefill_chunk,
      final_max_tokens, min_tokens, max_tokens);
}

SpeechLmGenerator::SpeechLmGenerator(const SpeechLm& lm, const SpeechLmGenerateOptions& options,
                                     uint64_t seed)
    : lm_(lm),
      options_(options),
      sampler_(options.sampling, lm.config().speech_vocab()),
      seeded_(seed),
      random_(&seeded_) {}

SpeechLmGenerator::~SpeechLmGenerator() { lm_.ReleaseState(std::move(state_)); }

Status SpeechLmGenerator::Init(int64_t capacity, int64_t reserve_tokens) {
  COSY_ASSIGN_OR_RETURN(state_, lm_.AcquireState(capacity, options_.prefill_chunk));
  capacity_ = capacity;
  const int64_t h = lm_.config().qwen.hidden_size;
  rows_.resize(static_cast<size_t>(state_->chunk() * h));
  logits_.resize(static_cast<size_t>(lm_.config().speech_vocab()));
  logp_.resize(logits_.size());
  out_.reserve(static_cast<size_t>(reserve_tokens));
  emitted_.reserve(static_cast<size_t>(reserve_tokens));
  pending_.reserve(256);
  return OkStatus();
}

Result<std::unique_ptr<SpeechLmGenerator>> SpeechLmGenerator::Start(
    const SpeechLm& lm, const SpeechLmGenerateOptions& options, const SpeechLmInput& input,
    uint64_t seed, SpeechLmPrefixCache* prefix_cache) {
  COSY_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<SpeechLmGenerator> g(new SpeechLmGenerator(lm, options, seed));
  if (!input.prompt_text.empty()) {
    g->prefix_len_ = 1 + static_cast<int64_t>(input.prompt_text.size());
    g->prefix_key_.assign(input.prompt_text.begin(), input.prompt_text.end());
    g->prefix_cache_ = prefix_cache;
  }
  const auto lt = static_cast<double>(input.text.size());
  g->min_len_ = static_cast<int64_t>(std::floor(lt * options.min_token_text_ratio));
  g->max_len_ = static_cast<int64_t>(std::floor(lt * options.max_token_text_ratio));
  if (options.max_tokens > 0) g->max_len_ = std::min(g->max_len_, options.max_tokens);
  auto& p = g->pending_;
  p.push_back({SpeechLmTable::kLlmEmbedding, kSpeechLmSos});
  for (int32_t id : input.prompt_text) p.push_back({SpeechLmTable::kText, id});
  for (int32_t id : input.text) p.push_back({SpeechLmTable::kText, id});
  p.push_back({SpeechLmTable::kLlmEmbedding, kSpeechLmTaskId});
  for (int32_t id : input.prompt_speech) p.push_back({SpeechLmTable::kSpeech, id});
  // The last generated token is never fed, so L0 + max_len - 1 positions suffice.
  const int64_t capacity = std::max<int64_t>(static_cast<int64_t>(p.size()) + g->max_len_ - 1, 1);
  if (capacity > options.max_context) {
    return InvalidArgument(
        "llm: request needs {} KV positions ({} input rows + max_len {}) > max_context {}",
        capacity, p.size(), g->max_len_, options.max_context);
  }
  // Validate ids now so errors surface at Start, not mid-stream.
  std::vector<float> probe(static_cast<size_t>(lm.config().qwen.hidden_size));
  for (const SpeechLmRow& row : p) COSY_RETURN_IF_ERROR(lm.Embed({&row, 1}, probe.data()));
  COSY_RETURN_IF_ERROR(g->Init(capacity, g->max_len_ + 1));
  g->phase_ = Phase::kOneShot;
  return g;
}

Result<std::unique_ptr<SpeechLmGenerator>> SpeechLmGenerator::StartBistream(
    const SpeechLm& lm, const SpeechLmGenerateOptions& options,
    std::span<const int32_t> prompt_text, std::span<const int32_t> prompt_speech, uint64_t seed) {
  COSY_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<SpeechLmGenerator> g(new SpeechLmGenerator(lm, options, seed));
  g->bistream_ = true;
  std::vector<float> probe(static_cast<size_t>(lm.config().qwen.hidden_size));
  for (int32_t id : prompt_text) {
    const SpeechLmRow row{SpeechLmTable::kText, id};
    COSY_RETURN_IF_ERROR_CTX(lm.Embed({&row, 1}, probe.data()), "prompt text");
  }
  for (int32_t id : prompt_speech) {
    const SpeechLmRow row{SpeechLmTable::kSpeech, id};
    COSY_RETURN_IF_ERROR_CTX(lm.Embed({&row, 1}, probe.data()), "prompt speech");
  }
  COSY_RETURN_IF_ERROR(g->Init(options.max_context, options.max_context));
  g->pending_.push_back({SpeechLmTable::kLlmEmbedding, kSpeechLmSos});
  g->text_buf_.assign(prompt_text.begin(), prompt_text.end());
  g->speech_buf_.assign(prompt_speech.begin(), prompt_speech.end());
  const int64_t p = static_cast<int64_t>(prompt_speech.size());
  const int64_t s = lm.config().mix_speech;
  g->next_fill_ = (p / s + 1) * s - p;
  g->phase_ = Phase::kText;
  return g;
}

Status SpeechLmGenerator::PushText(std::span<const int32_t> tokens) {
  if (!bistream_) return InvalidArgument("llm: PushText needs a bi-stream session");
  if (text_ended_) return InvalidArgument("llm: PushText after EndText");
  std::vector<float> probe(static_cast<size_t>(lm_.config().qwen.hidden_size));
  for (int32_t id : tokens) {
    const SpeechLmRow row{SpeechLmTable::kText, id};
    COSY_RETURN_IF_ERROR_CTX(lm_.Embed({&row, 1}, probe.data()), "bi-stream text");
  }
  text_queue_.insert(text_queue_.end(), tokens.begin(), tokens.end());
  return OkStatus();
}

Status SpeechLmGenerator::EndText() {
  if (!bistream_) return InvalidArgument("llm: EndText needs a bi-stream session");
  text_ended_ = true;
  return OkStatus();
}

Status SpeechLmGenerator::ForwardPending() {
  const int64_t h = lm_.config().qwen.hidden_size;
  const auto n = static_cast<int64_t>(pending_.size());
  // The request's own capacity: a state reused from an earlier request may hold more.
  if (state_->length() + n > capacity_) {
    if (bistream_) {
      return OutOfRange(
          "llm: context full: {} cached + {} new positions > max_context {} (bi-stream text is "
          "one utterance: send less text per request, or raise the SpeechLM's max_context)",
          state_->length(), n, capacity_);
    }
    return OutOfRange("llm: context full: {} cached + {} new positions > capacity {}",
                      state_->length(), n, capacity_);
  }
  int64_t from = 0;
  if (prefix_len_ > 0 && state_->length() == 0) {  // the voice's prefix: cached or computed
    std::shared_ptr<const SpeechLmPrefix> hit;
    if (prefix_cache_ != nullptr) hit = prefix_cache_->Find(prefix_key_);
    if (hit != nullptr) {
      COSY_RETURN_IF_ERROR(lm_.LoadPrefix(*hit, state_.get()));
    } else {
      for (int64_t start = 0; start < prefix_len_; start += state_->chunk()) {
        const int64_t rows = std::min(state_->chunk(), prefix_len_ - start);
        COSY_RETURN_IF_ERROR(lm_.Embed({pending_.data() + start, static_cast<size_t>(rows)},
                                       rows_.data()));
        COSY_RETURN_IF_ERROR(lm_.Forward(state_.get(), rows_.data(), rows, logits_.data()));
      }
      if (prefix_cache_ != nullptr) {
        COSY_ASSIGN_OR_RETURN(SpeechLmPrefix saved, lm_.SavePrefix(*state_, prefix_len_));
        prefix_cache_->Insert(prefix_key_,
                              std::make_shared<const SpeechLmPrefix>(std::move(saved)));
      }
    }
    from = prefix_len_;
  }
  for (int64_t start = from; start < n; start += state_->chunk()) {
    const int64_t rows = std::min(state_->chunk(), n - start);
    COSY_RETURN_IF_ERROR(lm_.Embed({pending_.data() + start, static_cast<size_t>(rows)},
                                   rows_.data()));
    COSY_RETURN_IF_ERROR(lm_.Forward(state_.get(), rows_.data(), rows, logits_.data()));
  }
  (void)h;
  return kernels::cpu::LogSoftmax(logits_.data(), 1, static_cast<int64_t>(logits_.size()),
                                  logp_.data());
}

void SpeechLmGenerator::Observe(bool forced_fill, int32_t out) {
  if (observer_) {
    observer_(SpeechLmCall{calls_, pending_, logits_.data(), text_pulled_, forced_fill, out});
  }
  ++calls_;
}

Result<SpeechLmStep> SpeechLmGenerator::Step() {
  if (cancel_.load(std::memory_order_relaxed)) {
    phase_ = Phase::kDone;
    return MakeError(StatusCode::kCancelled, "llm: generation cancelled");
  }
  if (phase_ == Phase::kDone) return SpeechLmStep{SpeechLmStep::Kind::kEnd, -1};
  auto r = bistream_ ? StepBistream() : StepOneShot();
  if (!r.ok()) phase_ = Phase::kDone;
  return r;
}

Result<SpeechLmStep> SpeechLmGenerator::StepOneShot() {
  const SpeechLmConfig& c = lm_.config();
  if (calls_ >= max_len_) {
    phase_ = Phase::kDone;
    return SpeechLmStep{SpeechLmStep::Kind::kEnd, -1};
  }
  COSY_RETURN_IF_ERROR(ForwardPending());
  const bool mask_eos = calls_ < min_len_;
  if (calls_ < options_.min_tokens) {  // no stop id at all before min_tokens
    std::fill(logp_.begin() + c.eos_id(), logp_.end(), -std::numeric_limits<float>::infinity());
  }
  const int32_t t = sampler_.Sample(logp_.data(), out_, mask_eos, c.eos_id(), *random_);
  Observe(false, t);
  if (c.IsStopId(t)) {
    phase_ = Phase::kDone;
    return SpeechLmStep{SpeechLmStep::Kind::kEnd, -1};
  }
  out_.push_back(t);
  emitted_.push_back(t);
  pending_.assign(1, SpeechLmRow{SpeechLmTable::kSpeech, t});
  return SpeechLmStep{SpeechLmStep::Kind::kToken, t};
}

void SpeechLmGenerator::PushPendingText(size_t n) {
  for (size_t i = 0; i < n; ++i) {
    pending_.push_back({SpeechLmTable::kText, text_buf_[text_buf_at_ + i]});
  }
  text_buf_at_ += n;
}

bool SpeechLmGenerator::PullText() {
  const SpeechLmConfig& c = lm_.config();
  const auto mix_text = static_cast<size_t>(c.mix_text);
  const auto mix_speech = static_cast<size_t>(c.mix_speech);
  text_buf_.push_back(text_queue_[text_queue_at_++]);
  ++text_pulled_;
  auto text_left = [&] { return text_buf_.size() - text_buf_at_; };
  // Interleave the prompt: T5 S15 groups while prompt speech and 5 text tokens remain.
  while (speech_buf_at_ < speech_buf_.size() && text_left() >= mix_text) {
    PushPendingText(mix_text);
    const size_t n = std::min(mix_speech, speech_buf_.size() - speech_buf_at_);
    for (size_t i = 0; i < n; ++i) {
      pending_.push_back({SpeechLmTable::kSpeech, speech_buf_[speech_buf_at_ + i]});
    }
    speech_buf_at_ += n;
  }
  if (speech_buf_at_ < speech_buf_.size()) return false;
  const bool after_fill = !out_.empty() && out_.back() == c.fill_id();
  if (after_fill || (out_.empty() && pending_.size() == 1)) {
    if (text_left() < mix_text) return false;  // wait for more text
    if (after_fill) pending_.clear();  // replaces the stale, already fed embedding
    PushPendingText(mix_text);
  }
  return true;
}

Result<SpeechLmStep> SpeechLmGenerator::StepBistream() {
  switch (phase_) {
    case Phase::kText:
      while (true) {
        if (text_queue_at_ == text_queue_.size()) {
          if (!text_ended_) return SpeechLmStep{SpeechLmStep::Kind::kNeedText, -1};
          // Final phase: the stale pending row (quirk) ++ remaining text ++ TASK_ID.
          PushPendingText(text_buf_.size() - text_buf_at_);
          pending_.push_back({SpeechLmTable::kLlmEmbedding, kSpeechLmTaskId});
          phase_ = Phase::kFinal;
          return DecodeFinal();
        }
        if (PullText()) {
          phase_ = Phase::kDecode;
          return DecodeBistream();
        }
      }
    case Phase::kDecode: return DecodeBistream();
    case Phase::kFinal: return DecodeFinal();
    default: return SpeechLmStep{SpeechLmStep::Kind::kEnd, -1};
  }
}

Result<SpeechLmStep> SpeechLmGenerator::DecodeBistream() {
  const SpeechLmConfig& c = lm_.config();
  COSY_RETURN_IF_ERROR(ForwardPending());
  const auto index = static_cast<int64_t>(out_.size());
  const bool forced = next_fill_ != -1 && index == next_fill_;
  int32_t t;
  if (forced) {
    t = c.fill_id();
    next_fill_ += c.mix_speech + 1;
  } else {
    t = sampler_.Sample(logp_.data(), out_, /*mask_eos=*/true, c.eos_id(), *random_);
  }
  if (t == c.fill_id()) next_fill_ = index + c.mix_speech + 1;
  Observe(forced, t);
  out_.push_back(t);
  if (t == c.fill_id()) {
    phase_ = Phase::kText;  // pending_ keeps the last fed row (reference quirk)
    return SpeechLmStep{SpeechLmStep::Kind::kFill, t};
  }
  if (c.IsStopId(t)) {
    return OutOfRange("llm: bi-stream text phase produced stop id {} at output {}", t, index);
  }
  emitted_.push_back(t);
  pending_.assign(1, SpeechLmRow{SpeechLmTable::kSpeech, t});
  return SpeechLmStep{SpeechLmStep::Kind::kToken, t};
}

Result<SpeechLmStep> SpeechLmGenerator::DecodeFinal() {
  const SpeechLmConfig& c = lm_.config();
  const int64_t limit =
      options_.final_max_tokens > 0
          ? options_.final_max_tokens
          : std::max<int64_t>(1, static_cast<int64_t>(std::floor(
                                     options_.max_token_text_ratio *
                                     static_cast<double>(std::max<int64_t>(text_pulled_, 1)))));
  if (final_steps_ >= limit) {
    Log(LogLevel::kWarning, "llm: bi-stream final phase stopped at final_max_tokens {} without EOS",
        limit);
    phase_ = Phase::kDone;
    return SpeechLmStep{SpeechLmStep::Kind::kEnd, -1};
  }
  COSY_RETURN_IF_ERROR(ForwardPending());
  const int32_t t = sampler_.Sample(logp_.data(), out_, /*mask_eos=*/false, c.eos_id(), *random_);
  Observe(false, t);
  out_.push_back(t);
  ++final_steps_;
  if (t == c.eos_id()) {
    phase_ = Phase::kDone;
    return SpeechLmStep{SpeechLmStep::Kind::kEnd, -1};
  }
  if (c.IsStopId(t)) {
    return OutOfRange("llm: bi-stream final phase produced stop id {} (only EOS ends it)", t);
  }
  emitted_.push_back(t);
  pending_.assign(1, SpeechLmRow{SpeechLmTable::kSpeech, t});
  return SpeechLmStep{SpeechLmStep::Kind::kToken, t};
}

}  // namespace cosyflow
