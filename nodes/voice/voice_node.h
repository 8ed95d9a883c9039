// VoiceFrontendNode ("VoiceFrontend"): resolves each request's voice before the text nodes.
//
// Ports:   in  request TextRequest; out request TextRequest (the same, with `prompt` set)
// Resolution (the session's first message; later bi-stream chunks reuse it):
//   1. TextRequest.prompt already set (API callers)            -> kept
//   2. prompt_samples + prompt_sample_rate, or prompt_audio_path (+ prompt_text, the
//      transcript)                                             -> computed from the recording
//      (VoiceFrontend: speech tokens, prompt mel, CAM++ embedding; cached per file version)
//   3. voice = an id in the voice store (not "" / "default")   -> the stored voice
//   4. option default_voice (an id in the store)               -> that voice
//   5. otherwise no voice: the flow's configured prompt (no-prompt layout, zero x-vector)
//   Mode "vc": the target voice from 1-4 plus source_audio_path's speech tokens (required).
//   Modes "sft" / "no_prompt" / "instruct": the voice's embedding only (as the reference's sft).
//   Modes "" / "zero_shot" with a prompt recording but no transcript fail: the LM prompt needs
//   it (use cross_lingual for a recording without transcript).
// Options: speech_tokenizer string, default "speech_tokenizer_v2.onnx" ("" = none: only stored
//                         voices work); campplus string, default "campplus.onnx" (with it)
//          voices         string, default "spk2info.pt": the voice store (nodes/voice/
//                         voice_store.h; an absent file is an empty store)
//          default_voice  string, default "" (none)
//          cache          int in [0, 1024], default 16: prompt recordings whose voice is kept
//                         (keyed by path, size and modification time)
//          (relative paths resolve against the graph's model_dir)
// Errors:  unknown voice id (NotFound, names the store and its voices), unreadable or too
//          short/long recordings, rate below 16 kHz -> that request fails.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "nodes/core/node.h"
#include "nodes/voice/voice_frontend.h"
#include "nodes/voice/voice_store.h"

namespace cosyflow {

struct VoiceFrontendNodeOptions {
  std::string speech_tokenizer = "speech_tokenizer_v2.onnx";
  std::string campplus = "campplus.onnx";
  std::string voices = "spk2info.pt";
  std::string default_voice;
  int cache = 16;

  void Parse(const nlohmann::json& j, const std::string& path, ErrorList* errors);
  void Validate(const std::string& path, ErrorList* errors) const;
  std::string ToString() const;
};

class VoiceFrontendNode : public Node {
 public:
  using Options = VoiceFrontendNodeOptions;
  static NodeSpec Spec();
  static Result<std::unique_ptr<Node>> Create(const Options& options, const NodeContext& ctx);

  Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo& info) override;

  // The voice a request selects (resolution above); null = no voice.
  Result<VoicePromptPtr> Resolve(const TextRequest& request) const;

  // For the doors that list and add voices (graph/voices.h). The store is safe to use from
  // any thread and process (voice_store.h); the front end is null without the ONNX models.
  voice::VoiceStore& store() const { return *store_; }
  const voice::VoiceFrontend* frontend() const { return frontend_.get(); }
  const std::string& default_voice() const { return options_.default_voice; }

 private:
  VoiceFrontendNode() = default;
  Result<VoicePromptPtr> FromRecording(const std::string& path) const;

  Options options_;
  std::shared_ptr<const voice::VoiceFrontend> frontend_;  // null without ONNX models
  std::unique_ptr<voice::VoiceStore> store_;
  mutable std::mutex cache_mu_;
  struct Cached {
    std::string key;
    VoicePromptPtr voice;
  };
  mutable std::vector<Cached> cache_;  // most recent last
};

}  // namespace cosyflow
