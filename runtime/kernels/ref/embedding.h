// Reference embedding gather: rows of a [vocab, dim] table (f32, bf16 or f16) -> f32.
#pragma once

#include <cstdint>

#include "runtime/dtype.h"
#include "runtime/status.h"

namespace cosyflow::kernels::ref {

// table: [vocab, dim] row-major, element type table_dtype (f32, bf16 or f16); ids: [n];
// out: [n, dim] f32. An id outside [0, vocab) is an OutOfRange error naming id and position
// (out is then partially written).
Status EmbeddingGather(const void* table, DType table_dtype, int64_t vocab, int64_t dim,
                       const int32_t* ids, int64_t n, float* out);
Status EmbeddingGather(const void* table, DType table_dtype, int64_t vocab, int64_t dim,
                       const int64_t* ids, int64_t n, float* out);

}  // namespace cosyflow::kernels::ref
