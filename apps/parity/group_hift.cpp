// HiFT parity: runs HiftVocoder / HiftSession on the fixture inputs and compares with goldens.
// Tolerances (fixture README "Tolerances"): f0 rel 1e-5; source, conv_post, speech and stream
// chunks 2e-3 max abs. SNR of every waveform is printed alongside.
#include "apps/parity/group_hift.h"

#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <string>

#include "nodes/hift/hift_config.h"
#include "nodes/hift/hift_session.h"
#include "nodes/hift/hift_vocoder.h"

namespace cosyflow::parity {
namespace {

using hift::HiftSession;
using hift::HiftVocoder;

constexpr Tolerance kF0Tol{0, 1e-5};
constexpr Tolerance kWaveTol{2e-3, 0};

struct Floats {
  std::vector<float> v;
  Dims shape;
};

Result<Floats> Load(const Fixture& f, const std::string& name) {
  COSY_ASSIGN_OR_RETURN(Tensor t, f.Load(name));
  COSY_ASSIGN_OR_RETURN(Tensor c, t.To(DType::kF32));
  const float* p = c.data<float>();
  return Floats{std::vector<float>(p, p + c.numel()), t.shape()};
}

Result<Tensor> AsTensor(const Dims& shape, const std::vector<float>& v) {
  return Tensor::FromVector<float>(shape, std::span<const float>(v));
}

// Compares and prints the SNR (10 log10 of signal over error energy) for waveforms.
Status CompareWave(const Fixture& f, Report& r, const std::string& name,
                   const std::vector<float>& actual, const Tolerance& tol) {
  COSY_ASSIGN_OR_RETURN(Floats g, Load(f, name));
  COSY_ASSIGN_OR_RETURN(Tensor a, AsTensor(g.shape, actual.size() == g.v.size()
                                                        ? actual
                                                        : std::vector<float>(g.v.size(), NAN)));
  COSY_ASSIGN_OR_RETURN(Tensor gt, AsTensor(g.shape, g.v));
  if (actual.size() != g.v.size()) {
    r.Fail(name, fmt::format("{} samples, golden has {}", actual.size(), g.v.size()));
    return OkStatus();
  }
  r.Compare(name, a, gt, tol);
  double s = 0, e = 0;
  for (size_t i = 0; i < g.v.size(); ++i) {
    s += double(g.v[i]) * g.v[i];
    e += (double(actual[i]) - g.v[i]) * (double(actual[i]) - g.v[i]);
  }
  fmt::print("  {} SNR {:.1f} dB\n", name, e > 0 ? 10 * std::log10(s / e) : 999.0);
  return OkStatus();
}

Result<std::shared_ptr<const HiftVocoder>> LoadVocoder(const Fixture& f) {
  return HiftVocoder::Create(f.dir());
}

hift::HiftSessionOptions ZeroNoise() {
  hift::HiftSessionOptions o;
  o.noise = hift::HiftNoiseMode::kZero;
  return o;
}

// hift group proper: zero-noise run, recorded-draw run, two-call cache/fade run.
Status RunHiftGoldens(const Fixture& f, Report& r, const std::shared_ptr<const HiftVocoder>& v) {
  COSY_ASSIGN_OR_RETURN(Floats mel, Load(f, "input_hift_mel"));
  const int64_t t = mel.shape[2];
  std::vector<float> f0, post, speech, source;
  hift::HiftCapture cap{&f0, &post};
  hift::HiftScratch scratch;
  COSY_RETURN_IF_ERROR(v->Inference(mel.v.data(), t, t, hift::HiftNoise{}, nullptr, 0, &scratch,
                                    &speech, &source, &cap));
  COSY_ASSIGN_OR_RETURN(Floats g_f0, Load(f, "hift_f0"));
  COSY_ASSIGN_OR_RETURN(Tensor a_f0, AsTensor(g_f0.shape, f0));
  COSY_ASSIGN_OR_RETURN(Tensor t_f0, AsTensor(g_f0.shape, g_f0.v));
  r.Compare("hift_f0", a_f0, t_f0, kF0Tol);
  COSY_RETURN_IF_ERROR(CompareWave(f, r, "hift_zero_source", source, kWaveTol));
  COSY_RETURN_IF_ERROR(CompareWave(f, r, "hift_zero_conv_post", post, kWaveTol));
  COSY_RETURN_IF_ERROR(CompareWave(f, r, "hift_zero_speech", speech, kWaveTol));

  // Recorded draws on the first 20 frames.
  COSY_ASSIGN_OR_RETURN(Floats ini, Load(f, "hift_rec_rand_ini"));
  COSY_ASSIGN_OR_RETURN(Floats noise, Load(f, "hift_rec_sine_noise"));
  r.UsedAsInput("hift_rec_rand_ini");  // the recorded draws are injected, not produced
  r.UsedAsInput("hift_rec_sine_noise");
  HiftSession rec(v, ZeroNoise());
  COSY_RETURN_IF_ERROR(rec.InjectNoise(ini.v, noise.v));
  const int64_t rec_frames = noise.shape[1] / v->config().SamplesPerFrame();
  COSY_RETURN_IF_ERROR(rec.Synthesize(mel.v.data(), t, rec_frames, &speech));
  COSY_RETURN_IF_ERROR(CompareWave(f, r, "hift_rec_source", rec.last_call().source, kWaveTol));
  COSY_RETURN_IF_ERROR(CompareWave(f, r, "hift_rec_speech", speech, kWaveTol));

  // token2wav-style two-call stream: frames [0, n) then [n, T) with finalize, where n (24 in
  // tiny-seed0) is the first call's frame count as the fixture records it: the length of its
  // raw output hift_stream_call1_speech over the samples per frame.
  COSY_ASSIGN_OR_RETURN(Tensor call1, f.Load("hift_stream_call1_speech"));
  const int64_t spf = v->config().SamplesPerFrame();
  const int64_t first = call1.numel() / spf;
  if (first <= 0 || first >= t || first * spf != call1.numel()) {
    return DataLoss("hift_stream_call1_speech: {} samples is not a first call of 1..{} frames",
                    call1.numel(), t - 1);
  }
  HiftSession st(v, ZeroNoise());
  std::vector<float> chunk0, chunk1;
  COSY_RETURN_IF_ERROR(st.Push(mel.v.data(), t, first, false, &chunk0));
  std::vector<float> rest;  // channel-major [80, T - first]
  const int64_t c = mel.shape[1];
  for (int64_t ch = 0; ch < c; ++ch) {
    rest.insert(rest.end(), mel.v.begin() + ch * t + first, mel.v.begin() + (ch + 1) * t);
  }
  COSY_RETURN_IF_ERROR(st.Push(rest.data(), t - first, t - first, true, &chunk1));
  COSY_RETURN_IF_ERROR(CompareWave(f, r, "hift_stream_chunk0", chunk0, kWaveTol));
  COSY_RETURN_IF_ERROR(
      CompareWave(f, r, "hift_stream_call1_speech", st.last_call().raw_speech, kWaveTol));
  return CompareWave(f, r, "hift_stream_chunk1", chunk1, kWaveTol);
}

// token2wav_stream: drive one session with the new frames of each recorded HiFT input mel. The
// calls come from the manifest's stream_schedule (count, finalize flag); the cached frames at
// the head of each input mel are what it has beyond the new frames of its flow call
// (t2w_stream_flow{i}_mel minus t2w_stream_flow{i-1}_mel frames; 8 in tiny-seed0).
Status RunT2wStream(const Fixture& f, Report& r, const std::shared_ptr<const HiftVocoder>& v) {
  HiftSession s(v, ZeroNoise());
  const auto& schedule = f.manifest().at("stream_schedule");
  int64_t prev_flow_frames = 0;
  for (size_t i = 0; i < schedule.size(); ++i) {
    const std::string p = fmt::format("t2w_stream_hift{}", i);
    COSY_ASSIGN_OR_RETURN(Floats in_mel, Load(f, p + "_in_mel"));
    COSY_ASSIGN_OR_RETURN(Tensor flow_mel, f.Load(fmt::format("t2w_stream_flow{}_mel", i)));
    const int64_t c = in_mel.shape[1], t = in_mel.shape[2];
    const int64_t fresh_frames = flow_mel.size(2) - prev_flow_frames;
    prev_flow_frames = flow_mel.size(2);
    const int64_t skip = t - fresh_frames;
    if (skip < 0 || (i == 0 && skip != 0)) {
      return DataLoss("{}_in_mel: {} frames but its flow call has {} new frames", p, t,
                      fresh_frames);
    }
    std::vector<float> fresh;
    for (int64_t ch = 0; ch < c; ++ch) {
      fresh.insert(fresh.end(), in_mel.v.begin() + ch * t + skip, in_mel.v.begin() + (ch + 1) * t);
    }
    std::vector<float> chunk;
    const bool last = schedule[i].at("finalize").get<bool>();
    COSY_RETURN_IF_ERROR(s.Push(fresh.data(), t - skip, t - skip, last, &chunk));
    const auto& call = s.last_call();
    // The session's mel input (its cache + the new frames) must be the recorded one exactly.
    COSY_ASSIGN_OR_RETURN(Tensor in_a,
                          AsTensor(in_mel.shape, call.mel.size() == in_mel.v.size()
                                                     ? call.mel
                                                     : std::vector<float>(in_mel.v.size(), NAN)));
    COSY_ASSIGN_OR_RETURN(Tensor in_g, AsTensor(in_mel.shape, in_mel.v));
    if (call.mel.size() != in_mel.v.size()) {
      r.Fail(p + "_in_mel", fmt::format("the session's mel input has {} values, golden {}",
                                        call.mel.size(), in_mel.v.size()));
    } else {
      r.Compare(p + "_in_mel", in_a, in_g, Tolerance{0, 0});
    }
    COSY_RETURN_IF_ERROR(CompareWave(f, r, p + "_in_cache_source", call.cache_source, kWaveTol));
    COSY_RETURN_IF_ERROR(CompareWave(f, r, p + "_out_source", call.source, kWaveTol));
    COSY_RETURN_IF_ERROR(CompareWave(f, r, p + "_out_speech", call.raw_speech, kWaveTol));
    COSY_RETURN_IF_ERROR(CompareWave(f, r, fmt::format("t2w_stream_chunk{}", i), chunk, kWaveTol));
  }
  return OkStatus();
}

// token2wav non-stream: HiFT on the flow's non-streaming mel (= t2w_stream_flow2_mel).
Status RunT2wNonstream(const Fixture& f, Report& r, const std::shared_ptr<const HiftVocoder>& v) {
  COSY_ASSIGN_OR_RETURN(Floats mel, Load(f, "flow_nonstream_mel"));
  HiftSession s(v, ZeroNoise());
  std::vector<float> speech;
  COSY_RETURN_IF_ERROR(s.Synthesize(mel.v.data(), mel.shape[2], mel.shape[2], &speech));
  return CompareWave(f, r, "t2w_nonstream_wav", speech, kWaveTol);
}

bool IsStreamHift(const GoldenEntry& e) {
  return e.group == "token2wav_stream" &&
         (e.name.rfind("t2w_stream_hift", 0) == 0 || e.name.rfind("t2w_stream_chunk", 0) == 0);
}

}  // namespace

std::vector<Group> HiftGroups() {
  return {
      Group{"hift",
            [](const Fixture& f, Report& r) -> Status {
              COSY_ASSIGN_OR_RETURN(auto v, LoadVocoder(f));
              COSY_RETURN_IF_ERROR(RunHiftGoldens(f, r, v));
              COSY_RETURN_IF_ERROR(RunT2wStream(f, r, v));
              return RunT2wNonstream(f, r, v);
            }},
      Group{"token2wav_stream_hift",
            [](const Fixture& f, Report& r) -> Status {
              COSY_ASSIGN_OR_RETURN(auto v, LoadVocoder(f));
              return RunT2wStream(f, r, v);
            },
            IsStreamHift},
  };
}

}  // namespace cosyflow::parity
