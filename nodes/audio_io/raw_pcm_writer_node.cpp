// RawPcmWriter node: headerless s16le/f32le PCM to stdout or a file.
#include <cstdio>
#include <mutex>

#include "nodes/audio_io/audio_io_nodes.h"

namespace cosyflow {

void RawPcmWriterOptions::Parse(const nlohmann::json& j, const std::string& p, ErrorList* errors) {
  JsonObjectReader r(j, p, errors);
  r.Read("path", &path);
  r.ReadEnum("encoding", &encoding, {"s16le", "f32le"});
  r.Finish();
}

void RawPcmWriterOptions::Validate(const std::string& p, ErrorList* errors) const {
  if (path.empty()) errors->Add(p + ".path", "must not be empty (use \"-\" for stdout)");
}

std::string RawPcmWriterOptions::ToString() const {
  return fmt::format(R"({{"path": "{}", "encoding": "{}"}})", path, encoding);
}

NodeSpec RawPcmWriterNode::Spec() {
  NodeSpec s;
  s.type = "RawPcmWriter";
  s.inputs = {{"in", PayloadType::kAudio}};
  s.concurrency = Concurrency::kStateful;
  return s;
}

Result<std::unique_ptr<Node>> RawPcmWriterNode::Create(const Options& o, const NodeContext&) {
  COSY_RETURN_IF_ERROR(ParsePcmEncoding(o.encoding).status());
  return std::unique_ptr<Node>(new RawPcmWriterNode(o));
}

namespace {

std::mutex& StdoutMutex() {
  static std::mutex m;
  return m;
}

class RawPcmWriterSession : public NodeSession {
 public:
  RawPcmWriterSession(PcmEncoding enc, std::string path) : encoding_(enc), path_(std::move(path)) {}
  ~RawPcmWriterSession() override { (void)CloseFile(); }

  Status Process(int, const Message& m, Emitter&) override {
    const Audio* a = m.get<Audio>();
    if (!a) return InvalidArgument("RawPcmWriter: expected Audio, got {}", PayloadTypeName(m.type()));
    bytes_.clear();
    EncodePcm(a->view(), encoding_, &bytes_);
    if (path_ == "-") {
      std::lock_guard<std::mutex> lock(StdoutMutex());
      return WriteAll(stdout);
    }
    if (!file_) {
      file_ = std::fopen(path_.c_str(), "wb");
      if (!file_) return NotFound("RawPcmWriter: cannot create '{}'", path_);
    }
    return WriteAll(file_);
  }

  Status Close(CloseReason, Emitter&) override {
    if (path_ == "-") {
      std::lock_guard<std::mutex> lock(StdoutMutex());
      std::fflush(stdout);
    }
    return CloseFile();
  }

 private:
  Status WriteAll(std::FILE* f) {
    if (std::fwrite(bytes_.data(), 1, bytes_.size(), f) != bytes_.size()) {
      return DataLoss("RawPcmWriter: write to '{}' failed", path_);
    }
    return OkStatus();
  }
  Status CloseFile() {
    if (!file_) return OkStatus();
    int rc = std::fclose(file_);
    file_ = nullptr;
    if (rc != 0) return DataLoss("RawPcmWriter: closing '{}' failed", path_);
    return OkStatus();
  }

  PcmEncoding encoding_;
  std::string path_;
  std::FILE* file_ = nullptr;
  std::string bytes_;  // reused encode buffer
};

}  // namespace

Result<std::unique_ptr<NodeSession>> RawPcmWriterNode::OpenSession(const SessionInfo& info) {
  COSY_ASSIGN_OR_RETURN(PcmEncoding enc, ParsePcmEncoding(options_.encoding));
  return std::unique_ptr<NodeSession>(
      new RawPcmWriterSession(enc, ExpandSessionPath(options_.path, info.session_id)));
}

}  // namespace cosyflow
