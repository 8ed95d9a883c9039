// ResamplerNode: node adapter around Resampler.
#include "nodes/resample/resampler_node.h"

#include "nodes/resample/resampler.h"

namespace cosyflow {

void ResamplerOptions::Parse(const nlohmann::json& j, const std::string& path, ErrorList* errors) {
  JsonObjectReader r(j, path, errors);
  r.Read("output_rate", &output_rate);
  r.Read("input_rate", &input_rate);
  r.ReadEnum("quality", &quality, {"quick", "low", "medium", "high", "very_high"});
  r.Finish();
}

void ResamplerOptions::Validate(const std::string& path, ErrorList* errors) const {
  if (output_rate < 1000 || output_rate > 768000) {
    errors->Add(path + ".output_rate", "must be in [1000, 768000] Hz, got {}", output_rate);
  }
  if (input_rate != 0 && (input_rate < 1000 || input_rate > 768000)) {
    errors->Add(path + ".input_rate", "must be 0 (from stream) or in [1000, 768000] Hz, got {}",
                input_rate);
  }
}

std::string ResamplerOptions::ToString() const {
  return fmt::format("{{\"output_rate\": {}, \"input_rate\": {}, \"quality\": \"{}\"}}",
                     output_rate, input_rate, quality);
}

NodeSpec ResamplerNode::Spec() {
  NodeSpec s;
  s.type = "Resampler";
  s.inputs = {{"in", PayloadType::kAudio}};
  s.outputs = {{"out", PayloadType::kAudio}};
  s.concurrency = Concurrency::kStateful;
  return s;
}

Result<std::unique_ptr<Node>> ResamplerNode::Create(const Options& options, const NodeContext&) {
  COSY_RETURN_IF_ERROR(ParseResampleQuality(options.quality).status());
  return std::unique_ptr<Node>(new ResamplerNode(options));
}

namespace {

class ResamplerSession : public NodeSession {
 public:
  explicit ResamplerSession(const ResamplerOptions& o) : options_(o) {}

  Status Process(int, const Message& message, Emitter& out) override {
    const Audio* in = message.get<Audio>();
    if (!in) return InvalidArgument("resampler: expected Audio, got {}", PayloadTypeName(message.type()));
    int expected = resampler_ ? resampler_->input_rate() : options_.input_rate;
    if (rate_fixed_ != 0) expected = rate_fixed_;
    if (expected != 0 && in->sample_rate != expected) {
      return InvalidArgument("resampler: chunk at {} Hz, stream is at {} Hz", in->sample_rate,
                             expected);
    }
    if (in->sample_rate == options_.output_rate) {  // identity: share the chunk's storage
      rate_fixed_ = in->sample_rate;
      if (in->size() > 0) out.Emit(0, *in);
      return OkStatus();
    }
    if (!resampler_) {
      COSY_ASSIGN_OR_RETURN(ResampleQuality q, ParseResampleQuality(options_.quality));
      COSY_ASSIGN_OR_RETURN(resampler_, Resampler::Create(in->sample_rate, options_.output_rate, q));
    }
    buffer_.clear();
    COSY_RETURN_IF_ERROR(resampler_->Process(in->view(), &buffer_));
    return EmitBuffer(out);
  }

  Status Close(CloseReason reason, Emitter& out) override {
    if (reason != CloseReason::kEndOfStream || !resampler_) return OkStatus();
    buffer_.clear();
    COSY_RETURN_IF_ERROR(resampler_->Flush(&buffer_));
    return EmitBuffer(out);
  }

 private:
  Status EmitBuffer(Emitter& out) {
    if (buffer_.empty()) return OkStatus();
    COSY_ASSIGN_OR_RETURN(Audio a, Audio::FromSamples(buffer_, options_.output_rate));
    out.Emit(0, std::move(a));
    return OkStatus();
  }

  ResamplerOptions options_;
  std::unique_ptr<Resampler> resampler_;
  int rate_fixed_ = 0;  // set when the stream passes through unchanged
  std::vector<float> buffer_;  // reused scratch for one chunk's output
};

}  // namespace

Result<std::unique_ptr<NodeSession>> ResamplerNode::OpenSession(const SessionInfo&) {
  return std::unique_ptr<NodeSession>(new ResamplerSession(options_));
}

}  // namespace cosyflow
