// Reference embedding gather: element-by-element conversion.
#include "runtime/kernels/ref/embedding.h"

#include <cstring>

#include "runtime/kernels/kernel_checks.h"

namespace cosyflow::kernels::ref {

namespace {
void CopyRow(const void* table, DType dtype, int64_t row, int64_t dim, float* out) {
  for (int64_t i = 0; i < dim; ++i) {
    const int64_t k = row * dim + i;
    switch (dtype) {
      case DType::kF32:
        out[i] = static_cast<const float*>(table)[k];
        break;
      case DType::kBF16:
        out[i] = BF16ToF32(static_cast<const uint16_t*>(table)[k]);
        break;
      default:
        out[i] = F16ToF32(static_cast<const uint16_t*>(table)[k]);
        break;
    }
  }
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

}  // namespace cosyflow::kernels::ref
