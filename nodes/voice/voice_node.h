// VoiceFrontendNode ("VoiceFrontend"): resolves each request's voice before the text nodes.
//
// Ports:   in  request TextRequest; out request TextRequest (the same, with `prompt` set)
// Resolution (the session's first message; later bi-stream chunks reuse it):
//   1. TextRequest.prompt already set (API callers)            -> kept
//   2. prompt_samples + prompt_sample_rate, or prompt_audio_path (+ prompt_text, the
//      transcript)                                             -> computed from the recording
//      (VoiceFrontend: speech tokens, prompt mel, CAM++ embedding; kept in the LRU caches
//      below, so a repeated prompt + transcript is not recomputed)
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
//          cache          int in [0, 1024], default 16: prompt recordings by path whose voice
//                         is kept (LRU keyed by path, size, modification time and prompt_text)
//          inline_cache   int in [0, 1024], default 16: the same for inline prompt_samples (LRU
//                         keyed by SHA-256 of the samples' bytes, sample rate and prompt_text);
//                         0 disables either cache
//          (relative paths resolve against the graph's model_dir)
// Errors:  unknown voice id (NotFound, names the store and its voices), unreadable or too
//          short/long recordings, rate below 16 kHz -> that request fails.
#pragma once

#include <memory>
#include <string>

#include "nodes/core/node.h"
#include "nodes/voice/voice_cache.h"
#include "nodes/voice/voice_frontend.h"
#include "nodes/voice/voice_store.h"

namespace cosyflow {

struct VoiceFrontendNodeOptions {
  std::string speech_tokenizer = "speech_tokenizer_v2.onnx";
  std::string campplus = "campplus.onnx";
  std::string voices = "spk2info.pt";
  std::string default_voice;
  int cache = 16;
  int inline_cache = 16;

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
  // Hits, misses and entries of the two voice caches (tests, metrics).
  voice::VoiceCacheStats recording_cache_stats() const { return recording_cache_->stats(); }
  voice::VoiceCacheStats inline_cache_stats() const { return inline_cache_->stats(); }

 private:
  VoiceFrontendNode() = default;
  Result<VoicePromptPtr> FromRecording(const std::string& path,
                                       const std::string& prompt_text) const;
  Result<VoicePromptPtr> FromSamples(const TextRequest& in) const;

  Options options_;
  std::shared_ptr<const voice::VoiceFrontend> frontend_;  // null without ONNX models
  std::unique_ptr<voice::VoiceStore> store_;
  std::unique_ptr<voice::VoiceCache> recording_cache_;  // prompt_audio_path (option cache)
  std::unique_ptr<voice::VoiceCache> inline_cache_;     // prompt_samples (option inline_cache)
};

}  // namespace cosyflow
