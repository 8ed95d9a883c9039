// The voice routes of the HTTP door over the graph's voices (graph/voices.h):
//
//   GET    /v1/voices        {"object": "list", "data": [{"id", "name", "object": "voice",
//                            "kind", "prompt_text", "prompt_seconds"}...]}; "default" first
//   POST   /v1/voices        JSON {"id", "prompt_text", "audio": base64 of a wav/flac/ogg file,
//                            "overwrite": false} -> 201 and the voice as listed
//   DELETE /v1/voices/{id}   -> {"id", "object": "voice", "deleted": true}
//
// Errors (ApiError JSON): 400 bad id / audio / transcript or an unknown field, 404 no such
// voice, 409 the id exists (without overwrite) or is "default" / the graph's default_voice
// (DELETE), 413 a recording
// over 30 s, 501 a graph that cannot add voices (no VoiceFrontend models).
#pragma once

#include <string>

#include "serving/speech_service.h"

namespace cosyflow::serving {

struct VoiceApiReply {
  int status = 200;
  std::string body;  // JSON
};

VoiceApiReply ListVoices(const SpeechService& service);
VoiceApiReply AddVoice(const SpeechService& service, const std::string& body);
// `escaped_id`: the path segment after /v1/voices/ (percent-encoded).
VoiceApiReply DeleteVoice(const SpeechService& service, const std::string& escaped_id);

// "%41b+c" -> "Ab+c"; InvalidArgument on a bad escape.
Result<std::string> PercentDecode(const std::string& s);

}  // namespace cosyflow::serving
