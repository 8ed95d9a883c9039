// OpenAI speech request parsing.
#include "serving/speech_request.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "nodes/core/json_file.h"

namespace cosyflow::serving {

ApiError CheckClientJsonDepth(const nlohmann::json& j, const std::string& what) {
  const Status st = CheckJsonDepth(j, kMaxClientJsonDepth);
  if (st.ok()) return {};
  std::string param;  // the top-level field that holds the deep value
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      if (!CheckJsonDepth(value, kMaxClientJsonDepth - 1).ok()) {
        param = TextExcerpt(key);
        break;
      }
    }
  }
  std::string where = st.message();  // "PATH: JSON nested deeper than N levels"
  if (const size_t cut = where.rfind(": JSON nested deeper"); cut != std::string::npos) {
    where.resize(cut);
  }
  return BadRequest(fmt::format("{} is nested deeper than {} levels (at {})", what,
                                kMaxClientJsonDepth, TextExcerpt(where, 160)),
                    param);
}

std::string TextExcerpt(const std::string& s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end) + "...";
}

std::string JsonExcerpt(const nlohmann::json& v, size_t max_chars) {
  using nlohmann::json;
  std::string out;
  // A scalar (or a key) as JSON, from a bounded prefix of a long string.
  auto scalar = [&](const json& x) {
    const json cut = x.is_string() && x.get_ref<const std::string&>().size() > max_chars
                         ? json(x.get_ref<const std::string&>().substr(0, max_chars))
                         : x;
    out += cut.dump(-1, ' ', /*ensure_ascii=*/true, json::error_handler_t::replace);
  };
  struct Frame {
    const json* node;
    json::const_iterator it;
    bool first;
  };
  std::vector<Frame> stack;  // iterative: `v` may be nested arbitrarily deep
  auto enter = [&](const json& x) {
    if (!x.is_structured()) return scalar(x);
    out += x.is_object() ? '{' : '[';
    stack.push_back({&x, x.cbegin(), true});
  };
  enter(v);
  while (!stack.empty() && out.size() <= max_chars) {
    Frame& f = stack.back();
    if (f.it == f.node->cend()) {
      out += f.node->is_object() ? '}' : ']';
      stack.pop_back();
      continue;
    }
    if (!f.first) out += ',';
    f.first = false;
    if (f.node->is_object()) {
      scalar(json(f.it.key()));
      out += ':';
    }
    const json& child = *f.it;
    ++f.it;
    enter(child);  // (may grow the stack: `f` is not used after this)
  }
  if (out.size() > max_chars) out = out.substr(0, max_chars > 3 ? max_chars - 3 : 0) + "...";
  return out;
}

ApiError ParseCommonFields(nlohmann::json* j, SpeechParams* out) {
  TextRequest& f = out->fields;
  if (auto it = j->find("voice"); it != j->end()) {
    if (it->is_string()) {
      f.voice = it->get<std::string>();
    } else if (it->is_object() && it->contains("id") && (*it)["id"].is_string()) {
      f.voice = (*it)["id"].get<std::string>();
    } else if (!it->is_null()) {
      return BadRequest("voice must be a string or {\"id\": string}", "voice");
    }
    if (f.voice == "default") f.voice.clear();
    j->erase(it);
  }
  if (auto it = j->find("instructions"); it != j->end()) {
    if (!it->is_string() && !it->is_null())
      return BadRequest("instructions must be a string", "instructions");
    if (it->is_string() && !it->get<std::string>().empty()) {
      f.instruct_text = it->get<std::string>();
      f.mode = "instruct2";
    }
    j->erase(it);
  }
  if (auto it = j->find("speed"); it != j->end()) {
    if (!it->is_number() || it->get<double>() < 0.25 || it->get<double>() > 4.0) {
      return BadRequest(
          fmt::format("speed must be a number in [0.25, 4.0], got {}", JsonExcerpt(*it)), "speed");
    }
    f.speed = it->get<float>();
    j->erase(it);
  }
  if (auto it = j->find("seed"); it != j->end()) {
    if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0)) {
      return BadRequest(
          fmt::format("seed must be a non-negative integer, got {}", JsonExcerpt(*it)), "seed");
    }
    f.seed = it->get<uint64_t>();
    j->erase(it);
  }
  if (auto it = j->find("sample_rate"); it != j->end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 8000 || it->get<int64_t>() > 192000) {
      return BadRequest(
          fmt::format("sample_rate must be an integer in [8000, 192000], got {}", JsonExcerpt(*it)),
          "sample_rate");
    }
    out->sample_rate = it->get<int>();
    j->erase(it);
  }
  return {};
}

ApiError ParseSpeechRequest(const std::string& body, HttpSpeechRequest* out) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return BadRequest("the body is not valid JSON (UTF-8)");
  if (!j.is_object()) return BadRequest("the body must be a JSON object");
  if (ApiError e = CheckClientJsonDepth(j, "the body"); !e.ok()) return e;
  if (auto it = j.find("model"); it != j.end()) {
    if (!it->is_string() && !it->is_null()) return BadRequest("model must be a string", "model");
    j.erase(it);
  }
  auto input = j.find("input");
  if (input == j.end() || !input->is_string()) return BadRequest("input must be a string", "input");
  out->input = input->get<std::string>();
  j.erase(input);
  if (out->input.find_first_not_of(" \t\r\n") == std::string::npos) {
    return BadRequest("input is empty", "input");
  }
  if (auto it = j.find("response_format"); it != j.end()) {
    if (!it->is_string()) return BadRequest("response_format must be a string", "response_format");
    out->response_format = it->get<std::string>();
    j.erase(it);
  }
  const std::string& rf = out->response_format;
  if (rf != "wav" && rf != "pcm" && rf != "flac") {
    return BadRequest(fmt::format("response_format '{}' is not supported; supported: wav, pcm, "
                                  "flac",
                                  TextExcerpt(rf)),
                      "response_format");
  }
  if (auto it = j.find("stream_format"); it != j.end()) {
    if (!it->is_string() ||
        (it->get<std::string>() != "audio" && it->get<std::string>() != "sse")) {
      return BadRequest(
          fmt::format("stream_format must be \"audio\" or \"sse\", got {}", JsonExcerpt(*it)),
          "stream_format");
    }
    out->stream_format = it->get<std::string>();
    j.erase(it);
  }
  if (!out->stream_format.empty() && rf == "flac") {
    return BadRequest(
        "response_format flac is not streamed; use wav or pcm with stream_format, "
        "or leave stream_format out",
        "response_format");
  }
  ApiError e = ParseCommonFields(&j, &out->params);
  if (!e.ok()) return e;
  if (!j.empty()) {
    const std::string key = TextExcerpt(j.begin().key());
    return BadRequest(fmt::format("unknown field '{}'", key), key);
  }
  return {};
}

}  // namespace cosyflow::serving
