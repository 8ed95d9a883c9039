// Configuration errors and the checked JSON object reader.
#include "nodes/core/config_errors.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace cosyflow {

using nlohmann::json;

void ErrorList::Append(const ErrorList& other) {
  errors_.insert(errors_.end(), other.errors_.begin(), other.errors_.end());
}

bool ErrorList::HasPath(std::string_view path) const {
  return std::any_of(errors_.begin(), errors_.end(),
                     [&](const ConfigError& e) { return e.path == path; });
}

std::string ErrorList::ToString() const {
  std::string s;
  for (const auto& e : errors_) s += e.ToString() + "\n";
  return s;
}

Status ErrorList::ToStatus(std::string_view what) const {
  if (errors_.empty()) return OkStatus();
  std::string s = fmt::format("{}: {} error(s)", what, errors_.size());
  for (const auto& e : errors_) s += "\n  " + e.ToString();
  return Status(StatusCode::kInvalidArgument, s);
}

std::string_view JsonTypeName(const json& v) {
  switch (v.type()) {
    case json::value_t::object: return "object";
    case json::value_t::array: return "array";
    case json::value_t::string: return "string";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    case json::value_t::null: return "null";
    default: return "invalid";
  }
}

JsonObjectReader::JsonObjectReader(const json& obj, std::string path, ErrorList* errors)
    : obj_(obj), path_(std::move(path)), errors_(errors), valid_(obj.is_object()) {
  if (!valid_) errors_->Add(path_, "expected an object, got {}", JsonTypeName(obj));
}

const json* JsonObjectReader::Find(std::string_view key, bool required) {
  known_.emplace_back(key);
  if (!valid_) return nullptr;
  auto it = obj_.find(std::string(key));
  if (it == obj_.end()) {
    if (required) errors_->Add(PathOf(key), "required key is missing");
    return nullptr;
  }
  return &*it;
}

const json* JsonObjectReader::Get(std::string_view key, bool required) {
  return Find(key, required);
}

void JsonObjectReader::Read(std::string_view key, bool* out, bool required) {
  const json* v = Find(key, required);
  if (!v) return;
  if (!v->is_boolean()) {
    errors_->Add(PathOf(key), "expected boolean, got {}", JsonTypeName(*v));
    return;
  }
  *out = v->get<bool>();
}

template <typename T>
void JsonObjectReader::ReadNumber(std::string_view key, T* out, bool required, bool integral) {
  const json* v = Find(key, required);
  if (!v) return;
  if (integral) {
    if (!v->is_number_integer()) {
      errors_->Add(PathOf(key), "expected integer, got {} {}", JsonTypeName(*v), v->dump());
      return;
    }
    if (v->is_number_unsigned() ? v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<T>::max())
                                : (v->get<int64_t>() < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
                                   v->get<int64_t>() > static_cast<int64_t>(std::numeric_limits<T>::max()))) {
      errors_->Add(PathOf(key), "integer {} out of range", v->dump());
      return;
    }
  } else if (!v->is_number()) {
    errors_->Add(PathOf(key), "expected number, got {} {}", JsonTypeName(*v), v->dump());
    return;
  } else if (const double d = v->get<double>();
             !(std::fabs(d) <= static_cast<double>(std::numeric_limits<T>::max()))) {
    // (a float option given 1e300 would otherwise become inf)
    errors_->Add(PathOf(key), "number {} out of range for a {}-bit float", v->dump(),
                 8 * sizeof(T));
    return;
  }
  *out = v->get<T>();
}

void JsonObjectReader::Read(std::string_view key, int* out, bool required) {
  ReadNumber(key, out, required, true);
}
void JsonObjectReader::Read(std::string_view key, int64_t* out, bool required) {
  ReadNumber(key, out, required, true);
}
void JsonObjectReader::Read(std::string_view key, double* out, bool required) {
  ReadNumber(key, out, required, false);
}
void JsonObjectReader::Read(std::string_view key, float* out, bool required) {
  ReadNumber(key, out, required, false);
}

void JsonObjectReader::Read(std::string_view key, std::string* out, bool required) {
  const json* v = Find(key, required);
  if (!v) return;
  if (!v->is_string()) {
    errors_->Add(PathOf(key), "expected string, got {} {}", JsonTypeName(*v), v->dump());
    return;
  }
  *out = v->get<std::string>();
}

void JsonObjectReader::ReadEnum(std::string_view key, std::string* out,
                                std::initializer_list<std::string_view> allowed, bool required) {
  std::string value = *out;
  size_t before = errors_->size();
  Read(key, &value, required);
  if (errors_->size() != before) return;
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
    errors_->Add(PathOf(key), "'{}' is not one of {}", value, fmt::join(allowed, "|"));
    return;
  }
  *out = value;
}

void JsonObjectReader::Finish() {
  if (!valid_) return;
  for (const auto& [key, value] : obj_.items()) {
    if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
      errors_->Add(PathOf(key), "unknown key (known: {})", fmt::join(known_, ", "));
    }
  }
}

}  // namespace cosyflow
