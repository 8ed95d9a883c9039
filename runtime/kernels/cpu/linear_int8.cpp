// cpu::Linear's int8 weights at m > kGemvMaxM on tiles of their exact values widened per call
// (linear.h; the state in linear_impl.h): on the kernel table's AMX tile GEMM, or on oneDNN's
// bf16 matmul; and at m <= kGemvMaxM on the AMX-INT8 rows or on int16 x blocks (AVX2).
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <dnnl.hpp>
#include <mutex>

#include "runtime/kernels/cpu/dnnl_context.h"
#include "runtime/kernels/cpu/i8_rows.h"
#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/cpu/linear.h"
#include "runtime/kernels/cpu/linear_impl.h"

namespace cosyflow::kernels::cpu {
using detail::Bf16TileMatMul;

// int8 weights, m > kGemvMaxM, where a bf16 matmul exists: per tile of W rows, their exact int8
// values as bf16 (unscaled), one bf16 matmul against x rounded to bf16, then the row scales and
// the bias on the tile's output columns: y[i, j] = scale[j] * (bf16(x_i) . q_j) + bias[j].
// Twice the f32 matmul's rate on AVX512_BF16 (int8 prefill 127 positions: 0.35 -> ~0.2 s).
//
// Each thread of the team takes whole tiles (widen, matmul on that thread alone, scale) sized to
// stay in its L2 (kInt8TileBytes of bf16): the tile is read back by the matmul while still in the
// cache. Tiles of 4 MiB widened by the whole team, then one team matmul, wrote and re-read every
// weight through memory: the LM's prefill of 126 positions 0.19-0.21 s, with these tiles
// 0.135-0.15 s (bf16 weights: 0.145 s; 2-core Xeon, docs/benchmarks.md "int8 prefill tiles in
// L2"; 384 KiB tiles: 0.16 s).
namespace {
constexpr int64_t kInt8TileBytes = int64_t{768} << 10;

// Rows of W per tile: kInt8TileBytes of bf16, a multiple of 32 (the matmul's column blocks),
// at least 32, and at least `threads` tiles where W has the rows for it.
int64_t Int8TileRows(int64_t n, int64_t k, int threads) {
  int64_t rows = std::max<int64_t>(32, kInt8TileBytes / (2 * k) / 32 * 32);
  const int64_t per_thread = (n + threads - 1) / threads;
  if (rows > per_thread) rows = std::max<int64_t>(32, (per_thread + 31) / 32 * 32);
  return std::min(rows, n);
}
}  // namespace

namespace {
// run_tile(j0, rows) over W's rows in Int8TileRows tiles: whole tiles per thread of the team (on
// the calling thread inside a parallel region). Nothing may throw out of the region (run_tile
// returns its errors): the first error is kept and the other threads stop at their next tile.
template <class RunTile>
Status ForEachInt8Tile(int64_t n, int64_t k, const RunTile& run_tile) {
  const int threads = omp_in_parallel() ? 1 : std::max(1, omp_get_max_threads());
  const int64_t tile = Int8TileRows(n, k, threads);
  const int64_t tiles = (n + tile - 1) / tile;
  if (threads == 1 || tiles == 1) {
    for (int64_t t = 0; t < tiles; ++t) {
      COSY_RETURN_IF_ERROR(run_tile(t * tile, std::min(tile, n - t * tile)));
    }
    return OkStatus();
  }
  Status first_error;
  std::mutex error_mu;
  std::atomic<bool> failed{false};
#pragma omp parallel num_threads(threads)
  {
    const int me = omp_get_thread_num(), team = omp_get_num_threads();
    for (int64_t t = me; t < tiles && !failed.load(std::memory_order_relaxed); t += team) {
      Status st = run_tile(t * tile, std::min(tile, n - t * tile));
      if (!st.ok()) {
        const std::lock_guard<std::mutex> lock(error_mu);
        if (!failed.exchange(true)) first_error = std::move(st);
      }
    }
  }
  return first_error;
}
}  // namespace

Status Linear::ForwardInt8Bf16Tiles(const void* mm_entry, const float* x, int64_t m,
                                    float* y) const {
  const Impl& im = *impl_;
  const auto& mm = *static_cast<const Bf16TileMatMul*>(mm_entry);
  const int64_t k = im.k;
  const KernelTable& kt = Kernels();
  uint16_t* xb = nullptr;  // x rounded to bf16, read by every thread
  COSY_RETURN_IF_ERROR(GuardDnnl("linear: forward", [&]() -> Status {
    xb = static_cast<uint16_t*>(ThreadScratch(ScratchSlot::kConvert, m * k * 2));
    kt.narrow_bf16(x, m * k, xb);
    return OkStatus();
  }));
  const float* bias = im.BiasPtr();
  // One tile: W rows [j0, j0 + rows) on the calling thread (a nested oneDNN call runs on it).
  auto run_tile = [&](int64_t j0, int64_t rows) -> Status {
    return GuardDnnl("linear: forward", [&]() -> Status {
      auto* wb = static_cast<uint16_t*>(ThreadScratch(ScratchSlot::kConvertWeights, rows * k * 2));
      kt.widen_i8_rows_bf16(im.w_i8.data(), k, j0, rows, wb);
      const int64_t a_dims[2] = {m, k}, a_strides[2] = {k, 1};
      const int64_t b_dims[2] = {k, rows}, b_strides[2] = {1, k};
      const int64_t c_dims[2] = {m, rows}, c_strides[2] = {im.n, 1};
      dnnl_exec_arg_t args[4];
      int nargs = 0;
      args[nargs++] = {DNNL_ARG_SRC,
                       ThreadMemory(MemRole::kSrc, PlainDesc(2, a_dims, a_strides, dnnl_bf16), xb)};
      args[nargs++] = {
          DNNL_ARG_WEIGHTS,
          ThreadMemory(MemRole::kWeights, PlainDesc(2, b_dims, b_strides, dnnl_bf16), wb)};
      args[nargs++] = {
          DNNL_ARG_DST,
          ThreadMemory(MemRole::kDst, PlainDesc(2, c_dims, c_strides, dnnl_f32), y + j0)};
      ExecuteOnThread(mm.prim, mm.scratchpad, args, nargs);
      const float* sc = im.scales.data() + j0;
      const float* bj = bias != nullptr ? bias + j0 : nullptr;
      for (int64_t i = 0; i < m; ++i) {
        float* row = y + i * im.n + j0;
        for (int64_t j = 0; j < rows; ++j) row[j] = row[j] * sc[j] + (bj != nullptr ? bj[j] : 0.0f);
      }
      return OkStatus();
    });
  };
  return ForEachInt8Tile(im.n, k, run_tile);
}

// int8 weights, m > kGemvMaxM, on the kernel table's AMX tile GEMM: x packed into A tiles once;
// each thread takes whole tiles of W rows (as above), widens their exact int8 values into B
// tiles (widen_i8_rows_amx: the transposed layout the tile unit reads, no second copy as
// oneDNN's plain-weight matmul made) and multiplies them on its own, row scales and bias applied
// as the outputs are stored.
Status Linear::ForwardInt8AmxTiles(const float* x, int64_t m, float* y) const {
  const Impl& im = *impl_;
  const int64_t k = im.k;
  const KernelTable& kt = Kernels();
  uint16_t* xt = nullptr;  // read by every thread
  COSY_RETURN_IF_ERROR(GuardDnnl("linear: forward", [&]() -> Status {
    xt = static_cast<uint16_t*>(
        ThreadScratch(ScratchSlot::kConvert, GemmAmxXElems(m, k) * sizeof(uint16_t)));
    return OkStatus();
  }));
  kt.pack_gemm_amx_x(x, m, k, xt);
  const float* bias = im.BiasPtr();
  auto run_tile = [&](int64_t j0, int64_t rows) -> Status {
    return GuardDnnl("linear: forward", [&]() -> Status {  // a failed scratch: a Status
      auto* wt = static_cast<uint16_t*>(ThreadScratch(
          ScratchSlot::kConvertWeights, GemmAmxWeightElems(rows, k) * sizeof(uint16_t)));
      if (im.w_i8_amx.empty()) {
        kt.widen_i8_rows_amx(im.w_i8.data(), k, j0, rows, wt);
      } else {  // the AMX-INT8 layout (tiles of 32-row multiples: whole 16-row blocks)
        kt.widen_i8_amx_bf16(im.w_i8_amx.data(), k, j0, rows, wt);
      }
      kt.gemm_amx_bf16_scaled(xt, m, k, wt, rows, im.scales.data() + j0,
                              bias != nullptr ? bias + j0 : nullptr, y + j0, im.n);
      return OkStatus();
    });
  };
  return ForEachInt8Tile(im.n, k, run_tile);
}

namespace {
// run(b0, b1) over row blocks [0, blocks) of a product of `weights` weights: contiguous shares
// for the team, or all on the calling thread inside a parallel region and for small products
// (below ~64K weights a second thread costs more to wake than it saves: the GEMVs' rule).
template <class Run>
void BlocksOnTeam(int64_t blocks, int64_t weights, const Run& run) {
  const int threads = omp_in_parallel() || weights < (int64_t{1} << 16)
                          ? 1
                          : static_cast<int>(std::min<int64_t>(omp_get_max_threads(), blocks));
  if (threads <= 1) {
    run(0, blocks);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int64_t me = omp_get_thread_num(), nt = omp_get_num_threads();
    run(blocks * me / nt, blocks * (me + 1) / nt);
  }
}
}  // namespace

// int8 weights in the AMX-INT8 layout, m <= kGemvMaxM: x quantized once (the fixed-point
// kernel's x_int), then the 16-row column blocks split over the team (on the calling thread
// inside a parallel region, or for small products); rows of x the fixed-point kernel does not
// take send the whole product to the f32 definition (AmxI8RowsF32).
Status Linear::ForwardInt8AmxRows(const float* x, int64_t m, float* y) const {
  const Impl& im = *impl_;
  const int64_t k = im.k, n = im.n;
  const KernelTable& kt = Kernels();
  void* scratch = nullptr;
  COSY_RETURN_IF_ERROR(GuardDnnl("linear: forward", [&]() -> Status {  // bad_alloc -> Status
    scratch =
        ThreadScratch(ScratchSlot::kGemvX, static_cast<size_t>(GemvI8FixedScratchBytes(m, k)));
    return OkStatus();
  }));
  if (!kt.gemv_i8_amx_quantize(x, m, k, scratch)) return im.AmxI8RowsF32(x, m, 0, n, y, n);
  const float* bias = im.BiasPtr();
  const int64_t blocks = (n + kI8AmxBlockRows - 1) / kI8AmxBlockRows;
  const int64_t block_bytes = kI8AmxBlockRows * GemvI8FixedStride(k);
  auto run = [&](int64_t b0, int64_t b1) {
    const int64_t j0 = b0 * kI8AmxBlockRows, j1 = std::min(n, b1 * kI8AmxBlockRows);
    if (j0 >= j1) return;
    kt.gemv_i8_amx_rows(scratch, im.w_i8_amx.data() + b0 * block_bytes, im.scales.data() + j0,
                        bias != nullptr ? bias + j0 : nullptr, y + j0, n, m, j1 - j0, k);
  };
  BlocksOnTeam(blocks, n * k, run);
  return OkStatus();
}

// int8 weights in the i8_rows.h layout, m <= kGemvMaxM, where the kernels have
// gemv_i8_i16_rows (AVX2): x packed once into 16-bit blocks (pack_i8_i16_x), then the 4-row
// blocks split over the team as ForwardInt8AmxRows splits its column blocks. The same bits as
// the many-row path (gemm_i8_i16) for each row of x.
Status Linear::ForwardInt8I16Rows(const float* x, int64_t m, float* y) const {
  const Impl& im = *impl_;
  const int64_t k = im.k, n = im.n;
  const KernelTable& kt = Kernels();
  void* xv = nullptr;
  COSY_RETURN_IF_ERROR(GuardDnnl("linear: forward", [&]() -> Status {  // bad_alloc -> Status
    xv = ThreadScratch(ScratchSlot::kGemvX, static_cast<size_t>(GemmI8I16XLayout(m, k).bytes));
    return OkStatus();
  }));
  kt.pack_i8_i16_x(x, k, m, k, 0, m, xv);
  const float* bias = im.BiasPtr();
  const int64_t blocks = (n + kI8BlockRows - 1) / kI8BlockRows;
  auto run = [&](int64_t b0, int64_t b1) {
    const int64_t j0 = b0 * kI8BlockRows, j1 = std::min(n, b1 * kI8BlockRows);
    if (j0 >= j1) return;
    kt.gemv_i8_i16_rows(xv, m, k, im.w_i8.data() + I8RowOffset(j0, k), im.scales.data() + j0,
                        bias != nullptr ? bias + j0 : nullptr, y + j0, n, j1 - j0);
  };
  BlocksOnTeam(blocks, n * k, run);
  return OkStatus();
}

}  // namespace cosyflow::kernels::cpu
