// HiftVocoderNode: node adapter around HiftVocoder / HiftSession.
#include "nodes/hift/hift_node.h"

#include <filesystem>

#include "nodes/hift/hift_config.h"
#include "nodes/hift/hift_session.h"
#include "runtime/cpu_isa.h"
#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/logging.h"

namespace cosyflow {

void HiftVocoderOptions::Parse(const nlohmann::json& j, const std::string& path,
                               ErrorList* errors) {
  JsonObjectReader r(j, path, errors);
  r.Read("checkpoint", &checkpoint);
  r.ReadEnum("noise", &noise, {"random", "zero"});
  r.Read("seed", &seed);
  r.Read("streaming", &streaming);
  r.ReadEnum("precision", &precision, {"f32", "bf16", "auto"});
  r.Finish();
}

void HiftVocoderOptions::Validate(const std::string& path, ErrorList* errors) const {
  if (checkpoint.empty()) errors->Add(path + ".checkpoint", "must not be empty");
  if (seed < 0) errors->Add(path + ".seed", "must be >= 0, got {}", seed);
}

std::string HiftVocoderOptions::ToString() const {
  return fmt::format(
      "{{\"checkpoint\": \"{}\", \"noise\": \"{}\", \"seed\": {}, \"streaming\": {}, "
      "\"precision\": \"{}\"}}",
      checkpoint, noise, seed, streaming, precision);
}

std::string ResolveHiftPrecision(const std::string& precision) {
  if (precision != "auto") return precision;
  return kernels::cpu::NativeBf16Products() ? "bf16" : "f32";
}

NodeSpec HiftVocoderNode::Spec() {
  NodeSpec s;
  s.type = "HiftVocoder";
  s.inputs = {{"mel", PayloadType::kMel}};
  s.outputs = {{"audio", PayloadType::kAudio}};
  s.concurrency = Concurrency::kStateful;
  return s;
}

Result<std::unique_ptr<Node>> HiftVocoderNode::Create(const Options& options,
                                                      const NodeContext& ctx) {
  const std::string path = ctx.ResolvePath(options.checkpoint);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  COSY_ASSIGN_OR_RETURN(hift::HiftConfig cfg,
                        hift::HiftConfig::ForModelDir(dir.empty() ? "." : dir));
  const std::string precision = ResolveHiftPrecision(options.precision);
  if (options.precision == "auto") {
    Log(LogLevel::kInfo, "vocoder: precision auto -> {} ({} kernels{})", precision,
        CpuIsaName(kernels::cpu::Kernels().isa),
        kernels::cpu::NativeBf16Products() ? ", bf16 products in hardware" : "");
  }
  COSY_ASSIGN_OR_RETURN(
      auto vocoder,
      hift::HiftVocoder::Load(
          path, cfg, precision == "bf16" ? hift::HiftPrecision::kBF16 : hift::HiftPrecision::kF32));
  return FromVocoder(options, std::move(vocoder));
}

std::unique_ptr<Node> HiftVocoderNode::FromVocoder(
    const Options& options, std::shared_ptr<const hift::HiftVocoder> vocoder) {
  return std::unique_ptr<Node>(new HiftVocoderNode(options, std::move(vocoder)));
}

namespace {

class HiftVocoderSession : public NodeSession {
 public:
  HiftVocoderSession(std::shared_ptr<const hift::HiftVocoder> vocoder, const HiftVocoderOptions& o,
                     uint64_t session_id)
      : streaming_(o.streaming),
        channels_(vocoder->config().in_channels),
        rate_(vocoder->config().sampling_rate),
        session_(std::move(vocoder), SessionOptions(o, session_id)) {}

