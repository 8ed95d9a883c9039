// EstimatorCache: committed K/V rows and causal-conv contexts of the streaming estimator.
#include "nodes/flow/flow_stream_cache.h"

#include <algorithm>
#include <cstring>

#include "nodes/flow/cfm_noise.h"

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
  for (Step& s : steps_) s.kv.assign(static_cast<size_t>(blocks_), nullptr);
}

EstimatorCache::~EstimatorCache() { Release(); }

void EstimatorCache::Release() {
  // Back to the process's warm pool: the next session's rows land on pages already faulted in.
  if (region_ != nullptr) WarmPages::Release(mapping_, std::min(mapping_.bytes, BytesFor(used_)));
  mapping_ = {};
  region_ = nullptr;
  region_bytes_ = 0;
  used_ = 0;
  cap_ = 0;
  for (Step& s : steps_) std::fill(s.kv.begin(), s.kv.end(), nullptr);
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
  return BytesFor(used_) + conv + enc.bytes();
}

Status EstimatorCache::Allocate(int64_t cap) {
  const size_t bytes = BytesFor(cap);
  // Address space only (MAP_NORESERVE, from the warm pool when one is idle): pages become
  // memory when rows are written, so the cache never moves (no copies as the utterance grows)
  // and holds only the frames it has seen.
  auto m = WarmPages::Acquire(bytes);
  if (!m.ok()) {
    return MakeError(StatusCode::kResourceExhausted,
                     "flow stream cache: cannot reserve {} MiB of address space", bytes >> 20);
  }
  Release();
  mapping_ = *m;
  region_ = static_cast<float*>(mapping_.base);
  region_bytes_ = bytes;
  cap_ = cap;
  const size_t per_block = 4 * static_cast<size_t>(cap) * static_cast<size_t>(inner_);
  size_t i = 0;
  for (Step& s : steps_) {
    for (float*& kv : s.kv) kv = region_ + per_block * i++;
  }
  return OkStatus();
}

Status EstimatorCache::Reserve(int64_t frames, size_t max_bytes) {
  if (region_ == nullptr) {
    // The whole budget (or the noise table's length when unlimited) as one reservation.
    int64_t cap = kCfmNoiseFrames;
    if (max_bytes > 0) cap = std::min<int64_t>(cap, static_cast<int64_t>(max_bytes / BytesFor(1)));
    if (frames <= cap) COSY_RETURN_IF_ERROR(Allocate(std::max<int64_t>(cap, 1)));
  }
  if (frames > cap_) {
    return MakeError(StatusCode::kResourceExhausted,
                     "flow stream cache: {} frames need {} MiB, over the {} MiB budget", frames,
                     BytesFor(frames) >> 20, max_bytes >> 20);
  }
  used_ = std::max(used_, frames);
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

Status EstimatorCache::ShrinkToFit() {
  if (cap_ == frames_ || frames_ == 0) return OkStatus();
  float* old = region_;
  const WarmPages::Mapping old_mapping = mapping_;
  const size_t old_touched = BytesFor(used_);
  const int64_t old_cap = cap_;
  region_ = nullptr;  // keep the old rows mapped while copying
  mapping_ = {};
  const Status st = Allocate(frames_);
  if (!st.ok()) {
    mapping_ = old_mapping;
    region_ = old;
    return st;
  }
  CopyRows(old, old_cap);
  WarmPages::Release(old_mapping, std::min(old_mapping.bytes, old_touched));
  used_ = frames_;
  for (Step& s : steps_) {
    s.conv_next.clear();
    s.conv_next.shrink_to_fit();
  }
  return OkStatus();
}

void EstimatorCache::CopyRows(const float* src, int64_t src_cap) {
  const size_t row = static_cast<size_t>(inner_);
  const size_t src_block = 4 * static_cast<size_t>(src_cap) * row;
  size_t i = 0;
  for (Step& s : steps_) {
    for (float* kv : s.kv) {
      const float* from = src + src_block * i++;
      for (size_t part = 0; part < 4; ++part) {  // K row 0, K row 1, V row 0, V row 1
        std::memcpy(kv + part * cap_ * row, from + part * src_cap * row,
                    static_cast<size_t>(frames_) * row * sizeof(float));
      }
    }
  }
}

Status EstimatorCache::CopyFrom(const EstimatorCache& other, size_t max_bytes) {
  if (other.inner_ != inner_ || other.blocks_ != blocks_ || other.steps_.size() != steps_.size()) {
    return InvalidArgument("flow stream cache: copying between different model shapes");
  }
  Clear();
  COSY_RETURN_IF_ERROR(Reserve(other.frames_, max_bytes));
  frames_ = other.frames_;
  if (frames_ > 0) CopyRows(other.region_, other.cap_);
  for (size_t si = 0; si < steps_.size(); ++si) {
    steps_[si].conv = other.steps_[si].conv;
    steps_[si].conv_next = other.steps_[si].conv;
  }
  enc = other.enc;
  return OkStatus();
}

}  // namespace cosyflow::flow
