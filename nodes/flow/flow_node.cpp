// FlowNode: node adapter around FlowModel / FlowSession.
#include "nodes/flow/flow_node.h"

#include <algorithm>

#include "nodes/flow/flow_session.h"
#include "runtime/cpu_isa.h"
#include "runtime/io/npy.h"
#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/logging.h"

namespace cosyflow {
namespace {

// All values of a .npy file of dtype `dt` (any shape, C order).
template <typename T>
Result<std::vector<T>> ReadValues(const NodeContext& ctx, const std::string& file, DType dt) {
  COSY_ASSIGN_OR_RETURN(Tensor t, ReadNpy(ctx.ResolvePath(file)));
  if (t.dtype() != dt) {
    return InvalidArgument("flow: {} holds {}, expected {}", file, t.ToString(),
                           dt == DType::kI32 ? "int32" : "float32");
  }
  COSY_ASSIGN_OR_RETURN(Tensor c, t.Contiguous());
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}

// Linear interpolation in time of mel [80, frames] channel-major to `out_frames` frames, as
// torch.nn.functional.interpolate(mode='linear', align_corners=False) (the reference's speed
// change, spec §7: size = int(frames / speed)).
flow::FlowMel Interpolate(const flow::FlowMel& mel, int64_t out_frames) {
  flow::FlowMel r;
  r.frames = out_frames;
  r.data.resize(static_cast<size_t>(Mel::kBins * out_frames));
  const int64_t in = mel.frames;
  const float scale = static_cast<float>(in) / static_cast<float>(out_frames);
  for (int64_t j = 0; j < out_frames; ++j) {
    float src = scale * (static_cast<float>(j) + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    const int64_t i0 = std::min<int64_t>(static_cast<int64_t>(src), in - 1);
    const int64_t i1 = std::min<int64_t>(i0 + 1, in - 1);
    const float l1 = src - static_cast<float>(i0);
    const float l0 = 1.0f - l1;
    for (int64_t b = 0; b < Mel::kBins; ++b) {
      const float* row = mel.data.data() + b * in;
      r.data[static_cast<size_t>(b * out_frames + j)] = l0 * row[i0] + l1 * row[i1];
    }
  }
  return r;
}

class FlowNodeSession : public NodeSession {
 public:
  FlowNodeSession(const flow::FlowModel& model, const flow::FlowPrompt& default_prompt,
                  const flow::FlowStreamOptions& so, bool stream, flow::FlowPromptCache* cache)
      : model_(model), default_prompt_(default_prompt), so_(so), stream_(stream), cache_(cache) {}

  Status Process(int, const Message& message, Emitter& out) override {
    const auto* in = message.get<SpeechTokens>();
    if (in == nullptr) return InvalidArgument("flow: expected SpeechTokens, got {}", DescribeMessage(message));
    if (s_ == nullptr) COSY_RETURN_IF_ERROR(Open(*in));
    COSY_RETURN_IF_ERROR(s_->PushTokens(in->tokens));
    while (stream_ && s_->ChunkReady()) {
      COSY_ASSIGN_OR_RETURN(flow::MelChunk chunk, s_->NextChunk());
      COSY_RETURN_IF_ERROR(Emit(chunk.mel, false, out));
    }
    if (!in->end_of_segment) return OkStatus();
    // One utterance done: its last frames (finalize call), the mark for the vocoder, and a
    // fresh schedule for the next segment (conditioned on the prompt only, as the reference).
    COSY_RETURN_IF_ERROR(FinishUtterance(/*mark=*/true, out));
    s_->Reset();
    return OkStatus();
  }

  Status Close(CloseReason reason, Emitter& out) override {
    if (reason != CloseReason::kEndOfStream || s_ == nullptr) return OkStatus();
    return FinishUtterance(/*mark=*/false, out);
  }

 private:
  // The session's flow state, at its first message: the request's voice (else the node's).
  Status Open(const SpeechTokens& first) {
    speed_ = first.speed;
    if (!(speed_ >= 0.25f && speed_ <= 4.0f)) {
      return InvalidArgument("flow: speed must be in [0.25, 4], got {}", speed_);
    }
    // The reference changes speed on the whole mel only (non-streaming): such a request runs
    // this session non-streaming (its audio arrives at the end of each segment).
    if (speed_ != 1.0f) stream_ = false;
    if (first.prompt == nullptr) {
      COSY_ASSIGN_OR_RETURN(auto state, PromptState(default_prompt_));
      COSY_ASSIGN_OR_RETURN(s_, flow::FlowSession::Open(model_, default_prompt_, so_, std::move(state)));
      return OkStatus();
    }
    const VoicePrompt& v = *first.prompt;
    flow::FlowPrompt p;
    p.tokens = v.speech_tokens;
    p.feat = v.feat;
    p.embedding = v.embedding;
    if (p.embedding.empty()) p.embedding.assign(default_prompt_.embedding.size(), 0.0f);
    auto state = PromptState(p);
    auto s = state.ok() ? flow::FlowSession::Open(model_, std::move(p), so_, std::move(*state))
                        : Result<std::unique_ptr<flow::FlowSession>>(state.status());
    if (!s.ok()) {
      return s.status().WithContext(
          fmt::format("flow: voice '{}'", v.id.empty() ? "(inline prompt)" : v.id));
    }
    s_ = std::move(*s);
    return OkStatus();
  }

  // The voice's cached prompt blocks, for incremental streaming sessions only (a cuda flow
  // recomputes the prefix on the device: nothing to cache).
  Result<std::shared_ptr<const flow::EstimatorCache>> PromptState(const flow::FlowPrompt& p) {
    if (!stream_ || !so_.incremental || cache_ == nullptr || p.tokens.empty() ||
        model_.device() == Device::kCuda) {
      return std::shared_ptr<const flow::EstimatorCache>();
    }
    return cache_->Get(p);
  }

  Status FinishUtterance(bool mark, Emitter& out) {
    if (s_->buffered_tokens() <= s_->token_offset()) {
      return mark ? Emit(flow::FlowMel{}, true, out) : OkStatus();
    }
    COSY_ASSIGN_OR_RETURN(flow::MelChunk last, s_->Finish());
    if (speed_ != 1.0f && last.mel.frames > 0) {
      const auto frames = static_cast<int64_t>(static_cast<float>(last.mel.frames) / speed_);
      if (frames < 1) return InvalidArgument("flow: speed {} leaves no frames", speed_);
      last.mel = Interpolate(last.mel, frames);
    }
    return Emit(last.mel, mark, out);
  }

  // [80, frames] channel-major -> Mel message [frames, 80]; an empty chunk is only sent as an
  // end-of-segment mark.
  static Status Emit(const flow::FlowMel& mel, bool end_of_segment, Emitter& out) {
    if (mel.frames == 0 && !end_of_segment) return OkStatus();
    Mel m;
    m.end_of_segment = end_of_segment;
    if (mel.frames > 0) {
      COSY_ASSIGN_OR_RETURN(m.mel, Tensor::Empty({mel.frames, Mel::kBins}, DType::kF32));
      float* p = m.mel.data<float>();
      for (int64_t f = 0; f < mel.frames; ++f) {
        for (int64_t b = 0; b < Mel::kBins; ++b) {
          p[f * Mel::kBins + b] = mel.data[b * mel.frames + f];
        }
      }
    }
    out.Emit(0, std::move(m));
    return OkStatus();
  }

  const flow::FlowModel& model_;
  const flow::FlowPrompt& default_prompt_;
  flow::FlowStreamOptions so_;
  bool stream_;
  float speed_ = 1.0f;
  flow::FlowPromptCache* cache_;
  std::unique_ptr<flow::FlowSession> s_;  // opened at the first message
};

// Upper bound of the n_timesteps option (the reference runs 10; more only costs time).
constexpr int64_t kMaxFlowTimesteps = 100;

}  // namespace

void FlowNodeOptions::Parse(const nlohmann::json& j, const std::string& path, ErrorList* errors) {
  JsonObjectReader r(j, path, errors);
  r.Read("flow_pt", &flow_pt);
  r.Read("config", &config);
  r.ReadEnum("precision", &precision, {"f32", "bf16", "int16", "auto"});
  r.Read("stream", &stream);
  r.Read("token_hop", &token_hop);
  r.Read("max_token_hop", &max_token_hop);
  r.Read("incremental", &incremental);
  r.Read("stream_cache_mb", &stream_cache_mb);
  r.Read("stream_final", &stream_final);
  r.Read("n_timesteps", &n_timesteps);
  r.Read("prompt_cache", &prompt_cache);
  r.Read("prompt_cache_mb", &prompt_cache_mb);
  r.Read("prompt_tokens", &prompt_tokens);
  r.Read("prompt_feat", &prompt_feat);
  r.Read("embedding", &embedding);
  r.Finish();
}

void FlowNodeOptions::Validate(const std::string& path, ErrorList* errors) const {
  if (flow_pt.empty()) errors->Add(path + ".flow_pt", "must name the flow checkpoint");
  if (token_hop <= 3) errors->Add(path + ".token_hop", "must be > lookahead (3), got {}", token_hop);
  if (max_token_hop < token_hop) {
    errors->Add(path + ".max_token_hop", "must be >= token_hop ({}), got {}", token_hop, max_token_hop);
  }
  if (n_timesteps < 0 || n_timesteps > kMaxFlowTimesteps) {
    errors->Add(path + ".n_timesteps", "must be 0 (the config's, 10) or 1..{}, got {}",
                kMaxFlowTimesteps, n_timesteps);
  }
  if (prompt_cache < 0) errors->Add(path + ".prompt_cache", "must be >= 0 (0 = off), got {}", prompt_cache);
  if (prompt_cache_mb < 0) errors->Add(path + ".prompt_cache_mb", "must be >= 0, got {}", prompt_cache_mb);
  if (stream_cache_mb < 0) errors->Add(path + ".stream_cache_mb", "must be >= 0 (0 = unlimited), got {}", stream_cache_mb);
  if (prompt_tokens.empty() != prompt_feat.empty()) {
    errors->Add(path + ".prompt_feat", "prompt_tokens and prompt_feat must be given together");
  }
}

std::string FlowNodeOptions::ToString() const {
  return fmt::format(
      "{{\"flow_pt\": \"{}\", \"config\": \"{}\", \"precision\": \"{}\", \"stream\": {}, "
      "\"token_hop\": {}, \"max_token_hop\": {}, \"incremental\": {}, \"stream_cache_mb\": {}, "
      "\"stream_final\": {}, \"n_timesteps\": {}, "
      "\"prompt_cache\": {}, \"prompt_cache_mb\": {}, \"prompt_tokens\": \"{}\", \"prompt_feat\": \"{}\", \"embedding\": \"{}\"}}",
      flow_pt, config, precision, stream, token_hop, max_token_hop, incremental, stream_cache_mb,
      stream_final, n_timesteps, prompt_cache, prompt_cache_mb, prompt_tokens, prompt_feat, embedding);
}

std::string ResolveFlowPrecision(const std::string& precision, Device device) {
  if (precision != "auto") return precision;
  if (device == Device::kCuda) return "f32";  // the device sampler takes f32 weights
  return kernels::cpu::NativeBf16Products() ? "bf16" : "int16";
}

NodeSpec FlowNode::Spec() {
  NodeSpec s;
  s.type = "Flow";
  s.inputs = {{"tokens", PayloadType::kSpeechTokens}};
  s.outputs = {{"mel", PayloadType::kMel}};
  s.concurrency = Concurrency::kStateful;
  s.devices = {Device::kCpu, Device::kCuda};  // cuda: the CFM sampler (flow_cuda.h)
  return s;
}

Result<std::unique_ptr<Node>> FlowNode::Create(const Options& options, const NodeContext& ctx) {
  std::unique_ptr<FlowNode> node(new FlowNode());
  node->options_ = options;
  flow::FlowConfig cfg = flow::FlowConfig::Release();
  if (!options.config.empty()) {
    COSY_ASSIGN_OR_RETURN(cfg, flow::FlowConfig::FromFile(ctx.ResolvePath(options.config)));
  }
  if (options.n_timesteps > 0) cfg.n_timesteps = static_cast<int>(options.n_timesteps);
  flow::FlowOptions fo;
  node->precision_ = ResolveFlowPrecision(options.precision, ctx.device);
  if (options.precision == "auto") {
    Log(LogLevel::kInfo, "flow: precision auto -> {} ({} kernels{})", node->precision_,
        CpuIsaName(kernels::cpu::Kernels().isa),
        kernels::cpu::NativeBf16Products() ? ", bf16 products in hardware" : "");
  }
  fo.weight_type = node->precision_ == "bf16"    ? flow::WeightType::kBF16
                   : node->precision_ == "int16" ? flow::WeightType::kInt16
                                                 : flow::WeightType::kF32;
  fo.device = ctx.device;
  COSY_ASSIGN_OR_RETURN(node->model_, flow::FlowModel::Create(ctx.ResolvePath(options.flow_pt), cfg, fo));
  if (!options.prompt_tokens.empty()) {
    COSY_ASSIGN_OR_RETURN(node->prompt_.tokens,
                          ReadValues<int32_t>(ctx, options.prompt_tokens, DType::kI32));
    COSY_ASSIGN_OR_RETURN(node->prompt_.feat, ReadValues<float>(ctx, options.prompt_feat, DType::kF32));
  }
  if (!options.embedding.empty()) {
    COSY_ASSIGN_OR_RETURN(node->prompt_.embedding, ReadValues<float>(ctx, options.embedding, DType::kF32));
  } else {
    node->prompt_.embedding.assign(static_cast<size_t>(cfg.spk_embed_dim), 0.0f);
  }
  node->prompt_cache_ = std::make_unique<flow::FlowPromptCache>(
      *node->model_, static_cast<size_t>(options.prompt_cache),
      static_cast<size_t>(options.prompt_cache_mb) << 20);
  // Checks the prompt shapes once (M1 = 2 T1, 192-d embedding) so sessions cannot fail on them.
  COSY_RETURN_IF_ERROR(flow::FlowSession::Open(*node->model_, node->prompt_).status());
  return std::unique_ptr<Node>(std::move(node));
}

Result<std::unique_ptr<NodeSession>> FlowNode::OpenSession(const SessionInfo&) {
  flow::FlowStreamOptions so;
  so.token_hop = options_.token_hop;
  so.max_token_hop = options_.max_token_hop;
  so.incremental = options_.incremental;
  so.max_cache_bytes = static_cast<size_t>(options_.stream_cache_mb) << 20;
  so.stream_final = options_.stream_final;
  return std::unique_ptr<NodeSession>(new FlowNodeSession(*model_, prompt_, so, options_.stream, prompt_cache_.get()));
}

}  // namespace cosyflow
