// Reference rotary position embedding, Qwen2 "rotate-half" convention, and its cos/sin table.
#pragma once

#include <cstdint>

#include "runtime/status.h"

namespace cosyflow::kernels::ref {

// cos_table, sin_table: [max_pos, head_dim / 2] f32 row-major; entry [p, i] is cos/sin of
// angle = float(p) * inv_freq_i with inv_freq_i = 1 / theta^(2i / head_dim), both rounded to f32
// as HF Qwen2RotaryEmbedding does (so long positions match the reference bit-for-bit in the
// angle). head_dim must be even; Qwen2 uses theta 1e6.
Status RopeTable(int64_t max_pos, int64_t head_dim, double theta, float* cos_table,
                 float* sin_table);

// x: [tokens, heads, head_dim] f32, rotated in place; token t has position start_pos + t and row
// stride token_stride elements (0: heads * head_dim, i.e. contiguous), so q and k can be rotated
// inside a fused qkv buffer. Tables from RopeTable with max_pos > start_pos + tokens - 1.
// With h = head_dim / 2: x'[i] = x[i] cos - x[i + h] sin, x'[i + h] = x[i + h] cos + x[i] sin.
Status ApplyRope(float* x, int64_t tokens, int64_t heads, int64_t head_dim, int64_t token_stride,
                 int64_t start_pos, const float* cos_table, const float* sin_table,
                 int64_t max_pos);

}  // namespace cosyflow::kernels::ref
