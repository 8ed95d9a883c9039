// Configuration errors with JSON paths, and a checked reader for node options objects.
//
// Graph files are validated by collecting every error before anything runs; each error carries
// the path of the offending value, e.g. `nodes[3](flow).options.token_hop`.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/status.h"

namespace cosyflow {

struct ConfigError {
  std::string path;     // `nodes[3](flow).options.token_hop`; "" for file-level errors
  std::string message;  // the constraint and the value
  std::string ToString() const { return path.empty() ? message : path + ": " + message; }
};

class ErrorList {
 public:
  template <typename... Args>
  void Add(std::string path, fmt::format_string<Args...> f, Args&&... args) {
    errors_.push_back({std::move(path), fmt::format(f, std::forward<Args>(args)...)});
  }
  void Append(const ErrorList& other);
  bool empty() const { return errors_.empty(); }
  size_t size() const { return errors_.size(); }
  const std::vector<ConfigError>& errors() const { return errors_; }
  // True when some error's path equals `path` exactly.
  bool HasPath(std::string_view path) const;
  std::string ToString() const;  // one error per line
  // Ok when empty, else InvalidArgument listing every error.
  Status ToStatus(std::string_view what) const;

 private:
  std::vector<ConfigError> errors_;
};

// "object" / "string" / "integer" / "number" / "boolean" / "array" / "null".
std::string_view JsonTypeName(const nlohmann::json& v);

// Reads the keys of one JSON object into typed fields, recording a path-qualified error for a
// wrong type or a missing required key; Finish() reports every key that was never read.
class JsonObjectReader {
 public:
  // A non-object `obj` is reported once at `path`; later reads then do nothing.
  JsonObjectReader(const nlohmann::json& obj, std::string path, ErrorList* errors);

  void Read(std::string_view key, bool* out, bool required = false);
  void Read(std::string_view key, int* out, bool required = false);
  void Read(std::string_view key, int64_t* out, bool required = false);
  void Read(std::string_view key, double* out, bool required = false);
  void Read(std::string_view key, float* out, bool required = false);
  void Read(std::string_view key, std::string* out, bool required = false);
  // A string that must be one of `allowed`.
  void ReadEnum(std::string_view key, std::string* out, std::initializer_list<std::string_view> allowed,
                bool required = false);
  // Returns the raw value (nullptr when absent) and marks the key as known.
  const nlohmann::json* Get(std::string_view key, bool required = false);
  // Records an error for every key not read above.
  void Finish();

  std::string PathOf(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  ErrorList* errors() const { return errors_; }

 private:
  const nlohmann::json* Find(std::string_view key, bool required);
  template <typename T>
  void ReadNumber(std::string_view key, T* out, bool required, bool integral);

  const nlohmann::json& obj_;
  std::string path_;
  ErrorList* errors_;
  bool valid_;
  std::vector<std::string> known_;
};

}  // namespace cosyflow
