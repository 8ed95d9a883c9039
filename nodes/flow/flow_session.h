// FlowSession: per-request flow state (prompt, speaker vector, token buffer, chunk schedule,
// scratch) for non-streaming and streaming token -> mel.
//
// Streaming schedule (spec §6.4, CosyVoice2Model.tts stream=True): the first chunk covers
// token_hop + pad tokens, pad = ceil(T1 / chunk) * chunk - T1 aligning chunk boundaries to the
// 25-token grid that starts at the first prompt token; every chunk also needs 3 lookahead tokens
// that give no frames yet. After each chunk the hop doubles up to max_token_hop (25, 50, 100, ...).
// The reference re-runs the flow over prompt + all tokens so far for each chunk (streaming =
// true, finalize = false) and emits only the frames after the previous chunk. Here, by default
// (`incremental`), the encoder and the estimator compute only the frames after their committed
// block prefix, from cached K/V rows, positional projections and conv contexts
// (flow_stream_cache.h): same frames within float rounding, per-chunk cost flat in utterance
// length. Past `max_cache_bytes` the utterance falls back to prefix recompute. A model on cuda
// (FlowOptions::device) recomputes the estimator over the prefix on the device, with the
// encoder incremental on the CPU.
// Finish() runs the last call with streaming = false, finalize = true over every token, as the
// reference does (full attention: nothing cached applies), or, with `stream_final`, a streaming
// finalize call that computes only the remaining frames (not the reference's last chunk).
//
// Deliberate deviation: the reference keeps the hop on the model object, so it never resets and
// concurrent requests interfere (spec §6.5.1). Here the hop is per session and starts at
// token_hop for every request.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "nodes/flow/flow_model.h"
#include "nodes/flow/flow_stream_cache.h"

namespace cosyflow::flow {

struct FlowStreamOptions {
  int64_t token_hop = 25;       // first hop (tokens), before the prompt pad
  int64_t max_token_hop = 100;  // hop growth cap
  int64_t hop_scale = 2;        // stream_scale_factor
  bool incremental = true;      // estimator K/V cache between chunks (false: prefix recompute)
  size_t max_cache_bytes = size_t{4096} << 20;  // per session; 0 = unlimited
  // The last call stays chunk-causal (the reference's token2wav(stream=True, finalize=True)),
  // so it computes only its new frames like every other chunk, instead of the reference
  // stream's full-attention pass over the whole utterance (streaming=False). Not the
  // reference's output for the final chunk: off by default.
  bool stream_final = false;
  Status Validate(int64_t lookahead) const;
};

// A mel chunk: `mel` [80, frames] channel-major starting at output frame `first_frame` (frames
// counted after the prompt); `last` on the Finish() chunk.
struct MelChunk {
  FlowMel mel;
  int64_t first_frame = 0;
  bool last = false;
};

class FlowSession {
 public:
  // prompt_state: FlowModel::PromptState(prompt) (e.g. from a per-voice FlowPromptCache) that
  // incremental chunks start from instead of recomputing the prompt's blocks; may be null.
  static Result<std::unique_ptr<FlowSession>> Open(
      const FlowModel& model, FlowPrompt prompt, const FlowStreamOptions& options = {},
      std::shared_ptr<const EstimatorCache> prompt_state = nullptr);

  // Appends generated speech tokens (checked against the vocabulary).
  Status PushTokens(std::span<const int32_t> tokens);
  // True when enough tokens are buffered for the next streaming chunk.
  bool ChunkReady() const;
  // Runs the next streaming chunk; FailedPrecondition-style InvalidArgument unless ChunkReady().
  Result<MelChunk> NextChunk(const FlowHook& hook = {}, FlowProfile* prof = nullptr);
  // Final call over every token (finalize); emits the frames not yet emitted. Ends the stream.
  Result<MelChunk> Finish(const FlowHook& hook = {}, FlowProfile* prof = nullptr);
  // Starts the next utterance: drops the tokens and the chunk schedule (prompt, speaker vector
  // and scratch stay).
  void Reset();
  // Non-streaming: one finalize call over every buffered token (streaming = false).
  Result<FlowMel> RunOnce(const FlowHook& hook = {}, FlowProfile* prof = nullptr);

  int64_t token_offset() const { return offset_; }
  int64_t buffered_tokens() const { return static_cast<int64_t>(tokens_.size()); }
  int64_t this_hop() const { return offset_ == 0 ? hop_ + pad_ : hop_; }  // next chunk's hop
  bool finished() const { return finished_; }
  const float* speaker_vector() const { return spk_.data(); }
  size_t scratch_floats() const { return arena_.capacity(); }
  // Estimator cache bytes held now, and whether this utterance fell back to prefix recompute.
  size_t cache_bytes() const { return cache_ ? cache_->bytes() : 0; }
  bool cache_fallback() const { return cache_fallback_; }
  // Whether this utterance's cache started on the voice's prompt rows left in place by an
  // earlier utterance (no copy; EstimatorCache::CopyFrom).
  bool prompt_rows_reused() const { return cache_ != nullptr && cache_->reused_rows(); }

 private:
  FlowSession(const FlowModel& model, FlowPrompt prompt, const FlowStreamOptions& options);
  Status StartCache();
  Result<MelChunk> StreamingCall(std::span<const int32_t> tokens, bool finalize,
                                 const FlowHook& hook, FlowProfile* prof);
  static MelChunk Tail(FlowMel mel, int64_t from_frame, bool last);

  const FlowModel& model_;
  FlowPrompt prompt_;
  FlowStreamOptions options_;
  std::vector<float> spk_;
  std::vector<int32_t> tokens_;
  int64_t offset_ = 0;  // tokens whose frames were emitted
  int64_t hop_ = 0;
  int64_t pad_ = 0;
  bool finished_ = false;
  std::unique_ptr<EstimatorCache> cache_;
  std::shared_ptr<const EstimatorCache> prompt_state_;
  bool cache_fallback_ = false;
  Arena arena_;
};

}  // namespace cosyflow::flow
