// The voice routes of the HTTP door (serving/voice_api.h).
#include "serving/voice_api.h"

#include <fmt/format.h>

#include <cctype>
#include <nlohmann/json.hpp>

#include "graph/voices.h"
#include "nodes/prompt_audio/prompt_audio.h"
#include "serving/audio_encoding.h"
#include "serving/speech_request.h"

namespace cosyflow::serving {
namespace {

using nlohmann::json;

VoiceApiReply Fail(const ApiError& e) { return {e.status, e.Json()}; }

json VoiceJson(const tts::VoiceListing& v) {
  json j{{"id", v.id},
         {"name", v.id},
         {"object", "voice"},
         {"kind", v.kind},
         {"prompt_text", v.prompt_text.empty() ? json(nullptr) : json(v.prompt_text)},
         {"prompt_seconds", v.prompt_seconds}};
  if (v.id == tts::kDefaultVoiceId) {
    j["default_voice"] = v.default_voice.empty() ? json(nullptr) : json(v.default_voice);
  }
  return j;
}

// A failed Add / Remove as the HTTP status it stands for.
ApiError VoiceError(const Status& st, const std::string& param, bool exists_now) {
  switch (st.code()) {
    case StatusCode::kOutOfRange:
      return {413, st.message(), "invalid_request_error", param};
    case StatusCode::kNotFound:
      return {404, st.message(), "invalid_request_error", "id"};
    case StatusCode::kUnsupported:
      return {501, st.message(), "server_error", ""};
    case StatusCode::kInvalidArgument:
      if (exists_now) return {409, st.message(), "invalid_request_error", "id"};
      return BadRequest(st.message(), param);
    default:
      return {500, st.message(), "server_error", ""};
  }
}

}  // namespace

Result<std::string> PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      return InvalidArgument("bad percent escape at offset {} of '{}'", i, s);
    }
    out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
    i += 2;
  }
  return out;
}

VoiceApiReply ListVoices(const SpeechService& service) {
  const auto& voices = service.info().voices;
  json data = json::array();
  if (voices == nullptr) {
    data.push_back(VoiceJson({tts::kDefaultVoiceId, "", "graph", 0, ""}));
  } else {
    auto listed = voices->List();
    if (!listed.ok()) {
      return Fail(
          {500, "cannot read the voice store: " + listed.status().message(), "server_error", ""});
    }
    for (const auto& v : *listed) data.push_back(VoiceJson(v));
  }
  return {200, json{{"object", "list"}, {"data", data}}.dump(-1, ' ', false,
                                                             json::error_handler_t::replace)};
}

VoiceApiReply AddVoice(const SpeechService& service, const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(BadRequest("the body is not valid JSON (UTF-8)"));
  if (!j.is_object()) return Fail(BadRequest("the body must be a JSON object"));
  if (ApiError e = CheckClientJsonDepth(j, "the body"); !e.ok()) return Fail(e);
  std::string id, text, audio_b64;
  bool overwrite = false;
  for (const auto& [key, value] : j.items()) {
    if (key == "id" || key == "prompt_text" || key == "audio") {
      if (!value.is_string()) return Fail(BadRequest(key + " must be a string", key));
      (key == "id" ? id : key == "prompt_text" ? text : audio_b64) = value.get<std::string>();
    } else if (key == "overwrite") {
      if (!value.is_boolean()) return Fail(BadRequest("overwrite must be true or false", key));
      overwrite = value.get<bool>();
    } else {
      return Fail(
          BadRequest(fmt::format("unknown field '{}'", TextExcerpt(key)), TextExcerpt(key)));
    }
  }
  if (id.empty()) return Fail(BadRequest("id is required", "id"));
  if (Utf8Length(text) < 0)
    return Fail(BadRequest("prompt_text is not valid UTF-8", "prompt_text"));
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Fail(
        BadRequest("prompt_text (the transcript of the recording) is required", "prompt_text"));
  }
  if (audio_b64.empty()) {
    return Fail(BadRequest("audio (base64 of a wav/flac/ogg file) is required", "audio"));
  }
  const auto& voices = service.info().voices;
  if (voices == nullptr || !voices->can_add()) {
    return Fail({501, "this graph cannot add voices (no VoiceFrontend with its models)",
                 "server_error", ""});
  }
  if (id == tts::kDefaultVoiceId) {
    return Fail(BadRequest("'default' names the graph's own voice; pick another id", "id"));
  }
  Status valid = voice::ValidateVoiceId(id);
  if (!valid.ok()) return Fail(BadRequest(valid.message(), "id"));
  if (!overwrite && voices->Known(id)) {
    return Fail({409, fmt::format("voice '{}' exists; send \"overwrite\": true to replace it", id),
                 "invalid_request_error", "id"});
  }
  auto bytes = Base64Decode(audio_b64);
  if (!bytes.ok()) return Fail(BadRequest("audio: " + bytes.status().message(), "audio"));
  auto audio = DecodeAudio(*bytes, prompt_audio::kTokenizerMaxSeconds + 1);
  if (!audio.ok()) return Fail(VoiceError(audio.status(), "audio", false));
  tts::VoiceRecording rec;
  rec.samples = audio->samples;
  rec.sample_rate = audio->sample_rate;
  auto added = voices->Add(rec, id, text, overwrite);
  if (!added.ok()) {
    // OutOfRange is a recording over the speech tokenizer's limit or, within it, a prompt the
    // SpeechLM cannot hold (tts::CheckVoiceFitsSpeechLm): then the transcript is too long.
    const double seconds = static_cast<double>(audio->samples.size()) / audio->sample_rate;
    const bool transcript = added.status().code() == StatusCode::kOutOfRange &&
                            seconds <= prompt_audio::kTokenizerMaxSeconds;
    return Fail(VoiceError(added.status(), transcript ? "prompt_text" : "audio",
                           !overwrite && voices->Known(id)));
  }
  return {201, VoiceJson(*added).dump(-1, ' ', false, json::error_handler_t::replace)};
}

VoiceApiReply DeleteVoice(const SpeechService& service, const std::string& escaped_id) {
  auto id = PercentDecode(escaped_id);
  if (!id.ok()) return Fail(BadRequest(id.status().message(), "id"));
  if (id->empty()) return Fail(BadRequest("DELETE /v1/voices/ID needs a voice id", "id"));
  const auto& voices = service.info().voices;
  if (voices == nullptr)
    return Fail({404, fmt::format("voice '{}' not found", *id), "invalid_request_error", "id"});
  const Status st = voices->Remove(*id);
  if (st.code() == StatusCode::kInvalidArgument) {
    return Fail({409, st.message(), "invalid_request_error", "id"});
  }
  if (!st.ok()) return Fail(VoiceError(st, "id", false));
  return {200, json{{"id", *id}, {"object", "voice"}, {"deleted", true}}.dump(
                   -1, ' ', false, json::error_handler_t::replace)};
}

}  // namespace cosyflow::serving
