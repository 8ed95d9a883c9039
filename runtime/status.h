// Status / Result<T>: the error currency of every cosyflow library layer.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace cosyflow {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // caller passed a value that violates a documented constraint
  kNotFound,         // a file, key, tensor or node does not exist
  kDataLoss,         // a file or message is truncated or corrupt
  kUnsupported,      // a valid input this build does not handle (legacy format, dtype, device)
  kOutOfRange,       // an index/size/offset outside its bounds
  kResourceExhausted,
  kCancelled,
  kUnavailable,  // peer vanished, device missing
  kInternal,     // a bug or an unexpected third-party failure
};

std::string_view StatusCodeName(StatusCode code);

// A Status is Ok or carries a code and a message saying the thing, the constraint and the value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "context: message" (context is added on the way up).
  Status WithContext(std::string_view context) const;
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }

template <typename... Args>
Status MakeError(StatusCode code, fmt::format_string<Args...> f, Args&&... args) {
  return Status(code, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status InvalidArgument(fmt::format_string<Args...> f, Args&&... args) {
  return MakeError(StatusCode::kInvalidArgument, f, std::forward<Args>(args)...);
}
template <typename... Args>
Status NotFound(fmt::format_string<Args...> f, Args&&... args) {
  return MakeError(StatusCode::kNotFound, f, std::forward<Args>(args)...);
}
template <typename... Args>
Status DataLoss(fmt::format_string<Args...> f, Args&&... args) {
  return MakeError(StatusCode::kDataLoss, f, std::forward<Args>(args)...);
}
template <typename... Args>
Status Unsupported(fmt::format_string<Args...> f, Args&&... args) {
  return MakeError(StatusCode::kUnsupported, f, std::forward<Args>(args)...);
}
template <typename... Args>
Status OutOfRange(fmt::format_string<Args...> f, Args&&... args) {
  return MakeError(StatusCode::kOutOfRange, f, std::forward<Args>(args)...);
}
template <typename... Args>
Status Internal(fmt::format_string<Args...> f, Args&&... args) {
  return MakeError(StatusCode::kInternal, f, std::forward<Args>(args)...);
}

// Result<T> holds a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(runtime/explicit)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(runtime/explicit)
    assert(!std::get<Status>(v_).ok() && "Result constructed from an Ok status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace cosyflow

#define COSY_CONCAT_INNER_(a, b) a##b
#define COSY_CONCAT_(a, b) COSY_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function when `expr` is not ok.
#define COSY_RETURN_IF_ERROR(expr)                  \
  do {                                              \
    ::cosyflow::Status cosy_status_ = (expr);       \
    if (!cosy_status_.ok()) return cosy_status_;    \
  } while (0)

// Same, adding "context: " in front of the message.
#define COSY_RETURN_IF_ERROR_CTX(expr, context)                               \
  do {                                                                        \
    ::cosyflow::Status cosy_status_ = (expr);                                 \
    if (!cosy_status_.ok()) return cosy_status_.WithContext(context);         \
  } while (0)

// `COSY_ASSIGN_OR_RETURN(auto x, MakeX());` declares x from a Result or returns its error.
#define COSY_ASSIGN_OR_RETURN(lhs, rexpr) \
  COSY_ASSIGN_OR_RETURN_IMPL_(COSY_CONCAT_(cosy_result_, __LINE__), lhs, rexpr)
#define COSY_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
