// VoiceFrontend: a prompt recording -> a voice (spec §3, CosyVoice2 frontend_zero_shot /
// frontend_vc), with the two official ONNX models run natively (runtime/onnx) and the
// prompt-audio features of nodes/prompt_audio.
//
//   speech tokens  x16k -> whisper log-mel 128 -> speech_tokenizer_v2.onnx -> [T_tok] (<= 30 s)
//   embedding      x16k -> Kaldi fbank 80, mean-normalised -> campplus.onnx -> [192]
//   prompt mel     x24k -> Matcha mel 80 (50 Hz) -> [T_feat, 80]
//   alignment      L = min(T_feat / 2, T_tok): the first L tokens, the first 2 L frames
// The file is decoded once; x16k / x24k are resampled from the decoded samples with the
// torchaudio sinc-Hann resampler (as the reference's two load_wav calls).
//
// Deliberate deviation: the reference's frontend_vc passes the prompt untrimmed; the flow here
// needs exactly 2 frames per prompt token, so the vc prompt is trimmed too (at most one token /
// two frames differ; the converted speech itself is unaffected in length by more than 1 frame).
//
// Thread-safe: the models and feature extractors are immutable; every call keeps its own state.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/core/message.h"
#include "runtime/status.h"

namespace cosyflow::onnx {
class Model;
}

namespace cosyflow::voice {

struct VoiceFrontendFiles {
  std::string speech_tokenizer;  // speech_tokenizer_v2.onnx
  std::string campplus;          // campplus.onnx
};

class VoiceFrontend {
 public:
  static Result<std::shared_ptr<const VoiceFrontend>> Load(const VoiceFrontendFiles& files);
  ~VoiceFrontend();

  // Speech tokens of a 16 kHz signal (OutOfRange above 30 s). `name` goes into errors.
  Result<std::vector<int32_t>> SpeechTokens(std::span<const float> x16k,
                                            std::string_view name) const;
  // CAM++ x-vector [192] of a 16 kHz signal (at least 400 samples).
  Result<std::vector<float>> SpeakerEmbedding(std::span<const float> x16k,
                                              std::string_view name) const;
  // Matcha mel [T, 80] time-major of a 24 kHz signal.
  Result<std::vector<float>> PromptMel(std::span<const float> x24k, std::string_view name) const;

  // A voice (speech tokens, prompt mel, embedding; aligned) from a recording file or from
  // samples at any rate >= 16 kHz. prompt_text_ids stay empty (the caller tokenises the
  // transcript).
  Result<VoicePrompt> FromFile(const std::string& path) const;
  Result<VoicePrompt> FromSamples(std::span<const float> samples, int sample_rate,
                                  std::string_view name) const;
  // vc: the speech tokens of a source recording file (<= 30 s).
  Result<std::vector<int32_t>> SourceTokens(const std::string& path) const;

 private:
  VoiceFrontend() = default;
  Result<VoicePrompt> FromWaveforms(const std::vector<float>& x16k, const std::vector<float>& x24k,
                                    std::string_view name) const;

  std::shared_ptr<const onnx::Model> tokenizer_;
  std::shared_ptr<const onnx::Model> campplus_;
  struct Features;
  std::unique_ptr<const Features> features_;
};

}  // namespace cosyflow::voice
