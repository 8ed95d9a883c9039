// EstimatorCache: what the chunk-causal encoder and CFM estimator keep between streaming chunk calls so that
// a chunk computes only its new frames (docs/flow-streaming.md).
//
// Why it is exact: in streaming mode estimator frame i attends only to frames of its own and
// earlier `est_chunk` blocks, every conv is causal (k = 3) and the noise is per absolute frame,
// so for each ODE step and CFG row the trajectory of a completed block never changes when later
// frames arrive. The cache holds, per ODE step, the K and V rows of every committed frame for
// each transformer block, and the last k - 1 input frames of every causal conv at the commit
// point. Frames of an incomplete trailing block are computed but not committed (a later frame
// of the same block would be visible to them), so any hop schedule stays exact.
#pragma once

#include <cstdint>
#include <vector>

#include "nodes/flow/flow_config.h"
#include "runtime/status.h"
#include "runtime/warm_pages.h"

namespace cosyflow::flow {

// The encoder's state at the committed token prefix: the conformer layers' keys and values
// (rel-pos attention is chunk-causal on the same grid), their positional projections
// linear_pos(PE(r)) for r = -(chunk - 1).. (input-independent, extended as the sequence grows),
// and the last two stage-1 output rows (the upsample conv's left context).
//
// Rows live in one reservation of address space for the longest utterance the noise table
// allows (kCfmNoiseFrames frames; MAP_NORESERVE, small pages, from the warm pool), one region
// per layer and kind, so rows never move as the utterance grows and a later session writes
// them on pages an earlier one faulted in (heap vectors grown per chunk cost a page fault per
// 4 KiB wherever the allocator handed them fresh pages: ~20 ms of a 3 s voice's first chunk in
// cosyflow-bench-flow).
class EncoderCache {
 public:
  EncoderCache() = default;
  ~EncoderCache();
  EncoderCache(const EncoderCache&) = delete;
  EncoderCache& operator=(const EncoderCache&) = delete;

  // Reserves the regions for `layers1` stage-1 (token rate) and `layers2` stage-2 (frame rate)
  // layers of c's shapes; a no-op when already reserved for them.
  Status Prepare(const FlowConfig& c, size_t layers1, size_t layers2);
  bool prepared() const { return region_ != nullptr; }

  // Layer l of stage s (0: tokens, 1: frames): key and value rows [rows_capacity(s), d] and the
  // positional projections [p_capacity(s), d]; p_rows: how many of those are computed.
  float* k(int s, size_t l) { return Region(s, l, 0); }
  float* v(int s, size_t l) { return Region(s, l, 1); }
  float* p(int s, size_t l) { return Region(s, l, 2); }
  const float* k(int s, size_t l) const { return Region(s, l, 0); }
  const float* v(int s, size_t l) const { return Region(s, l, 1); }
  const float* p(int s, size_t l) const { return Region(s, l, 2); }
  int64_t& p_rows(int s, size_t l) { return p_rows_[static_cast<size_t>(s)][l]; }
  int64_t p_rows(int s, size_t l) const { return p_rows_[static_cast<size_t>(s)][l]; }
  int64_t rows_capacity(int s) const { return rows_cap_[static_cast<size_t>(s)]; }
  int64_t p_capacity(int s) const { return p_cap_[static_cast<size_t>(s)]; }
  // Records that rows [0, rows) of stage s's K/V regions have been written (memory accounting).
  void Wrote(int s, int64_t rows);

  // Copies `other`'s committed state (its first `tokens` token rows and frame rows, every
  // computed positional row, the tails and mu).
  Status CopyFrom(const EncoderCache& other);
  // Forgets the committed rows (tokens = 0, tails zero, mu empty); keeps the reservation and
  // the positional rows (they do not depend on the input).
  void Clear();
  // Gives back the pages of rows past the committed ones (long-lived snapshots).
  void TrimToCommitted();
  size_t bytes() const;  // rows in use, tails and mu

  int64_t tokens = 0;                  // committed tokens
  std::vector<float> tail, tail_next;  // [2, d] stage-1 output rows tokens - 2, tokens - 1
  // [tokens · ratio, 80] the committed frames' mu (encoder_proj output), kept only for a device
  // sampler, which recomputes the estimator over every frame (FlowModel on cuda).
  std::vector<float> mu;

 private:
  Status Reserve(int64_t d, int64_t ratio, int64_t chunk, size_t layers1, size_t layers2);
  float* Region(int s, size_t l, int kind) const;
  size_t RegionOffset(int s, size_t l, int kind) const;
  void Release();

