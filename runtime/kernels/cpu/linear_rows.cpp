// Linear's row products for a caller that splits one x row's outputs over its own threads
// (linear.h: ForwardRows, PrepareRow, ForwardPreparedRows; SpeechLm's decode step): x rounded,
// quantized or packed once per thread, then any ranges of W rows with the bits of Forward's
// m = 1 product.
#include <algorithm>
#include <cstdint>
#include <new>

#include "runtime/kernels/cpu/dnnl_context.h"
#include "runtime/kernels/cpu/gemv.h"
#include "runtime/kernels/cpu/i8_rows.h"
#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/cpu/linear.h"
#include "runtime/kernels/cpu/linear_impl.h"

namespace cosyflow::kernels::cpu {

Status Linear::ForwardRows(const float* x, int64_t j0, int64_t j1, float* y) const {
  COSY_ASSIGN_OR_RETURN(const PreparedRow row, PrepareRow(x));
  return ForwardPreparedRows(row, j0, j1, y);
}

Result<Linear::PreparedRow> Linear::PrepareRow(const float* x) const {
  const Impl& im = *impl_;
  if (im.packed || im.panels || im.amx || im.i16) {
    return Unsupported("linear: row products on blocked (WeightLayout::kGemm or int16) weights");
  }
  if (x == nullptr) return InvalidArgument("linear: x must not be null");
  PreparedRow row;
  row.x = x;
  row.owner = this;
  const KernelTable& t = Kernels();
  if (im.weight_type == WeightType::kBF16) {
    uint16_t* xb = nullptr;
    COSY_RETURN_IF_ERROR(GuardDnnl("linear: prepare row", [&]() -> Status {  // bad_alloc
      xb = static_cast<uint16_t*>(ThreadScratch(ScratchSlot::kConvert, im.k * 2));
      return OkStatus();
    }));
    t.narrow_bf16(x, im.k, xb);
    row.prepared = xb;
  } else if (im.weight_type == WeightType::kInt8 && t.gemv_i8_i16_rows != nullptr &&
             !im.w_i8.empty()) {
    // the int16 x blocks of Forward's m <= kGemvMaxM path (ForwardInt8I16Rows)
    void* xv = nullptr;
    COSY_RETURN_IF_ERROR(GuardDnnl("linear: prepare row", [&]() -> Status {  // bad_alloc
      xv = ThreadScratch(ScratchSlot::kGemvX, static_cast<size_t>(GemmI8I16XLayout(1, im.k).bytes));
      return OkStatus();
    }));
    t.pack_i8_i16_x(x, im.k, 1, im.k, 0, 1, xv);
    row.prepared = xv;
    row.i16 = true;
  } else if (im.weight_type == WeightType::kInt8 && t.gemv_i8_fixed_quantize != nullptr &&
             im.k <= kGemvI8FixedMaxK) {
    void* scratch = nullptr;
    try {
      scratch =
          ThreadScratch(ScratchSlot::kGemvX, static_cast<size_t>(GemvI8FixedScratchBytes(1, im.k)));
    } catch (const std::bad_alloc&) {
      scratch = nullptr;  // the f32 kernel needs no scratch
    }
    // Rows the fixed-point kernel does not take (non-finite, tiny) keep prepared null: f32.
    if (scratch != nullptr && !im.w_i8_amx.empty()) {
      if (t.gemv_i8_amx_quantize(x, 1, im.k, scratch)) {
        row.prepared = scratch;
        row.amx = true;
      }
    } else if (scratch != nullptr && t.gemv_i8_fixed_quantize(x, 1, im.k, scratch)) {
      row.prepared = scratch;
    }
  }
  return row;
}

namespace {
// Rows [j0, j1) of an n-row product into y + j0 by rows(a, b, out), called on ranges that start
// at a multiple of kBlock: a range starting inside a block computes that block's rows, then
// copies those asked for.
template <int64_t kBlock, class Rows>
void RowsByBlocks(int64_t n, int64_t j0, int64_t j1, float* y, const Rows& rows) {
  const int64_t jb = j0 / kBlock * kBlock;
  if (jb < j0) {
    const int64_t je = std::min(jb + kBlock, n), end = std::min(je, j1);
    float block[kBlock];
    rows(jb, je, block);
    std::copy(block + (j0 - jb), block + (end - jb), y + j0);
    if (end == j1) return;
    j0 = end;
  }
  rows(j0, j1, y + j0);
}
}  // namespace

Status Linear::ForwardPreparedRows(const PreparedRow& row, int64_t j0, int64_t j1, float* y) const {
  const Impl& im = *impl_;
  if (row.owner != this || row.x == nullptr) {
    return InvalidArgument("linear: a row prepared by another Linear (or not at all)");
  }
  if (j0 < 0 || j1 > im.n || j0 > j1) {
    return InvalidArgument("linear: rows [{}, {}) outside [0, {})", j0, j1, im.n);
  }
  if (y == nullptr) return InvalidArgument("linear: y must not be null");
  if (j0 == j1) return OkStatus();
  const float* bias = im.BiasPtr();
  const float* bj = bias != nullptr ? bias + j0 : nullptr;
  const int64_t rows = j1 - j0, k = im.k;
  const KernelTable& t = Kernels();
  switch (im.weight_type) {
    case WeightType::kF32:
      t.gemv_f32(row.x, static_cast<const float*>(im.weights.get_data_handle()) + j0 * k, bj,
                 y + j0, 1, rows, k);
      return OkStatus();
    case WeightType::kInt8: {
      if (row.amx) {  // the AMX-INT8 copy, in column blocks of 16 rows
        const int64_t block_bytes = kI8AmxBlockRows * GemvI8FixedStride(k);
        auto amx_rows = [&](int64_t a, int64_t b, float* out) {
          t.gemv_i8_amx_rows(row.prepared, im.w_i8_amx.data() + a / kI8AmxBlockRows * block_bytes,
                             im.scales.data() + a, bias != nullptr ? bias + a : nullptr, out, b - a,
                             1, b - a, k);
        };
        RowsByBlocks<kI8AmxBlockRows>(im.n, j0, j1, y, amx_rows);
        return OkStatus();
      }
      if (!im.w_i8_amx.empty()) {  // a row the fixed-point kernel does not take
        return im.AmxI8RowsF32(row.x, 1, j0, j1, y + j0, j1 - j0);
      }
      // Rows [a, b), a at a row block's start (i8_rows.h), into out[0 .. b - a).
      auto block_rows = [&](int64_t a, int64_t b, float* out) {
        const int8_t* w = im.w_i8.data() + I8RowOffset(a, k);
        const float* ba = bias != nullptr ? bias + a : nullptr;
        if (row.i16) {
          t.gemv_i8_i16_rows(row.prepared, 1, k, w, im.scales.data() + a, ba, out, b - a, b - a);
        } else if (row.prepared != nullptr) {
          t.gemv_i8_fixed_rows(row.prepared, w, im.scales.data() + a, ba, out, 1, b - a, k);
        } else {
          t.gemv_i8(row.x, w, im.scales.data() + a, ba, out, 1, b - a, k);
        }
      };
      RowsByBlocks<kI8BlockRows>(im.n, j0, j1, y, block_rows);
      return OkStatus();
    }
    case WeightType::kBF16: {
      const uint16_t* w =
          im.tiles ? im.w_bf16.data() : static_cast<const uint16_t*>(im.weights.get_data_handle());
      t.gemv_bf16(static_cast<const uint16_t*>(row.prepared), w + j0 * k, bj, y + j0, 1, rows, k);
      return OkStatus();
    }
    case WeightType::kInt16:
      break;  // PrepareRow refuses these weights
  }
  return Internal("linear: unknown weight type");
}

}  // namespace cosyflow::kernels::cpu
