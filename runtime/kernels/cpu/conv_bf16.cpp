// ConvMath::kBF16 convolutions (conv.h): packing, threading and the emulation of conv1d_bf16
// on CPUs without AVX512_BF16 (see conv_gemm.h).
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <new>

#include "runtime/dtype.h"
#include "runtime/kernels/cpu/conv_gemm.h"
#include "runtime/kernels/cpu/dnnl_context.h"
#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/logging.h"

namespace cosyflow::kernels::cpu::detail {
namespace {

// Below this many output columns per thread a second thread costs more than it saves.
constexpr int64_t kMinColumnsPerThread = 96;

float WidenBf16(uint32_t bits16) { return BF16ToF32(static_cast<uint16_t>(bits16 & 0xffffu)); }

// The emulation: inputs (and, without `w_taps`, the weights) rounded to bf16 into per-thread
// scratch, then the f32 sgemm path (each bf16 x bf16 product is exact in f32).
Status EmulatedBf16Conv1d(const KernelTable& kt, const Conv1dParams& p, const uint32_t* wp,
                          const float* w_taps, const float* bias, const float* x, int64_t batch,
                          int64_t t_in, int64_t t_out, float* y) {
  const int64_t cin = p.in_channels, cout = p.out_channels, k = p.kernel_size;
  float* xr;
  float* w_tmp = nullptr;
  try {
    xr = static_cast<float*>(
        ThreadScratch(ScratchSlot::kConvert, sizeof(float) * batch * cin * t_in));
    if (w_taps == nullptr) {
      w_tmp = static_cast<float*>(
          ThreadScratch(ScratchSlot::kConvertWeights, sizeof(float) * cout * k * cin));
    }
  } catch (const std::bad_alloc&) {
    return MakeError(StatusCode::kResourceExhausted, "conv1d (bf16): out of memory");
  }
  // Rounded through the table's narrow / widen kernels, a stack block at a time.
  constexpr int64_t kBlock = 2048;
  uint16_t bits[kBlock];
  for (int64_t i = 0; i < batch * cin * t_in; i += kBlock) {
    const int64_t n = std::min(kBlock, batch * cin * t_in - i);
    kt.narrow_bf16(x + i, n, bits);
    kt.widen_16(bits, true, n, xr + i);
  }
  if (w_tmp != nullptr) {
    BF16TapMajorWeights(wp, cout, cin, k, w_tmp);
    w_taps = w_tmp;
  }
  return GemmConv1d(p, w_taps, bias, xr, batch, t_in, t_out, y);
}

}  // namespace

void BF16TapMajorWeights(const uint32_t* wp, int64_t c_out, int64_t c_in, int64_t k,
                         float* w_taps) {
  const int64_t pairs = (c_in + 1) / 2;
  for (int64_t o = 0; o < c_out; ++o) {
    for (int64_t kk = 0; kk < k; ++kk) {
      for (int64_t ci = 0; ci < c_in; ++ci) {
        const uint32_t word = wp[Conv1dBf16WeightIndex(o, kk, ci / 2, k, pairs)];
        w_taps[(o * k + kk) * c_in + ci] = WidenBf16(ci % 2 == 0 ? word : word >> 16);
      }
    }
  }
}

int64_t Bf16Conv1dWeightWords(int64_t c_out, int64_t c_in, int64_t k) {
  const int64_t rows = (c_out + kConvBf16Rows - 1) / kConvBf16Rows * kConvBf16Rows;
  return rows * k * ((c_in + 1) / 2);
}

void PackBf16Conv1dWeights(const float* w, int64_t c_out, int64_t c_in, int64_t k, uint32_t* wp) {
  const int64_t pairs = (c_in + 1) / 2;
  std::fill(wp, wp + Bf16Conv1dWeightWords(c_out, c_in, k), 0u);
  for (int64_t o = 0; o < c_out; ++o) {
    for (int64_t ci = 0; ci < c_in; ++ci) {
      for (int64_t kk = 0; kk < k; ++kk) {
        const uint32_t h = F32ToBF16(w[(o * c_in + ci) * k + kk]);
        wp[Conv1dBf16WeightIndex(o, kk, ci / 2, k, pairs)] |= ci % 2 == 0 ? h : h << 16;
      }
    }
  }
}

Status Bf16Conv1d(const Conv1dParams& p, const uint32_t* wp, const float* w_taps, const float* bias,
                  const float* x, int64_t batch, int64_t t_in, int64_t t_out, float* y) {
  if (p.groups != 1 || p.stride != 1) {
    return InvalidArgument("conv1d (bf16): needs groups 1 and stride 1, got {} and {}", p.groups,
                           p.stride);
  }
  const KernelTable& kt = Kernels();
  if (kt.conv1d_bf16 == nullptr) {
    static std::once_flag once;
    std::call_once(once, [&kt] {
      Log(LogLevel::kInfo,
          "conv1d: no AVX512_BF16 in the {} kernels: bf16 convolutions run emulated (rounded "
          "copies through the f32 sgemm; no faster than f32)",
          kt.name);
    });
    return EmulatedBf16Conv1d(kt, p, wp, w_taps, bias, x, batch, t_in, t_out, y);
  }
  const int64_t cin = p.in_channels, cout = p.out_channels, k = p.kernel_size;
  const int64_t pairs = (cin + 1) / 2, halo = (k - 1) * p.dilation;
  const int nt =
      omp_in_parallel()
          ? 1
          : static_cast<int>(std::clamp<int64_t>(t_out / kMinColumnsPerThread, 1,
                                                 static_cast<int64_t>(omp_get_max_threads())));
  std::atomic<bool> no_memory{false};
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int id = omp_get_thread_num(), n = omp_get_num_threads();
    // Whole tiles per thread where possible.
    const int64_t tiles = (t_out + kConvBf16Cols - 1) / kConvBf16Cols;
    const int64_t lo = std::min(t_out, tiles * id / n * kConvBf16Cols);
    const int64_t hi = std::min(t_out, tiles * (id + 1) / n * kConvBf16Cols);
    if (hi > lo) {
      const int64_t cols = hi - lo;
      const int64_t ldv = (cols + kConvBf16Cols - 1) / kConvBf16Cols * kConvBf16Cols + halo;
      uint32_t* xv = nullptr;
      float* tail = nullptr;
      try {
        xv = static_cast<uint32_t*>(
            ThreadScratch(ScratchSlot::kConvert, sizeof(uint32_t) * pairs * ldv));
        tail = static_cast<float*>(
            ThreadScratch(ScratchSlot::kEpilogue, sizeof(float) * kConvBf16Rows * kConvBf16Cols));
      } catch (const std::bad_alloc&) {
        no_memory = true;
      }
      if (xv != nullptr && tail != nullptr) {
        // xv column c holds input position s = lo - pad_left + c; zeros outside [0, t_in).
        const int64_t s0 = lo - p.pad_left;
        const int64_t c_begin = std::clamp<int64_t>(-s0, 0, ldv);
        const int64_t c_end = std::clamp<int64_t>(t_in - s0, c_begin, ldv);
        for (int64_t b = 0; b < batch; ++b) {
          for (int64_t cp = 0; cp < pairs; ++cp) {
            uint32_t* row = xv + cp * ldv;
            std::fill(row, row + c_begin, 0u);
            std::fill(row + c_end, row + ldv, 0u);
          }
          if (c_end > c_begin) {
            kt.pack_bf16_pairs(x + b * cin * t_in + s0 + c_begin, t_in, cin, c_end - c_begin,
                               xv + c_begin, ldv);
          }
          kt.conv1d_bf16(wp, bias, cout, pairs, k, p.dilation, xv, ldv, cols,
                         y + b * cout * t_out + lo, t_out, tail);
        }
      }
    }
  }
  if (no_memory) return MakeError(StatusCode::kResourceExhausted, "conv1d (bf16): out of memory");
  return OkStatus();
}

}  // namespace cosyflow::kernels::cpu::detail
