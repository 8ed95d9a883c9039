// ReadJsonFile: one place for opening and parsing model config files.
#include "nodes/core/json_file.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <vector>

#include "runtime/small_file.h"

namespace cosyflow {
namespace {

// An integer value of `v` within [lo, hi], else an error naming the value and the range.
template <typename T>
Status JsonToInteger(const nlohmann::json& v, T* out) {
  constexpr T lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
  auto out_of_range = [&] {
    return InvalidArgument("integer {} is out of range [{}, {}]", JsonForMessage(v), lo, hi);
  };
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(hi)) return out_of_range();
    *out = static_cast<T>(v.get<uint64_t>());
  } else if (v.is_number_integer()) {
    const int64_t x = v.get<int64_t>();
    if (x < static_cast<int64_t>(lo) || x > static_cast<int64_t>(hi)) return out_of_range();
    *out = static_cast<T>(x);
  } else if (v.is_number_float()) {
    const double x = v.get<double>();
    if (!std::isfinite(x) || x != std::trunc(x)) {
      return InvalidArgument("expected an integer, got {}", JsonForMessage(v));
    }
    // T's range is [-2^d, 2^d); both bounds are exact doubles (hi itself is not for 64 bits).
    const double bound = std::ldexp(1.0, std::numeric_limits<T>::digits);
    if (x < -bound || x >= bound) return out_of_range();
    *out = static_cast<T>(x);
  } else {
    return InvalidArgument("expected an integer, got {}", JsonForMessage(v));
  }
  return OkStatus();
}

template <typename T>
Status JsonToFloating(const nlohmann::json& v, T* out) {
  if (!v.is_number()) return InvalidArgument("expected a number, got {}", JsonForMessage(v));
  const double x = v.get<double>();
  if (!std::isfinite(x) || std::fabs(x) > static_cast<double>(std::numeric_limits<T>::max())) {
    return InvalidArgument("number {} is out of range for a {}-bit float", JsonForMessage(v),
                           sizeof(T) * 8);
  }
  *out = static_cast<T>(x);
  return OkStatus();
}

}  // namespace

std::string JsonForMessage(const nlohmann::json& v) {
  // ASCII only (so the cut cannot split a UTF-8 sequence); never throws on invalid UTF-8.
  std::string s = v.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 72) + "...";
  return s;
}

Status JsonToValue(const nlohmann::json& v, bool* out) {
  if (!v.is_boolean()) return InvalidArgument("expected true or false, got {}", JsonForMessage(v));
  *out = v.get<bool>();
  return OkStatus();
}
Status JsonToValue(const nlohmann::json& v, int32_t* out) { return JsonToInteger(v, out); }
Status JsonToValue(const nlohmann::json& v, int64_t* out) { return JsonToInteger(v, out); }
Status JsonToValue(const nlohmann::json& v, float* out) { return JsonToFloating(v, out); }
Status JsonToValue(const nlohmann::json& v, double* out) { return JsonToFloating(v, out); }
Status JsonToValue(const nlohmann::json& v, std::string* out) {
  if (!v.is_string()) return InvalidArgument("expected a string, got {}", JsonForMessage(v));
  *out = v.get<std::string>();
  return OkStatus();
}

Result<nlohmann::json> ReadJsonFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return NotFound("{}: is a directory, not a JSON file", path);
  // Model configs and vocabularies are at most a few MB (Qwen2's vocab.json: 2.8 MB).
  COSY_ASSIGN_OR_RETURN(const std::string text,
                        ReadSmallFile(path, int64_t{64} << 20, "JSON file"));
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    COSY_RETURN_IF_ERROR(CheckJsonDepth(j, 64).WithContext(path));
    return j;
  } catch (const nlohmann::json::exception& e) {
    return DataLoss("{}: malformed JSON: {}", path, e.what());
  } catch (const std::exception& e) {
    return DataLoss("{}: cannot read: {}", path, e.what());
  }
}

bool JsonDuplicateKeyFinder::operator()(int, nlohmann::json::parse_event_t event,
                                        nlohmann::json& parsed) {
  using E = nlohmann::json::parse_event_t;
  switch (event) {
    case E::object_start:
      frames_.push_back(Frame{});
      CheckDepth();
      break;
    case E::array_start:
      frames_.push_back(Frame{.array = true});
      CheckDepth();
      break;
    case E::object_end:
    case E::array_end:
      if (!frames_.empty()) frames_.pop_back();
      ValueDone();
      break;
    case E::key: {
      if (frames_.empty() || !parsed.is_string()) break;
      Frame& f = frames_.back();
      f.key = parsed.get<std::string>();
      const bool seen = !f.keys.insert(f.key).second;
      if (seen && message_.empty()) {
        std::string at;
        for (size_t i = 0; i + 1 < frames_.size(); ++i) {
          if (frames_[i].array) {
            at += fmt::format("[{}]", frames_[i].index);
          } else {
            at += (at.empty() ? "" : ".") + frames_[i].key;
          }
        }
        message_ = fmt::format("key '{}' appears twice in {}", f.key,
                               at.empty() ? "the top-level object" : "the object at " + at);
      }
      break;
    }
    case E::value:
      ValueDone();
      break;
  }
  return true;
}

void JsonDuplicateKeyFinder::CheckDepth() const {
  // frames_ holds the structures open now, the root's included; CheckJsonDepth counts the root
  // as level 1 too and names the path of keys / indices down to the too-deep structure
  if (max_depth_ <= 0 || static_cast<int>(frames_.size()) <= max_depth_) return;
  std::string where;
  for (size_t i = 0; i + 1 < frames_.size(); ++i) {
    const Frame& f = frames_[i];
    where += (where.empty() ? "" : ".") + (f.array ? std::to_string(f.index) : f.key);
  }
  throw JsonTooDeep(fmt::format("{}: JSON nested deeper than {} levels", where, max_depth_));
}

void JsonDuplicateKeyFinder::ValueDone() {
  if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
}

Status CheckJsonDepth(const nlohmann::json& j, int max_depth) {
  struct Frame {
    const nlohmann::json* node;
    nlohmann::json::const_iterator it;
    std::string at;  // the key or index of the child being visited
  };
  if (!j.is_structured()) return OkStatus();
  std::vector<Frame> stack;
  stack.push_back({&j, j.cbegin(), {}});
  std::vector<size_t> index{0};
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.it == f.node->cend()) {
      stack.pop_back();
      index.pop_back();
      continue;
    }
    const nlohmann::json& child = *f.it;
    const bool descend = child.is_structured() && !child.empty();
    if (descend) f.at = f.node->is_object() ? f.it.key() : std::to_string(index.back());
    ++f.it;
    ++index.back();
    if (!descend) continue;
    if (static_cast<int>(stack.size()) + 1 > max_depth) {
      std::string where;
      for (const Frame& g : stack) where += (where.empty() ? "" : ".") + g.at;
      return InvalidArgument("{}: JSON nested deeper than {} levels", where, max_depth);
    }
    stack.push_back({&child, child.cbegin(), {}});
    index.push_back(0);
  }
  return OkStatus();
}

}  // namespace cosyflow
