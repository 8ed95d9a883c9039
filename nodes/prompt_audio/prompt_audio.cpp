// Prompt audio decode/check/resample (CosyVoice load_wav) and the token/feature alignment.
#include "nodes/prompt_audio/prompt_audio.h"

#include <algorithm>
#include <cmath>

namespace cosyflow::prompt_audio {
namespace {

Status CheckPrompt(std::span<const float> samples, int sample_rate, std::string_view name) {
  if (samples.empty()) return InvalidArgument("{}: no audio samples", name);
  if (sample_rate < kPromptMinRate) {
    return InvalidArgument("{}: sample rate {} Hz is below the minimum {} Hz", name, sample_rate,
                           kPromptMinRate);
  }
  if (sample_rate > kPromptMaxRate) {
    return InvalidArgument("{}: sample rate {} Hz is above the maximum {} Hz", name, sample_rate,
                           kPromptMaxRate);
  }
  // NaN / Inf would pass through every feature and make a voice that speaks silence.
  const auto bad =
      std::find_if(samples.begin(), samples.end(), [](float v) { return !std::isfinite(v); });
  if (bad != samples.end()) {
    return InvalidArgument("{}: sample {} is {} (audio samples must be finite)", name,
                           bad - samples.begin(), *bad);
  }
  return OkStatus();
}

}  // namespace

Result<AudioData> DecodePromptFile(const std::string& path) {
  COSY_ASSIGN_OR_RETURN(AudioData audio, ReadAudioFile(path));
  COSY_RETURN_IF_ERROR(
      CheckPrompt(audio.samples, audio.sample_rate, fmt::format("prompt '{}'", path)));
  return audio;
}

Result<std::vector<float>> PreparePromptAudio(std::span<const float> samples, int sample_rate,
                                              int target_rate, std::string_view name) {
  COSY_RETURN_IF_ERROR(CheckPrompt(samples, sample_rate, name));
  if (target_rate <= 0) return InvalidArgument("{}: bad target rate {}", name, target_rate);
  if (sample_rate == target_rate) return std::vector<float>(samples.begin(), samples.end());
  COSY_ASSIGN_OR_RETURN(auto resampler, SharedSincResampler(sample_rate, target_rate));
  std::vector<float> out;
  COSY_RETURN_IF_ERROR(resampler->Resample(samples, &out));
  return out;
}

Result<std::vector<float>> LoadPromptAudio(const std::string& path, int target_rate) {
  COSY_ASSIGN_OR_RETURN(AudioData audio, DecodePromptFile(path));
  return PreparePromptAudio(audio.samples, audio.sample_rate, target_rate,
                            fmt::format("prompt '{}'", path));
}

Result<PromptWaveforms> LoadPromptWaveforms(const std::string& path) {
  COSY_ASSIGN_OR_RETURN(AudioData audio, DecodePromptFile(path));
  const std::string name = fmt::format("prompt '{}'", path);
  PromptWaveforms w;
  COSY_ASSIGN_OR_RETURN(
      w.x16k, PreparePromptAudio(audio.samples, audio.sample_rate, kPromptTokenizerRate, name));
  COSY_ASSIGN_OR_RETURN(
      w.x24k, PreparePromptAudio(audio.samples, audio.sample_rate, kPromptFeatRate, name));
  return w;
}

Status CheckTokenizerDuration(int64_t samples_16k, std::string_view name) {
  const double seconds = static_cast<double>(samples_16k) / kPromptTokenizerRate;
  if (seconds > kTokenizerMaxSeconds) {
    return OutOfRange("{}: {:.2f} s at 16 kHz is longer than the speech tokenizer's {} s limit",
                      name, seconds, kTokenizerMaxSeconds);
  }
  return OkStatus();
}

Result<TrimmedPrompt> TrimPromptTokensAndFeat(const Tensor& tokens, const Tensor& feat) {
  if (tokens.dim() < 1) return InvalidArgument("prompt tokens: need [..., T_tok], got a scalar");
  if (feat.dim() < 2) {
    return InvalidArgument("prompt feat: need [..., T_feat, C], got {}", feat.ToString());
  }
  TrimmedPrompt t;
  t.token_len = AlignedPromptTokenLength(feat.size(-2), tokens.size(-1));
  COSY_ASSIGN_OR_RETURN(t.tokens, tokens.Slice(-1, 0, t.token_len));
  COSY_ASSIGN_OR_RETURN(t.feat, feat.Slice(-2, 0, 2 * t.token_len));
  return t;
}

}  // namespace cosyflow::prompt_audio
