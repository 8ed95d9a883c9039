// Reads a JSON file into nlohmann::json with errors that name the file (model config files),
// converts config fields with checks, and bounds the nesting of parsed documents (graph files,
// request bodies).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "runtime/status.h"

namespace cosyflow {

// NotFound "<path>: cannot open" (also a directory) or DataLoss "<path>: malformed JSON: ...".
Result<nlohmann::json> ReadJsonFile(const std::string& path);

// Checked conversion of one JSON value into a model config field (nlohmann's get<int> truncates
// 1.5 to 1 and wraps 1e12). Integral targets take an integer value (a JSON integer, or a number
// such as 2.0 or 1e3 with no fraction) within the target's range; floating targets a number
// whose magnitude fits the target; vectors an array of such. The InvalidArgument says what was
// expected and the value; callers prefix the file and the key (ReadJsonField below).
// `v` as JSON text for an error message, cut to about 80 characters.
std::string JsonForMessage(const nlohmann::json& v);

Status JsonToValue(const nlohmann::json& v, bool* out);
Status JsonToValue(const nlohmann::json& v, int32_t* out);
Status JsonToValue(const nlohmann::json& v, int64_t* out);
Status JsonToValue(const nlohmann::json& v, float* out);
Status JsonToValue(const nlohmann::json& v, double* out);
Status JsonToValue(const nlohmann::json& v, std::string* out);
template <typename T>
Status JsonToValue(const nlohmann::json& v, std::vector<T>* out) {
  if (!v.is_array()) return InvalidArgument("expected an array, got {}", JsonForMessage(v));
  std::vector<T> items(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    COSY_RETURN_IF_ERROR_CTX(JsonToValue(v[i], &items[i]), fmt::format("[{}]", i));
  }
  *out = std::move(items);
  return OkStatus();
}

// Reads obj[key] into *out when present and not null (else *out keeps its default). Errors read
// "<what>: <key>: expected an integer, got 1.5" (`what` names the file or section).
template <typename T>
Status ReadJsonField(const nlohmann::json& obj, std::string_view key, std::string_view what,
                     T* out) {
  if (!obj.is_object()) {
    return InvalidArgument("{}: expected an object, got {}", what, JsonForMessage(obj));
  }
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return OkStatus();
  return JsonToValue(*it, out).WithContext(fmt::format("{}: {}", what, key));
}

// InvalidArgument naming the JSON path of the first value nested deeper than `max_depth`
// containers (a document's root is depth 1). Without recursion: nlohmann's serializer and
// comparisons recurse once per level, so a document nested ~100k deep overflows the stack.
Status CheckJsonDepth(const nlohmann::json& j, int max_depth);

// A parser callback (nlohmann::json::parse(text, std::ref(finder))) that records the first key
// appearing twice in one object: nlohmann keeps the last and drops the first silently, so a graph
// file with two "precision" keys in one node ran with whichever came last. Parsing goes on (the
// caller reports); message(): "key 'x' appears twice in the object at nodes[1].options" ("the
// top-level object" for the root), empty when there was none.
// Thrown by JsonDuplicateKeyFinder (max_depth > 0) to stop the parser at the first object or
// array nested deeper than max_depth: a deep document is refused before it is built (a 16 MiB
// file of '[' cost 1.6 GB and 11 s to parse before CheckJsonDepth refused it). what() is the
// CheckJsonDepth message.
class JsonTooDeep : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class JsonDuplicateKeyFinder {
 public:
  explicit JsonDuplicateKeyFinder(int max_depth = 0) : max_depth_(max_depth) {}
  bool operator()(int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed);
  const std::string& message() const { return message_; }

 private:
  struct Frame {
    bool array = false;
    int64_t index = 0;  // arrays: the element being read
    std::string key;    // objects: the key being read
    std::unordered_set<std::string> keys;
  };
  void ValueDone();
  void CheckDepth() const;
  int max_depth_ = 0;
  std::vector<Frame> frames_;
  std::string message_;
};

}  // namespace cosyflow
