// SpeechLmPrefixCache: a small mutex-guarded LRU (a handful of voices per process).
#include "nodes/llm/speech_lm_prefix_cache.h"

namespace cosyflow {

std::shared_ptr<const SpeechLmPrefix> SpeechLmPrefixCache::Find(
    const std::vector<int32_t>& prompt_text) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->first == prompt_text) {
      entries_.splice(entries_.begin(), entries_, it);
      ++hits_;
      return entries_.front().second;
    }
  }
  ++misses_;
  return nullptr;
}

void SpeechLmPrefixCache::Insert(const std::vector<int32_t>& prompt_text,
                                 std::shared_ptr<const SpeechLmPrefix> prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  if (max_entries_ == 0) return;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->first == prompt_text) {
      entries_.erase(it);
      break;
    }
  }
  entries_.emplace_front(prompt_text, std::move(prefix));
  while (entries_.size() > max_entries_) entries_.pop_back();
}

size_t SpeechLmPrefixCache::hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hits_;
}
size_t SpeechLmPrefixCache::misses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return misses_;
}
size_t SpeechLmPrefixCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace cosyflow
