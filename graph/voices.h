// The voices of a loaded TTS graph, for the doors (GET/POST/DELETE /v1/voices, Wyoming's
// describe, the voice checks before a request opens) and `cosyflow voice add`: the graph's
// VoiceFrontend node (its voice store, its two ONNX models, its default_voice) and its
// Qwen2Tokenizer node (transcripts in and out). docs/voices.md, docs/serving.md.
//
//   auto voices = tts::GraphVoices::Of(pipeline);     // never null
//   voices->Known("alice");                           // "" and "default" always
//   voices->Add({.samples = x, .sample_rate = 24000}, "alice", "transcript", false);
//
// "default" (or "") names the graph's own voice: the VoiceFrontend's default_voice when it has
// one, else the flow's configured prompt (the no-prompt layout on the tiny test model). It is
// not a store id: adding or removing "default" is refused.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "graph/pipeline.h"
#include "nodes/llm/speech_lm_generator.h"
#include "nodes/voice/voice_frontend.h"
#include "nodes/voice/voice_store.h"

namespace cosyflow {
class SpeechLmNode;
class VoiceFrontendNode;
namespace tokenizer {
class Qwen2Tokenizer;
}
}  // namespace cosyflow

namespace cosyflow::tts {

inline constexpr const char* kDefaultVoiceId = "default";

// A prompt recording: a file (any libsndfile format) or decoded mono samples.
struct VoiceRecording {
  std::string path;                // used when samples is empty
  std::span<const float> samples;  // mono, [-1, 1]
  int sample_rate = 0;             // >= 16000 with samples
};

// The one way a voice is made (as CosyVoice's add_zero_shot_spk): the recording's speech
// tokens, prompt mel and CAM++ embedding (aligned 1:2), the transcript tokenised as given.
// Errors: unreadable / shorter than 1 s / below 16 kHz recordings (InvalidArgument or NotFound),
// longer than 30 s (OutOfRange), an empty transcript (InvalidArgument).
Result<VoicePrompt> MakeVoice(const voice::VoiceFrontend& frontend,
                              const tokenizer::Qwen2Tokenizer& tokenizer,
                              const VoiceRecording& recording, const std::string& id,
                              const std::string& prompt_text);

// Whether a SpeechLM with `lm`'s limits can use voice `v` at all: [SOS], the prompt text, [TASK_ID]
// and the prompt speech must leave room in max_context for the shortest request (one text token
// and the speech tokens it may make, max_token_text_ratio / max_tokens). Otherwise every request
// with the voice would fail, so it is refused when it is made: OutOfRange naming the limit and
// the prompt's lengths.
Status CheckVoiceFitsSpeechLm(const VoicePrompt& v, const SpeechLmGenerateOptions& lm);

// One voice as the doors list it.
struct VoiceListing {
  std::string id;
  std::string prompt_text;  // the stored transcript ("" when none)
  std::string kind;         // "zero_shot", "sft" or "graph" (the default entry)
  double prompt_seconds = 0;
  std::string default_voice;  // the "default" entry only: the store id it stands for, or ""
};

class GraphVoices {
 public:
  // The voices of a loaded pipeline (the first VoiceFrontend and Qwen2Tokenizer nodes). A graph
  // without a VoiceFrontend has only "default". Must not outlive the pipeline.
  static std::shared_ptr<GraphVoices> Of(const Pipeline& p);

  // "" / "default", or an id in the store.
  bool Known(const std::string& id) const;
  // The same, but a store that cannot be read (truncated, corrupt) is that error, not "unknown".
  Result<bool> Lookup(const std::string& id) const;
  // "default" first, then the store's voices in file order.
  Result<std::vector<VoiceListing>> List() const;
  // Adding needs the store, the ONNX front-end models and the tokenizer.
  bool can_add() const;
  // Makes the voice (MakeVoice) and stores it. Refused: "default" or an invalid id
  // (InvalidArgument), an id already there without `replace` (InvalidArgument; Known(id) is
  // then true), a graph that cannot add (Unsupported), a prompt the graph's SpeechLM cannot
  // hold (CheckVoiceFitsSpeechLm: OutOfRange), and MakeVoice's refusals.
  Result<VoiceListing> Add(const VoiceRecording& recording, const std::string& id,
                           const std::string& prompt_text, bool replace) const;
  // NotFound when absent; the graph's default_voice and "default" are refused (InvalidArgument).
  Status Remove(const std::string& id) const;
  // The store file ("" without a VoiceFrontend).
  std::string store_file() const;

 private:
  GraphVoices() = default;
  Result<VoiceListing> Listing(const VoiceListing& base, const VoicePrompt& v) const;

  const VoiceFrontendNode* node_ = nullptr;
  const SpeechLmNode* lm_ = nullptr;  // the first SpeechLM (null: none, nothing to check)
  std::shared_ptr<const tokenizer::Qwen2Tokenizer> tokenizer_;
};

}  // namespace cosyflow::tts
