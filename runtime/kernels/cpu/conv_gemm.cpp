// Conv1d / ConvTranspose1d as sgemm calls, threaded over output columns (see conv_gemm.h).
#include "runtime/kernels/cpu/conv_gemm.h"

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <atomic>
#include <new>

#include "runtime/kernels/cpu/dnnl_context.h"

namespace cosyflow::kernels::cpu::detail {
namespace {

// Below this many output columns per thread, a second thread costs more than it saves.
constexpr int64_t kMinColumnsPerThread = 32;
// Row split (GemmConv1d): used when each thread would get fewer than this many columns.
constexpr int64_t kRowSplitBelowColumns = 128;
constexpr int64_t kMinRowsPerThread = 64;

int ThreadsFor(int64_t work, int64_t min_per_thread) {
  if (omp_in_parallel()) return 1;
  const int64_t by_work = std::max<int64_t>(1, work / min_per_thread);
  return static_cast<int>(std::min<int64_t>(omp_get_max_threads(), by_work));
}

// Thread `id` of `n` gets columns [*lo, *hi) of `total`, blocks rounded to 16 columns.
void Block(int id, int n, int64_t total, int64_t* lo, int64_t* hi) {
  int64_t per = (total + n - 1) / n;
  per = (per + 15) / 16 * 16;
  *lo = std::min(total, id * per);
  *hi = std::min(total, *lo + per);
}

// Errors raised inside a parallel region (no exception may leave it).
struct RegionError {
  std::atomic<int> sgemm{0};  // first failing dnnl_sgemm status
  std::atomic<bool> no_memory{false};
  Status ToStatus(const char* what) const {
    if (no_memory) return MakeError(StatusCode::kResourceExhausted, "{}: out of memory", what);
    if (sgemm != 0) return Internal("{}: dnnl_sgemm failed with status {}", what, sgemm.load());
    return OkStatus();
  }
};

// Row-major C[m, n] = A[m, k] B[k, n] + beta C (A transposed when ta == 'T').
void Sgemm(char ta, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
           int64_t ldb, float beta, float* c, int64_t ldc, RegionError* err) {
  if (m == 0 || n == 0) return;
  (void)DnnlEngine();  // fixes oneDNN's ISA cap (cpu_isa.h) before its first sgemm
  const dnnl_status_t st = dnnl_sgemm(ta, 'N', m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
  if (st != dnnl_success) err->sgemm = static_cast<int>(st);
}

void FillBias(const float* bias, int64_t rows, int64_t ld, int64_t lo, int64_t hi, float* y) {
  for (int64_t r = 0; r < rows; ++r)
    std::fill(y + r * ld + lo, y + r * ld + hi, bias ? bias[r] : 0.0f);
}

// Output columns [lo, hi) of one batch item.
void ConvColumns(const Conv1dParams& p, const float* w, const float* bias, const float* x,
                 int64_t t_in, int64_t t_out, int64_t lo, int64_t hi, float* y, RegionError* err) {
  const int64_t cin = p.in_channels, cout = p.out_channels, k = p.kernel_size;
  FillBias(bias, cout, t_out, lo, hi, y);
  if (p.stride == 1) {
    // Tap kk reads x[:, t + off] for the outputs t whose input lies inside [0, t_in).
    for (int64_t kk = 0; kk < k; ++kk) {
      const int64_t off = kk * p.dilation - p.pad_left;
      const int64_t a = std::max(lo, -off), b = std::min(hi, t_in - off);
      if (b > a)
        Sgemm('N', cout, b - a, cin, w + kk * cin, k * cin, x + a + off, t_in, 1.0f, y + a, t_out,
              err);
    }
    return;
  }
  // Strided: im2col of the block, col[(kk, ci), j] = x[ci, (lo+j)*stride + kk*dil - pad], then
  // one GEMM with K = k*cin.
  const int64_t n = hi - lo;
  float* col;
  try {
    col = static_cast<float*>(ThreadScratch(ScratchSlot::kConvert, k * cin * n * sizeof(float)));
  } catch (const std::bad_alloc&) {
    err->no_memory = true;
    return;
  }
  for (int64_t kk = 0; kk < k; ++kk) {
    for (int64_t ci = 0; ci < cin; ++ci) {
      float* dst = col + (kk * cin + ci) * n;
      const float* src = x + ci * t_in;
      for (int64_t j = 0; j < n; ++j) {
        const int64_t s = (lo + j) * p.stride + kk * p.dilation - p.pad_left;
        dst[j] = (s >= 0 && s < t_in) ? src[s] : 0.0f;
      }
    }
  }
  Sgemm('N', cout, n, k * cin, w, k * cin, col, n, 1.0f, y + lo, t_out, err);
}

}  // namespace

void ToTapMajor(const float* w, int64_t c_out, int64_t c_in, int64_t k, float* w_taps) {
  for (int64_t o = 0; o < c_out; ++o) {
    for (int64_t i = 0; i < c_in; ++i) {
      for (int64_t kk = 0; kk < k; ++kk)
        w_taps[(o * k + kk) * c_in + i] = w[(o * c_in + i) * k + kk];
    }
  }
}

Status GemmConv1d(const Conv1dParams& p, const float* w_taps, const float* bias, const float* x,
                  int64_t batch, int64_t t_in, int64_t t_out, float* y) {
  if (p.groups != 1) return InvalidArgument("conv1d (gemm): groups must be 1, got {}", p.groups);
  RegionError err;
  const int64_t cout = p.out_channels, krow = p.kernel_size * p.in_channels;
  // Short outputs with many channels (e.g. HiFT's f0 predictor, 512 x 100) split the output
  // rows instead: a column block of a few dozen is both unbalanced and a poor GEMM shape.
  const int rows_nt = ThreadsFor(cout, kMinRowsPerThread);
  const bool by_rows =
      rows_nt > 1 && t_out < kRowSplitBelowColumns * rows_nt && cout >= kMinRowsPerThread * 2;
  const int nt = by_rows ? rows_nt : ThreadsFor(t_out, kMinColumnsPerThread);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    if (by_rows) {
      int64_t r0, r1;
      Block(omp_get_thread_num(), omp_get_num_threads(), cout, &r0, &r1);
      Conv1dParams pr = p;
      pr.out_channels = r1 - r0;
      for (int64_t b = 0; b < batch && r1 > r0; ++b) {
        ConvColumns(pr, w_taps + r0 * krow, bias != nullptr ? bias + r0 : nullptr,
                    x + b * p.in_channels * t_in, t_in, t_out, 0, t_out,
                    y + (b * cout + r0) * t_out, &err);
      }
    } else {
      int64_t lo, hi;
      Block(omp_get_thread_num(), omp_get_num_threads(), t_out, &lo, &hi);
      for (int64_t b = 0; b < batch && hi > lo; ++b) {
        ConvColumns(p, w_taps, bias, x + b * p.in_channels * t_in, t_in, t_out, lo, hi,
                    y + b * cout * t_out, &err);
      }
    }
  }
  return err.ToStatus("conv1d");
}

Status GemmConvTranspose1d(const ConvTranspose1dParams& p, const float* w, const float* bias,
                           const float* x, int64_t batch, int64_t t_in, int64_t t_out, float* y) {
  if (p.groups != 1) {
    return InvalidArgument("conv_transpose1d (gemm): groups must be 1, got {}", p.groups);
  }
  const int64_t cin = p.in_channels, cout = p.out_channels, k = p.kernel_size;
  RegionError err;
  float* z;  // [cout*k, t_in]: z[(o, kk), s] = sum_ci w[ci, o, kk] x[ci, s]
  try {
    z = static_cast<float*>(ThreadScratch(ScratchSlot::kConvert, cout * k * t_in * sizeof(float)));
  } catch (const std::bad_alloc&) {
    return MakeError(StatusCode::kResourceExhausted, "conv_transpose1d: out of memory");
  }
  const int nt = ThreadsFor(std::max(t_in, cout * 4), kMinColumnsPerThread);
  for (int64_t b = 0; b < batch; ++b) {
    const float* xb = x + b * cin * t_in;
    float* yb = y + b * cout * t_out;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      const int id = omp_get_thread_num(), n = omp_get_num_threads();
      int64_t lo, hi;
      Block(id, n, t_in, &lo, &hi);
      if (hi > lo)
        Sgemm('T', cout * k, hi - lo, cin, w, cout * k, xb + lo, t_in, 0.0f, z + lo, t_in, &err);
#pragma omp barrier
      // Scatter: y[o, s*stride - pad + kk*dil] += z[(o, kk), s]; threads own output channels.
      const int64_t o0 = cout * id / n, o1 = cout * (id + 1) / n;
      for (int64_t o = o0; o < o1; ++o) {
        float* yr = yb + o * t_out;
        std::fill(yr, yr + t_out, bias ? bias[o] : 0.0f);
        for (int64_t kk = 0; kk < k; ++kk) {
          const float* zr = z + (o * k + kk) * t_in;
          const int64_t off = kk * p.dilation - p.padding;
          for (int64_t s = 0; s < t_in; ++s) {
            const int64_t t = s * p.stride + off;
            if (t >= 0 && t < t_out) yr[t] += zr[s];
          }
        }
      }
    }
  }
  return err.ToStatus("conv_transpose1d");
}

}  // namespace cosyflow::kernels::cpu::detail
