// FlowPromptCache: per-voice estimator state of the prompt's blocks (FlowModel::PromptState),
// shared read-only by every streaming session of that voice, so that a known voice's first
// chunk computes only the frames after the prompt's complete blocks. LRU by entries and bytes;
// thread-safe. Keyed by the prompt's content (tokens, feat, embedding), compared in full.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>

#include "nodes/flow/flow_model.h"
#include "nodes/flow/flow_stream_cache.h"

namespace cosyflow::flow {

class FlowPromptCache {
 public:
  // capacity: entries kept (0 = off: Get computes nothing and returns null); max_bytes: total
  // bytes of the kept states (a state larger than that is used once and not kept).
  FlowPromptCache(const FlowModel& model, size_t capacity, size_t max_bytes)
      : model_(model), capacity_(capacity), max_bytes_(max_bytes) {}

  // The prompt's state, computed on first use. Null when caching is off or when the prompt has
  // no complete block.
  Result<std::shared_ptr<const EstimatorCache>> Get(const FlowPrompt& prompt);

  struct Stats {
    size_t hits = 0, misses = 0, entries = 0, bytes = 0;
  };
  Stats stats() const;

 private:
  struct Entry {
    uint64_t key = 0;
    FlowPrompt prompt;
    std::shared_ptr<const EstimatorCache> state;
  };
  const FlowModel& model_;
  const size_t capacity_, max_bytes_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recent first
  size_t bytes_ = 0, hits_ = 0, misses_ = 0;
};

}  // namespace cosyflow::flow
