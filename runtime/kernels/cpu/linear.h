// Fast matrix products on oneDNN: generic/batched matmul, one-shot linear, and a create-once
// Linear layer with pre-packed f32 or bf16 weights for the model hot loops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "runtime/kernels/ref/linear.h"
#include "runtime/status.h"

namespace cosyflow::kernels::cpu {

// a, b, c, bias: see MatMulParams (f32). One oneDNN primitive with run-time shapes serves every
// call with the same transposes/broadcasts/alpha/beta, so this is cheap in hot loops too.
// Thread-safe.
Status MatMul(const MatMulParams& p, const float* a, const float* b, const float* bias, float* c);

// y: [m, n] = x: [m, k] · w^T + bias; w: [n, k] f32 row-major (PyTorch nn.Linear), bias [n] or
// null. Uses w in place (no packing; m <= kGemvMaxM runs GemvF32); prefer cpu::Linear for
// weights used more than once.
Status LinearForward(const float* x, const float* w, const float* bias, float* y, int64_t m,
                     int64_t n, int64_t k);

// c: [batch, m, n] = alpha * op(a) · op(b); a: [batch, m, k] ([batch, k, m] if trans_a);
// b: [batch or 1, k, n] ([.., n, k] if trans_b), one b shared by all batches when broadcast_b.
Status BatchedMatMul(const float* a, const float* b, float* c, int64_t batch, int64_t m, int64_t n,
                     int64_t k, bool trans_a, bool trans_b, bool broadcast_b, float alpha = 1.0f);

// Storage of Linear weights. kBF16: W rounded to bf16, x rounded to bf16 per call, products
// summed in f32. kInt8: weight-only int8, symmetric per output row (scale = max|W[j]| / 127,
// round to nearest), x stays f32; kept in the 4-row blocks of i8_rows.h (one read stream per
// GEMV block), or on CPUs with AMX-INT8 in the tile layout of kernel_table.h's gemv_i8_amx_rows
// (16-row blocks; docs/kernels.md). kInt16: for compute-bound layers (the flow's GEMMs) on CPUs
// without bf16 arithmetic: W symmetric per output row to integers in [-2047, 2047] (scale =
// max|W[j]| / 2047), x per call and row to [-8191, 8191], the integer products summed exactly
// (kernel_table.h's gemm_panels_i16: vpmaddwd, twice the multiply-adds of f32 FMA); W only in
// its panels, every m through that GEMM (no row products: ForwardRows is unsupported). Forward
// takes and gives f32 (ForwardToBf16 / ForwardFromBf16 below: bf16 activations for bf16
// weights).
enum class WeightType { kF32, kBF16, kInt8, kInt16 };

// How a Linear's f32/bf16 weights are laid out. kRowMajor: [n, k] as given, for every m (the
// GEMV for m <= kGemvMaxM, one run-time-M oneDNN primitive above). kGemm: for layers whose
// calls mostly have many rows (the flow's transformer and conv layers): where oneDNN has a
// blocked-weight GEMM (brgemm) for the type on this CPU (AVX-512 in oneDNN 2.6), W is kept only
// in that GEMM's blocked layout (reordered once at Create) and each distinct m runs a fixed-
// shape primitive, created on first use and shared by every Linear of that shape: the run-time-
// M primitive repacks W on every call, which costs as much as the product at ~100 rows. Where
// there is no such GEMM, or for int8, kGemm is kRowMajor.
enum class WeightLayout { kRowMajor, kGemm };

// What Linear::Forward does to its output after the product and bias. kGeluErf: y = GELU(y)
// (erf form). kAccumulate: y += x · W^T + bias (y read first: a residual connection). On blocked
// weights (WeightLayout::kGemm taken) both run inside the GEMM, with no extra pass over y: as
// oneDNN post-ops on brgemm's blocked weights, as the AVX2 panel GEMM stores each output (the
// same bits as the pass); elsewhere as a pass after it (cpu::GeluErf / an add). oneDNN's erf
// differs from cpu::GeluErf's by ~1e-7 absolute (Abramowitz-Stegun 7.1.26). The values are
// kernel_table.h's GemmEpilogue.
enum class LinearEpilogue { kNone = 0, kGeluErf = 1, kAccumulate = 2 };

// "f32", "bf16", "int8", "int16"; ParseWeightType accepts the same names.
const char* WeightTypeName(WeightType t);
bool ParseWeightType(std::string_view name, WeightType* t);
// What runs int8 Linear products at m > kGemvMaxM under the kernels in force (logs, bench JSON).
std::string Int8ManyRowsKernel();
// What runs bf16 WeightLayout::kGemm layers created under the kernels in force (bench JSON).
std::string Bf16GemmKernel();

// y: [m, n] = x: [m, k] · W^T + bias, W given once as [n, k] f32 row-major (nn.Linear layout).
// Create copies W, still [n, k] row-major, in the chosen WeightType. m <= kGemvMaxM runs the
// memory-bound GEMV of gemv.h; larger m one oneDNN primitive with a run-time M, except where
// the kernel table has a register tile for the type: f32 weights on AVX-512 and AVX2
// (gemm_f32), int8 weights on CPUs with AMX-BF16 (AVX-512 kernels, oneDNN at avx512_core_amx)
// the bf16 matmul on widened tiles below, other CPUs with AVX512_BF16 gemm_i8_bf16 (W rows widened
// per 8-row block into L1, scales and bias applied after), else int8 weights with the AVX-512 and
// AVX2 kernels and bf16 weights with the AVX2 ones (gemm_i8_f32, gemm_bf16_f32: the same, in
// f32). Elsewhere for int8, and where oneDNN
// has no primitive for the weight type on this CPU (bf16 without AVX-512), larger m converts W
// in tiles of rows per call and runs a matmul on each tile (the conversion is k·n work against
// 2·m·k·n for the product): int8 tiles become their exact int8 values in bf16 for oneDNN's bf16
// matmul where the CPU has one (scales and bias applied after), else f32 (scaled) for the f32
// matmul; bf16 tiles become f32. Either way larger m rounds x to bf16 for bf16 and
// int8 weights, so results do not depend on the CPU; the GEMV keeps x at f32 precision for int8
// (in f32, or as 31-bit fixed point with exact integer dot products where the CPU has
// AVX512_VNNI: kernel_table.h gemv_i8_fixed). Create logs the choice once per process.
// Forward is const and thread-safe: per-call buffers (bf16 activations, scratchpad, oneDNN
// memory objects) come from per-thread caches that only grow, so hot loops allocate no buffers
// after their first call on a thread (oneDNN 2.6's execute itself still makes a few small heap
// allocations for its argument map).
class Linear {
 public:
  // w: [n, k] f32 row-major, bias: [n] f32 or null. Both are copied.
  static Result<std::unique_ptr<Linear>> Create(const float* w, const float* bias, int64_t n,
                                                int64_t k,
                                                WeightType weight_type = WeightType::kF32,
                                                WeightLayout layout = WeightLayout::kRowMajor);
  ~Linear();
  Linear(const Linear&) = delete;
  Linear& operator=(const Linear&) = delete;

