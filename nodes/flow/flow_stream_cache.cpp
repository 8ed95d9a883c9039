// EstimatorCache: committed K/V rows and causal-conv contexts of the streaming estimator.
#include "nodes/flow/flow_stream_cache.h"

#include <algorithm>
#include <cstring>

namespace cosyflow::flow {

size_t EncoderCache::bytes() const {
  size_t n = tail.size() + tail_next.size();
  for (const auto* group : {&k1, &v1, &k2, &v2, &p1, &p2}) {
    for (const auto& v : *group) n += v.size();
  }
  return n * sizeof(float);
}

EstimatorCache::EstimatorCache(const FlowConfig& c)
    : ratio_(c.token_mel_ratio),
      inner_(c.est_inner()),
      blocks_(static_cast<int>(c.est_blocks_per_stage * (2 + c.est_mid_blocks))),
      steps_(static_cast<size_t>(c.n_timesteps)) {
  for (Step& s : steps_) s.kv.resize(static_cast<size_t>(blocks_));
}

size_t EstimatorCache::BytesFor(int64_t frames) const {
  return static_cast<size_t>(frames) * static_cast<size_t>(4 * inner_) * sizeof(float) *
         static_cast<size_t>(blocks_) * steps_.size();
}

size_t EstimatorCache::bytes() const {
  size_t conv = 0;
  for (const Step& s : steps_) {
    for (const auto& v : s.conv) conv += 2 * v.size() * sizeof(float);
  }
  return BytesFor(cap_) + conv + enc.bytes();
}

Status EstimatorCache::Reserve(int64_t frames, size_t max_bytes) {
  if (frames <= cap_) return OkStatus();
  // Grow by half again (at least one 64-frame step) so that chunk calls rarely reallocate.
  const int64_t grown = std::max<int64_t>(frames, cap_ + std::max<int64_t>(cap_ / 2, 64));
  int64_t cap = grown;
  if (max_bytes > 0 && BytesFor(cap) > max_bytes) cap = frames;  // no headroom near the limit
  if (max_bytes > 0 && BytesFor(cap) > max_bytes) {
    return MakeError(StatusCode::kResourceExhausted, "flow stream cache: {} frames need {} MiB, over the {} MiB budget",
                             frames, BytesFor(cap) >> 20, max_bytes >> 20);
  }
  const size_t row = static_cast<size_t>(inner_);
  for (Step& s : steps_) {
    for (auto& kv : s.kv) {
      std::vector<float> grownv(4 * static_cast<size_t>(cap) * row);
      for (size_t part = 0; part < 4 && !kv.empty(); ++part) {  // K row 0, K row 1, V row 0, V row 1
        std::memcpy(grownv.data() + part * cap * row, kv.data() + part * cap_ * row,
                    static_cast<size_t>(frames_) * row * sizeof(float));
      }
      kv.swap(grownv);
    }
  }
  cap_ = cap;
  return OkStatus();
}

void EstimatorCache::Commit(int64_t frames) {
  for (Step& s : steps_) {
    if (s.conv.size() < s.conv_next.size()) s.conv.resize(s.conv_next.size());
    for (size_t i = 0; i < s.conv_next.size(); ++i) s.conv[i] = s.conv_next[i];
  }
  frames_ = frames;
  enc.tokens = frames / ratio_;
  if (!enc.tail_next.empty()) enc.tail = enc.tail_next;
}

void EstimatorCache::Clear() {
  for (Step& s : steps_) {
    for (auto& v : s.conv) std::fill(v.begin(), v.end(), 0.0f);
    for (auto& v : s.conv_next) std::fill(v.begin(), v.end(), 0.0f);
  }
  frames_ = 0;
  enc.tokens = 0;
  std::fill(enc.tail.begin(), enc.tail.end(), 0.0f);
  std::fill(enc.tail_next.begin(), enc.tail_next.end(), 0.0f);
}

void EstimatorCache::ShrinkToFit() {
  if (cap_ == frames_) return;
  const size_t row = static_cast<size_t>(inner_);
  for (Step& s : steps_) {
    for (auto& kv : s.kv) {
      std::vector<float> shrunk(4 * static_cast<size_t>(frames_) * row);
      for (size_t part = 0; part < 4 && !kv.empty(); ++part) {
        std::memcpy(shrunk.data() + part * frames_ * row, kv.data() + part * cap_ * row,
                    static_cast<size_t>(frames_) * row * sizeof(float));
      }
      kv.swap(shrunk);
    }
    s.conv_next.clear();
    s.conv_next.shrink_to_fit();
  }
  cap_ = frames_;
}

Status EstimatorCache::CopyFrom(const EstimatorCache& other, size_t max_bytes) {
  if (other.inner_ != inner_ || other.blocks_ != blocks_ || other.steps_.size() != steps_.size()) {
    return InvalidArgument("flow stream cache: copying between different model shapes");
  }
  Clear();
  COSY_RETURN_IF_ERROR(Reserve(other.frames_, max_bytes));
  const size_t row = static_cast<size_t>(inner_);
  for (size_t si = 0; si < steps_.size(); ++si) {
    Step& s = steps_[si];
    const Step& o = other.steps_[si];
    for (size_t b = 0; b < s.kv.size(); ++b) {
      for (size_t part = 0; part < 4; ++part) {
        std::memcpy(s.kv[b].data() + part * cap_ * row, o.kv[b].data() + part * other.cap_ * row,
                    static_cast<size_t>(other.frames_) * row * sizeof(float));
      }
    }
    s.conv = o.conv;
    s.conv_next = o.conv;
  }
  enc = other.enc;
  frames_ = other.frames_;
  return OkStatus();
}

}  // namespace cosyflow::flow
