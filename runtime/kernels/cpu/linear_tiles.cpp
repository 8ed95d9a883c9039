// The many-row products on the kernel table's register tiles (linear_tiles.h).
#include "runtime/kernels/cpu/linear_tiles.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <new>

#include "runtime/kernels/cpu/dnnl_context.h"
#include "runtime/work_share.h"

namespace cosyflow::kernels::cpu::detail {
namespace {

// Teams up to this size share their blocks (WorkShare); larger ones split them equally.
constexpr int kMaxSharingThreads = 64;
// W blocks per chunk: 128 rows (112 KiB of int8 weights at k = 896); the tile re-reads its x
// chunk from L2 per call.
constexpr int64_t kChunkBlocks = 16;

// The many-row products on the kernel table's register tiles (AVX-512: f32 weights, int8 with
// AVX512_BF16; AVX2: f32, int8 and bf16 weights): per group of up to 192 rows of x, the team packs
// x once (its rows split by 16) and then shares out W's 8-row blocks. `pack(x, m, i0, i1, xv)` and
// `gemm(xv, m, j0, j1, y, scratch)` wrap the table entries. Per-thread scratch that cannot be had
// fails the call (no exception leaves the region).
// xv_bytes(mg): the packed x of a group of mg rows; scratch_bytes(mg, rows): a thread's scratch
// for `rows` W rows against it.
template <class Pack, class Gemm, class XBytes, class ScratchBytes>
Status ForwardTiles(int64_t n, const float* x, int64_t k, int64_t m, float* y, Pack pack, Gemm gemm,
                    XBytes xv_bytes, ScratchBytes scratch_bytes) {
  constexpr int64_t kGroup = 4 * kGemmTileCols;
  const int64_t blocks = (n + kGemmTileRows - 1) / kGemmTileRows;
  for (int64_t i0 = 0; i0 < m; i0 += kGroup) {
    const int64_t mg = std::min(kGroup, m - i0);
    void* xv = nullptr;
    try {
      xv = ThreadScratch(ScratchSlot::kConvert, static_cast<size_t>(xv_bytes(mg)));
    } catch (const std::bad_alloc&) {
      return MakeError(StatusCode::kResourceExhausted, "linear: no memory for {} packed rows of x",
                       mg);
    }
    bool failed = false;
    const float* xg = x + i0 * k;
    float* yg = y + i0 * n;
    std::array<WorkShare, kMaxSharingThreads> shares;
#pragma omp parallel if (!omp_in_parallel())
    {
      const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t groups = (mg + 15) / 16;
      pack(xg, mg, groups * t / nt * 16, groups * (t + 1) / nt * 16, xv);
      // Each thread's share of W's blocks, taken kChunkBlocks at a time; a thread done with its
      // own takes chunks from the back of the others' (runtime/work_share.h: the vCPUs of a
      // shared VM differ in speed for seconds at a time). The blocks' bits do not depend on
      // which call computes them. Teams above kMaxSharingThreads keep the equal split.
      const bool sharing = nt <= kMaxSharingThreads;
      const int64_t b0 = blocks * t / nt, b1 = blocks * (t + 1) / nt;
      if (sharing) shares[static_cast<size_t>(t)].Reset(b0, b1);
#pragma omp barrier
      const int64_t chunk = sharing ? kChunkBlocks : std::max<int64_t>(1, b1 - b0);
      void* scratch = nullptr;
      try {
        scratch = ThreadScratch(ScratchSlot::kConvertWeights,
                                static_cast<size_t>(scratch_bytes(mg, chunk * kGemmTileRows)));
      } catch (const std::bad_alloc&) {
#pragma omp atomic write
        failed = true;
      }
      auto run = [&](int64_t c0, int64_t c1) {
        gemm(xv, mg, std::min(n, c0 * kGemmTileRows), std::min(n, c1 * kGemmTileRows), yg, scratch);
      };
      if (scratch != nullptr && !sharing && b0 < b1) run(b0, b1);
      if (scratch != nullptr && sharing) {
        for (int64_t c0 = 0, c1 = 0; shares[static_cast<size_t>(t)].TakeFront(chunk, &c0, &c1);) {
          run(c0, c1);
        }
        for (int64_t v = 1; v < nt; ++v) {
          WorkShare& other = shares[static_cast<size_t>((t + v) % nt)];
          for (int64_t c0 = 0, c1 = 0; other.TakeBack(chunk, &c0, &c1);) run(c0, c1);
        }
      }
    }
    if (failed) {
      return MakeError(StatusCode::kResourceExhausted, "linear: no memory for the tile's scratch");
    }
  }
  return OkStatus();
}

// The tile kernels' packed x and scratch (kernel_table.h) for `units` channel units.
auto TileXBytes(int64_t units) {
  return [units](int64_t mg) { return int64_t{sizeof(uint32_t)} * GemmXWords(mg, units); };
}
auto TileScratchBytes(int64_t units) {
  return [units](int64_t mg, int64_t rows) { return GemmScratchBytes(mg, units, rows); };
}

}  // namespace

Status TileForwardInt8(const KernelTable& kt, const int8_t* w, const float* scales,
                       const float* bias, int64_t n, int64_t k, const float* x, int64_t m,
                       float* y) {
  const int64_t units = (k + 1) / 2;
  return ForwardTiles(
      n, x, k, m, y,
      [&](const float* xg, int64_t mg, int64_t i0, int64_t i1, void* xv) {
        kt.pack_gemm_bf16_x(xg, k, mg, k, i0, i1, static_cast<uint32_t*>(xv));
      },
      [&](const void* xv, int64_t mg, int64_t j0, int64_t j1, float* yg, void* scratch) {
        kt.gemm_i8_bf16(static_cast<const uint32_t*>(xv), mg, k, w, scales, bias, j0, j1, yg, n,
                        scratch);
      },
      TileXBytes(units), TileScratchBytes(units));
}

Status TileForwardF32(const KernelTable& kt, const float* w, const float* bias, int64_t n,
                      int64_t k, const float* x, int64_t m, float* y) {
  const int64_t units = k;
  return ForwardTiles(
      n, x, k, m, y,
      [&](const float* xg, int64_t mg, int64_t i0, int64_t i1, void* xv) {
        kt.pack_gemm_f32_x(xg, k, mg, k, i0, i1, false, static_cast<float*>(xv));
      },
      [&](const void* xv, int64_t mg, int64_t j0, int64_t j1, float* yg, void* scratch) {
        kt.gemm_f32(static_cast<const float*>(xv), mg, k, w, bias, j0, j1, yg, n, scratch);
      },
      TileXBytes(units), TileScratchBytes(units));
}

Status TileForwardInt8F32(const KernelTable& kt, const int8_t* w, const float* scales,
                          const float* bias, int64_t n, int64_t k, const float* x, int64_t m,
                          float* y) {
  const int64_t units = k;
  return ForwardTiles(
      n, x, k, m, y,
      [&](const float* xg, int64_t mg, int64_t i0, int64_t i1, void* xv) {
        kt.pack_gemm_f32_x(xg, k, mg, k, i0, i1, true, static_cast<float*>(xv));
      },
      [&](const void* xv, int64_t mg, int64_t j0, int64_t j1, float* yg, void* scratch) {
        kt.gemm_i8_f32(static_cast<const float*>(xv), mg, k, w, scales, bias, j0, j1, yg, n,
                       scratch);
      },
      TileXBytes(units), TileScratchBytes(units));
}

Status TileForwardBf16F32(const KernelTable& kt, const uint16_t* w, const float* bias, int64_t n,
                          int64_t k, const float* x, int64_t m, float* y) {
  const int64_t units = k;
  return ForwardTiles(
      n, x, k, m, y,
      [&](const float* xg, int64_t mg, int64_t i0, int64_t i1, void* xv) {
        kt.pack_gemm_f32_x(xg, k, mg, k, i0, i1, true, static_cast<float*>(xv));
      },
      [&](const void* xv, int64_t mg, int64_t j0, int64_t j1, float* yg, void* scratch) {
        kt.gemm_bf16_f32(static_cast<const float*>(xv), mg, k, w, bias, j0, j1, yg, n, scratch);
      },
      TileXBytes(units), TileScratchBytes(units));
}

Status TileForwardInt8I16(const KernelTable& kt, const int8_t* w, const float* scales,
                          const float* bias, int64_t n, int64_t k, const float* x, int64_t m,
                          float* y) {
  return ForwardTiles(
      n, x, k, m, y,
      [&](const float* xg, int64_t mg, int64_t i0, int64_t i1, void* xv) {
        kt.pack_i8_i16_x(xg, k, mg, k, i0, i1, xv);
      },
      [&](const void* xv, int64_t mg, int64_t j0, int64_t j1, float* yg, void* scratch) {
        kt.gemm_i8_i16(xv, mg, k, w, scales, bias, j0, j1, yg, n, scratch);
      },
      [k](int64_t mg) { return GemmI8I16XLayout(mg, k).bytes; },
      [k](int64_t, int64_t) { return GemmI8I16ScratchBytes(k); });
}

}  // namespace cosyflow::kernels::cpu::detail