  // x: [m, k] f32 row-major -> y: [m, n] f32 row-major; m >= 1. x and y must not overlap.
  Status Forward(const float* x, int64_t m, float* y,
                 LinearEpilogue epilogue = LinearEpilogue::kNone) const;
  // bf16 activations between two bf16 layers (the flow's feed-forward), with no f32 round trip:
  // true when the two calls below run (bf16 weights held in the blocked GEMM layout).
  bool bf16_activations() const;
  // y = Forward's output rounded to bf16 (nearest even): the bits the next bf16 layer would
  // round it to. kNone or kGeluErf (the epilogue runs in f32 before the rounding).
  Status ForwardToBf16(const float* x, int64_t m, uint16_t* y,
                       LinearEpilogue epilogue = LinearEpilogue::kNone) const;
  // Forward with x already bf16 bits (Forward rounds f32 x to bf16 first): the same result as
  // Forward on x widened to f32.
  Status ForwardFromBf16(const uint16_t* x, int64_t m, float* y,
                         LinearEpilogue epilogue = LinearEpilogue::kNone) const;
  // One row x: [k] -> y[j0 .. j1) only (the GEMV of Forward with m = 1 on W rows [j0, j1)), on
  // the calling thread: for callers that split one product over the threads of their own
  // parallel region (SpeechLm's decode step). Same bits as Forward's row j when j0 is a
  // multiple of 4 (the GEMV's row block; ranges starting at a multiple of row_block() compute no
  // row twice). Unsupported (an error) for gemm_packed() weights.
  Status ForwardRows(const float* x, int64_t j0, int64_t j1, float* y) const;
  // ForwardRows in two steps, for a caller that computes one product in many row ranges on a
  // thread (SpeechLm's decode step balances its threads range by range): PrepareRow rounds x to
  // bf16, or quantizes it for the fixed-point int8 kernel or into the int16 x blocks of
  // gemv_i8_i16_rows (kernel_table.h), once, into the calling thread's scratch; ForwardPreparedRows
  // computes rows [j0, j1) from it with ForwardRows' bits. A prepared row belongs to this Linear
  // and thread, and is valid until the thread's next Linear or GEMV call other than
  // ForwardPreparedRows.
  struct PreparedRow {
    const float* x = nullptr;
    const void* prepared = nullptr;  // bf16 bits, fixed-point planes or int16 x blocks; null:
                                     // x as it is
    const void* owner = nullptr;     // the Linear that prepared it
    bool amx = false;                // prepared for the AMX-INT8 rows (row_block() 16)
    bool i16 = false;                // prepared for gemv_i8_i16_rows
  };
  Result<PreparedRow> PrepareRow(const float* x) const;
  Status ForwardPreparedRows(const PreparedRow& row, int64_t j0, int64_t j1, float* y) const;

  int64_t n() const;
  // The row granularity of ForwardPreparedRows: ranges that start at a multiple of it compute
  // no row twice (16 for int8 weights with an AMX-INT8 copy, else 4).
  int64_t row_block() const;
  int64_t k() const;
  WeightType weight_type() const;
  size_t packed_weight_bytes() const;
  // True when larger m runs the f32 primitive on converted tiles (see above).
  bool uses_tiles() const;
  // True when W is held in a blocked GEMM layout (WeightLayout::kGemm took effect).
  bool gemm_packed() const;

 public:
  struct Impl;  // defined in linear.cpp

 private:
  explicit Linear(std::unique_ptr<Impl> impl);
  Status ForwardInt8Bf16Tiles(const void* mm_entry, const float* x, int64_t m, float* y) const;
  Status ForwardInt8AmxTiles(const float* x, int64_t m, float* y) const;
  Status ForwardInt8AmxRows(const float* x, int64_t m, float* y) const;
  Status ForwardInt8I16Rows(const float* x, int64_t m, float* y) const;
  Status ForwardPacked(const float* x, int64_t m, float* y, LinearEpilogue epilogue) const;
  Status ForwardAmx(const void* x, bool x_bf16, int64_t m, float* y, uint16_t* y16,
                    LinearEpilogue epilogue) const;
  Status ForwardPlain(const float* x, int64_t m, float* y) const;
  Status ForwardI16(const float* x, int64_t m, float* y, LinearEpilogue epilogue) const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cosyflow::kernels::cpu