  Status Process(int, const Message& message, Emitter& out) override {
    const Mel* in = message.get<Mel>();
    if (in == nullptr) {
      return InvalidArgument("hift node: expected Mel, got {}", PayloadTypeName(message.type()));
    }
    const int64_t n = in->frames();
    if (n == 0) return in->end_of_segment ? FinishUtterance(out) : OkStatus();
    if (in->mel.dim() != 2 || in->mel.size(1) != channels_ || in->mel.dtype() != DType::kF32) {
      return InvalidArgument("hift node: mel chunk must be f32 [frames, {}], got {}", channels_,
                             in->mel.ToString());
    }
    COSY_ASSIGN_OR_RETURN(Tensor mel, in->mel.Contiguous());
    const float* p = mel.data<float>();
    pending_.insert(pending_.end(), p, p + n * channels_);
    if (in->end_of_segment) return FinishUtterance(out);
    const int64_t held = PendingFrames();
    if (!streaming_ || (!session_.has_cache() && held < kMelCache)) return OkStatus();
    return Vocode(/*finalize=*/false, out);
  }

  Status Close(CloseReason reason, Emitter& out) override {
    if (reason != CloseReason::kEndOfStream) return OkStatus();  // drop everything
    return EndUtterance(out);
  }

 private:
  static constexpr int kMelCache = 8;  // HiftSessionOptions::mel_cache_frames

  static hift::HiftSessionOptions SessionOptions(const HiftVocoderOptions& o, uint64_t id) {
    hift::HiftSessionOptions s;
    s.noise = o.noise == "zero" ? hift::HiftNoiseMode::kZero : hift::HiftNoiseMode::kRandom;
    s.seed = static_cast<uint64_t>(o.seed) + id;
    s.mel_cache_frames = kMelCache;
    return s;
  }

  // Vocodes what the utterance still holds (non-streaming: all of it; streaming: frames held
  // before the cache could fill, or the cached tail) and ends it.
  Status EndUtterance(Emitter& out) {
    if (PendingFrames() > 0) return Vocode(/*finalize=*/true, out);
    audio_.clear();
    COSY_RETURN_IF_ERROR(session_.Flush(&audio_));
    return EmitAudio(out);
  }

  // End of one segment: the audio stays contiguous in the session, the caches start afresh.
  Status FinishUtterance(Emitter& out) {
    COSY_RETURN_IF_ERROR(EndUtterance(out));
    session_.Reset();
    return OkStatus();
  }

  int64_t PendingFrames() const { return static_cast<int64_t>(pending_.size()) / channels_; }

  // Vocodes the held frames ([frames, C] time-major -> channel-major for the session).
  Status Vocode(bool finalize, Emitter& out) {
    const int64_t n = PendingFrames();
    planar_.resize(pending_.size());
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t c = 0; c < channels_; ++c) planar_[c * n + t] = pending_[t * channels_ + c];
    }
    pending_.clear();
    audio_.clear();
    if (!streaming_) {
      COSY_RETURN_IF_ERROR(session_.Synthesize(planar_.data(), n, n, &audio_));
    } else {
      COSY_RETURN_IF_ERROR(session_.Push(planar_.data(), n, n, finalize, &audio_));
    }
    return EmitAudio(out);
  }

  Status EmitAudio(Emitter& out) {
    if (audio_.empty()) return OkStatus();
    COSY_ASSIGN_OR_RETURN(Audio a, Audio::FromSamples(audio_, rate_));
    out.Emit(0, std::move(a));
    return OkStatus();
  }

  bool streaming_;
  int64_t channels_;
  int rate_;
  hift::HiftSession session_;
  std::vector<float> pending_;  // [frames, C] not yet vocoded
  std::vector<float> planar_;   // [C, frames] scratch
  std::vector<float> audio_;    // scratch for one emitted chunk
};

}  // namespace

Result<std::unique_ptr<NodeSession>> HiftVocoderNode::OpenSession(const SessionInfo& info) {
  return std::unique_ptr<NodeSession>(new HiftVocoderSession(vocoder_, options_, info.session_id));
}

}  // namespace cosyflow
