// Reference scaled-dot-product attention with grouped-query heads and causal / chunk-causal /
// key-padding / boolean masks: the oracle for cpu/attention.h.
#pragma once

#include <cstdint>

#include "runtime/status.h"

namespace cosyflow::kernels::ref {

enum class AttentionMask {
  kNone,         // every key (below valid_kv_len) is visible
  kCausal,       // query i sees keys j <= q_offset + i (KV-cached decode: q_offset = cache length)
  kChunkCausal,  // query i (absolute a = q_offset + i) sees keys j < (a / chunk_size + 1) *
                 // chunk_size: the flow's subsequent_chunk_mask (spec §4.4.1, §4.7.3)
};

// Shapes and options of one attention call. Layouts: q/out [q_heads, q_len, head_dim],
// k/v [kv_heads, kv_len, head_dim] f32, head_dim contiguous; the *_head_stride / *_row_stride
// fields (elements; 0 = the contiguous [H, T, D] value) also allow [T, H, D] views such as the
// columns of a fused qkv projection or a KV cache with spare capacity.
struct AttentionParams {
  int64_t q_heads = 0;
  int64_t kv_heads =
      0;  // q_heads % kv_heads == 0; query head h reads kv head h / (q_heads/kv_heads)
  int64_t q_len = 0;
  int64_t kv_len = 0;
  int64_t head_dim = 0;
  float scale = 0.0f;  // 0: 1 / sqrt(head_dim)
  AttentionMask mask = AttentionMask::kNone;
  int64_t q_offset = 0;       // absolute position of query 0 (causal and chunk masks)
  int64_t chunk_size = 0;     // > 0 for kChunkCausal
  int64_t valid_kv_len = -1;  // key padding: keys >= valid_kv_len are masked; -1: kv_len
  // Optional [q_len, kv_len] u8 (row stride kv_len), 0 = masked, combined (AND) with the above
  // and shared by all heads.
  const uint8_t* keep_mask = nullptr;
  int64_t q_head_stride = 0, q_row_stride = 0;
  int64_t k_head_stride = 0, k_row_stride = 0;
  int64_t v_head_stride = 0, v_row_stride = 0;
  int64_t out_head_stride = 0, out_row_stride = 0;
  // bf16 products (bf16 models): q, k, v and the unnormalised softmax weights exp(s - max) are
  // rounded to bf16 (nearest even) before they are multiplied; products and sums, the softmax
  // and its normaliser (the sum of the unrounded weights) stay f32.
  bool bf16 = false;
  // k and v are bf16 bits (uint16_t; strides in elements), not f32: a cache kept in bf16 for a
  // bf16-product call (requires bf16, which rounds them to the same values anyway). Set by the
  // uint16_t overloads of Attention; the float overloads reject it.
  bool kv_bf16 = false;
  // int16 products (the flow's int16 precision; f32 k and v, not with bf16). Per head: q rows
  // quantized to integers |q_i| <= kAttnI16QueryMax with one scale per row, key rows to
  // AttnI16KeyMax(head_dim) and value rows to kAttnI16ValueMax, one scale per row (x = scale *
  // integer, scale = max|row| / the integer maximum, rounded to nearest even; zero rows scale
  // 0). Score = f32(exact integer dot) * ((scale * key scale) * query scale). The softmax
  // weights e_j = exp(s_j - max) (f32) times the value rows' scales form the row p_j = e_j sv_j,
  // quantized like a query row; out = (the exact integer sums of p_int v_int over blocks of
  // kAttnI16Block keys from key 0, each converted to f32 and added in f32 in order) * (p's scale
  // / sum of e). The integer sums never leave int32. A row whose query row or any visible key or
  // value row holds NaN or infinity is NaN (as f32 attention's would be); a weight that is 0
  // contributes nothing. Rows with max|x| < 2^-64 are scaled by 2^64 before quantizing (exact).
  // Scores that overflow f32 (|q| |k| beyond ~1e37) are not defined.
  bool int16 = false;
};

// AttentionParams::int16's integer ranges.
inline constexpr int32_t kAttnI16QueryMax = 8191;
inline constexpr int32_t kAttnI16ValueMax = 2047;
inline constexpr int64_t kAttnI16Block = 128;
// Keys: the most that keeps head_dim x kAttnI16QueryMax x it below 2^31 for heads up to 64
// (one exact block); larger heads sum in blocks of kAttnI16Block channels with 2047.
inline constexpr int32_t AttnI16KeyMax(int64_t head_dim) { return head_dim <= 64 ? 4095 : 2047; }

// Checks shapes, strides and mask options; fills the 0 strides/scale/valid_kv_len defaults.
Status ResolveAttentionParams(const AttentionParams& in, AttentionParams* out);

// Floats of scratch Attention needs (the reference needs none).
int64_t AttentionScratchFloats(const AttentionParams& params);

// out = softmax(scale * q k^T + mask) v per query head (see AttentionParams for layouts).
// A query row that sees no key gets zeros. scratch: AttentionScratchFloats(params) floats.
Status Attention(const AttentionParams& params, const float* q, const float* k, const float* v,
                 float* out, float* scratch, int64_t scratch_floats);
// The same with k and v stored as bf16 (AttentionParams::kv_bf16; params.bf16 must be set).
Status Attention(const AttentionParams& params, const float* q, const uint16_t* k,
                 const uint16_t* v, float* out, float* scratch, int64_t scratch_floats);

}  // namespace cosyflow::kernels::ref
