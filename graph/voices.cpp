// The voices of a loaded TTS graph (graph/voices.h).
#include "graph/voices.h"

#include <algorithm>
#include <cmath>

#include "nodes/llm/speech_lm_node.h"
#include "nodes/tokenizer/qwen2_tokenizer.h"
#include "nodes/tokenizer/tokenizer_node.h"
#include "nodes/voice/voice_node.h"

namespace cosyflow::tts {
namespace {
constexpr int64_t kMinVoiceFrames = 50;  // 1 s of prompt mel (50 Hz)
}  // namespace

Result<VoicePrompt> MakeVoice(const voice::VoiceFrontend& frontend,
                              const tokenizer::Qwen2Tokenizer& tokenizer,
                              const VoiceRecording& recording, const std::string& id,
                              const std::string& prompt_text) {
  COSY_RETURN_IF_ERROR(voice::ValidateVoiceId(id));
  if (prompt_text.find_first_not_of(" \t\r\n") == std::string::npos) {
    return InvalidArgument("voice '{}': the transcript of the recording (prompt_text) is empty",
                           id);
  }
  VoicePrompt v;
  if (recording.samples.empty()) {
    if (recording.path.empty()) return InvalidArgument("voice '{}': no recording", id);
    COSY_ASSIGN_OR_RETURN(v, frontend.FromFile(recording.path));
  } else {
    COSY_ASSIGN_OR_RETURN(v, frontend.FromSamples(recording.samples, recording.sample_rate,
                                                  "voice '" + id + "' recording"));
  }
  // The front end takes a fraction of a second, but such a prompt is no voice to clone.
  if (v.feat_frames() < kMinVoiceFrames) {
    return InvalidArgument(
        "voice '{}': the recording gives {:.2f} s of prompt; a voice needs at least {} s "
        "(3 to 10 s of clear speech work best)",
        id, static_cast<double>(v.feat_frames()) / 50.0, kMinVoiceFrames / 50);
  }
  v.id = id;
  COSY_ASSIGN_OR_RETURN(v.prompt_text_ids, tokenizer.Encode(prompt_text));
  return v;
}

Status CheckVoiceFitsSpeechLm(const VoicePrompt& v, const SpeechLmGenerateOptions& lm) {
  const auto text = static_cast<int64_t>(v.prompt_text_ids.size());
  const auto speech = static_cast<int64_t>(v.lm_speech_tokens.empty() ? v.speech_tokens.size()
                                                                      : v.lm_speech_tokens.size());
  // As SpeechLmGenerator::Start counts: [SOS] + prompt text + target text + [TASK_ID] + prompt
  // speech rows, plus max_len - 1 generated positions; here one target text token, so the
  // shortest request takes max_len positions (at least its text token).
  int64_t max_len = static_cast<int64_t>(std::floor(lm.max_token_text_ratio));
  if (lm.max_tokens > 0) max_len = std::min(max_len, lm.max_tokens);
  const int64_t prompt = 2 + text + speech;
  const int64_t shortest = std::max<int64_t>(max_len, 1);
  if (prompt + shortest <= lm.max_context) return OkStatus();
  return OutOfRange(
      "voice '{}': the SpeechLM cannot hold it: its prompt takes {} positions ({} prompt_text "
      "tokens, {} prompt speech tokens, 2 markers) and the shortest request {} more, over "
      "max_context {}; shorten prompt_text",
      v.id, prompt, text, speech, shortest, lm.max_context);
}

std::shared_ptr<GraphVoices> GraphVoices::Of(const Pipeline& p) {
  std::shared_ptr<GraphVoices> g(new GraphVoices());
  for (const PlanNode& n : p.plan().nodes) {
    const Node* node = p.FindNode(n.id);
    if (g->node_ == nullptr && n.spec.type == "VoiceFrontend") {
      g->node_ = dynamic_cast<const VoiceFrontendNode*>(node);
    } else if (g->lm_ == nullptr && n.spec.type == "SpeechLM") {
      g->lm_ = dynamic_cast<const SpeechLmNode*>(node);
    } else if (g->tokenizer_ == nullptr && n.spec.type == "Qwen2Tokenizer") {
      if (const auto* t = dynamic_cast<const Qwen2TokenizerNode*>(node))
        g->tokenizer_ = t->tokenizer();
    }
  }
  return g;
}

bool GraphVoices::Known(const std::string& id) const {
  if (id.empty() || id == kDefaultVoiceId) return true;
  return node_ != nullptr && node_->store().Contains(id);
}

Result<bool> GraphVoices::Lookup(const std::string& id) const {
  if (id.empty() || id == kDefaultVoiceId) return true;
  if (node_ == nullptr) return false;
  auto v = node_->store().Get(id);
  if (v.ok()) return true;
  if (v.status().code() == StatusCode::kNotFound) return false;
  return v.status();
}

bool GraphVoices::can_add() const {
  return node_ != nullptr && node_->frontend() != nullptr && tokenizer_ != nullptr;
}

std::string GraphVoices::store_file() const {
  return node_ == nullptr ? std::string() : node_->store().file().string();
}

Result<VoiceListing> GraphVoices::Listing(const VoiceListing& base, const VoicePrompt& v) const {
  VoiceListing l = base;
  if (l.kind.empty()) l.kind = v.speech_tokens.empty() ? "sft" : "zero_shot";
  l.prompt_seconds = static_cast<double>(v.feat_frames()) / 50.0;
  if (tokenizer_ != nullptr && !v.prompt_text_ids.empty()) {
    COSY_ASSIGN_OR_RETURN(l.prompt_text, tokenizer_->Decode(v.prompt_text_ids));
  }
  return l;
}

Result<std::vector<VoiceListing>> GraphVoices::List() const {
  std::vector<VoiceListing> out;
  VoiceListing def{kDefaultVoiceId, "", "graph", 0, ""};
  if (node_ == nullptr) return std::vector<VoiceListing>{def};
  voice::VoiceStore& store = node_->store();
  if (!node_->default_voice().empty()) {
    def.default_voice = node_->default_voice();
    COSY_ASSIGN_OR_RETURN(VoicePromptPtr v, store.Get(def.default_voice));
    COSY_ASSIGN_OR_RETURN(def, Listing(def, *v));
  }
  out.push_back(def);
  COSY_ASSIGN_OR_RETURN(std::vector<voice::VoiceInfo> infos, store.List());
  for (const auto& info : infos) {
    // A voice removed between List and Get is skipped, not an error.
    auto v = store.Get(info.id);
    if (!v.ok()) continue;
    COSY_ASSIGN_OR_RETURN(VoiceListing l, Listing({info.id, "", "", 0, ""}, **v));
    out.push_back(std::move(l));
  }
  return out;
}

Result<VoiceListing> GraphVoices::Add(const VoiceRecording& recording, const std::string& id,
                                      const std::string& prompt_text, bool replace) const {
  if (id == kDefaultVoiceId) {
    return InvalidArgument("voice id '{}' names the graph's own voice; pick another id", id);
  }
  COSY_RETURN_IF_ERROR(voice::ValidateVoiceId(id));
  if (!can_add()) {
    return Unsupported(
        "this graph cannot add voices: it needs a VoiceFrontend node with its speech tokenizer "
        "and campplus models, and a Qwen2Tokenizer node");
  }
  voice::VoiceStore& store = node_->store();
  if (!replace && store.Contains(id)) {
    return InvalidArgument("voice '{}' already exists in {}", id, store.file().string());
  }
  COSY_ASSIGN_OR_RETURN(VoicePrompt v,
                        MakeVoice(*node_->frontend(), *tokenizer_, recording, id, prompt_text));
  if (lm_ != nullptr) COSY_RETURN_IF_ERROR(CheckVoiceFitsSpeechLm(v, lm_->options().generate));
  COSY_RETURN_IF_ERROR(store.Add(v, replace));
  return Listing({id, "", "", 0, ""}, v);
}

Status GraphVoices::Remove(const std::string& id) const {
  if (id.empty() || id == kDefaultVoiceId) {
    return InvalidArgument("'{}' is the graph's own voice and cannot be removed", id);
  }
  if (node_ == nullptr) return NotFound("voice '{}' not found (the graph has no voice store)", id);
  if (id == node_->default_voice()) {
    return InvalidArgument("voice '{}' is the graph's default_voice and cannot be removed", id);
  }
  return node_->store().Remove(id);
}

}  // namespace cosyflow::tts
