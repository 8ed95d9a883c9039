// The OpenAI speech request (POST /v1/audio/speech) and the WebSocket start message, parsed
// and validated into SpeechParams. Every bad field is a 400 naming the field. Also the JSON
// guards every door applies to what it parses (nesting depth, bounded excerpts in messages).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "serving/speech_service.h"

namespace cosyflow::serving {

// The deepest nesting a door accepts in a client's JSON (an HTTP body, a WebSocket message, a
// Wyoming header or data); requests need 3. nlohmann's parser is iterative, but its dump(),
// copies and comparisons recurse once per level: a value nested ~100k deep (a 200 KB body)
// would overflow the stack wherever it is echoed or copied. Each door checks right after it
// parses.
constexpr int kMaxClientJsonDepth = 32;

// A 400 naming the path (param: the top-level key) when `j` is nested deeper than
// kMaxClientJsonDepth; ok() otherwise. `what` names the document ("the body").
ApiError CheckClientJsonDepth(const nlohmann::json& j, const std::string& what);

// At most ~`max_chars` characters of `v` as JSON for an error message (ASCII; a longer value is
// cut and ends in "..."). Not recursive, and it stops serializing once it has enough.
std::string JsonExcerpt(const nlohmann::json& v, size_t max_chars = 80);
// `s` cut to at most `max_bytes` (at a UTF-8 boundary, then "..."): a client's string
// (a field name, a voice id) echoed in a message.
std::string TextExcerpt(const std::string& s, size_t max_bytes = 80);

struct HttpSpeechRequest {
  SpeechParams params;
  std::string input;
  std::string response_format = "wav";  // wav | pcm | flac
  std::string stream_format;            // "" (whole body) | audio | sse
};

// `body`: the request JSON. Fields: model, input, voice (string or {"id"}), instructions,
// response_format, speed, stream_format, seed, sample_rate. Unknown fields are errors.
ApiError ParseSpeechRequest(const std::string& body, HttpSpeechRequest* out);

// The common request fields of a JSON object (voice, instructions, speed, seed, sample_rate);
// the keys it took are erased from `j`.
ApiError ParseCommonFields(nlohmann::json* j, SpeechParams* out);

}  // namespace cosyflow::serving
