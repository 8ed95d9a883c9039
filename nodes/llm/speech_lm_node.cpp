// SpeechLmNode: node adapter around SpeechLmGenerator.
#include "nodes/llm/speech_lm_node.h"

#include <atomic>
#include <limits>
#include <utility>

#include "runtime/io/npy.h"

namespace cosyflow {

void SpeechLmNodeOptions::Parse(const nlohmann::json& j, const std::string& path,
                                ErrorList* errors) {
  JsonObjectReader r(j, path, errors);
  SpeechLmSamplingOptions& s = generate.sampling;
  r.Read("model_dir", &model_dir);
  r.ReadEnum("precision", &precision, {"f32", "bf16", "int8"});
  r.ReadEnum("mode", &mode,
             {"zero_shot", "cross_lingual", "instruct2", "instruct", "no_prompt", "sft", "vc"});
  r.Read("bistream", &bistream);
  r.Read("emit_every", &emit_every);
  r.Read("seed", &seed);
  r.ReadEnum("text_id_policy", &text_id_policy, {"error", "modulo"});
  r.Read("prompt_cache", &prompt_cache);
  r.Read("prompt_text_ids", &prompt_text_ids);
  r.Read("prompt_speech_tokens", &prompt_speech_tokens);
  r.Read("greedy", &s.greedy);
  r.Read("top_p", &s.top_p);
  r.Read("top_k", &s.top_k);
  r.Read("win_size", &s.win_size);
  r.Read("tau_r", &s.tau_r);
  r.Read("min_token_text_ratio", &generate.min_token_text_ratio);
  r.Read("max_token_text_ratio", &generate.max_token_text_ratio);
  r.Read("max_context", &generate.max_context);
  r.Read("prefill_chunk", &generate.prefill_chunk);
  r.Read("final_max_tokens", &generate.final_max_tokens);
  r.Read("min_tokens", &generate.min_tokens);
  r.Read("max_tokens", &generate.max_tokens);
  r.Finish();
}

void SpeechLmNodeOptions::Validate(const std::string& path, ErrorList* errors) const {
  if (emit_every < 1 || emit_every > 1000) {
    errors->Add(path + ".emit_every", "must be in [1, 1000], got {}", emit_every);
  }
  if (seed < 0) errors->Add(path + ".seed", "must be >= 0, got {}", seed);
  if (prompt_cache < 0 || prompt_cache > 1024) {
    errors->Add(path + ".prompt_cache", "must be in [0, 1024], got {}", prompt_cache);
  }
  if (Status st = generate.Validate(); !st.ok()) errors->Add(path, "{}", st.message());
}

std::string SpeechLmNodeOptions::ToString() const {
  return fmt::format(
      "{{\"model_dir\": \"{}\", \"precision\": \"{}\", \"mode\": \"{}\", \"bistream\": {}, "
      "\"emit_every\": {}, \"seed\": {}, \"text_id_policy\": \"{}\", \"prompt_cache\": {}, "
      "\"prompt_text_ids\": "
      "\"{}\", \"prompt_speech_tokens\": \"{}\", \"generate\": \"{}\"}}",
      model_dir, precision, mode, bistream, emit_every, seed, text_id_policy, prompt_cache,
      prompt_text_ids,
      prompt_speech_tokens, generate.ToString());
}

NodeSpec SpeechLmNode::Spec() {
  NodeSpec s;
  s.type = "SpeechLM";
  s.inputs = {{"text", PayloadType::kTokenIds}};
  s.outputs = {{"tokens", PayloadType::kSpeechTokens}};
  s.concurrency = Concurrency::kStateful;
  s.devices = {Device::kCpu, Device::kCuda};
  return s;
}

namespace {

// Every value of an int32 .npy file of at most two dims with one row ([L] or [1, L]).
Result<std::vector<int32_t>> ReadIds(const std::string& path) {
  COSY_ASSIGN_OR_RETURN(Tensor t, ReadNpy(path));
  if (t.dtype() != DType::kI32 || t.dim() > 2 || (t.dim() == 2 && t.size(0) != 1)) {
    return InvalidArgument("SpeechLM: {} holds {}, expected int32 [L] or [1, L]", path,
                           t.ToString());
  }
  COSY_ASSIGN_OR_RETURN(Tensor c, t.Contiguous());
  const int32_t* p = c.data<int32_t>();
  return std::vector<int32_t>(p, p + c.numel());
}

}  // namespace

Result<std::unique_ptr<Node>> SpeechLmNode::Create(const Options& options,
                                                   const NodeContext& ctx) {
  std::string dir = ctx.ResolvePath(options.model_dir);
  if (options.model_dir.empty()) dir = ctx.model_dir.empty() ? "." : ctx.model_dir;
  SpeechLmLoadOptions load;
  if (!kernels::cpu::ParseWeightType(options.precision, &load.weight_type) ||
      load.weight_type == kernels::cpu::WeightType::kInt16) {
    return InvalidArgument("SpeechLM: precision must be f32, bf16 or int8, got '{}'",
                           options.precision);
  }
  load.device = ctx.device;
  COSY_ASSIGN_OR_RETURN(std::unique_ptr<SpeechLm> lm, SpeechLm::Load(dir, load));
  std::vector<int32_t> prompt_text, prompt_speech;
  if (!options.prompt_text_ids.empty()) {
    COSY_ASSIGN_OR_RETURN(prompt_text, ReadIds(ctx.ResolvePath(options.prompt_text_ids)));
  }
  if (!options.prompt_speech_tokens.empty()) {
    COSY_ASSIGN_OR_RETURN(prompt_speech, ReadIds(ctx.ResolvePath(options.prompt_speech_tokens)));
  }
  // Checked here so a wrong file fails at load, not every request that uses the default prompt.
  auto check_ids = [](const std::vector<int32_t>& ids, int64_t end, const std::string& file,
                      std::string_view what) -> Status {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= end) {
        return InvalidArgument("SpeechLM: {} {}: id {} at position {} is outside [0, {})", what,
                               file, ids[i], i, end);
      }
    }
    return OkStatus();
  };
  // text_id_policy "modulo" (test models) wraps text ids at or past the vocabulary.
  COSY_RETURN_IF_ERROR(check_ids(prompt_text,
                                 options.text_id_policy == "modulo"
                                     ? std::numeric_limits<int32_t>::max() + int64_t{1}
                                     : lm->config().qwen.vocab_size,
                                 options.prompt_text_ids, "prompt_text_ids"));
  COSY_RETURN_IF_ERROR(check_ids(prompt_speech, lm->config().speech_token_size,
                                 options.prompt_speech_tokens, "prompt_speech_tokens"));
  auto node = FromModel(options, std::shared_ptr<const SpeechLm>(std::move(lm)));
  static_cast<SpeechLmNode*>(node.get())->set_default_prompt(std::move(prompt_text),
                                                             std::move(prompt_speech));
  return node;
}

