// Levelled logging with an embedder callback (default: stderr).
#pragma once

#include <functional>
#include <string_view>

#include <fmt/format.h>

namespace cosyflow {

enum class LogLevel { kTrace = 0, kDebug, kInfo, kWarning, kError, kOff };

std::string_view LogLevelName(LogLevel level);

// The sink receives every message at or above the current level. Thread-safe to call Log from
// any thread; the sink itself must be thread-safe. Passing an empty function restores stderr.
using LogSink = std::function<void(LogLevel, std::string_view message)>;
void SetLogSink(LogSink sink);
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Parses "trace|debug|info|warning|error|off"; returns false on an unknown name.
bool ParseLogLevel(std::string_view name, LogLevel* level);

void LogMessage(LogLevel level, std::string_view message);

template <typename... Args>
void Log(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
  if (level < GetLogLevel()) return;
  LogMessage(level, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace cosyflow
