// AudioFileSink node: per-session audio files via AudioFileWriter.
#include <filesystem>

#include "nodes/audio_io/audio_io_nodes.h"

namespace cosyflow {

void AudioFileSinkOptions::Parse(const nlohmann::json& j, const std::string& p, ErrorList* errors) {
  JsonObjectReader r(j, p, errors);
  r.Read("path", &path, /*required=*/true);
  r.ReadEnum("format", &format, {"auto", "wav", "flac", "ogg"});
  r.ReadEnum("sample_format", &sample_format, {"int16", "float"});
  r.Finish();
}

void AudioFileSinkOptions::Validate(const std::string& p, ErrorList* errors) const {
  if (path.empty()) errors->Add(p + ".path", "must not be empty");
  auto f = ParseAudioFileFormat(format, path);
  if (!f.ok()) {
    errors->Add(p + ".format", "{}", f.status().message());
  } else if (*f == AudioFileFormat::kFlac && sample_format == "float") {
    errors->Add(p + ".sample_format", "FLAC cannot store float samples; use int16");
  }
}

std::string AudioFileSinkOptions::ToString() const {
  return fmt::format(R"({{"path": "{}", "format": "{}", "sample_format": "{}"}})", path, format,
                     sample_format);
}

NodeSpec AudioFileSinkNode::Spec() {
  NodeSpec s;
  s.type = "AudioFileSink";
  s.inputs = {{"in", PayloadType::kAudio}};
  s.concurrency = Concurrency::kStateful;
  return s;
}

Result<std::unique_ptr<Node>> AudioFileSinkNode::Create(const Options& o, const NodeContext&) {
  COSY_RETURN_IF_ERROR(ParseAudioFileFormat(o.format, o.path).status());
  return std::unique_ptr<Node>(new AudioFileSinkNode(o));
}

namespace {

class AudioFileSinkSession : public NodeSession {
 public:
  AudioFileSinkSession(const AudioFileSinkOptions& o, std::string path)
      : options_(o), path_(std::move(path)) {}

  Status Process(int, const Message& m, Emitter&) override {
    const Audio* a = m.get<Audio>();
    if (!a) return InvalidArgument("AudioFileSink: expected Audio, got {}", PayloadTypeName(m.type()));
    if (!writer_) {
      COSY_ASSIGN_OR_RETURN(AudioFileFormat f, ParseAudioFileFormat(options_.format, path_));
      auto sf = options_.sample_format == "float" ? AudioSampleFormat::kFloat
                                                  : AudioSampleFormat::kInt16;
      COSY_ASSIGN_OR_RETURN(writer_, AudioFileWriter::Open(path_, a->sample_rate, f, sf));
      rate_ = a->sample_rate;
    } else if (a->sample_rate != rate_) {
      return InvalidArgument("AudioFileSink '{}': chunk at {} Hz, file is at {} Hz", path_,
                             a->sample_rate, rate_);
    }
    return writer_->Write(a->view());
  }

  Status Close(CloseReason reason, Emitter&) override {
    if (!writer_) return OkStatus();
    Status s = writer_->Close();
    if (reason != CloseReason::kEndOfStream) {
      std::error_code ec;
      std::filesystem::remove(path_, ec);
      return OkStatus();
    }
    return s;
  }

 private:
  AudioFileSinkOptions options_;
  std::string path_;
  std::unique_ptr<AudioFileWriter> writer_;
  int rate_ = 0;
};

}  // namespace

Result<std::unique_ptr<NodeSession>> AudioFileSinkNode::OpenSession(const SessionInfo& info) {
  return std::unique_ptr<NodeSession>(
      new AudioFileSinkSession(options_, ExpandSessionPath(options_.path, info.session_id)));
}

}  // namespace cosyflow
