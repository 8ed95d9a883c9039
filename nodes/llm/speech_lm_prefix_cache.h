// SpeechLmPrefixCache: KV cache rows of a voice's prompt prefix ([SOS] ++ prompt text), computed
// once and reused by every one-shot request with the same prompt text (a fixed voice). The
// generator always prefills that prefix as its own forward call, so a request served from the
// cache computes exactly what an uncached one does (tests/nodes/llm: equal logits and tokens).
// Thread-safe; bounded LRU.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace cosyflow {

// K and V rows of the first `length` positions: [layers, kv_heads, length, head_dim] f32 each.
struct SpeechLmPrefix {
  int64_t length = 0;
  std::vector<float> k, v;
};

class SpeechLmPrefixCache {
 public:
  explicit SpeechLmPrefixCache(size_t max_entries) : max_entries_(max_entries) {}

  // The prefix stored for `prompt_text`, or null (counted as a miss).
  std::shared_ptr<const SpeechLmPrefix> Find(const std::vector<int32_t>& prompt_text);
  // Stores (or refreshes) an entry, evicting the least recently used beyond max_entries.
  void Insert(const std::vector<int32_t>& prompt_text,
              std::shared_ptr<const SpeechLmPrefix> prefix);

  size_t hits() const;
  size_t misses() const;
  size_t size() const;

 private:
  using Entry = std::pair<std::vector<int32_t>, std::shared_ptr<const SpeechLmPrefix>>;
  mutable std::mutex mu_;
  size_t max_entries_;
  std::list<Entry> entries_;  // most recently used first
  size_t hits_ = 0, misses_ = 0;
};

}  // namespace cosyflow
