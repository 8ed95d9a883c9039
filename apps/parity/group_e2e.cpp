// End-to-end parity: chains SpeechLmGenerator -> FlowSession -> HiftSession on the fixture
// inputs and compares with the pipeline / token2wav / token2wav_stream goldens.
// Tolerances (fixture README "Tolerances"): token ids exact; flow mels 1e-3 max abs; waveforms,
// sources and stream chunks 2e-3 max abs or SNR >= 40 dB (the SNR of every waveform is printed).
#include "apps/parity/group_e2e.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "apps/parity/group_flow.h"
#include "apps/parity/group_llm.h"
#include "nodes/flow/flow_model.h"
#include "nodes/flow/flow_session.h"
#include "nodes/hift/hift_session.h"
#include "nodes/hift/hift_vocoder.h"
#include "nodes/llm/speech_lm.h"
#include "nodes/llm/speech_lm_generator.h"

namespace cosyflow::parity {
namespace {

constexpr Tolerance kExact{0, 0};
constexpr Tolerance kMelTol{1e-3, 0};
constexpr double kWaveAbs = 2e-3;
constexpr double kWaveSnrDb = 40;

template <typename T>
Result<std::vector<T>> Values(const Fixture& f, const std::string& name) {
  COSY_ASSIGN_OR_RETURN(Tensor t, f.Load(name));
  COSY_ASSIGN_OR_RETURN(Tensor c, t.Contiguous());
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}

// Compares `actual` (any layout with the golden's element count) on the golden's shape.
template <typename T>
Status CompareAs(const Fixture& f, Report& r, const std::string& name, const std::vector<T>& actual,
                 const Tolerance& tol) {
  COSY_ASSIGN_OR_RETURN(Tensor g, f.Load(name));
  if (static_cast<int64_t>(actual.size()) != g.numel()) {
    r.Fail(name, fmt::format("{} values, golden {} has {}", actual.size(), g.shape().ToString(),
                             g.numel()));
    return OkStatus();
  }
  COSY_ASSIGN_OR_RETURN(Tensor a, Tensor::FromVector<T>(g.shape(), std::span<const T>(actual)));
  r.Compare(name, a, g, tol);
  return OkStatus();
}

// Waveforms: pass on max abs <= 2e-3 or SNR >= 40 dB; prints the SNR.
Status CompareWave(const Fixture& f, Report& r, const std::string& name,
                   const std::vector<float>& actual) {
  COSY_ASSIGN_OR_RETURN(std::vector<float> g, Values<float>(f, name));
  double signal = 0, error = 0, max_abs = 0;
  for (size_t i = 0; i < std::min(g.size(), actual.size()); ++i) {
    const double d = double(actual[i]) - g[i];
    signal += double(g[i]) * g[i];
    error += d * d;
    max_abs = std::max(max_abs, std::fabs(d));
  }
  const double snr = error > 0 ? 10 * std::log10(signal / error) : 999.0;
  const bool snr_pass = actual.size() == g.size() && !g.empty() && snr >= kWaveSnrDb;
  Tolerance tol{snr_pass ? std::max(kWaveAbs, max_abs) : kWaveAbs, 0};
  COSY_RETURN_IF_ERROR(CompareAs<float>(f, r, name, actual, tol));
  if (!g.empty()) {
    fmt::print("  {} SNR {:.1f} dB{}\n", name, snr,
               max_abs > kWaveAbs && snr_pass ? " (passes on SNR >= 40 dB)" : "");
  }
  return OkStatus();
}

// [80, frames] channel-major slice of a golden mel [1, 80, T] from frame `from`.
Result<std::vector<float>> GoldenMelFrom(const Fixture& f, const std::string& name, int64_t from) {
  COSY_ASSIGN_OR_RETURN(Tensor g, f.Load(name));
  COSY_ASSIGN_OR_RETURN(Tensor s, g.Slice(2, std::min(from, g.size(2)), g.size(2)));
  COSY_ASSIGN_OR_RETURN(Tensor c, s.Contiguous());
  const float* p = c.data<float>();
  return std::vector<float>(p, p + c.numel());
}

struct Models {
  std::unique_ptr<flow::FlowModel> flow;
  std::shared_ptr<const hift::HiftVocoder> hift;
  flow::FlowPrompt prompt;
};

Result<Models> LoadModels(const Fixture& f) {
  Models m;
  COSY_ASSIGN_OR_RETURN(auto cfg, flow::FlowConfig::FromFile(f.Path("config.json")));
  COSY_ASSIGN_OR_RETURN(m.flow, flow::FlowModel::Create(f.Path("flow.pt"), cfg, FlowLoadOptions()));
  COSY_ASSIGN_OR_RETURN(m.hift, hift::HiftVocoder::Create(f.dir()));
  COSY_ASSIGN_OR_RETURN(m.prompt.tokens, Values<int32_t>(f, "input_flow_prompt_speech_token"));
  COSY_ASSIGN_OR_RETURN(m.prompt.feat, Values<float>(f, "input_prompt_speech_feat"));
  COSY_ASSIGN_OR_RETURN(m.prompt.embedding, Values<float>(f, "input_embedding"));
  return m;
}

hift::HiftSessionOptions ZeroNoise() {
  hift::HiftSessionOptions o;
  o.noise = hift::HiftNoiseMode::kZero;
  return o;
}

// tts(stream=False) after the LM: one flow call (finalize) and one HiFT call.
Result<std::vector<float>> Token2WavNonStream(const Models& m, std::span<const int32_t> tokens) {
  COSY_ASSIGN_OR_RETURN(auto session, flow::FlowSession::Open(*m.flow, m.prompt));
  COSY_RETURN_IF_ERROR(session->PushTokens(tokens));
  COSY_ASSIGN_OR_RETURN(flow::FlowMel mel, session->RunOnce());
  hift::HiftSession vocoder(m.hift, ZeroNoise());
  std::vector<float> speech;
  COSY_RETURN_IF_ERROR(vocoder.Synthesize(mel.data.data(), mel.frames, mel.frames, &speech));
  return speech;
}

// Greedy zero-shot LM tokens for the fixture's llm inputs.
Result<std::vector<int32_t>> GreedyTokens(const Fixture& f) {
  SpeechLmLoadOptions load;
  load.device = LlmDevice();
  COSY_ASSIGN_OR_RETURN(auto lm, SpeechLm::Load(f.dir(), load));
  SpeechLmInput in;
  COSY_ASSIGN_OR_RETURN(in.text, Values<int32_t>(f, "input_text"));
  COSY_ASSIGN_OR_RETURN(in.prompt_text, Values<int32_t>(f, "input_prompt_text"));
  COSY_ASSIGN_OR_RETURN(in.prompt_speech, Values<int32_t>(f, "input_llm_prompt_speech_token"));
  SpeechLmGenerateOptions options;
  options.sampling.greedy = true;
  COSY_ASSIGN_OR_RETURN(auto gen, SpeechLmGenerator::Start(*lm, options, in, 0));
  std::vector<int32_t> tokens;
  for (;;) {
    COSY_ASSIGN_OR_RETURN(SpeechLmStep step, gen->Step());
    if (step.kind == SpeechLmStep::Kind::kToken) tokens.push_back(step.token);
    if (step.kind == SpeechLmStep::Kind::kEnd) return tokens;
    if (step.kind == SpeechLmStep::Kind::kNeedText) {
      return Internal("pipeline: one-shot generator asked for more text");
    }
  }
}

Status RunPipeline(const Fixture& f, Report& r) {
  COSY_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, GreedyTokens(f));
  COSY_RETURN_IF_ERROR(CompareAs<int32_t>(f, r, "llm_greedy_tokens", tokens, kExact));
  COSY_ASSIGN_OR_RETURN(Models m, LoadModels(f));
  COSY_ASSIGN_OR_RETURN(std::vector<float> wav, Token2WavNonStream(m, tokens));
  return CompareWave(f, r, "pipeline_text2wav_nonstream", wav);
}

Status RunToken2Wav(const Fixture& f, Report& r) {
  COSY_ASSIGN_OR_RETURN(Models m, LoadModels(f));
  COSY_ASSIGN_OR_RETURN(std::vector<int32_t> tokens,
                        Values<int32_t>(f, "input_source_speech_token"));
  COSY_ASSIGN_OR_RETURN(std::vector<float> wav, Token2WavNonStream(m, tokens));
  return CompareWave(f, r, "t2w_nonstream_wav", wav);
}

// One flow chunk through HiFT, compared with call `i`'s goldens.
Status StreamChunk(const Fixture& f, Report& r, int i, const flow::MelChunk& chunk,
                   hift::HiftSession* vocoder) {
  const std::string flow_name = fmt::format("t2w_stream_flow{}_mel", i);
  COSY_ASSIGN_OR_RETURN(std::vector<float> golden_mel,
                        GoldenMelFrom(f, flow_name, chunk.first_frame));
  COSY_ASSIGN_OR_RETURN(
      Tensor gm, Tensor::FromVector<float>({1, 80, static_cast<int64_t>(golden_mel.size() / 80)},
                                           std::span<const float>(golden_mel)));
  if (static_cast<int64_t>(chunk.mel.data.size()) != gm.numel()) {
    r.Fail(flow_name, fmt::format("session chunk has {} frames from frame {}, golden {}",
                                  chunk.mel.frames, chunk.first_frame, gm.size(2)));
  } else {
    COSY_ASSIGN_OR_RETURN(
        Tensor am, Tensor::FromVector<float>(gm.shape(), std::span<const float>(chunk.mel.data)));
    r.Compare(flow_name, am, gm, kMelTol);  // the frames this chunk emits (from first_frame)
  }
  std::vector<float> audio;
  COSY_RETURN_IF_ERROR(
      vocoder->Push(chunk.mel.data.data(), chunk.mel.frames, chunk.mel.frames, chunk.last, &audio));
  const hift::HiftCallRecord& call = vocoder->last_call();
  const std::string p = fmt::format("t2w_stream_hift{}", i);
  COSY_RETURN_IF_ERROR(CompareAs<float>(f, r, p + "_in_mel", call.mel, kMelTol));
  COSY_RETURN_IF_ERROR(CompareWave(f, r, p + "_in_cache_source", call.cache_source));
  COSY_RETURN_IF_ERROR(CompareWave(f, r, p + "_out_source", call.source));
  COSY_RETURN_IF_ERROR(CompareWave(f, r, p + "_out_speech", call.raw_speech));
  return CompareWave(f, r, fmt::format("t2w_stream_chunk{}", i), audio);
}

// tts(stream=True): tokens arrive one at a time, as the LM emits them.
Status RunToken2WavStream(const Fixture& f, Report& r) {
  COSY_ASSIGN_OR_RETURN(Models m, LoadModels(f));
  COSY_ASSIGN_OR_RETURN(std::vector<int32_t> tokens,
                        Values<int32_t>(f, "input_source_speech_token"));
  COSY_ASSIGN_OR_RETURN(auto flow, flow::FlowSession::Open(*m.flow, m.prompt));
  hift::HiftSession vocoder(m.hift, ZeroNoise());
  const auto& schedule = f.manifest().at("stream_schedule");
  int calls = 0;
  int64_t pushed = 0;
  for (int32_t token : tokens) {
    COSY_RETURN_IF_ERROR(flow->PushTokens(std::span<const int32_t>(&token, 1)));
    ++pushed;
    if (!flow->ChunkReady()) continue;
    // The chunk must be ready exactly at the manifest call's token count.
    if (calls >= static_cast<int>(schedule.size()) ||
        schedule[calls].at("n_tokens").get<int64_t>() != pushed) {
      r.Fail(fmt::format("token2wav_stream_call{}_tokens", calls),
             fmt::format("flow chunk {} ready after {} tokens; manifest stream_schedule: {}", calls,
                         pushed,
                         calls < static_cast<int>(schedule.size()) ? schedule[calls].dump()
                                                                   : std::string("no such call")),
             "");
    }
    COSY_ASSIGN_OR_RETURN(flow::MelChunk chunk, flow->NextChunk());
    COSY_RETURN_IF_ERROR(StreamChunk(f, r, calls++, chunk, &vocoder));
  }
  COSY_ASSIGN_OR_RETURN(flow::MelChunk last, flow->Finish());
  COSY_RETURN_IF_ERROR(StreamChunk(f, r, calls++, last, &vocoder));
  const size_t want = schedule.size();
  if (static_cast<size_t>(calls) != want) {
    r.Fail("token2wav_stream_schedule",
           fmt::format("{} flow/HiFT calls, manifest stream_schedule has {}", calls, want), "");
  }
  return OkStatus();
}

}  // namespace

std::vector<Group> E2eGroups() {
  return {
      {"pipeline", RunPipeline},
      {"token2wav", RunToken2Wav},
      {"token2wav_stream", RunToken2WavStream},
  };
}

}  // namespace cosyflow::parity
