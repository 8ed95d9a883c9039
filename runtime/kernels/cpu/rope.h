// Fast rotary position embedding (AVX-512 over the half head); same contract as ref/rope.h.
#pragma once

#include <cstdint>

#include "runtime/kernels/ref/rope.h"
#include "runtime/status.h"

namespace cosyflow::kernels::cpu {

// The table is built once per model; the reference builder is the implementation.
using ref::RopeTable;

// x: [tokens, heads, head_dim] f32, rotated in place (see ref::ApplyRope for the formula,
// token_stride and table contract).
Status ApplyRope(float* x, int64_t tokens, int64_t heads, int64_t head_dim, int64_t token_stride,
                 int64_t start_pos, const float* cos_table, const float* sin_table,
                 int64_t max_pos);

}  // namespace cosyflow::kernels::cpu