  int64_t d_ = 0, ratio_ = 2, chunk_ = 0;
  size_t layers_[2] = {0, 0};
  int64_t rows_cap_[2] = {0, 0}, p_cap_[2] = {0, 0};
  int64_t high_[2] = {0, 0};  // K/V rows written so far (this reservation)
  std::vector<int64_t> p_rows_[2];
  char* region_ = nullptr;
  WarmPages::Mapping mapping_;
};

class EstimatorCache {
 public:
  // One ODE step's state. kv[b]: [2 (K|V)][2 (CFG row)][cap][inner] for transformer block b,
  // f32 or bf16 bits (kv_bf16()); conv[i]: [2 (CFG row)][k - 1][cin] for the i-th causal conv
  // of the forward pass.
  struct Step {
    std::vector<void*> kv;  // into one reserved region (rows never move)
    std::vector<std::vector<float>> conv;
    std::vector<std::vector<float>> conv_next;  // context at the new commit point (staging)
  };

  // kv_bf16: K/V rows stored as bf16, for a bf16 flow (its attention rounds K and V to bf16
  // before any product, so storing them rounded changes no output and halves the cache).
  explicit EstimatorCache(const FlowConfig& c, bool kv_bf16 = false);
  ~EstimatorCache();
  EstimatorCache(const EstimatorCache&) = delete;
  EstimatorCache& operator=(const EstimatorCache&) = delete;

  // Frames whose K/V rows and conv context are committed (a multiple of stream_block()).
  int64_t frames() const { return frames_; }
  int64_t capacity() const { return cap_; }
  // Makes room for `frames` rows. The first call reserves address space for the whole budget
  // (`max_bytes`, 0 = the noise table's 15000 frames), which becomes memory only as rows are
  // written; rows never move. Fails (ResourceExhausted), leaving the cache unchanged, beyond it.
  // exact: the cache will not grow past `frames` (a voice's prompt state): reserve exactly that,
  // dense and on huge pages, so ShrinkToFit can compact in place.
  Status Reserve(int64_t frames, size_t max_bytes, bool exact = false);
  // Bytes in use (K/V rows written so far, conv contexts, the encoder's part).
  size_t bytes() const;
  size_t BytesFor(int64_t frames) const;
  // Accepts the rows computed by the last call up to `frames` (conv contexts from staging).
  void Commit(int64_t frames);
  // Forgets everything (the next call starts at frame 0); keeps the allocation.
  void Clear();
  // Moves the committed frames into a region of exactly that size (long-lived snapshots).
  Status ShrinkToFit();
  // Copies `other`'s committed state (same config); used to start from a voice's prompt state.
  // The K/V rows are not copied when the reservation it gets from the warm pool is one an
  // earlier copy of the same `other` left behind (a voice's previous utterance): this cache
  // writes rows only from its committed frames on, so rows [0, other.frames()) are still
  // there, unchanged (Release labels the mapping with what they hold; Clear drops the label).
  Status CopyFrom(const EstimatorCache& other, size_t max_bytes);
  // Whether the last CopyFrom found the rows already in place.
  bool reused_rows() const { return reused_rows_; }

  Step& step(int s) { return steps_[static_cast<size_t>(s)]; }
  const Step& step(int s) const { return steps_[static_cast<size_t>(s)]; }
  int64_t inner() const { return inner_; }
  bool kv_bf16() const { return elem_ == 2; }
  size_t elem_bytes() const { return elem_; }
  int blocks() const { return blocks_; }

  EncoderCache enc;  // the encoder's part (committed with the estimator's, frames / ratio tokens)

 private:
  // dense: every row will be written at once (ShrinkToFit), so huge pages pay off. label:
  // the content asked of the warm pool (prefix_label_ says whether it came back with it).
  Status Allocate(int64_t cap, bool dense, uint64_t label = 0);
  int64_t BudgetCap(size_t max_bytes) const;  // rows of the whole-budget reservation
  void Release();
  void CopyRows(const char* src, int64_t src_cap);  // committed rows from another layout

  int64_t ratio_ = 2;
  int64_t inner_ = 0;
  size_t elem_ = sizeof(float);  // bytes per K/V element (2: bf16)
  int blocks_ = 0;
  int64_t frames_ = 0, cap_ = 0, used_ = 0;
  int64_t populated_ = 0;  // rows [0, populated_) of every K/V part faulted in (this mapping)
  char* region_ = nullptr;  // [steps][blocks][4][cap][inner] elements, in mapping_
  WarmPages::Mapping mapping_;
  size_t region_bytes_ = 0;
  std::vector<Step> steps_;
  // content_id_: names this cache's committed state (new on every change, never reused), so a
  // copy's mapping can say whose rows it holds. prefix_label_: the content_id_ of the cache
  // whose rows [0, its frames) this region holds unchanged (0: none).
  uint64_t content_id_ = 0;
  uint64_t prefix_label_ = 0;
  bool reused_rows_ = false;
  void Changed();
};

// Per-call view the estimator uses: cached frames before the new ones, and how many of the new
// frames will be committed (their conv contexts are staged at that point).
struct EstimatorIncremental {
  EstimatorCache::Step* step = nullptr;
  int64_t ctx_frames = 0;  // frames already in the cache (q_offset of the new rows)
  int64_t commit = 0;      // new frames that complete blocks (0 .. n)
  int64_t cap = 0;
  bool kv_bf16 = false;    // the step's K/V rows are bf16 bits
};

}  // namespace cosyflow::flow
