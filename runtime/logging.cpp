// Logging: a global level and a replaceable sink guarded by a mutex.
#include "runtime/logging.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace cosyflow {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kWarning)};
std::mutex g_sink_mutex;
LogSink& Sink() {
  static LogSink sink;
  return sink;
}

}  // namespace

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace: return "trace";
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
    case LogLevel::kOff: return "off";
  }
  return "?";
}

void SetLogSink(LogSink sink) {
  std::lock_guard<std::mutex> lock(g_sink_mutex);
  Sink() = std::move(sink);
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }

bool ParseLogLevel(std::string_view name, LogLevel* level) {
  for (int i = 0; i <= static_cast<int>(LogLevel::kOff); ++i) {
    if (LogLevelName(static_cast<LogLevel>(i)) == name) {
      *level = static_cast<LogLevel>(i);
      return true;
    }
  }
  return false;
}

void LogMessage(LogLevel level, std::string_view message) {
  if (level < GetLogLevel() || level == LogLevel::kOff) return;
  std::lock_guard<std::mutex> lock(g_sink_mutex);
  if (Sink()) {
    Sink()(level, message);
  } else {
    std::fprintf(stderr, "[cosyflow %s] %.*s\n", LogLevelName(level).data(),
                 static_cast<int>(message.size()), message.data());
  }
}

}  // namespace cosyflow
