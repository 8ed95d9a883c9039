// FlowSession: token buffering and the per-session streaming chunk schedule.
#include "nodes/flow/flow_session.h"

#include <algorithm>

namespace cosyflow::flow {

Status FlowStreamOptions::Validate(int64_t lookahead) const {
  if (token_hop <= lookahead) {
    return InvalidArgument("flow: token_hop must be > lookahead ({}), got {}", lookahead, token_hop);
  }
  if (max_token_hop < token_hop) {
    return InvalidArgument("flow: max_token_hop must be >= token_hop ({}), got {}", token_hop,
                           max_token_hop);
  }
  if (hop_scale < 1) return InvalidArgument("flow: hop_scale must be >= 1, got {}", hop_scale);
  return OkStatus();
}

FlowSession::FlowSession(const FlowModel& model, FlowPrompt prompt, const FlowStreamOptions& options)
    : model_(model), prompt_(std::move(prompt)), options_(options) {}

Result<std::unique_ptr<FlowSession>> FlowSession::Open(
    const FlowModel& model, FlowPrompt prompt, const FlowStreamOptions& options,
    std::shared_ptr<const EstimatorCache> prompt_state) {
  const FlowConfig& c = model.config();
  COSY_RETURN_IF_ERROR(options.Validate(c.pre_lookahead_len));
  const int64_t t1 = static_cast<int64_t>(prompt.tokens.size());
  if (static_cast<int64_t>(prompt.feat.size()) != c.token_mel_ratio * t1 * c.output_size) {
    return InvalidArgument("flow: prompt feat must be [{}, {}] for {} prompt tokens, got {} values",
                           c.token_mel_ratio * t1, c.output_size, t1, prompt.feat.size());
  }
  for (int64_t i = 0; i < t1; ++i) {
    if (prompt.tokens[i] >= c.vocab_size) {
      return InvalidArgument("flow: prompt token {} at {} is >= vocab_size {}", prompt.tokens[i], i,
                             c.vocab_size);
    }
  }
  std::unique_ptr<FlowSession> s(new FlowSession(model, std::move(prompt), options));
  s->spk_.resize(static_cast<size_t>(c.output_size));
  COSY_RETURN_IF_ERROR(model.SpeakerVector(s->prompt_.embedding, s->spk_.data()));
  s->hop_ = options.token_hop;
  s->pad_ = (t1 + c.enc_chunk - 1) / c.enc_chunk * c.enc_chunk - t1;
  s->prompt_state_ = std::move(prompt_state);
  return s;
}

Status FlowSession::PushTokens(std::span<const int32_t> tokens) {
  if (finished_) return InvalidArgument("flow: tokens pushed after the stream was finished");
  const int64_t vocab = model_.config().vocab_size;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= vocab) {
      return InvalidArgument("flow: speech token {} (input position {}) outside [0, {})", tokens[i],
                             tokens_.size() + i, vocab);
    }
  }
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
  return OkStatus();
}

bool FlowSession::ChunkReady() const {
  return !finished_ &&
         buffered_tokens() - offset_ >= this_hop() + model_.config().pre_lookahead_len;
}

MelChunk FlowSession::Tail(FlowMel mel, int64_t from_frame, bool last) {
  MelChunk chunk;
  chunk.first_frame = from_frame;
  chunk.last = last;
  const int64_t n = mel.frames - from_frame;
  chunk.mel.frames = std::max<int64_t>(n, 0);
  chunk.mel.data.resize(static_cast<size_t>(80 * chunk.mel.frames));
  for (int64_t b = 0; b < 80; ++b) {
    std::copy_n(mel.data.begin() + b * mel.frames + from_frame, chunk.mel.frames,
                chunk.mel.data.begin() + b * chunk.mel.frames);
  }
  return chunk;
}

