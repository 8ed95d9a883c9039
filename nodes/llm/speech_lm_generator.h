// SpeechLmGenerator: one request's speech-token generation on a SpeechLm (spec §5.5, §5.8).
//
// One-shot text (Start): the LM input is [SOS] ++ embed_tokens(prompt_text ++ text) ++ [TASK_ID]
// ++ speech_embedding(prompt_speech); min_len = floor(min_ratio·Lt), max_len =
// floor(max_ratio·Lt) count the target text only (optionally bounded by max_tokens / min_tokens).
// Each Step is one forward call: EOS is masked while fewer than min_len steps ran, a stop id (EOS,
// 6562, FILL) ends generation unemitted.
// The modes differ only in which prompt parts the front end keeps (SpeechLmInput::ForMode).
//
// Bi-stream text (StartBistream + PushText/EndText): text tokens are pulled one at a time with
// the reference's mix ratio 5:15 interleaving of the prompt, forced FILL every 16 outputs
// (next_fill = (P / 15 + 1)·15 − P at the start), FILLs never fed back, and the final phase
// after EndText. Reference quirks reproduced on purpose: the prompt text is queued in front of
// the target text; prompt speech left over when the text ends is dropped; the final phase feeds
// the stale last embedding a second time before the remaining text and TASK_ID; an id >= EOS
// other than FILL in the text phase (or other than EOS in the final phase) is an error; the RAS
// window includes FILLs. Unlike the reference, the final phase is bounded
// (final_max_tokens) and every session is bounded by its KV capacity.
//
// Step() does at most one forward call and returns what it produced, so a caller streams tokens
// as they are sampled and can stop between steps; RequestCancel() (any thread) makes the next
// Step return kCancelled. State is sized at Start; Step does not allocate.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/llm/speech_lm.h"
#include "nodes/llm/speech_lm_sampler.h"

namespace cosyflow {

enum class SpeechLmMode : uint8_t { kZeroShot, kCrossLingual, kInstruct2, kNoPrompt };
// "zero_shot", "cross_lingual", "instruct2" (also "instruct"), "no_prompt" (also "sft").
Result<SpeechLmMode> ParseSpeechLmMode(std::string_view name);
std::string_view SpeechLmModeName(SpeechLmMode mode);

struct SpeechLmInput {
  std::vector<int32_t> text;           // target text tokens (Lt)
  std::vector<int32_t> prompt_text;    // zero-shot transcript, or the instruct2 instruction
  std::vector<int32_t> prompt_speech;  // zero-shot prompt speech tokens

  // What the LM sees in `mode`, as the reference front end builds it: cross_lingual and
  // no_prompt drop the prompt text and prompt speech; instruct2 keeps prompt_text (the
  // instruction, which must end with <|endofprompt|> — HEAD does not append it) and drops the
  // prompt speech; zero_shot keeps both.
  SpeechLmInput ForMode(SpeechLmMode mode) const;
};

struct SpeechLmGenerateOptions {
  SpeechLmSamplingOptions sampling;
  double min_token_text_ratio = 2;   // min_len = floor(ratio · Lt)
  double max_token_text_ratio = 20;  // max_len = floor(ratio · Lt)
  int64_t max_context = 4096;        // KV positions: the bi-stream capacity, one-shot upper bound
  int64_t prefill_chunk = 128;       // rows per forward chunk (scratch size)
  // Bi-stream final phase: most tokens after EndText; 0 = max_token_text_ratio · text tokens.
  int64_t final_max_tokens = 0;
  // One-shot segments, absolute bounds on top of the ratios (0 = none): max_len =
  // min(floor(max_ratio · Lt), max_tokens); while fewer than min_tokens steps ran, every stop
  // id (EOS, 6562, FILL: not only EOS as under min_len) is masked, so a segment has exactly
  // min(min_tokens, max_len) tokens at least. For benchmarks on random weights, whose stop
  // ids come at random steps; not in the reference.
  int64_t min_tokens = 0;
  int64_t max_tokens = 0;

