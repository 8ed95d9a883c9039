// Fast attention: argument checks and scratch sizing, then the selected ISA variant
// (simd/attention.cpp; the vdpbf16ps path in simd/attention_bf16dot.cpp).
#include "runtime/kernels/cpu/attention.h"

#include <algorithm>

#include "runtime/kernels/cpu/kernel_table.h"

namespace cosyflow::kernels::cpu {

namespace {
constexpr int kRows = 4;
int64_t RoundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }
}  // namespace

int64_t AttentionScratchFloats(const AttentionParams& params) {
  // The few-row path (simd/attention.cpp: RunBlocks): interleaved scores of up to 4 blocks of 4
  // rows and their weighted sums carried between key tiles; or the many-row path's transposed
  // keys, 16 score rows, a value copy and 16 query rows (PanelHead).
  const int64_t ld = RoundUp(std::max<int64_t>(params.kv_len, 1), 16);
  const int64_t d = std::max<int64_t>(params.head_dim, 1);
  // The AMX path (simd/attention_bf16dot.cpp: PanelHeadAmx) rounds the keys up to 32.
  const int64_t ld32 = RoundUp(std::max<int64_t>(params.kv_len, 1), 32);
  if (params.int16) return AttnI16ScratchLayout(d, params.kv_len).total;
  return std::max(
      {4 * kRows * (ld + RoundUp(d, 64)), ld * (2 * d + 16) + 16 * d, ld32 * (d + 24) + 8 * d});
}

namespace {
Status Run(const AttentionParams& params, const float* q, const void* k, const void* v,
           float* out, float* scratch, int64_t scratch_floats) {
  AttentionParams p;
  COSY_RETURN_IF_ERROR(ResolveAttentionParams(params, &p));
  if (p.q_len == 0) return OkStatus();
  if (!q || !out || (p.kv_len > 0 && (!k || !v))) {
    return InvalidArgument("attention: q, k, v and out must be non-null");
  }
  const int64_t need = cpu::AttentionScratchFloats(p);
  if (scratch == nullptr || scratch_floats < need) {
    return InvalidArgument("attention: scratch needs {} floats, got {}", need,
                           scratch ? scratch_floats : 0);
  }
  if (p.int16) {
    Kernels().attention_i16(p, q, static_cast<const float*>(k), static_cast<const float*>(v), out,
                            scratch);
  } else {
    Kernels().attention(p, q, k, v, out, scratch);
  }
  return OkStatus();
}
}  // namespace

Status Attention(const AttentionParams& params, const float* q, const float* k, const float* v,
                 float* out, float* scratch, int64_t scratch_floats) {
  if (params.kv_bf16) return InvalidArgument("attention: kv_bf16 set for f32 k and v");
  return Run(params, q, k, v, out, scratch, scratch_floats);
}

Status Attention(const AttentionParams& params, const float* q, const uint16_t* k,
                 const uint16_t* v, float* out, float* scratch, int64_t scratch_floats) {
  AttentionParams p = params;
  p.kv_bf16 = true;
  if (p.int16) return InvalidArgument("attention: int16 products need f32 k and v");
  return Run(p, q, k, v, out, scratch, scratch_floats);
}

}  // namespace cosyflow::kernels::cpu
