// Fast scaled-dot-product attention: 4-row blocks over the query group share each K/V row,
// AVX-512 dot products and P*V accumulation, scores in caller scratch. Same contract as
// ref/attention.h.
#pragma once

#include <cstdint>

#include "runtime/kernels/ref/attention.h"
#include "runtime/status.h"

namespace cosyflow::kernels::cpu {

using ref::AttentionMask;
using ref::AttentionParams;
using ref::ResolveAttentionParams;

// Floats of scratch Attention needs: the most any path takes (few rows: 16 x (kv_len rounded up
// to 16 + head_dim rounded up to 64); many rows: (2 head_dim + 16) x kv_len rounded up to 16 +
// 16 head_dim; AMX: (head_dim + 24) x kv_len rounded up to 32 + 8 head_dim).
int64_t AttentionScratchFloats(const AttentionParams& params);

// out = softmax(scale * q k^T + mask) v per query head (see ref::AttentionParams). A query row
// that sees no key gets zeros. scratch: at least AttentionScratchFloats(params) floats.
Status Attention(const AttentionParams& params, const float* q, const float* k, const float* v,
                 float* out, float* scratch, int64_t scratch_floats);
// The same with k and v stored as bf16 bits (a bf16 K/V cache): params.bf16 must be set; the
// result equals the f32 overload's on the widened values (bf16 products round them anyway).
Status Attention(const AttentionParams& params, const float* q, const uint16_t* k,
                 const uint16_t* v, float* out, float* scratch, int64_t scratch_floats);

}  // namespace cosyflow::kernels::cpu
