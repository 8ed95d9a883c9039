// The OpenAI speech request (POST /v1/audio/speech) and the WebSocket start message, parsed
// and validated into SpeechParams. Every bad field is a 400 naming the field.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "serving/speech_service.h"

namespace cosyflow::serving {

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
