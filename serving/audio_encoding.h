// Encodings of the serving doors: WAV header (s16le mono), FLAC in memory (libsndfile virtual
// I/O), base64 for SSE events and uploaded voices, and decoding an uploaded recording.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "nodes/audio_io/audio_file.h"
#include "runtime/status.h"

namespace cosyflow::serving {

// A 44-byte RIFF/WAVE header for s16le mono at `rate`. `data_bytes` = 0xFFFFFFFF for a stream
// whose length is not known yet (RIFF size then 0xFFFFFFFF too, as streaming servers write it).
std::string WavHeader(int rate, uint32_t data_bytes);

// s16le PCM -> FLAC (16-bit, mono) in memory. InvalidArgument for no samples (libsndfile
// would write nothing at all: not a FLAC file).
Result<std::string> EncodeFlac(std::string_view pcm_s16le, int rate);

std::string Base64(std::string_view bytes);
// Standard or URL-safe alphabet, padding optional, whitespace skipped; InvalidArgument naming
// the offset of the first bad character.
Result<std::string> Base64Decode(std::string_view text);

// An audio file in memory (any format libsndfile reads: wav, flac, ogg, ...) -> mono f32
// (channels averaged, PCM / 32768 as libsndfile normalises it). InvalidArgument when it is not
// audio or empty; OutOfRange beyond `max_seconds`.
Result<AudioData> DecodeAudio(std::string_view bytes, double max_seconds);

}  // namespace cosyflow::serving
