// FlowPromptCache: LRU of per-voice prompt estimator states.
#include "nodes/flow/flow_prompt_cache.h"

#include <cstring>

namespace cosyflow::flow {
namespace {

uint64_t Fnv1a(uint64_t h, const void* data, size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

uint64_t Key(const FlowPrompt& p) {
  uint64_t h = 14695981039346656037ull;
  h = Fnv1a(h, p.tokens.data(), p.tokens.size() * sizeof(int32_t));
  h = Fnv1a(h, p.feat.data(), p.feat.size() * sizeof(float));
  return Fnv1a(h, p.embedding.data(), p.embedding.size() * sizeof(float));
}

template <typename T>
bool SameBytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

bool SamePrompt(const FlowPrompt& a, const FlowPrompt& b) {
  return SameBytes(a.tokens, b.tokens) && SameBytes(a.feat, b.feat) && SameBytes(a.embedding, b.embedding);
}

}  // namespace

Result<std::shared_ptr<const EstimatorCache>> FlowPromptCache::Get(const FlowPrompt& prompt) {
  if (capacity_ == 0) return std::shared_ptr<const EstimatorCache>();
  const uint64_t key = Key(prompt);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = lru_.begin(); it != lru_.end(); ++it) {
      if (it->key == key && SamePrompt(it->prompt, prompt)) {
        lru_.splice(lru_.begin(), lru_, it);
        ++hits_;
        return lru_.front().state;
      }
    }
    ++misses_;
  }
  // Computed outside the lock (two first requests of one voice may both compute it).
  Arena arena;
  Result<std::shared_ptr<const EstimatorCache>> computed = model_.PromptState(prompt, max_bytes_, arena);
  if (!computed.ok() && computed.status().code() == StatusCode::kResourceExhausted) {
    return std::shared_ptr<const EstimatorCache>();  // over the budget: sessions compute it
  }
  COSY_ASSIGN_OR_RETURN(std::shared_ptr<const EstimatorCache> state, std::move(computed));
  if (state == nullptr || state->bytes() > max_bytes_) return state;
  std::lock_guard<std::mutex> lock(mu_);
  for (const Entry& e : lru_) {
    if (e.key == key && SamePrompt(e.prompt, prompt)) return e.state;  // another request won
  }
  lru_.push_front(Entry{key, prompt, state});
  bytes_ += state->bytes();
  while (lru_.size() > capacity_ || bytes_ > max_bytes_) {
    bytes_ -= lru_.back().state->bytes();
    lru_.pop_back();
  }
  return state;
}

FlowPromptCache::Stats FlowPromptCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return Stats{hits_, misses_, lru_.size(), bytes_};
}

}  // namespace cosyflow::flow