Result<MelChunk> FlowSession::NextChunk(const FlowHook& hook, FlowProfile* prof) {
  if (!ChunkReady()) {
    return InvalidArgument("flow: next chunk needs {} tokens after offset {}, {} buffered{}",
                           this_hop() + model_.config().pre_lookahead_len, offset_,
                           buffered_tokens() - offset_, finished_ ? " (finished)" : "");
  }
  const int64_t hop = this_hop();
  const int64_t la = model_.config().pre_lookahead_len;
  const std::span<const int32_t> upto(tokens_.data(), static_cast<size_t>(offset_ + hop + la));
  COSY_ASSIGN_OR_RETURN(MelChunk chunk, StreamingCall(upto, /*finalize=*/false, hook, prof));
  offset_ += hop;
  hop_ = std::min(options_.max_token_hop, options_.hop_scale * hop_);
  return chunk;
}

// One streaming (chunk-causal) call over `tokens`: incremental from the estimator cache, or by
// prefix recompute (incremental off, or the utterance went over its cache budget). Returns the
// frames after offset_.
Result<MelChunk> FlowSession::StreamingCall(std::span<const int32_t> tokens, bool finalize,
                                            const FlowHook& hook, FlowProfile* prof) {
  const int64_t from = model_.config().token_mel_ratio * offset_;
  if (options_.incremental && !cache_fallback_) {
    const Status started = cache_ ? OkStatus() : StartCache();
    int64_t first = 0;
    Result<FlowMel> mel =
        !started.ok() ? Result<FlowMel>(started)
                      : model_.InferenceIncremental(prompt_, spk_.data(), tokens, *cache_,
                                                    options_.max_cache_bytes, arena_, &first, hook,
                                                    prof, finalize);
    if (mel.ok()) {
      MelChunk chunk = Tail(std::move(mel).value(), from - first, finalize);
      chunk.first_frame = from;
      return chunk;
    }
    if (mel.status().code() != StatusCode::kResourceExhausted) return mel.status();
    cache_fallback_ = true;  // over budget: this utterance continues by prefix recompute
    cache_.reset();
  }
  COSY_ASSIGN_OR_RETURN(FlowMel mel, model_.Inference(prompt_, spk_.data(), tokens, /*streaming=*/true,
                                                  finalize, arena_, hook, prof));
  return Tail(std::move(mel), from, finalize);
}

// A fresh estimator cache for this utterance, starting from the voice's prompt state if any.
Status FlowSession::StartCache() {
  cache_ = std::make_unique<EstimatorCache>(model_.config(), model_.cache_kv_bf16());
  if (prompt_state_ != nullptr) return cache_->CopyFrom(*prompt_state_, options_.max_cache_bytes);
  return OkStatus();
}

Result<MelChunk> FlowSession::Finish(const FlowHook& hook, FlowProfile* prof) {
  if (finished_) return InvalidArgument("flow: Finish called twice");
  if (buffered_tokens() <= offset_) {
    return InvalidArgument("flow: Finish with no tokens after the emitted {} ", offset_);
  }
  if (options_.stream_final) {  // chunk-causal like the other chunks (not the reference's pass)
    COSY_ASSIGN_OR_RETURN(MelChunk chunk, StreamingCall(tokens_, /*finalize=*/true, hook, prof));
    finished_ = true;
    cache_.reset();
    return chunk;
  }
  COSY_ASSIGN_OR_RETURN(FlowMel mel, model_.Inference(prompt_, spk_.data(), tokens_, /*streaming=*/false,
                                                  /*finalize=*/true, arena_, hook, prof));
  finished_ = true;
  cache_.reset();  // the finalize call used full attention; free the utterance's K/V
  return Tail(std::move(mel), model_.config().token_mel_ratio * offset_, true);
}

void FlowSession::Reset() {
  tokens_.clear();
  offset_ = 0;
  hop_ = options_.token_hop;
  finished_ = false;
  cache_.reset();
  cache_fallback_ = false;
}

Result<FlowMel> FlowSession::RunOnce(const FlowHook& hook, FlowProfile* prof) {
  if (tokens_.empty()) return InvalidArgument("flow: RunOnce with no tokens");
  return model_.Inference(prompt_, spk_.data(), tokens_, /*streaming=*/false, /*finalize=*/true,
                          arena_, hook, prof);
}

}  // namespace cosyflow::flow
