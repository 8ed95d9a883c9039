// libsndfile reading/writing and raw PCM encoding.
#include "nodes/audio_io/audio_file.h"

#include <sndfile.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>

namespace cosyflow {

Result<AudioData> ReadAudioFile(const std::string& path) {
  if (!std::filesystem::exists(path)) return NotFound("audio file '{}' does not exist", path);
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  if (!f) return DataLoss("audio file '{}': {}", path, sf_strerror(nullptr));
  if (info.channels <= 0 || info.samplerate <= 0) {
    sf_close(f);
    return DataLoss("audio file '{}': bad header ({} channels, {} Hz)", path, info.channels,
                    info.samplerate);
  }
  std::vector<float> inter(static_cast<size_t>(info.frames) * info.channels);
  sf_count_t got = sf_readf_float(f, inter.data(), info.frames);
  sf_close(f);
  AudioData a;
  a.sample_rate = info.samplerate;
  a.samples.resize(static_cast<size_t>(got));
  for (sf_count_t i = 0; i < got; ++i) {
    float sum = 0;
    for (int c = 0; c < info.channels; ++c) sum += inter[i * info.channels + c];
    a.samples[i] = sum / info.channels;
  }
  return a;
}

Result<AudioFileFormat> ParseAudioFileFormat(const std::string& name, const std::string& path) {
  std::string n = name;
  if (n == "auto") {
    n = std::filesystem::path(path).extension().string();
    if (!n.empty()) n = n.substr(1);
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
    if (n == "oga") n = "ogg";
  }
  if (n == "wav") return AudioFileFormat::kWav;
  if (n == "flac") return AudioFileFormat::kFlac;
  if (n == "ogg") return AudioFileFormat::kOgg;
  return InvalidArgument("audio format must be wav|flac|ogg (or auto from .wav/.flac/.ogg), got "
                         "'{}' for '{}'", name, path);
}

Result<std::unique_ptr<AudioFileWriter>> AudioFileWriter::Open(const std::string& path,
                                                               int sample_rate,
                                                               AudioFileFormat format,
                                                               AudioSampleFormat sample_format) {
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = 1;
  switch (format) {
    case AudioFileFormat::kWav:
      info.format = SF_FORMAT_WAV |
                    (sample_format == AudioSampleFormat::kFloat ? SF_FORMAT_FLOAT : SF_FORMAT_PCM_16);
      break;
    case AudioFileFormat::kFlac:
      if (sample_format == AudioSampleFormat::kFloat) {
        return InvalidArgument("audio file '{}': FLAC cannot store float samples", path);
      }
      info.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
      break;
    case AudioFileFormat::kOgg: info.format = SF_FORMAT_OGG | SF_FORMAT_VORBIS; break;
  }
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  if (!f) return NotFound("audio file '{}': cannot create: {}", path, sf_strerror(nullptr));
  // Float data written to integer formats must be clipped, not wrapped.
  sf_command(f, SFC_SET_CLIPPING, nullptr, SF_TRUE);
  std::unique_ptr<AudioFileWriter> w(new AudioFileWriter());
  w->file_ = f;
  w->path_ = path;
  return w;
}

AudioFileWriter::~AudioFileWriter() { (void)Close(); }

Status AudioFileWriter::Write(std::span<const float> samples) {
  if (!file_) return InvalidArgument("audio file '{}': write after close", path_);
  auto* f = static_cast<SNDFILE*>(file_);
  sf_count_t n = static_cast<sf_count_t>(samples.size());
  if (sf_writef_float(f, samples.data(), n) != n) {
    return DataLoss("audio file '{}': write failed: {}", path_, sf_strerror(f));
  }
  return OkStatus();
}

Status AudioFileWriter::Close() {
  if (!file_) return OkStatus();
  int rc = sf_close(static_cast<SNDFILE*>(file_));
  file_ = nullptr;
  if (rc != 0) return DataLoss("audio file '{}': close failed: {}", path_, sf_error_number(rc));
  return OkStatus();
}

Result<PcmEncoding> ParsePcmEncoding(const std::string& name) {
  if (name == "s16le") return PcmEncoding::kS16Le;
  if (name == "f32le") return PcmEncoding::kF32Le;
  return InvalidArgument("pcm encoding must be s16le|f32le, got '{}'", name);
}

void EncodePcm(std::span<const float> samples, PcmEncoding encoding, std::string* bytes) {
  static_assert(std::endian::native == std::endian::little, "big-endian hosts need byte swaps");
  size_t old = bytes->size();
  if (encoding == PcmEncoding::kF32Le) {
    bytes->resize(old + samples.size() * 4);
    std::memcpy(bytes->data() + old, samples.data(), samples.size() * 4);
    return;
  }
  bytes->resize(old + samples.size() * 2);
  for (size_t i = 0; i < samples.size(); ++i) {
    float x = std::clamp(samples[i], -1.0f, 1.0f);
    auto v = static_cast<int16_t>(std::lrint(x * 32767.0f));
    std::memcpy(bytes->data() + old + 2 * i, &v, 2);
  }
}

std::string ExpandSessionPath(const std::string& path_template, uint64_t session_id) {
  std::string out = path_template;
  const std::string key = "{session}";
  for (size_t pos = out.find(key); pos != std::string::npos; pos = out.find(key, pos)) {
    out.replace(pos, key.size(), std::to_string(session_id));
  }
  return out;
}

}  // namespace cosyflow
