// Reference embedding gather: element-by-element conversion.
#include "runtime/kernels/ref/embedding.h"

#include <cstring>

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

template <typename Id>
Status Gather(const void* table, DType dtype, int64_t vocab, int64_t dim, const Id* ids, int64_t n,
              float* out) {
  if (dtype != DType::kF32 && dtype != DType::kBF16 && dtype != DType::kF16) {
    return Unsupported("embedding: table dtype must be f32, bf16 or f16, got {}", DTypeName(dtype));
  }
  if (vocab <= 0 || dim <= 0 || n < 0) {
    return InvalidArgument("embedding: need vocab > 0, dim > 0, n >= 0, got vocab={} dim={} n={}",
                           vocab, dim, n);
  }
  if (n > 0 && (table == nullptr || ids == nullptr || out == nullptr)) {
    return InvalidArgument("embedding: table, ids and out must be non-null");
  }
  for (int64_t t = 0; t < n; ++t) {
    const int64_t id = ids[t];
    if (id < 0 || id >= vocab) {
      return OutOfRange("embedding: id {} at position {} is outside [0, {})", id, t, vocab);
    }
    CopyRow(table, dtype, id, dim, out + t * dim);
  }
  return OkStatus();
}
}  // namespace

Status EmbeddingGather(const void* table, DType table_dtype, int64_t vocab, int64_t dim,
                       const int32_t* ids, int64_t n, float* out) {
  return Gather(table, table_dtype, vocab, dim, ids, n, out);
}
Status EmbeddingGather(const void* table, DType table_dtype, int64_t vocab, int64_t dim,
                       const int64_t* ids, int64_t n, float* out) {
  return Gather(table, table_dtype, vocab, dim, ids, n, out);
}

}  // namespace cosyflow::kernels::ref
