// Fast embedding gather: row memcpy for f32, vector widening (selected ISA variant) for bf16/f16.
#include "runtime/kernels/cpu/embedding.h"

#include <cstring>

#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/kernel_checks.h"

namespace cosyflow::kernels::cpu {

namespace {
void CopyRow(const void* table, DType dtype, int64_t row, int64_t dim, float* out) {
  if (dtype == DType::kF32) {
    std::memcpy(out, static_cast<const float*>(table) + row * dim, dim * sizeof(float));
    return;
  }
  Kernels().widen_16(static_cast<const uint16_t*>(table) + row * dim, dtype == DType::kBF16, dim,
                     out);
}
}  // namespace

Status EmbeddingGather(const void* table, DType table_dtype, int64_t vocab, int64_t dim,
                       const int32_t* ids, int64_t n, float* out) {
  return GatherEmbeddingRows(table, table_dtype, vocab, dim, ids, n, out, CopyRow);
}
Status EmbeddingGather(const void* table, DType table_dtype, int64_t vocab, int64_t dim,
                       const int64_t* ids, int64_t n, float* out) {
  return GatherEmbeddingRows(table, table_dtype, vocab, dim, ids, n, out, CopyRow);
}

}  // namespace cosyflow::kernels::cpu
