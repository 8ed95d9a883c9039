// Fast rotary position embedding: argument checks, then the selected ISA variant.
#include "runtime/kernels/cpu/rope.h"

#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/kernel_checks.h"

namespace cosyflow::kernels::cpu {

Status ApplyRope(float* x, int64_t tokens, int64_t heads, int64_t head_dim, int64_t token_stride,
                 int64_t start_pos, const float* cos_table, const float* sin_table,
                 int64_t max_pos) {
  COSY_RETURN_IF_ERROR(CheckRopeArgs(x, tokens, heads, head_dim, &token_stride, start_pos,
                                     cos_table, sin_table, max_pos));
  if (tokens > 0 && heads > 0) {
    Kernels().rope(x, tokens, heads, head_dim, token_stride, start_pos, cos_table, sin_table);
  }
  return OkStatus();
}

}  // namespace cosyflow::kernels::cpu