  Status Validate() const;
  std::string ToString() const;
};

struct SpeechLmStep {
  enum class Kind : uint8_t {
    kToken,     // `token` (a speech id < EOS) was sampled and is emitted
    kFill,      // bi-stream: a decode loop ended with FILL (nothing emitted)
    kNeedText,  // bi-stream: waiting for PushText or EndText (no forward call)
    kEnd,       // generation finished; later Steps return kEnd again
  };
  Kind kind = Kind::kEnd;
  int32_t token = -1;
};

// What one forward call saw and produced (parity traces).
struct SpeechLmCall {
  int64_t index = 0;                  // 0, 1, ... per request
  std::span<const SpeechLmRow> fed;   // the rows fed by this call (pending)
  const float* logits = nullptr;      // [speech_vocab] speech-head logits, before log-softmax
  int64_t text_pulled = 0;            // bi-stream: target text tokens pulled so far
  bool forced_fill = false;           // bi-stream: FILL forced by next_fill (not sampled)
  int32_t out = -1;                   // the id chosen by this call (stop ids included)
};
using SpeechLmCallObserver = std::function<void(const SpeechLmCall&)>;

class SpeechLmGenerator {
 public:
  static Result<std::unique_ptr<SpeechLmGenerator>> Start(const SpeechLm& lm,
                                                          const SpeechLmGenerateOptions& options,
                                                          const SpeechLmInput& input,
                                                          uint64_t seed,
                                                          SpeechLmPrefixCache* prefix_cache =
                                                              nullptr);
  static Result<std::unique_ptr<SpeechLmGenerator>> StartBistream(
      const SpeechLm& lm, const SpeechLmGenerateOptions& options,
      std::span<const int32_t> prompt_text, std::span<const int32_t> prompt_speech, uint64_t seed);

  // Bi-stream only: queue more target text tokens / mark the end of the text.
  Status PushText(std::span<const int32_t> tokens);
  Status EndText();

  ~SpeechLmGenerator();  // hands its state back to the model (SpeechLm::ReleaseState)
  SpeechLmGenerator(const SpeechLmGenerator&) = delete;
  SpeechLmGenerator& operator=(const SpeechLmGenerator&) = delete;

  Result<SpeechLmStep> Step();
  void RequestCancel() { cancel_.store(true, std::memory_order_relaxed); }

  // Test/parity hooks: replace the seeded generator (not owned) and observe every call.
  void set_random(SpeechLmRandom* random) { random_ = random; }
  void set_call_observer(SpeechLmCallObserver observer) { observer_ = std::move(observer); }

  bool bistream() const { return bistream_; }
  bool done() const { return phase_ == Phase::kDone; }
  int64_t calls() const { return calls_; }
  int64_t min_len() const { return min_len_; }
  int64_t max_len() const { return max_len_; }
  const std::vector<int32_t>& emitted() const { return emitted_; }
  const SpeechLmState& state() const { return *state_; }

 private:
  enum class Phase : uint8_t { kOneShot, kText, kDecode, kFinal, kDone };

  SpeechLmGenerator(const SpeechLm& lm, const SpeechLmGenerateOptions& options, uint64_t seed);
  Status Init(int64_t capacity, int64_t reserve_tokens);
  // Feeds pending_ and leaves log-probs in logp_ (raw logits in logits_).
  Status ForwardPending();
  void Observe(bool forced_fill, int32_t out);
  Result<SpeechLmStep> StepOneShot();
  Result<SpeechLmStep> StepBistream();
  Result<SpeechLmStep> DecodeBistream();
  Result<SpeechLmStep> DecodeFinal();
  // Pulls one queued text token with the reference's interleaving rules; returns true when a
  // decode loop should start.
  bool PullText();
  void PushPendingText(size_t n);

  const SpeechLm& lm_;
  SpeechLmGenerateOptions options_;
  SpeechLmSampler sampler_;
  SpeechLmSeededRandom seeded_;
  SpeechLmRandom* random_;
  SpeechLmCallObserver observer_;
  std::unique_ptr<SpeechLmState> state_;
  int64_t capacity_ = 0;  // positions this request may use (state_ may hold more)
  std::atomic<bool> cancel_{false};

  bool bistream_ = false;
  Phase phase_ = Phase::kDone;
  int64_t calls_ = 0;
  int64_t min_len_ = 0, max_len_ = 0;
  std::vector<SpeechLmRow> pending_;  // rows for the next forward call
  // One-shot: [SOS] ++ prompt text is prefilled as its own call (from prefix_cache_ when it
  // holds this prompt), so cached and uncached requests compute the same.
  int64_t prefix_len_ = 0;
  std::vector<int32_t> prefix_key_;
  SpeechLmPrefixCache* prefix_cache_ = nullptr;
  std::vector<int32_t> out_;          // every call's pick (bi-stream: with FILLs) = RAS history
  std::vector<int32_t> emitted_;      // emitted speech tokens
  std::vector<float> rows_, logits_, logp_;

  // Bi-stream state (spec §5.8).
  std::vector<int32_t> text_queue_;  // pushed, not yet pulled
  size_t text_queue_at_ = 0;
  std::vector<int32_t> text_buf_;    // pulled, not yet fed (prompt text first)
  size_t text_buf_at_ = 0;
  std::vector<int32_t> speech_buf_;  // prompt speech not yet interleaved
  size_t speech_buf_at_ = 0;
  int64_t next_fill_ = -1;
  int64_t text_pulled_ = 0;
  bool text_ended_ = false;
  bool forced_fill_ = false;
  int64_t final_steps_ = 0;
};

}  // namespace cosyflow
