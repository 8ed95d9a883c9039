// Reference softmax / masked softmax / log-softmax over the last dim (double accumulation).
#pragma once

#include <cstdint>

#include "runtime/status.h"

namespace cosyflow::kernels::ref {

// x, y: [rows, cols] f32 row-major; y may alias x. A row that is entirely -inf gives zeros.
Status Softmax(const float* x, int64_t rows, int64_t cols, float* y);

// x, y: [rows, cols] f32 row-major; y may alias x.
// add_mask: [mask_rows, cols] f32 added to x before the softmax (nullptr: none).
// keep_mask: [mask_rows, cols] u8, 0 = masked (score -> -inf), nonzero = kept (nullptr: none).
// mask_row_stride: elements between mask rows; 0 broadcasts one mask row to every row, cols
// gives a full [rows, cols] mask. Fully masked row (all -inf after masking) -> all zeros (the
// flow encoder's "-inf, softmax, then zero the masked probabilities" convention).
Status SoftmaxMasked(const float* x, const float* add_mask, const uint8_t* keep_mask,
                     int64_t mask_row_stride, int64_t rows, int64_t cols, float* y);

// x, y: [rows, cols] f32 row-major; y may alias x. y = x - max - log(sum(exp(x - max))).
Status LogSoftmax(const float* x, int64_t rows, int64_t cols, float* y);

}  // namespace cosyflow::kernels::ref