std::unique_ptr<Node> SpeechLmNode::FromModel(const Options& options,
                                              std::shared_ptr<const SpeechLm> lm) {
  return std::unique_ptr<Node>(new SpeechLmNode(options, std::move(lm)));
}

namespace {

class SpeechLmSession : public NodeSession {
 public:
  SpeechLmSession(const SpeechLmNodeOptions& o, std::shared_ptr<const SpeechLm> lm,
                  const std::atomic<bool>* cancelled, const std::vector<int32_t>& prompt_text,
                  const std::vector<int32_t>& prompt_speech, SpeechLmPrefixCache* prefix_cache)
      : options_(o), lm_(std::move(lm)), cancelled_(cancelled), default_text_(prompt_text),
        default_speech_(prompt_speech), prefix_cache_(prefix_cache) {}

  Status Process(int, const Message& message, Emitter& out) override {
    const TokenIds* in = message.get<TokenIds>();
    if (in == nullptr) {
      return InvalidArgument("SpeechLM: expected TokenIds, got {}",
                             PayloadTypeName(message.type()));
    }
    if (segments_ == 0 && (in->mode.empty() ? options_.mode : in->mode) == "vc") {
      // Voice conversion: no LM; the source recording's speech tokens are the utterance.
      if (in->prompt == nullptr || in->prompt->source_tokens.empty()) {
        return InvalidArgument(
            "SpeechLM: mode vc needs the source recording's speech tokens (a VoiceFrontend "
            "node before the text nodes, and TextRequest.source_audio_path)");
      }
      ++segments_;
      request_ = *in;
      batch_ = in->prompt->source_tokens;
      Flush(out, /*end_of_segment=*/true);
      return OkStatus();
    }
    if (segments_ > 0 && request_.mode == "vc") return OkStatus();
    if (segments_ == 0) {  // the session's request data
      request_ = *in;
      // The built-in voice fills what the request leaves empty (a request may bring only its
      // transcript, e.g. TextRequest::prompt_text through the text nodes).
      if (request_.prompt_ids.empty()) request_.prompt_ids = default_text_;
      if (request_.prompt_speech.empty()) request_.prompt_speech = default_speech_;
      COSY_RETURN_IF_ERROR(CheckTextIds(&request_.prompt_ids, "prompt text"));
    }
    std::vector<int32_t> ids = in->ids;
    COSY_RETURN_IF_ERROR(CheckTextIds(&ids, "text"));
    if (generator_ == nullptr || !options_.bistream) COSY_RETURN_IF_ERROR(Start(ids));
    if (options_.bistream) COSY_RETURN_IF_ERROR(generator_->PushText(ids));
    return Decode(out);
  }

  Status Close(CloseReason reason, Emitter& out) override {
    if (reason != CloseReason::kEndOfStream) more_ = false;
    if (reason != CloseReason::kEndOfStream || generator_ == nullptr || !options_.bistream) {
      return OkStatus();
    }
    COSY_RETURN_IF_ERROR(generator_->EndText());
    return Decode(out);
  }

  bool HasMoreWork() const override { return more_; }
  Status Continue(Emitter& out) override { return Decode(out); }

