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

// Floats of scratch Attention needs: 4 * round_up(kv_len, 16).
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
