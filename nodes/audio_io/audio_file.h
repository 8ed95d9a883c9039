// Audio file reading/writing (libsndfile) and raw PCM encoding, usable without any graph.
#pragma once

#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "runtime/status.h"

namespace cosyflow {

struct AudioData {
  std::vector<float> samples;  // [n] f32 mono (multi-channel files are averaged)
  int sample_rate = 0;
};

// Reads any format libsndfile knows (wav, flac, ogg, ...). NotFound / DataLoss name the file.
Result<AudioData> ReadAudioFile(const std::string& path);

enum class AudioFileFormat { kWav, kFlac, kOgg };
enum class AudioSampleFormat { kInt16, kFloat };

// "wav" | "flac" | "ogg"; "auto" picks from the path's extension.
Result<AudioFileFormat> ParseAudioFileFormat(const std::string& name, const std::string& path);

// Incremental mono writer. Ogg is always Vorbis (the sample format does not apply); FLAC is
// int16 only.
class AudioFileWriter {
 public:
  static Result<std::unique_ptr<AudioFileWriter>> Open(const std::string& path, int sample_rate,
                                                       AudioFileFormat format,
                                                       AudioSampleFormat sample_format);
  ~AudioFileWriter();
  AudioFileWriter(const AudioFileWriter&) = delete;
  AudioFileWriter& operator=(const AudioFileWriter&) = delete;

  Status Write(std::span<const float> samples);
  Status Close();
  const std::string& path() const { return path_; }

 private:
  AudioFileWriter() = default;
  void* file_ = nullptr;  // SNDFILE*
  std::string path_;
};

enum class PcmEncoding { kS16Le, kF32Le };
// "s16le" | "f32le".
Result<PcmEncoding> ParsePcmEncoding(const std::string& name);
// Appends little-endian PCM bytes for `samples` (s16: clipped to [-1, 1], scaled by 32767).
void EncodePcm(std::span<const float> samples, PcmEncoding encoding, std::string* bytes);

// Replaces every "{session}" in `path_template` with the session id.
std::string ExpandSessionPath(const std::string& path_template, uint64_t session_id);

}  // namespace cosyflow
