// EstimatorCache: committed K/V rows and causal-conv contexts of the streaming estimator.
#include "nodes/flow/flow_stream_cache.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include <sys/mman.h>

#include "nodes/flow/cfm_noise.h"
#include "runtime/huge_pages.h"

namespace cosyflow::flow {

namespace {
constexpr size_t kPage = 4096;
size_t PageAlign(size_t bytes) { return (bytes + kPage - 1) / kPage * kPage; }
}  // namespace

EncoderCache::~EncoderCache() { Release(); }

void EncoderCache::Release() {
  if (region_ != nullptr) {
    size_t touched = 0;
    for (int s = 0; s < 2; ++s) {
      const auto si = static_cast<size_t>(s);
      const size_t kv = 2 * static_cast<size_t>(high_[si] * d_) * sizeof(float);
      for (size_t l = 0; l < layers_[si]; ++l) {
        touched += kv + static_cast<size_t>(p_rows_[si][l] * d_) * sizeof(float);
      }
    }
    WarmPages::Release(mapping_, touched);
  }
  mapping_ = {};
  region_ = nullptr;
}

size_t EncoderCache::RegionOffset(int s, size_t l, int kind) const {
  size_t off = 0;
  const size_t kv0 = PageAlign(static_cast<size_t>(rows_cap_[0] * d_) * sizeof(float));
  const size_t p0 = PageAlign(static_cast<size_t>(p_cap_[0] * d_) * sizeof(float));
  const size_t kv1 = PageAlign(static_cast<size_t>(rows_cap_[1] * d_) * sizeof(float));
  const size_t p1 = PageAlign(static_cast<size_t>(p_cap_[1] * d_) * sizeof(float));
  const size_t kv = s == 0 ? kv0 : kv1;
  if (s == 1) off += layers_[0] * (2 * kv0 + p0);
  off += l * (2 * kv + (s == 0 ? p0 : p1));
  off += static_cast<size_t>(kind) * kv;  // K, V, then P
  return off;
}

float* EncoderCache::Region(int s, size_t l, int kind) const {
  return reinterpret_cast<float*>(region_ + RegionOffset(s, l, kind));
}

Status EncoderCache::Prepare(const FlowConfig& c, size_t layers1, size_t layers2) {
  return Reserve(c.enc_dim, c.token_mel_ratio, c.enc_chunk, layers1, layers2);
}

Status EncoderCache::Reserve(int64_t d, int64_t ratio, int64_t chunk, size_t layers1,
                             size_t layers2) {
  if (region_ != nullptr && layers_[0] == layers1 && layers_[1] == layers2 && d_ == d &&
      ratio_ == ratio && chunk_ == chunk) {
    return OkStatus();
  }
  Release();
  d_ = d;
  ratio_ = ratio;
  chunk_ = chunk;
  layers_[0] = layers1;
  layers_[1] = layers2;
  // Every token that can produce a frame of the noise table, and each stage's positional rows
  // r = -(chunk - 1) .. rows - 1.
  rows_cap_[0] = kCfmNoiseFrames / ratio + 1;
  rows_cap_[1] = ratio * rows_cap_[0];
  p_cap_[0] = rows_cap_[0] + chunk - 1;
  p_cap_[1] = rows_cap_[1] + chunk * ratio - 1;
  high_[0] = high_[1] = 0;
  p_rows_[0].assign(layers1, 0);
  p_rows_[1].assign(layers2, 0);
  const size_t bytes = RegionOffset(1, layers2, 0);  // one past the last layer's regions
  // Small pages: 30 regions of a few rows per chunk (huge pages would zero and pin 2 MiB each).
  auto m = WarmPages::Acquire(bytes, /*huge_pages=*/false);
  if (!m.ok()) {
    return MakeError(StatusCode::kResourceExhausted,
                     "flow encoder cache: cannot reserve {} MiB of address space", bytes >> 20);
  }
  mapping_ = *m;
  region_ = static_cast<char*>(mapping_.base);
  return OkStatus();
}

void EncoderCache::Wrote(int s, int64_t rows) {
  high_[static_cast<size_t>(s)] = std::max(high_[static_cast<size_t>(s)], rows);
}

Status EncoderCache::CopyFrom(const EncoderCache& other) {
  if (other.prepared()) {
    COSY_RETURN_IF_ERROR(
        Reserve(other.d_, other.ratio_, other.chunk_, other.layers_[0], other.layers_[1]));
    for (int s = 0; s < 2; ++s) {
      const auto si = static_cast<size_t>(s);
      const int64_t rows = s == 0 ? other.tokens : ratio_ * other.tokens;
      const size_t kv = static_cast<size_t>(rows * d_) * sizeof(float);
      for (size_t l = 0; l < layers_[si]; ++l) {
        std::memcpy(k(s, l), other.k(s, l), kv);
        std::memcpy(v(s, l), other.v(s, l), kv);
        p_rows_[si][l] = other.p_rows_[si][l];
        std::memcpy(p(s, l), other.p(s, l),
                    static_cast<size_t>(p_rows_[si][l] * d_) * sizeof(float));
      }
      Wrote(s, rows);
    }
  }
  tokens = other.tokens;
  tail = other.tail;
  tail_next = other.tail_next;
  mu = other.mu;
  return OkStatus();
}

void EncoderCache::Clear() {
  tokens = 0;
  std::fill(tail.begin(), tail.end(), 0.0f);
  std::fill(tail_next.begin(), tail_next.end(), 0.0f);
  mu.clear();
}

void EncoderCache::TrimToCommitted() {
  if (region_ == nullptr) return;
  for (int s = 0; s < 2; ++s) {
    const auto si = static_cast<size_t>(s);
    const int64_t rows = s == 0 ? tokens : ratio_ * tokens;
    for (size_t l = 0; l < layers_[si]; ++l) {
      for (int kind = 0; kind < 3; ++kind) {
        const int64_t used = kind < 2 ? rows : p_rows_[si][l];
        const int64_t cap = kind < 2 ? rows_cap_[si] : p_cap_[si];
        char* base = region_ + RegionOffset(s, l, kind);
        const size_t keep = PageAlign(static_cast<size_t>(used * d_) * sizeof(float));
        const size_t all = PageAlign(static_cast<size_t>(cap * d_) * sizeof(float));
        if (keep < all) madvise(base + keep, all - keep, MADV_DONTNEED);
      }
    }
    high_[si] = rows;
  }
}

size_t EncoderCache::bytes() const {
  size_t n = tail.size() + tail_next.size() + mu.size();
  for (int s = 0; s < 2; ++s) {
    const auto si = static_cast<size_t>(s);
    const int64_t rows = s == 0 ? tokens : ratio_ * tokens;
    for (size_t l = 0; l < layers_[si]; ++l) {
      n += static_cast<size_t>((2 * rows + p_rows_[si][l]) * d_);
    }
  }
  return n * sizeof(float);
}

namespace {
uint64_t NextContentId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

void EstimatorCache::Changed() { content_id_ = NextContentId(); }

EstimatorCache::EstimatorCache(const FlowConfig& c, bool kv_bf16)
    : ratio_(c.token_mel_ratio),
      inner_(c.est_inner()),
      elem_(kv_bf16 ? sizeof(uint16_t) : sizeof(float)),
      blocks_(static_cast<int>(c.est_blocks_per_stage * (2 + c.est_mid_blocks))),
      steps_(static_cast<size_t>(c.n_timesteps)) {
  for (Step& s : steps_) s.kv.assign(static_cast<size_t>(blocks_), nullptr);
  Changed();
}

EstimatorCache::~EstimatorCache() { Release(); }

void EstimatorCache::Release() {
  // Back to the process's warm pool: the next session's rows land on pages already faulted in;
  // labelled with the prompt rows it still holds, if any (see CopyFrom).
  if (region_ != nullptr) {
    mapping_.content = prefix_label_;
    mapping_.layout = prefix_label_ != 0 ? cap_ : 0;
    WarmPages::Release(mapping_, std::min(mapping_.bytes, BytesFor(used_)));
  }
  mapping_ = {};
  prefix_label_ = 0;
  region_ = nullptr;
  region_bytes_ = 0;
  used_ = 0;
  cap_ = 0;
  for (Step& s : steps_) std::fill(s.kv.begin(), s.kv.end(), nullptr);
}

size_t EstimatorCache::BytesFor(int64_t frames) const {
  return static_cast<size_t>(frames) * static_cast<size_t>(4 * inner_) * elem_ *
         static_cast<size_t>(blocks_) * steps_.size();
}

size_t EstimatorCache::bytes() const {
  size_t conv = 0;
  for (const Step& s : steps_) {
    for (const auto& v : s.conv) conv += 2 * v.size() * sizeof(float);
  }
  return BytesFor(used_) + conv + enc.bytes();
}

Status EstimatorCache::Allocate(int64_t cap, bool dense, uint64_t label) {
  const size_t bytes = BytesFor(cap);
  // Address space only (MAP_NORESERVE, from the warm pool when one is idle): pages become
  // memory when rows are written, so the cache never moves (no copies as the utterance grows)
  // and holds only the frames it has seen.
  // Small pages for the growing layout: each block's K/V region gets a few rows per chunk, far
  // apart (see Acquire). A dense snapshot (every row written at once) takes huge pages.
  auto m = WarmPages::Acquire(bytes, /*huge_pages=*/dense, label, label != 0 ? cap : 0);
  if (!m.ok()) {
    return MakeError(StatusCode::kResourceExhausted,
                     "flow stream cache: cannot reserve {} MiB of address space", bytes >> 20);
  }
  Release();
  mapping_ = *m;
  prefix_label_ = label != 0 && mapping_.content == label ? label : 0;
  region_ = static_cast<char*>(mapping_.base);
  region_bytes_ = bytes;
  cap_ = cap;
  populated_ = 0;
  const size_t per_block = 4 * static_cast<size_t>(cap) * static_cast<size_t>(inner_) * elem_;
  size_t i = 0;
  for (Step& s : steps_) {
    for (void*& kv : s.kv) kv = region_ + per_block * i++;
  }
  return OkStatus();
}

int64_t EstimatorCache::BudgetCap(size_t max_bytes) const {
  int64_t cap = kCfmNoiseFrames;
  if (max_bytes > 0) cap = std::min<int64_t>(cap, static_cast<int64_t>(max_bytes / BytesFor(1)));
  return cap;
}

Status EstimatorCache::Reserve(int64_t frames, size_t max_bytes, bool exact) {
  if (region_ == nullptr) {
    // The whole budget (or the noise table's length when unlimited) as one reservation; or,
    // for a cache that will not grow, exactly `frames` rows written at once (dense).
    const int64_t cap = BudgetCap(max_bytes);
    if (exact) {
      if (frames <= cap) COSY_RETURN_IF_ERROR(Allocate(std::max<int64_t>(frames, 1), /*dense=*/true));
    } else if (frames <= cap) {
      COSY_RETURN_IF_ERROR(Allocate(std::max<int64_t>(cap, 1), /*dense=*/false));
    }
  }
  if (frames > cap_) {
    return MakeError(StatusCode::kResourceExhausted,
                     "flow stream cache: {} frames need {} MiB, over the {} MiB budget", frames,
                     BytesFor(frames) >> 20, max_bytes >> 20);
  }
  if (frames > populated_) {
    // Fault the new rows in with one call per K/V part instead of a trap per 4 KiB page as the
    // estimator writes them (thousands of regions, a few rows each; see PopulateForWrite).
    const size_t row = static_cast<size_t>(inner_) * elem_;
    for (Step& st : steps_) {
      for (void* kv : st.kv) {
        for (size_t part = 0; part < 4; ++part) {
          char* base = static_cast<char*>(kv) + part * static_cast<size_t>(cap_) * row;
          PopulateForWrite(base + static_cast<size_t>(populated_) * row,
                           static_cast<size_t>(frames - populated_) * row);
        }
      }
    }
    populated_ = frames;
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
  Changed();
}

void EstimatorCache::Clear() {
  for (Step& s : steps_) {
    for (auto& v : s.conv) std::fill(v.begin(), v.end(), 0.0f);
    for (auto& v : s.conv_next) std::fill(v.begin(), v.end(), 0.0f);
  }
  frames_ = 0;
  enc.Clear();
  prefix_label_ = 0;  // rows from 0 on may be rewritten now
  Changed();
}

Status EstimatorCache::ShrinkToFit() {
  enc.TrimToCommitted();
  if (cap_ == frames_ || frames_ == 0) return OkStatus();
  prefix_label_ = 0;  // rows move
  Changed();
  if (mapping_.huge) {
    // A dense reservation (Reserve(..., exact)): compact the committed rows towards the start in
    // place (each part's new place starts at or before its old one, and sources are read in
    // increasing order) and give the tail's pages back; no new memory, no second mapping.
    const size_t row = static_cast<size_t>(inner_) * elem_;  // bytes
    const size_t old_block = 4 * static_cast<size_t>(cap_) * row;
    const size_t new_block = 4 * static_cast<size_t>(frames_) * row;
    size_t i = 0;
    for (Step& s : steps_) {
      for (void*& kv : s.kv) {
        const char* from = region_ + old_block * i;
        char* to = region_ + new_block * i;
        ++i;
        for (size_t part = 0; part < 4; ++part) {
          std::memmove(to + part * static_cast<size_t>(frames_) * row,
                       from + part * static_cast<size_t>(cap_) * row,
                       static_cast<size_t>(frames_) * row);
        }
        kv = to;
      }
    }
    cap_ = frames_;
    used_ = frames_;
    populated_ = frames_;
    region_bytes_ = BytesFor(frames_);
    const size_t keep = (region_bytes_ + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
    if (keep < mapping_.bytes) {
      madvise(reinterpret_cast<char*>(mapping_.base) + keep, mapping_.bytes - keep, MADV_DONTNEED);
    }
    for (Step& s : steps_) {
      s.conv_next.clear();
      s.conv_next.shrink_to_fit();
    }
    return OkStatus();
  }
  char* old = region_;
  const WarmPages::Mapping old_mapping = mapping_;
  const size_t old_touched = BytesFor(used_);
  const int64_t old_cap = cap_;
  region_ = nullptr;  // keep the old rows mapped while copying
  mapping_ = {};
  const Status st = Allocate(frames_, /*dense=*/true);
  if (!st.ok()) {
    mapping_ = old_mapping;
    region_ = old;
    return st;
  }
  PopulateForWrite(region_, region_bytes_);  // dense: one call for the whole copy target
  populated_ = frames_;
  CopyRows(old, old_cap);
  WarmPages::Release(old_mapping, std::min(old_mapping.bytes, old_touched));
  used_ = frames_;
  for (Step& s : steps_) {
    s.conv_next.clear();
    s.conv_next.shrink_to_fit();
  }
  return OkStatus();
}

void EstimatorCache::CopyRows(const char* src, int64_t src_cap) {
  const size_t row = static_cast<size_t>(inner_) * elem_;  // bytes
  const size_t src_block = 4 * static_cast<size_t>(src_cap) * row;
  const int64_t blocks = static_cast<int64_t>(steps_.size()) * blocks_;
  // Hundreds of MB for a voice's prompt state, copied at the start of every utterance: both
  // cores' load/store bandwidth, not one's.
#pragma omp parallel for schedule(static) if (blocks > 1)
  for (int64_t i = 0; i < blocks; ++i) {
    char* kv = static_cast<char*>(steps_[static_cast<size_t>(i / blocks_)].kv[static_cast<size_t>(i % blocks_)]);
    const char* from = src + src_block * static_cast<size_t>(i);
    for (size_t part = 0; part < 4; ++part) {  // K row 0, K row 1, V row 0, V row 1
      std::memcpy(kv + part * static_cast<size_t>(cap_) * row,
                  from + part * static_cast<size_t>(src_cap) * row,
                  static_cast<size_t>(frames_) * row);
    }
  }
}

Status EstimatorCache::CopyFrom(const EstimatorCache& other, size_t max_bytes) {
  if (other.inner_ != inner_ || other.blocks_ != blocks_ || other.steps_.size() != steps_.size()) {
    return InvalidArgument("flow stream cache: copying between different model shapes");
  }
  if (other.elem_ != elem_) {
    return InvalidArgument("flow stream cache: copying between f32 and bf16 K/V caches");
  }
  Clear();
  reused_rows_ = false;
  if (region_ == nullptr && other.frames_ > 0 && other.frames_ <= BudgetCap(max_bytes)) {
    COSY_RETURN_IF_ERROR(Allocate(BudgetCap(max_bytes), /*dense=*/false, other.content_id_));
    reused_rows_ = prefix_label_ == other.content_id_;
    if (reused_rows_) {
      // Written, so faulted in, by the earlier users of this mapping: the prompt's rows and, in
      // the same layout, every row their utterances reached (the pool's resident bytes: an
      // upper bound, so a row past it only costs the page faults Reserve would have saved).
      const int64_t reached = static_cast<int64_t>(mapping_.resident / BytesFor(1));
      populated_ = std::max(other.frames_, std::min(cap_, reached));
    }
  }
  COSY_RETURN_IF_ERROR(Reserve(other.frames_, max_bytes));
  frames_ = other.frames_;
  if (frames_ > 0 && !reused_rows_) CopyRows(other.region_, other.cap_);
  if (frames_ > 0) prefix_label_ = other.content_id_;
  for (size_t si = 0; si < steps_.size(); ++si) {
    steps_[si].conv = other.steps_[si].conv;
    steps_[si].conv_next = other.steps_[si].conv;
  }
  COSY_RETURN_IF_ERROR(enc.CopyFrom(other.enc));
  Changed();
  return OkStatus();
}

}  // namespace cosyflow::flow
