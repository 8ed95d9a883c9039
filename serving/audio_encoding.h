// Response encodings of the serving doors: WAV header (s16le mono), FLAC in memory (libsndfile
// virtual I/O), base64 for SSE events.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "runtime/status.h"

namespace cosyflow::serving {

// A 44-byte RIFF/WAVE header for s16le mono at `rate`. `data_bytes` = 0xFFFFFFFF for a stream
// whose length is not known yet (RIFF size then 0xFFFFFFFF too, as streaming servers write it).
std::string WavHeader(int rate, uint32_t data_bytes);

// s16le PCM -> FLAC (16-bit, mono) in memory.
Result<std::string> EncodeFlac(std::string_view pcm_s16le, int rate);

std::string Base64(std::string_view bytes);

}  // namespace cosyflow::serving
