// Prompt audio for voice cloning: decode, check, resample (CosyVoice `load_wav`), and align.
//
// Usage (what CosyVoice2's frontend_zero_shot computes from a prompt file):
//   COSY_ASSIGN_OR_RETURN(auto x16k, LoadPromptAudio(path, kPromptTokenizerRate));
//   COSY_RETURN_IF_ERROR(CheckTokenizerDuration(x16k.size(), path));
//   whisper log-mel (features.h) -> speech tokenizer -> tokens [T_tok]
//   KaldiFbank::ComputeMeanNormalized(x16k) -> CAM++ -> embedding [192]
//   COSY_ASSIGN_OR_RETURN(auto x24k, LoadPromptAudio(path, kPromptFeatRate));
//   MatchaMel::Compute(x24k) -> feat [T_feat, 80]
//   TrimPromptTokensAndFeat(tokens, feat) -> L tokens, 2L frames
// The signal-level helpers live here; the feature extractors in features.h, the resampler in
// sinc_resampler.h, the mel filters in mel_filters.h.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/audio_io/audio_file.h"
#include "nodes/prompt_audio/features.h"
#include "nodes/prompt_audio/sinc_resampler.h"
#include "runtime/status.h"
#include "runtime/tensor.h"

namespace cosyflow::prompt_audio {

inline constexpr int kPromptMinRate = 16000;        // load_wav's min_sr
// Not in load_wav: a bound on what a header may claim (the fastest common studio rate), so a
// corrupt or hostile header cannot ask for a resampling filter of gigabytes.
inline constexpr int kPromptMaxRate = 768000;
inline constexpr int kPromptTokenizerRate = 16000;  // speech tokens and speaker embedding
inline constexpr int kPromptFeatRate = 24000;       // flow prompt_feat (Matcha mel)
inline constexpr double kTokenizerMaxSeconds = 30.0;

// Decodes any file libsndfile reads (wav, flac, ogg, ...): PCM as libsndfile normalises it
// (PCM16 / 32768), float files as stored, mean over channels -> mono f32. Errors name the file:
// missing, not audio, empty (0 samples), or a rate below 16 kHz or above 768 kHz.
Result<AudioData> DecodePromptFile(const std::string& path);

// Checks a decoded prompt (`name` goes into the errors): non-empty, 16000 <= rate <= 768000, and
// resamples it to target_rate with the torchaudio sinc-Hann resampler (cached per rate pair); a
// copy when the rates are equal. CosyVoice load_wav semantics.
Result<std::vector<float>> PreparePromptAudio(std::span<const float> samples, int sample_rate,
                                              int target_rate,
                                              std::string_view name = "prompt audio");

// DecodePromptFile + PreparePromptAudio: CosyVoice `load_wav(path, target_rate)`.
Result<std::vector<float>> LoadPromptAudio(const std::string& path, int target_rate);

// Both signals the zero-shot front end needs, decoding the file once (HEAD CosyVoice2 loads the
// file at 16 kHz and again at 24 kHz; both come from the same decoded samples).
struct PromptWaveforms {
  std::vector<float> x16k;  // [N16] tokenizer + speaker embedding
  std::vector<float> x24k;  // [N24] flow prompt mel
};
Result<PromptWaveforms> LoadPromptWaveforms(const std::string& path);

// The speech tokenizer accepts at most 30 s: OutOfRange naming `name` and the duration when
// samples / 16000 > 30 (exactly 30 s passes).
Status CheckTokenizerDuration(int64_t samples_16k, std::string_view name = "prompt audio");

// CosyVoice2 token/feature alignment (token_mel_ratio 2): L = min(T_feat / 2, T_tok).
inline int64_t AlignedPromptTokenLength(int64_t feat_frames, int64_t tokens) {
  return std::min(feat_frames / 2, tokens);
}

struct TrimmedPrompt {
  Tensor tokens;  // tokens[..., :L] (a view)
  Tensor feat;    // feat[..., :2L, :] (a view)
  int64_t token_len = 0;
};
// tokens: [..., T_tok] (any integer dtype), feat: [..., T_feat, C] -> the first L tokens and the
// first 2L frames. Errors when a tensor has no such axis.
Result<TrimmedPrompt> TrimPromptTokensAndFeat(const Tensor& tokens, const Tensor& feat);

}  // namespace cosyflow::prompt_audio
