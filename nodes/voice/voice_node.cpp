// VoiceFrontendNode: resolves a request's voice (see voice_node.h).
#include "nodes/voice/voice_node.h"

#include <filesystem>

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
  r.Finish();
}

void VoiceFrontendNodeOptions::Validate(const std::string& path, ErrorList* errors) const {
  if (speech_tokenizer.empty() != campplus.empty()) {
    errors->Add(path + ".campplus", "speech_tokenizer and campplus must be given together");
  }
  if (voices.empty()) errors->Add(path + ".voices", "must name the voice store file");
  if (cache < 0 || cache > 1024) errors->Add(path + ".cache", "must be in [0, 1024], got {}", cache);
  if (!default_voice.empty()) {
    Status s = voice::ValidateVoiceId(default_voice);
    if (!s.ok()) errors->Add(path + ".default_voice", "{}", s.message());
  }
}

std::string VoiceFrontendNodeOptions::ToString() const {
  return fmt::format(
      "{{\"speech_tokenizer\": \"{}\", \"campplus\": \"{}\", \"voices\": \"{}\", "
      "\"default_voice\": \"{}\", \"cache\": {}}}",
      speech_tokenizer, campplus, voices, default_voice, cache);
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
  if (!options.speech_tokenizer.empty()) {
    voice::VoiceFrontendFiles files{ctx.ResolvePath(options.speech_tokenizer),
                                    ctx.ResolvePath(options.campplus)};
    COSY_ASSIGN_OR_RETURN(node->frontend_, voice::VoiceFrontend::Load(files));
  }
  node->store_ = std::make_unique<voice::VoiceStore>(ctx.ResolvePath(options.voices));
  if (!options.default_voice.empty()) {
    COSY_RETURN_IF_ERROR(node->store_->Get(options.default_voice).status());
  }
  return std::unique_ptr<Node>(std::move(node));
}

Result<std::unique_ptr<NodeSession>> VoiceFrontendNode::OpenSession(const SessionInfo&) {
  return std::unique_ptr<NodeSession>(new VoiceFrontendSession(*this));
}

Result<VoicePromptPtr> VoiceFrontendNode::FromRecording(const std::string& path) const {
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
  const std::string key = fmt::format("{}\n{}\n{}", path, size, mtime);
  if (options_.cache > 0) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    for (size_t i = 0; i < cache_.size(); ++i) {
      if (cache_[i].key == key) {
        Cached hit = cache_[i];
        cache_.erase(cache_.begin() + static_cast<std::ptrdiff_t>(i));
        cache_.push_back(hit);
        return hit.voice;
      }
    }
  }
  COSY_ASSIGN_OR_RETURN(VoicePrompt v, frontend_->FromFile(path));
  auto voice = std::make_shared<const VoicePrompt>(std::move(v));
  if (options_.cache > 0) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    cache_.push_back({key, voice});
    while (cache_.size() > static_cast<size_t>(options_.cache)) cache_.erase(cache_.begin());
  }
  return VoicePromptPtr(voice);
}

Result<VoicePromptPtr> VoiceFrontendNode::Resolve(const TextRequest& in) const {
  VoicePromptPtr base = in.prompt;
  const bool samples = in.prompt_samples.defined() && in.prompt_samples.numel() > 0;
  if (base == nullptr && (samples || !in.prompt_audio_path.empty())) {
    if (samples) {
      if (frontend_ == nullptr) {
        return InvalidArgument("VoiceFrontend: this graph has no speech tokenizer / campplus "
                               "models, so it cannot use prompt recordings");
      }
      if (in.prompt_samples.dtype() != DType::kF32 || in.prompt_samples.dim() != 1) {
        return InvalidArgument("VoiceFrontend: prompt_samples must be mono f32 [n], got {}",
                               in.prompt_samples.ToString());
      }
      COSY_ASSIGN_OR_RETURN(Tensor c, in.prompt_samples.Contiguous());
      COSY_ASSIGN_OR_RETURN(VoicePrompt v, frontend_->FromSamples(
                                               std::span<const float>(c.data<float>(), c.numel()),
                                               in.prompt_sample_rate, "prompt_samples"));
      base = std::make_shared<const VoicePrompt>(std::move(v));
    } else {
      COSY_ASSIGN_OR_RETURN(base, FromRecording(in.prompt_audio_path));
    }
    if ((in.mode.empty() || in.mode == "zero_shot") && in.prompt_text.empty()) {
      return InvalidArgument(
          "VoiceFrontend: zero_shot with a prompt recording needs its transcript (prompt_text); "
          "use mode cross_lingual for a recording without one");
    }
  } else if (base == nullptr && !in.voice.empty() && in.voice != "default") {
    COSY_ASSIGN_OR_RETURN(base, store_->Get(in.voice));
  } else if (base == nullptr && !options_.default_voice.empty()) {
    COSY_ASSIGN_OR_RETURN(base, store_->Get(options_.default_voice));
  }
  if (in.mode == "vc") {
    if (in.source_audio_path.empty()) {
      return InvalidArgument("VoiceFrontend: mode vc needs source_audio_path (the speech to convert)");
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