 private:
  // A generator for the next segment (one-shot: `text`; bi-stream: text comes by PushText).
  Status Start(const std::vector<int32_t>& text) {
    const TokenIds& r = request_;
    COSY_ASSIGN_OR_RETURN(SpeechLmMode mode,
                          ParseSpeechLmMode(r.mode.empty() ? options_.mode : r.mode));
    const uint64_t seed = (r.seed != 0 ? r.seed : static_cast<uint64_t>(options_.seed)) +
                          static_cast<uint64_t>(segments_++);
    SpeechLmInput input{options_.bistream ? std::vector<int32_t>{} : text, r.prompt_ids,
                        r.prompt_speech};
    input = input.ForMode(mode);
    if (options_.bistream) {
      COSY_ASSIGN_OR_RETURN(generator_,
                            SpeechLmGenerator::StartBistream(*lm_, options_.generate,
                                                             input.prompt_text,
                                                             input.prompt_speech, seed));
    } else {
      COSY_ASSIGN_OR_RETURN(generator_,
                            SpeechLmGenerator::Start(*lm_, options_.generate, input, seed,
                                                     prefix_cache_));
    }
    batch_.reserve(static_cast<size_t>(options_.emit_every));
    return OkStatus();
  }

  // One bounded slice: at most emit_every forward steps, stopping after a full batch was
  // emitted; the remainder is emitted when the generator ends or needs more text. more_ tells
  // the caller to call Continue for the next slice. Stops early (emitting nothing more) once
  // the session is cancelled.
  Status Decode(Emitter& out) {
    more_ = false;
    for (int steps = 0;; ++steps) {
      if (cancelled_ != nullptr && cancelled_->load(std::memory_order_relaxed)) {
        generator_->RequestCancel();
        batch_.clear();
        return OkStatus();
      }
      if (steps == options_.emit_every) {
        more_ = true;
        return OkStatus();
      }
      COSY_ASSIGN_OR_RETURN(SpeechLmStep step, generator_->Step());
      if (step.kind == SpeechLmStep::Kind::kToken) {
        batch_.push_back(step.token);
        if (batch_.size() >= static_cast<size_t>(options_.emit_every)) {
          Flush(out);
          more_ = true;
          return OkStatus();
        }
      } else if (step.kind == SpeechLmStep::Kind::kNeedText) {
        Flush(out);
        return OkStatus();
      } else if (step.kind == SpeechLmStep::Kind::kEnd) {
        Flush(out, /*end_of_segment=*/true);  // one utterance done
        return OkStatus();
      }
    }
  }

  // text_id_policy: ids outside [0, vocab) fail the session ("error") or wrap ("modulo").
  Status CheckTextIds(std::vector<int32_t>* ids, const char* what) const {
    const int64_t vocab = lm_->config().qwen.vocab_size;
    for (size_t i = 0; i < ids->size(); ++i) {
      int32_t& id = (*ids)[i];
      if (id >= 0 && id < vocab) continue;
      if (options_.text_id_policy == "modulo" && id >= 0) {
        id = static_cast<int32_t>(id % vocab);
        continue;
      }
      return OutOfRange(
          "SpeechLM: {} id {} (position {}) is outside the LM's text vocabulary [0, {}): the "
          "tokenizer does not match this model (text_id_policy \"modulo\" exists for test "
          "models only)",
          what, id, i, vocab);
    }
    return OkStatus();
  }

  // The session's first SpeechTokens also carries the request's voice and speed (the flow
  // reads them there).
  void Flush(Emitter& out, bool end_of_segment = false) {
    if (batch_.empty() && !end_of_segment) return;
    SpeechTokens t{batch_, end_of_segment};
    if (!sent_request_) {
      t.prompt = request_.prompt;
      t.speed = request_.speed;
      sent_request_ = true;
    }
    out.Emit(0, std::move(t));
    batch_.clear();
  }

  const SpeechLmNodeOptions& options_;
  std::shared_ptr<const SpeechLm> lm_;
  const std::atomic<bool>* cancelled_;
  const std::vector<int32_t>& default_text_;
  const std::vector<int32_t>& default_speech_;
  SpeechLmPrefixCache* prefix_cache_;  // the node's (null when prompt_cache is 0)
  TokenIds request_;   // request fields of the first message (ids unused)
  int64_t segments_ = 0;  // one-shot generators started so far
  std::unique_ptr<SpeechLmGenerator> generator_;
  std::vector<int32_t> batch_;
  bool more_ = false;  // the generator may have more tokens before it needs text or ends
  bool sent_request_ = false;  // the first SpeechTokens (with voice and speed) was emitted
};

}  // namespace

Result<std::unique_ptr<NodeSession>> SpeechLmNode::OpenSession(const SessionInfo& info) {
  return std::unique_ptr<NodeSession>(
      new SpeechLmSession(options_, lm_, info.cancelled, default_prompt_text_,
                          default_prompt_speech_,
                          options_.prompt_cache > 0 ? &prefix_cache_ : nullptr));
}

}  // namespace cosyflow
