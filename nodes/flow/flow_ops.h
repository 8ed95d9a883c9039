// Small building blocks of the flow model on top of runtime/kernels/cpu: time-major convs as
// im2col + GEMM, a scratch arena, and the two attention variants (rel-pos encoder, estimator).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/kernels/cpu/linear.h"
#include "runtime/status.h"

namespace cosyflow::flow {

using kernels::cpu::WeightType;

// Grow-only float arena for per-call intermediates. Pointers stay valid until Reset; blocks
// are merged on Reset so that a warmed-up session allocates nothing in its hot loop. Blocks of
// 1 MiB and more come from (and go back to) the process's WarmPages pool, so a new session's
// scratch is memory an earlier one already faulted in.
class Arena {
 public:
  void Reserve(size_t floats);
  float* Alloc(size_t floats);  // 64-byte aligned, uninitialised
  float* AllocZero(size_t floats);
  void Reset();
  // Mark / Rewind: frees everything allocated after the mark (per-step scratch in loops).
  struct Mark {
    size_t block = 0, used = 0, total = 0;
  };
  Mark GetMark() const;
  void Rewind(const Mark& m);
  size_t capacity() const;
  size_t high_water() const { return high_water_; }

 private:
  struct Block {
    std::shared_ptr<void> holder;  // heap, or a WarmPages mapping (>= 1 MiB) handed back on release
    float* base = nullptr;  // 64-byte aligned start inside holder
    size_t size = 0;
    size_t used = 0;
  };
  static Block NewBlock(size_t floats);
  std::vector<Block> blocks_;
  size_t total_used_ = 0;
  size_t high_water_ = 0;
};

// Conv1d (stride 1, no dilation) on time-major data, as im2col + one GEMM.
// Torch weight [cout, cin, k] is re-ordered to [cout, k * cin] so that an im2col row is k
// consecutive input frames. `left_pad` zero frames are prepended (causal: k - 1); no right pad.
class Conv1dTm {
 public:
  static Result<Conv1dTm> Create(const float* w, const float* bias, int64_t cout, int64_t cin,
                                 int64_t k, WeightType wt);
  // x: [batch, t_in, cin] f32 time-major -> y: [batch, t_out, cout], t_out = t_in + left_pad - k + 1.
  // Uses arena for the im2col matrix (k > 1 only).
  Status Forward(const float* x, int64_t batch, int64_t t_in, int64_t left_pad, Arena& arena,
                 float* y) const;
  // Causal continuation: the k - 1 frames before x come from `ctx` [batch, k - 1, cin] (the
  // previous call's last input frames) instead of zeros. y: [batch, t_in, cout].
  Status ForwardWithContext(const float* x, int64_t batch, int64_t t_in, const float* ctx,
                            Arena& arena, float* y) const;
  int64_t cin() const { return cin_; }
  int64_t cout() const { return cout_; }
  int64_t k() const { return k_; }

 private:
  std::shared_ptr<kernels::cpu::Linear> lin_;
  int64_t cout_ = 0, cin_ = 0, k_ = 0;
};

// Rows of the espnet relative positional table for a length-t sequence: out [2t - 1, d], row k
// is PE(t - 1 - k); PE(r)[2m] = sin(r w_m), PE(r)[2m + 1] = cos(r w_m), w_m = 10000^(-2m/d).
void RelPositionTable(int64_t t, int64_t d, float* out);
// `count` rows PE(r_first), PE(r_first + 1), ... (same values as the table's rows).
void RelPositionRows(int64_t r_first, int64_t count, int64_t d, float* out);

// Encoder relative-position self-attention core (RelPositionMultiHeadedAttention), one sequence.
// qkv: [t, 3d] (q | k | v, head h = channels h*dk..), p: [2t - 1, d] = linear_pos(table),
// bias_u / bias_v: [heads, dk]; chunk > 0 restricts row i to columns < (i / chunk + 1) * chunk
// (masked: -inf, softmax, probabilities zeroed). out: [t, d] (heads concatenated).
Status RelPosAttention(const float* qkv, const float* p, const float* bias_u, const float* bias_v,
                       int64_t t, int64_t heads, int64_t dk, int64_t chunk, Arena& arena, float* out);

// RelPosAttention for `n` new query rows at absolute positions q_offset.. against cached keys
// and values (k_cache, v_cache: [q_offset + n, d], the new rows included). p_rows: [p_count, d]
// = linear_pos(PE(r)) for r = p_first .. p_first + p_count - 1, covering every query - key
// distance the chunk mask allows (-(chunk - 1) .. q_offset + n - 1). out: [n, d].
Status RelPosAttentionCached(const float* qkv, const float* k_cache, const float* v_cache,
                             const float* p_rows, int64_t p_first, int64_t p_count,
                             const float* bias_u, const float* bias_v, int64_t q_offset,
                             int64_t n, int64_t heads, int64_t dk, int64_t chunk, Arena& arena,
                             float* out);

// Estimator self-attention (diffusers Attention + SDPA), `batch` independent sequences.
// qkv: [batch, t, 3 * heads * dh]; chunk > 0: row i sees columns < (i / chunk + 1) * chunk
// (the reference's 0 / -1e10 additive chunk mask: masked probabilities are exactly 0 in f32),
// chunk == 0: full attention; out: [batch, t, heads * dh]. products: f32, bf16 (bf16 flows;
// cpu::AttentionParams::bf16) or int16 (int16 flows; cpu::AttentionParams::int16).
enum class AttentionProducts { kF32, kBf16, kInt16 };
Status SdpaAttention(const float* qkv, int64_t batch, int64_t t, int64_t heads, int64_t dh,
                     int64_t chunk, AttentionProducts products, Arena& arena, float* out);

// Estimator attention of `n` new query frames against cached keys/values (incremental
// streaming). qkv: [batch, n, 3 * heads * dh] (the new frames' projections); k_cache, v_cache:
// [batch, cap, heads * dh] holding frames 0 .. q_offset + n (the new rows already appended);
// chunk-causal on `chunk` frames: absolute row i sees columns < (i / chunk + 1) * chunk.
// out: [batch, n, heads * dh].
Status CachedChunkAttention(const float* qkv, int64_t batch, int64_t n, int64_t heads, int64_t dh,
                            const float* k_cache, const float* v_cache, int64_t cap,
                            int64_t q_offset, int64_t chunk, AttentionProducts products,
                            Arena& arena, float* out);
// The same against a cache of bf16 bits (bf16 flows: bf16 products, which round K and V to the
// same values).
Status CachedChunkAttention(const float* qkv, int64_t batch, int64_t n, int64_t heads, int64_t dh,
                            const uint16_t* k_cache, const uint16_t* v_cache, int64_t cap,
                            int64_t q_offset, int64_t chunk, Arena& arena, float* out);

// Concatenates row blocks (for fused q|k|v weights): rows of a, then b, then c (each [n_i, k]).
std::vector<float> ConcatRows(std::initializer_list<std::pair<const float*, int64_t>> parts,
                              int64_t k);

}  // namespace cosyflow::flow
