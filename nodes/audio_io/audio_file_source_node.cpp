// AudioFileSource node: emits a file read at Create as Audio chunks per request.
#include <algorithm>

#include "nodes/audio_io/audio_io_nodes.h"

namespace cosyflow {

void AudioFileSourceOptions::Parse(const nlohmann::json& j, const std::string& p,
                                   ErrorList* errors) {
  JsonObjectReader r(j, p, errors);
  r.Read("path", &path, /*required=*/true);
  r.Read("chunk_samples", &chunk_samples);
  r.Finish();
}

void AudioFileSourceOptions::Validate(const std::string& p, ErrorList* errors) const {
  if (path.empty()) errors->Add(p + ".path", "must not be empty");
  if (chunk_samples < 1 || chunk_samples > 10000000) {
    errors->Add(p + ".chunk_samples", "must be in [1, 10000000], got {}", chunk_samples);
  }
}

std::string AudioFileSourceOptions::ToString() const {
  return fmt::format(R"({{"path": "{}", "chunk_samples": {}}})", path, chunk_samples);
}

NodeSpec AudioFileSourceNode::Spec() {
  NodeSpec s;
  s.type = "AudioFileSource";
  s.inputs = {{"request", PayloadType::kTextRequest}};
  s.outputs = {{"out", PayloadType::kAudio}};
  s.concurrency = Concurrency::kStateless;
  return s;
}

Result<std::unique_ptr<Node>> AudioFileSourceNode::Create(const Options& o,
                                                          const NodeContext& ctx) {
  COSY_ASSIGN_OR_RETURN(AudioData data, ReadAudioFile(ctx.ResolvePath(o.path)));
  return std::unique_ptr<Node>(new AudioFileSourceNode(o, std::move(data)));
}

namespace {

class AudioFileSourceSession : public NodeSession {
 public:
  AudioFileSourceSession(const AudioData& data, int chunk) : data_(data), chunk_(chunk) {}

  Status Process(int, const Message&, Emitter& out) override {
    const std::span<const float> all(data_.samples);
    for (size_t pos = 0; pos < all.size(); pos += chunk_) {
      size_t n = std::min(all.size() - pos, static_cast<size_t>(chunk_));
      COSY_ASSIGN_OR_RETURN(Audio a, Audio::FromSamples(all.subspan(pos, n), data_.sample_rate));
      out.Emit(0, std::move(a));
    }
    return OkStatus();
  }
  Status Close(CloseReason, Emitter&) override { return OkStatus(); }

 private:
  const AudioData& data_;
  int chunk_;
};

}  // namespace

Result<std::unique_ptr<NodeSession>> AudioFileSourceNode::OpenSession(const SessionInfo&) {
  return std::unique_ptr<NodeSession>(new AudioFileSourceSession(data_, options_.chunk_samples));
}

}  // namespace cosyflow
