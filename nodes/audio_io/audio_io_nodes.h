// Audio I/O nodes: AudioFileSink, RawPcmWriter and AudioFileSource.
//
// AudioFileSink ("AudioFileSink"): writes each session's audio to a file (libsndfile).
//   Ports:   in Audio [n] f32 mono (one rate per session); no outputs
//   Options: path           string, required; "{session}" is replaced by the session id;
//                           relative paths are relative to the working directory (outputs are
//                           not resolved against model_dir)
//            format         "auto"|"wav"|"flac"|"ogg", default "auto" (from the extension)
//            sample_format  "int16"|"float", default "int16" (float: wav only; ogg is Vorbis)
//   Session: the open file, created at the first chunk (its rate sets the file's rate).
//   Flush:   end of stream closes the file; cancel/error close and delete the partial file.
//            A session that carried no audio writes no file.
//
// RawPcmWriter ("RawPcmWriter"): headerless PCM for piping into players (aplay, ffplay).
//   Ports:   in Audio; no outputs
//   Options: path      string, default "-" = stdout; "{session}" is replaced by the session id
//            encoding  "s16le"|"f32le", default "s16le"
//   Session: the open file (stdout is shared; chunks are written whole under a lock).
//   Flush:   end of stream closes the file; cancel/error close it and keep what was written.
//
// AudioFileSource ("AudioFileSource"): a file's audio as a stream, for tests and demos.
//   Ports:   request TextRequest (content ignored: each request emits the whole file)
//            out     Audio [chunk_samples] f32 mono at the file's rate (last chunk shorter)
//   Options: path           string, required; relative paths resolve against model_dir
//            chunk_samples  int, default 4800, range [1, 10000000]
//   Create:  reads the file (missing/corrupt file -> error at load time).
//   Session: none (stateless).
#pragma once

#include <memory>
#include <string>

#include "nodes/audio_io/audio_file.h"
#include "nodes/core/node.h"

namespace cosyflow {

struct AudioFileSinkOptions {
  std::string path;
  std::string format = "auto";
  std::string sample_format = "int16";

  void Parse(const nlohmann::json& j, const std::string& path, ErrorList* errors);
  void Validate(const std::string& path, ErrorList* errors) const;
  std::string ToString() const;
};

class AudioFileSinkNode : public Node {
 public:
  using Options = AudioFileSinkOptions;
  static NodeSpec Spec();
  static Result<std::unique_ptr<Node>> Create(const Options& options, const NodeContext& ctx);
  Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo& info) override;

 private:
  explicit AudioFileSinkNode(const Options& o) : options_(o) {}
  Options options_;
};

struct RawPcmWriterOptions {
  std::string path = "-";
  std::string encoding = "s16le";

  void Parse(const nlohmann::json& j, const std::string& path, ErrorList* errors);
  void Validate(const std::string& path, ErrorList* errors) const;
  std::string ToString() const;
};

class RawPcmWriterNode : public Node {
 public:
  using Options = RawPcmWriterOptions;
  static NodeSpec Spec();
  static Result<std::unique_ptr<Node>> Create(const Options& options, const NodeContext& ctx);
  Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo& info) override;

 private:
  explicit RawPcmWriterNode(const Options& o) : options_(o) {}
  Options options_;
};

struct AudioFileSourceOptions {
  std::string path;
  int chunk_samples = 4800;

  void Parse(const nlohmann::json& j, const std::string& path, ErrorList* errors);
  void Validate(const std::string& path, ErrorList* errors) const;
  std::string ToString() const;
};

class AudioFileSourceNode : public Node {
 public:
  using Options = AudioFileSourceOptions;
  static NodeSpec Spec();
  static Result<std::unique_ptr<Node>> Create(const Options& options, const NodeContext& ctx);
  Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo& info) override;

 private:
  AudioFileSourceNode(const Options& o, AudioData data) : options_(o), data_(std::move(data)) {}
  Options options_;
  AudioData data_;  // immutable after Create, shared by all sessions
};

}  // namespace cosyflow
