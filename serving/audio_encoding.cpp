// WAV header, FLAC through libsndfile virtual I/O (both ways), base64 (both ways).
#include "serving/audio_encoding.h"

#include <sndfile.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace cosyflow::serving {
namespace {

void Put32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void Put16(std::string* s, uint16_t v) {
  s->push_back(static_cast<char>(v & 0xFF));
  s->push_back(static_cast<char>(v >> 8));
}

// A growable in-memory file for sf_open_virtual.
struct MemoryFile {
  std::string data;
  sf_count_t pos = 0;
};

sf_count_t MemLength(void* user) { return static_cast<MemoryFile*>(user)->data.size(); }
sf_count_t MemSeek(sf_count_t offset, int whence, void* user) {
  auto* f = static_cast<MemoryFile*>(user);
  const sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? f->pos : f->data.size();
  f->pos = std::max<sf_count_t>(0, base + offset);
  return f->pos;
}
sf_count_t MemRead(void* ptr, sf_count_t count, void* user) {
  auto* f = static_cast<MemoryFile*>(user);
  const sf_count_t n = std::max<sf_count_t>(
      0, std::min<sf_count_t>(count, static_cast<sf_count_t>(f->data.size()) - f->pos));
  if (n > 0) std::memcpy(ptr, f->data.data() + f->pos, n);
  f->pos += n;
  return n;
}
sf_count_t MemWrite(const void* ptr, sf_count_t count, void* user) {
  auto* f = static_cast<MemoryFile*>(user);
  if (f->pos + count > static_cast<sf_count_t>(f->data.size())) f->data.resize(f->pos + count);
  std::memcpy(f->data.data() + f->pos, ptr, count);
  f->pos += count;
  return count;
}
sf_count_t MemTell(void* user) { return static_cast<MemoryFile*>(user)->pos; }

}  // namespace

std::string WavHeader(int rate, uint32_t data_bytes) {
  std::string h;
  h.reserve(44);
  h += "RIFF";
  Put32(&h, data_bytes == 0xFFFFFFFFu ? 0xFFFFFFFFu : 36 + data_bytes);
  h += "WAVEfmt ";
  Put32(&h, 16);
  Put16(&h, 1);  // PCM
  Put16(&h, 1);  // mono
  Put32(&h, static_cast<uint32_t>(rate));
  Put32(&h, static_cast<uint32_t>(rate) * 2);
  Put16(&h, 2);
  Put16(&h, 16);
  h += "data";
  Put32(&h, data_bytes);
  return h;
}

Result<std::string> EncodeFlac(std::string_view pcm, int rate) {
  if (pcm.size() < 2) return InvalidArgument("flac encoder: no samples to encode");
  MemoryFile file;
  SF_VIRTUAL_IO io{MemLength, MemSeek, MemRead, MemWrite, MemTell};
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = 1;
  info.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
  SNDFILE* sf = sf_open_virtual(&io, SFM_WRITE, &info, &file);
  if (sf == nullptr) return Internal("flac encoder: {}", sf_strerror(nullptr));
  std::vector<int16_t> samples(pcm.size() / 2);
  std::memcpy(samples.data(), pcm.data(), samples.size() * 2);  // little-endian host
  const sf_count_t wrote = sf_write_short(sf, samples.data(), samples.size());
  const int closed = sf_close(sf);
  if (wrote != static_cast<sf_count_t>(samples.size()) || closed != 0) {
    return Internal("flac encoder: wrote {} of {} samples", wrote, samples.size());
  }
  return std::move(file.data);
}

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(in[i]) << 16) |
                       (static_cast<uint8_t>(in[i + 1]) << 8) | static_cast<uint8_t>(in[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<uint8_t>(in[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+' || c == '-') v = 62;
    else if (c == '/' || c == '_') v = 63;
    else if (c == '=') padding = true;
    else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (v < 0 && c != '=') {
      return InvalidArgument("base64: invalid character at offset {}", i);
    }
    if (v < 0) continue;
    if (padding) return InvalidArgument("base64: data after '=' padding at offset {}", i);
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (bits >= 6) return InvalidArgument("base64: truncated ({} characters)", text.size());
  return out;
}

Result<AudioData> DecodeAudio(std::string_view bytes, double max_seconds) {
  if (bytes.empty()) return InvalidArgument("audio: no bytes");
  MemoryFile file;
  file.data.assign(bytes.data(), bytes.size());
  SF_VIRTUAL_IO io{MemLength, MemSeek, MemRead, MemWrite, MemTell};
  SF_INFO info{};
  SNDFILE* sf = sf_open_virtual(&io, SFM_READ, &info, &file);
  if (sf == nullptr) {
    return InvalidArgument("audio: not a recording libsndfile reads (wav, flac, ogg): {}",
                           sf_strerror(nullptr));
  }
  AudioData out;
  out.sample_rate = info.samplerate;
  const int channels = info.channels;
  if (channels <= 0 || info.samplerate <= 0) {
    sf_close(sf);
    return InvalidArgument("audio: {} channels at {} Hz", channels, info.samplerate);
  }
  const auto max_frames = static_cast<sf_count_t>(max_seconds * info.samplerate);
  std::vector<float> block(static_cast<size_t>(4096) * channels);
  while (true) {
    const sf_count_t got = sf_readf_float(sf, block.data(), 4096);
    if (got <= 0) break;
    for (sf_count_t f = 0; f < got; ++f) {
      float sum = 0;
      for (int c = 0; c < channels; ++c) sum += block[static_cast<size_t>(f * channels + c)];
      out.samples.push_back(sum / static_cast<float>(channels));
    }
    if (static_cast<sf_count_t>(out.samples.size()) > max_frames) {
      sf_close(sf);
      return OutOfRange("audio: longer than {} s", max_seconds);
    }
  }
  sf_close(sf);
  if (out.samples.empty()) return InvalidArgument("audio: the recording has no samples");
  return out;
}

}  // namespace cosyflow::serving
