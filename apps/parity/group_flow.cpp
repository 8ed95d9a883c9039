// Flow parity: runs FlowModel / FlowSession on the fixture inputs and compares with the goldens.
#include "apps/parity/group_flow.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>

#include "nodes/flow/cfm_noise.h"
#include "nodes/flow/flow_model.h"
#include "nodes/flow/flow_session.h"

namespace cosyflow::parity {
namespace {

using flow::FlowModel;
using flow::FlowPrompt;
using flow::FlowSession;

// Fixture README "Tolerances": flow tensors 1e-3 max abs (float32 reference noise ~1e-5).
constexpr Tolerance kFlowTol{1e-3, 0};
constexpr Tolerance kExact{0, 0};

Result<Tensor> FromFloats(const Dims& shape, const std::vector<float>& v) {
  return Tensor::FromVector<float>(shape, std::span<const float>(v));
}

// [rows, cols] row-major -> [cols, rows] (time-major engine tensors vs channel-major goldens).
std::vector<float> Transposed(const float* x, int64_t rows, int64_t cols) {
  std::vector<float> y(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) y[c * rows + r] = x[r * cols + c];
  }
  return y;
}

Result<std::vector<int32_t>> Ints(const Fixture& f, const std::string& name) {
  COSY_ASSIGN_OR_RETURN(Tensor t, f.Load(name));
  COSY_ASSIGN_OR_RETURN(Tensor c, t.Contiguous());
  const int32_t* p = c.data<int32_t>();
  return std::vector<int32_t>(p, p + c.numel());
}

Result<std::vector<float>> Floats(const Fixture& f, const std::string& name) {
  COSY_ASSIGN_OR_RETURN(Tensor t, f.Load(name));
  COSY_ASSIGN_OR_RETURN(Tensor c, t.To(DType::kF32));
  const float* p = c.data<float>();
  return std::vector<float>(p, p + c.numel());
}

struct FlowInputs {
  std::unique_ptr<FlowModel> model;
  FlowPrompt prompt;
  std::vector<int32_t> tokens;
};

Result<FlowInputs> LoadInputs(const Fixture& f) {
  FlowInputs in;
  COSY_ASSIGN_OR_RETURN(auto cfg, flow::FlowConfig::FromFile(f.Path("config.json")));
  COSY_ASSIGN_OR_RETURN(in.model, FlowModel::Create(f.Path("flow.pt"), cfg, FlowLoadOptions()));
  COSY_ASSIGN_OR_RETURN(in.prompt.tokens, Ints(f, "input_flow_prompt_speech_token"));
  COSY_ASSIGN_OR_RETURN(in.prompt.feat, Floats(f, "input_prompt_speech_feat"));
  COSY_ASSIGN_OR_RETURN(in.prompt.embedding, Floats(f, "input_embedding"));
  COSY_ASSIGN_OR_RETURN(in.tokens, Ints(f, "input_source_speech_token"));
  return in;
}

Status CompareMel(const Fixture& f, Report& r, const std::string& report_name,
                  const std::string& golden, const flow::FlowMel& mel, int64_t golden_from = 0) {
  COSY_ASSIGN_OR_RETURN(Tensor g, f.Load(golden));
  COSY_ASSIGN_OR_RETURN(Tensor gs, g.Slice(2, golden_from, g.size(2)));
  COSY_ASSIGN_OR_RETURN(Tensor a, FromFloats({1, 80, mel.frames}, mel.data));
  r.Compare(report_name, a, gs, kFlowTol, golden);
  return OkStatus();
}

// The first estimator call's inputs that the flow's hooks do not expose, rebuilt from the
// engine's pieces in the estimator's layout: z = the engine's noise table (MakeCfmNoise) on the
// first T frames; mask = ones (the non-streaming call masks nothing); t = the first Euler time of
// the cosine grid (0); spks = [speaker vector, 0] (CFG rows); cond = the engine's prompt feat in
// the first 2P frames, zeros after.
Status CompareEstimatorInputs(const Fixture& f, Report& r, const FlowInputs& in, const float* spk,
                              int64_t frames) {
  COSY_ASSIGN_OR_RETURN(auto noise, flow::MakeCfmNoise());
  std::vector<float> z(static_cast<size_t>(80 * frames));
  for (int64_t b = 0; b < 80; ++b) {
    std::copy_n(noise.data() + b * flow::kCfmNoiseFrames, frames, z.data() + b * frames);
  }
  COSY_ASSIGN_OR_RETURN(Tensor za, FromFloats({1, 80, frames}, z));
  COSY_ASSIGN_OR_RETURN(Tensor zg, f.Load("flow_nonstream_noise_z"));
  r.Compare("flow_nonstream_noise_z", za, zg, kExact);

  COSY_ASSIGN_OR_RETURN(Tensor ma, FromFloats({2, 1, frames}, std::vector<float>(2 * frames, 1.f)));
  COSY_ASSIGN_OR_RETURN(Tensor mg, f.Load("flow_nonstream_est0_in_mask"));
  r.Compare("flow_nonstream_est0_in_mask", ma, mg, kExact);

  COSY_ASSIGN_OR_RETURN(Tensor ta, FromFloats({2}, std::vector<float>(2, 0.f)));
  COSY_ASSIGN_OR_RETURN(Tensor tg, f.Load("flow_nonstream_est0_in_t"));
  r.Compare("flow_nonstream_est0_in_t", ta, tg, kExact);

  std::vector<float> spks(spk, spk + 80);
  spks.resize(160, 0.f);
  COSY_ASSIGN_OR_RETURN(Tensor sa, FromFloats({2, 80}, spks));
  COSY_ASSIGN_OR_RETURN(Tensor sg, f.Load("flow_nonstream_est0_in_spks"));
  r.Compare("flow_nonstream_est0_in_spks", sa, sg, kFlowTol);

  const int64_t prompt_frames = static_cast<int64_t>(in.prompt.feat.size()) / 80;
  std::vector<float> cond(static_cast<size_t>(80 * frames), 0.f);
  for (int64_t t = 0; t < std::min(prompt_frames, frames); ++t) {
    for (int64_t b = 0; b < 80; ++b) cond[b * frames + t] = in.prompt.feat[t * 80 + b];
  }
  COSY_ASSIGN_OR_RETURN(Tensor ca, FromFloats({1, 80, frames}, cond));
  COSY_ASSIGN_OR_RETURN(Tensor cg, f.Load("flow_nonstream_cond"));
  r.Compare("flow_nonstream_cond", ca, cg, kExact);
  return OkStatus();
}

// The non-streaming flow.inference call plus its intermediates, and the noise table.
Status RunNonStream(const Fixture& f, Report& r, const FlowInputs& in) {
  COSY_ASSIGN_OR_RETURN(auto noise, flow::MakeCfmNoise());
  COSY_ASSIGN_OR_RETURN(Tensor noise_t, FromFloats({1, 80, flow::kCfmNoiseFrames}, noise));
  COSY_ASSIGN_OR_RETURN(Tensor noise_g, f.Load("cfm_rand_noise_full"));
  r.Compare("cfm_rand_noise_full", noise_t, noise_g, kExact);

  COSY_ASSIGN_OR_RETURN(auto session, FlowSession::Open(*in.model, in.prompt));
  COSY_RETURN_IF_ERROR(session->PushTokens(in.tokens));
  COSY_ASSIGN_OR_RETURN(Tensor spk,
                        FromFloats({1, 80}, std::vector<float>(session->speaker_vector(),
                                                               session->speaker_vector() + 80)));
  COSY_ASSIGN_OR_RETURN(Tensor spk_g, f.Load("flow_spks"));
  r.Compare("flow_spks", spk, spk_g, kFlowTol);

  std::map<std::string, std::pair<std::vector<float>, Dims>> captured;
  auto hook = [&](std::string_view name, const float* data, const Dims& shape) {
    captured[std::string(name)] = {std::vector<float>(data, data + shape.Product()), shape};
  };
  COSY_ASSIGN_OR_RETURN(flow::FlowMel mel, session->RunOnce(hook));
  if (!captured.count("encoder_out") || !captured.count("mu") || !captured.count("est0_out")) {
    return Internal("flow: the forward hook missed an intermediate");
  }
  {
    auto& [v, s] = captured["encoder_out"];
    COSY_ASSIGN_OR_RETURN(Tensor a, FromFloats({1, s[0], s[1]}, v));
    COSY_ASSIGN_OR_RETURN(Tensor g, f.Load("flow_nonstream_encoder_out"));
    r.Compare("flow_nonstream_encoder_out", a, g, kFlowTol);
  }
  {
    auto& [v, s] = captured["mu"];
    COSY_RETURN_IF_ERROR(CompareEstimatorInputs(f, r, in, session->speaker_vector(), s[0]));
    COSY_ASSIGN_OR_RETURN(Tensor a, FromFloats({1, s[1], s[0]}, Transposed(v.data(), s[0], s[1])));
    COSY_ASSIGN_OR_RETURN(Tensor g, f.Load("flow_nonstream_mu"));
    r.Compare("flow_nonstream_mu", a, g, kFlowTol);
  }
  {
    auto& [v, s] = captured["est0_out"];  // [2, m, 80]
    std::vector<float> cm;
    for (int64_t b = 0; b < 2; ++b) {
      auto t = Transposed(v.data() + b * s[1] * s[2], s[1], s[2]);
      cm.insert(cm.end(), t.begin(), t.end());
    }
    COSY_ASSIGN_OR_RETURN(Tensor a, FromFloats({2, s[2], s[1]}, cm));
    COSY_ASSIGN_OR_RETURN(Tensor g, f.Load("flow_nonstream_est0_out"));
    r.Compare("flow_nonstream_est0_out", a, g, kFlowTol);
  }
  return CompareMel(f, r, "flow_nonstream_mel", "flow_nonstream_mel", mel);
}

// The flow calls of the token2wav_stream run: direct calls (full mel before the token_offset
// slice, as the goldens store it) and the FlowSession's emitted chunks (new frames only).
Status RunStream(const Fixture& f, Report& r, const FlowInputs& in) {
  const auto& schedule = f.manifest().at("stream_schedule");
  COSY_ASSIGN_OR_RETURN(auto direct, FlowSession::Open(*in.model, in.prompt));
  flow::Arena arena;
  for (const auto& call : schedule) {
    const int i = call.at("call").get<int>();
    const int64_t n = call.at("n_tokens").get<int64_t>();
    const bool streaming = call.at("streaming").get<bool>();
    const bool finalize = call.at("finalize").get<bool>();
    const std::span<const int32_t> tokens(in.tokens.data(), static_cast<size_t>(n));
    COSY_ASSIGN_OR_RETURN(flow::FlowMel mel,
                          in.model->Inference(in.prompt, direct->speaker_vector(), tokens,
                                              streaming, finalize, arena));
    const std::string name = fmt::format("t2w_stream_flow{}_mel", i);
    COSY_RETURN_IF_ERROR(CompareMel(f, r, name, name, mel));
  }
  // The session's own schedule must reproduce the same calls and emit only new frames.
  // Each chunk must become ready exactly when the manifest's call had its n_tokens.
  COSY_ASSIGN_OR_RETURN(auto session, FlowSession::Open(*in.model, in.prompt));
  int chunk_index = 0;
  int64_t pushed = 0;
  for (int32_t tok : in.tokens) {
    COSY_RETURN_IF_ERROR(session->PushTokens(std::span<const int32_t>(&tok, 1)));
    ++pushed;
    if (!session->ChunkReady()) continue;
    if (chunk_index >= static_cast<int>(schedule.size()) ||
        schedule[chunk_index].at("n_tokens").get<int64_t>() != pushed) {
      r.Fail(fmt::format("flow_session_chunk{}_tokens", chunk_index),
             fmt::format("the session's chunk {} was ready after {} tokens, the manifest's "
                         "stream_schedule call has {}",
                         chunk_index, pushed,
                         chunk_index < static_cast<int>(schedule.size())
                             ? schedule[chunk_index].at("n_tokens").dump()
                             : std::string("no such call")),
             "");
    }
    COSY_ASSIGN_OR_RETURN(flow::MelChunk chunk, session->NextChunk());
    const std::string golden = fmt::format("t2w_stream_flow{}_mel", chunk_index);
    COSY_RETURN_IF_ERROR(
        CompareMel(f, r, fmt::format("{}_session_chunk_from{}", golden, chunk.first_frame), golden,
                   chunk.mel, chunk.first_frame));
    ++chunk_index;
  }
  COSY_ASSIGN_OR_RETURN(flow::MelChunk last, session->Finish());
  const std::string golden = fmt::format("t2w_stream_flow{}_mel", chunk_index);
  COSY_RETURN_IF_ERROR(CompareMel(f, r,
                                  fmt::format("{}_session_final_from{}", golden, last.first_frame),
                                  golden, last.mel, last.first_frame));
  if (chunk_index + 1 != static_cast<int>(schedule.size())) {
    r.Fail(
        "flow_session_schedule",
        fmt::format("{} calls, manifest stream_schedule has {}", chunk_index + 1, schedule.size()),
        "");
  }
  return OkStatus();
}

bool IsStreamFlowMel(const GoldenEntry& e) {
  return e.group == "token2wav_stream" && e.name.rfind("t2w_stream_flow", 0) == 0;
}

Device g_flow_device = Device::kCpu;

}  // namespace

void SetFlowDevice(Device device) { g_flow_device = device; }

flow::FlowOptions FlowLoadOptions() {
  flow::FlowOptions o;
  o.device = g_flow_device;
  return o;
}

std::vector<Group> FlowGroups() {
  return {
      {"flow",
       [](const Fixture& f, Report& r) -> Status {
         COSY_ASSIGN_OR_RETURN(FlowInputs in, LoadInputs(f));
         COSY_RETURN_IF_ERROR(RunNonStream(f, r, in));
         return RunStream(f, r, in);
       }},
      {"token2wav_stream_flow",
       [](const Fixture& f, Report& r) -> Status {
         COSY_ASSIGN_OR_RETURN(FlowInputs in, LoadInputs(f));
         return RunStream(f, r, in);
       },
       IsStreamFlowMel},
  };
}

}  // namespace cosyflow::parity
