// Argument checks shared by the reference (ref/) and fast (cpu/) kernels, so both versions
// reject the same inputs with the same messages. Shapes and layouts are those of the kernel each
// check serves (see ref/<kernel>.h); every check returns OkStatus() when the arguments are valid.
#pragma once

#include <cstdint>

#include "runtime/dtype.h"
#include "runtime/status.h"

namespace cosyflow::kernels {

// Elementwise map (activations): x, y: [n] f32. `name` prefixes the messages.
Status CheckUnaryArgs(const char* name, const float* x, int64_t n, const float* y);

// Snake: x, y: [channels, time] f32; alpha: [channels].
Status CheckSnakeArgs(const float* x, const float* alpha, int64_t channels, int64_t time,
                      const float* y);

// Row-wise softmax / log-softmax: x, y: [rows, cols] f32; needs rows >= 0, cols > 0.
Status CheckSoftmaxArgs(const char* name, const float* x, int64_t rows, int64_t cols,
                        const float* y);

// Masked softmax: CheckSoftmaxArgs("softmax", ...) and mask_row_stride >= 0.
Status CheckSoftmaxMaskedArgs(const float* x, int64_t mask_row_stride, int64_t rows,
                              int64_t cols, const float* y);

// Layer / RMS norm: x, y: [rows, dim] f32; needs rows >= 0, dim > 0, eps >= 0.
Status CheckNormArgs(const char* name, const float* x, int64_t rows, int64_t dim, float eps,
                     const float* y);

// Rotary embedding: x: [tokens, heads, head_dim] with row stride *token_stride (0 is resolved
// here to heads * head_dim); cos/sin tables: [max_pos, head_dim / 2].
Status CheckRopeArgs(const float* x, int64_t tokens, int64_t heads, int64_t head_dim,
                     int64_t* token_stride, int64_t start_pos, const float* cos_table,
                     const float* sin_table, int64_t max_pos);

// Embedding gather: table: [vocab, dim] of dtype (f32, bf16 or f16); ids: [n]; out: [n, dim].
Status CheckEmbeddingArgs(const void* table, DType dtype, int64_t vocab, int64_t dim,
                          const void* ids, int64_t n, const float* out);

// table: [vocab, dim], ids: [n], out: [n, dim] f32. Checks the arguments, then for each position
// checks the id against [0, vocab) (OutOfRange naming id and position) and calls
// copy_row(table, dtype, id, dim, out + t * dim), which converts one row to f32.
template <typename Id, typename CopyRowFn>
Status GatherEmbeddingRows(const void* table, DType dtype, int64_t vocab, int64_t dim,
                           const Id* ids, int64_t n, float* out, CopyRowFn copy_row) {
  COSY_RETURN_IF_ERROR(CheckEmbeddingArgs(table, dtype, vocab, dim, ids, n, out));
  for (int64_t t = 0; t < n; ++t) {
    const int64_t id = ids[t];
    if (id < 0 || id >= vocab) {
      return OutOfRange("embedding: id {} at position {} is outside [0, {})", id, t, vocab);
    }
    copy_row(table, dtype, id, dim, out + t * dim);
  }
  return OkStatus();
}

}  // namespace cosyflow::kernels
