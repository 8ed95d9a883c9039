// VoiceCache: a small thread-safe LRU of voices computed from prompt recordings, keyed by a
// content key (VoiceFrontendNode: SHA-256 of the samples, rate and transcript, or of the path,
// size, modification time and transcript), with hit/miss counters for tests and metrics.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <utility>

#include "nodes/core/message.h"

namespace cosyflow::voice {

struct VoiceCacheStats {
  int64_t hits = 0;
  int64_t misses = 0;
  int64_t entries = 0;
  int64_t capacity = 0;
};

class VoiceCache {
 public:
  // capacity 0: disabled (Find always misses, Put keeps nothing).
  explicit VoiceCache(int capacity) : capacity_(capacity) {}

  // The voice stored under `key` (now the most recent), or null; counts a hit or a miss.
  VoicePromptPtr Find(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first == key) {
        entries_.splice(entries_.begin(), entries_, it);
        ++stats_.hits;
        return it->second;
      }
    }
    ++stats_.misses;
    return nullptr;
  }

  // Stores `voice` as the most recent entry, dropping the least recent past the capacity.
  void Put(const std::string& key, VoicePromptPtr voice) {
    if (capacity_ <= 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first == key) {  // two sessions computed the same voice at once
        it->second = std::move(voice);
        entries_.splice(entries_.begin(), entries_, it);
        return;
      }
    }
    entries_.emplace_front(key, std::move(voice));
    while (entries_.size() > static_cast<size_t>(capacity_)) entries_.pop_back();
  }

  VoiceCacheStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    VoiceCacheStats s = stats_;
    s.entries = static_cast<int64_t>(entries_.size());
    s.capacity = capacity_;
    return s;
  }

 private:
  const int capacity_;
  mutable std::mutex mu_;
  std::list<std::pair<std::string, VoicePromptPtr>> entries_;  // most recent first
  VoiceCacheStats stats_;
};

}  // namespace cosyflow::voice
