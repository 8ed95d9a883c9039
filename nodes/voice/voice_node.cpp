// VoiceFrontendNode: resolves a request's voice (see voice_node.h).
#include "nodes/voice/voice_node.h"

#include <filesystem>

#include "runtime/sha256.h"

namespace cosyflow {
namespace {

class VoiceFrontendSession : public NodeSession {
 public:
  explicit VoiceFrontendSession(const VoiceFrontendNode& node) : node_(node) {}

  Status Process(int, const Message& message, Emitter& out) override {
    const TextRequest* in = message.get<TextRequest>();
    if (in == nullptr) {
      return InvalidArgument("VoiceFrontend: expected TextRequest, got {}",
                             PayloadTypeName(message.type()));
    }
    if (!resolved_) {
      COSY_ASSIGN_OR_RETURN(voice_, node_.Resolve(*in));
      resolved_ = true;
    }
    TextRequest r = *in;
    r.prompt = voice_;
    out.Emit(0, std::move(r));
    return OkStatus();
  }

  Status Close(CloseReason, Emitter&) override { return OkStatus(); }

 private:
  const VoiceFrontendNode& node_;
  bool resolved_ = false;
  VoicePromptPtr voice_;
};

}  // namespace

void VoiceFrontendNodeOptions::Parse(const nlohmann::json& j, const std::string& path,
                                     ErrorList* errors) {
  JsonObjectReader r(j, path, errors);
  r.Read("speech_tokenizer", &speech_tokenizer);
  r.Read("campplus", &campplus);
  r.Read("voices", &voices);
  r.Read("default_voice", &default_voice);
  r.Read("cache", &cache);
  r.Read("inline_cache", &inline_cache);
  r.Finish();
}

void VoiceFrontendNodeOptions::Validate(const std::string& path, ErrorList* errors) const {
  if (speech_tokenizer.empty() != campplus.empty()) {
    errors->Add(path + ".campplus", "speech_tokenizer and campplus must be given together");
  }
  if (voices.empty()) errors->Add(path + ".voices", "must name the voice store file");
  if (cache < 0 || cache > 1024)
    errors->Add(path + ".cache", "must be in [0, 1024], got {}", cache);
  if (inline_cache < 0 || inline_cache > 1024) {
    errors->Add(path + ".inline_cache", "must be in [0, 1024], got {}", inline_cache);
  }
  if (!default_voice.empty()) {
    Status s = voice::ValidateVoiceId(default_voice);
    if (!s.ok()) errors->Add(path + ".default_voice", "{}", s.message());
  }
}

std::string VoiceFrontendNodeOptions::ToString() const {
  return fmt::format(
      "{{\"speech_tokenizer\": \"{}\", \"campplus\": \"{}\", \"voices\": \"{}\", "
      "\"default_voice\": \"{}\", \"cache\": {}, \"inline_cache\": {}}}",
      speech_tokenizer, campplus, voices, default_voice, cache, inline_cache);
}

NodeSpec VoiceFrontendNode::Spec() {
  NodeSpec s;
  s.type = "VoiceFrontend";
  s.inputs = {{"request", PayloadType::kTextRequest}};
  s.outputs = {{"request", PayloadType::kTextRequest}};
  s.concurrency = Concurrency::kStateful;
  return s;
}

Result<std::unique_ptr<Node>> VoiceFrontendNode::Create(const Options& options,
                                                        const NodeContext& ctx) {
  std::unique_ptr<VoiceFrontendNode> node(new VoiceFrontendNode());
  node->options_ = options;
  node->recording_cache_ = std::make_unique<voice::VoiceCache>(options.cache);
  node->inline_cache_ = std::make_unique<voice::VoiceCache>(options.inline_cache);
  if (!options.speech_tokenizer.empty()) {
    voice::VoiceFrontendFiles files{ctx.ResolvePath(options.speech_tokenizer),
                                    ctx.ResolvePath(options.campplus)};
    COSY_ASSIGN_OR_RETURN(node->frontend_, voice::VoiceFrontend::Load(files));
  }
  node->store_ = std::make_unique<voice::VoiceStore>(ctx.ResolvePath(options.voices));
  // An absent store is an empty one (voices get added later); one that exists is read now, so a
  // wrong path (a checkpoint, a directory) fails at load (`cosyflow check --load`) instead of
  // failing every request that names a voice.
  std::error_code ec;
  if (std::filesystem::exists(ctx.ResolvePath(options.voices), ec)) {
    COSY_RETURN_IF_ERROR(node->store_->List().status());
  }
  if (!options.default_voice.empty()) {
    COSY_RETURN_IF_ERROR(node->store_->Get(options.default_voice).status());
  }
  return std::unique_ptr<Node>(std::move(node));
}

Result<std::unique_ptr<NodeSession>> VoiceFrontendNode::OpenSession(const SessionInfo&) {
  return std::unique_ptr<NodeSession>(new VoiceFrontendSession(*this));
}

Result<VoicePromptPtr> VoiceFrontendNode::FromRecording(const std::string& path,
                                                        const std::string& prompt_text) const {
  if (frontend_ == nullptr) {
    return InvalidArgument(
        "VoiceFrontend: this graph has no speech tokenizer / campplus models, so it cannot use "
        "prompt recordings (only stored voices)");
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return NotFound("{}: cannot read prompt recording: {}", path, ec.message());
  const auto mtime = fs::last_write_time(path, ec).time_since_epoch().count();
  const std::string key = Sha256::Hex(Sha256()
                                          .UpdateField("path")
                                          .UpdateField(path)
                                          .UpdateField(std::to_string(size))
                                          .UpdateField(std::to_string(mtime))
                                          .UpdateField(prompt_text)
                                          .Final());
  if (VoicePromptPtr hit = recording_cache_->Find(key)) return hit;
  COSY_ASSIGN_OR_RETURN(VoicePrompt v, frontend_->FromFile(path));
  VoicePromptPtr voice = std::make_shared<const VoicePrompt>(std::move(v));
  recording_cache_->Put(key, voice);
  return voice;
}

// Inline samples: the key hashes their bytes (a 30 s prompt at 48 kHz hashes in ~10 ms, against
// ~270 ms to tokenise, embed and mel it at real model size).
Result<VoicePromptPtr> VoiceFrontendNode::FromSamples(const TextRequest& in) const {
  if (frontend_ == nullptr) {
    return InvalidArgument(
        "VoiceFrontend: this graph has no speech tokenizer / campplus models, so it cannot use "
        "prompt recordings");
  }
  if (in.prompt_samples.dtype() != DType::kF32 || in.prompt_samples.dim() != 1) {
    return InvalidArgument("VoiceFrontend: prompt_samples must be mono f32 [n], got {}",
                           in.prompt_samples.ToString());
  }
  COSY_ASSIGN_OR_RETURN(Tensor c, in.prompt_samples.Contiguous());
  const std::span<const float> samples(c.data<float>(), static_cast<size_t>(c.numel()));
  const std::string key = Sha256::Hex(Sha256()
                                          .UpdateField("samples")
                                          .UpdateField(samples.data(), samples.size_bytes())
                                          .UpdateField(std::to_string(in.prompt_sample_rate))
                                          .UpdateField(in.prompt_text)
                                          .Final());
  if (VoicePromptPtr hit = inline_cache_->Find(key)) return hit;
  COSY_ASSIGN_OR_RETURN(VoicePrompt v,
                        frontend_->FromSamples(samples, in.prompt_sample_rate, "prompt_samples"));
  VoicePromptPtr voice = std::make_shared<const VoicePrompt>(std::move(v));
  inline_cache_->Put(key, voice);
  return voice;
}

Result<VoicePromptPtr> VoiceFrontendNode::Resolve(const TextRequest& in) const {
  VoicePromptPtr base = in.prompt;
  const bool samples = in.prompt_samples.defined() && in.prompt_samples.numel() > 0;
  // Two voices in one request: refused rather than one of them silently ignored.
  if (base == nullptr && samples && !in.prompt_audio_path.empty()) {
    return InvalidArgument(
        "VoiceFrontend: the request gives both prompt samples and a prompt recording file ('{}'); "
        "give one",
        in.prompt_audio_path);
  }
  if (base == nullptr && (samples || !in.prompt_audio_path.empty()) && !in.voice.empty() &&
      in.voice != "default") {
    return InvalidArgument(
        "VoiceFrontend: the request gives both the voice '{}' and a prompt recording; give one",
        in.voice);
  }
  if (base == nullptr && (samples || !in.prompt_audio_path.empty())) {
    if ((in.mode.empty() || in.mode == "zero_shot") && in.prompt_text.empty()) {
      return InvalidArgument(
          "VoiceFrontend: zero_shot with a prompt recording needs its transcript (prompt_text); "
          "use mode cross_lingual for a recording without one");
    }
    if (samples) {
      COSY_ASSIGN_OR_RETURN(base, FromSamples(in));
    } else {
      COSY_ASSIGN_OR_RETURN(base, FromRecording(in.prompt_audio_path, in.prompt_text));
    }
  } else if (base == nullptr && !in.voice.empty() && in.voice != "default") {
    COSY_ASSIGN_OR_RETURN(base, store_->Get(in.voice));
  } else if (base == nullptr && !options_.default_voice.empty()) {
    COSY_ASSIGN_OR_RETURN(base, store_->Get(options_.default_voice));
  }
  if (in.mode == "vc") {
    if (in.source_audio_path.empty()) {
      return InvalidArgument(
          "VoiceFrontend: mode vc needs source_audio_path (the speech to convert)");
    }
    if (base == nullptr || base->speech_tokens.empty()) {
      return InvalidArgument(
          "VoiceFrontend: mode vc needs a target voice with a prompt (a voice id or a prompt "
          "recording)");
    }
    if (frontend_ == nullptr) {
      return InvalidArgument("VoiceFrontend: mode vc needs the speech tokenizer model");
    }
    auto v = std::make_shared<VoicePrompt>(*base);
    COSY_ASSIGN_OR_RETURN(v->source_tokens, frontend_->SourceTokens(in.source_audio_path));
    return VoicePromptPtr(std::move(v));
  }
  if (base != nullptr && (in.mode == "sft" || in.mode == "no_prompt" || in.mode == "instruct")) {
    auto v = std::make_shared<VoicePrompt>();
    v->id = base->id;
    v->embedding = base->embedding;
    return VoicePromptPtr(std::move(v));
  }
  return base;
}

}  // namespace cosyflow
