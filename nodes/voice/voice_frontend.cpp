// VoiceFrontend: prompt recording -> voice (see voice_frontend.h).
#include "nodes/voice/voice_frontend.h"

#include "nodes/prompt_audio/prompt_audio.h"
#include "runtime/onnx/model.h"

namespace cosyflow::voice {
namespace pa = prompt_audio;

struct VoiceFrontend::Features {
  pa::WhisperLogMel whisper;
  pa::KaldiFbank fbank;
  pa::MatchaMel matcha;
};

namespace {

// Checks that `m` has `inputs` inputs and at least one output; names the file.
Status CheckIo(const onnx::Model& m, const std::string& path, size_t inputs) {
  if (m.inputs().size() != inputs || m.outputs().empty()) {
    return InvalidArgument("{}: expected {} input(s) and an output, the model has {} and {}", path,
                           inputs, m.inputs().size(), m.outputs().size());
  }
  return OkStatus();
}

}  // namespace

VoiceFrontend::~VoiceFrontend() = default;

Result<std::shared_ptr<const VoiceFrontend>> VoiceFrontend::Load(const VoiceFrontendFiles& files) {
  std::shared_ptr<VoiceFrontend> f(new VoiceFrontend());
  COSY_ASSIGN_OR_RETURN(f->tokenizer_, onnx::Model::Load(files.speech_tokenizer));
  COSY_RETURN_IF_ERROR(CheckIo(*f->tokenizer_, files.speech_tokenizer, 2));
  COSY_ASSIGN_OR_RETURN(f->campplus_, onnx::Model::Load(files.campplus));
  COSY_RETURN_IF_ERROR(CheckIo(*f->campplus_, files.campplus, 1));
  COSY_ASSIGN_OR_RETURN(pa::WhisperLogMel whisper, pa::WhisperLogMel::Create(128));
  COSY_ASSIGN_OR_RETURN(pa::KaldiFbank fbank, pa::KaldiFbank::Create(80, 16000));
  COSY_ASSIGN_OR_RETURN(pa::MatchaMel matcha, pa::MatchaMel::Create());
  f->features_.reset(new Features{std::move(whisper), std::move(fbank), std::move(matcha)});
  return std::shared_ptr<const VoiceFrontend>(std::move(f));
}

Result<std::vector<int32_t>> VoiceFrontend::SpeechTokens(std::span<const float> x16k,
                                                         std::string_view name) const {
  COSY_RETURN_IF_ERROR(pa::CheckTokenizerDuration(static_cast<int64_t>(x16k.size()), name));
  if (pa::WhisperLogMel::Frames(static_cast<int64_t>(x16k.size())) < 4) {
    return InvalidArgument("{}: {} samples at 16 kHz is too short for the speech tokenizer", name,
                           x16k.size());
  }
  COSY_ASSIGN_OR_RETURN(Tensor mel, features_->whisper.Compute(x16k));  // [128, T]
  COSY_ASSIGN_OR_RETURN(Tensor feats, mel.Unsqueeze(0));
  const std::vector<int32_t> len{static_cast<int32_t>(mel.size(1))};
  COSY_ASSIGN_OR_RETURN(Tensor feats_length, Tensor::FromVector<int32_t>(Dims{1}, len));
  const Tensor inputs[] = {feats, feats_length};
  auto out = tokenizer_->Run(inputs);
  if (!out.ok()) return out.status().WithContext(fmt::format("{}: speech tokenizer", name));
  const Tensor& idx = (*out)[0];
  if (idx.dtype() != DType::kI32 && idx.dtype() != DType::kI64) {
    return InvalidArgument("speech tokenizer: output 0 is {}, expected int32/int64 indices",
                           idx.ToString());
  }
  COSY_ASSIGN_OR_RETURN(Tensor ids, idx.To(DType::kI32));
  const int32_t* p = ids.data<int32_t>();
  std::vector<int32_t> tokens(p, p + ids.numel());
  for (int32_t t : tokens) {
    if (t < 0 || t >= 6561) {
      return OutOfRange("{}: speech tokenizer produced token {} outside [0, 6561)", name, t);
    }
  }
  return tokens;
}

Result<std::vector<float>> VoiceFrontend::SpeakerEmbedding(std::span<const float> x16k,
                                                           std::string_view name) const {
  if (x16k.size() < 400) {
    return InvalidArgument("{}: {} samples at 16 kHz is shorter than one fbank frame (400)", name,
                           x16k.size());
  }
  COSY_ASSIGN_OR_RETURN(Tensor fbank, features_->fbank.ComputeMeanNormalized(x16k));  // [T, 80]
  COSY_ASSIGN_OR_RETURN(Tensor input, fbank.Unsqueeze(0));
  const Tensor inputs[] = {input};
  auto out = campplus_->Run(inputs);
  if (!out.ok()) return out.status().WithContext(fmt::format("{}: campplus", name));
  COSY_ASSIGN_OR_RETURN(Tensor e, (*out)[0].To(DType::kF32));
  if (e.numel() != VoicePrompt::kEmbeddingDim) {
    return InvalidArgument("campplus: output has {} values, expected {}", e.numel(),
                           VoicePrompt::kEmbeddingDim);
  }
  const float* p = e.data<float>();
  return std::vector<float>(p, p + e.numel());
}

Result<std::vector<float>> VoiceFrontend::PromptMel(std::span<const float> x24k,
                                                    std::string_view name) const {
  auto mel = features_->matcha.Compute(x24k);
  if (!mel.ok()) return mel.status().WithContext(fmt::format("{}: prompt mel", name));
  COSY_ASSIGN_OR_RETURN(Tensor c, mel->Contiguous());
  const float* p = c.data<float>();
  return std::vector<float>(p, p + c.numel());
}

Result<VoicePrompt> VoiceFrontend::FromWaveforms(const std::vector<float>& x16k,
                                                 const std::vector<float>& x24k,
                                                 std::string_view name) const {
  VoicePrompt v;
  COSY_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, SpeechTokens(x16k, name));
  COSY_ASSIGN_OR_RETURN(v.embedding, SpeakerEmbedding(x16k, name));
  COSY_ASSIGN_OR_RETURN(std::vector<float> feat, PromptMel(x24k, name));
  const int64_t frames = static_cast<int64_t>(feat.size()) / VoicePrompt::kMelBins;
  const int64_t len = pa::AlignedPromptTokenLength(frames, static_cast<int64_t>(tokens.size()));
  if (len < 1) {
    return InvalidArgument("{}: too short for a voice ({} tokens, {} mel frames)", name,
                           tokens.size(), frames);
  }
  v.speech_tokens.assign(tokens.begin(), tokens.begin() + len);
  v.feat.assign(feat.begin(), feat.begin() + 2 * len * VoicePrompt::kMelBins);
  return v;
}

Result<VoicePrompt> VoiceFrontend::FromFile(const std::string& path) const {
  COSY_ASSIGN_OR_RETURN(pa::PromptWaveforms w, pa::LoadPromptWaveforms(path));
  return FromWaveforms(w.x16k, w.x24k, path);
}

Result<VoicePrompt> VoiceFrontend::FromSamples(std::span<const float> samples, int sample_rate,
                                               std::string_view name) const {
  COSY_ASSIGN_OR_RETURN(std::vector<float> x16k,
                        pa::PreparePromptAudio(samples, sample_rate, pa::kPromptTokenizerRate, name));
  COSY_ASSIGN_OR_RETURN(std::vector<float> x24k,
                        pa::PreparePromptAudio(samples, sample_rate, pa::kPromptFeatRate, name));
  return FromWaveforms(x16k, x24k, name);
}

Result<std::vector<int32_t>> VoiceFrontend::SourceTokens(const std::string& path) const {
  COSY_ASSIGN_OR_RETURN(std::vector<float> x16k,
                        pa::LoadPromptAudio(path, pa::kPromptTokenizerRate));
  return SpeechTokens(x16k, path);
}

}  // namespace cosyflow::voice
