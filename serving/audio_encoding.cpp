// WAV header, FLAC through libsndfile virtual I/O, base64.
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

}  // namespace cosyflow::serving
