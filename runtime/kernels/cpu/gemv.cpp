// Small-m linear kernels: x: [m, k] · W^T, W: [n, k] row-major f32 or bf16, OpenMP over W rows.
#include "runtime/kernels/cpu/gemv.h"

#include <algorithm>

#include "runtime/dtype.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace cosyflow::kernels::cpu {
namespace {

// Blocks of W rows per thread task; each block is reused by every x row group while it is hot.
constexpr int64_t kBlock = 4;

// Below this many weight elements a single thread is faster than waking the team.
constexpr int64_t kParallelMinWork = int64_t{1} << 16;

Status CheckArgs(const char* what, const void* x, const void* w, const float* y, int64_t m,
                 int64_t n, int64_t k) {
  if (m <= 0 || n <= 0 || k <= 0) {
    return InvalidArgument("{}: dims must be > 0, got m={} n={} k={}", what, m, n, k);
  }
  if (x == nullptr || w == nullptr || y == nullptr) {
    return InvalidArgument("{}: x, w and y must not be null", what);
  }
  return OkStatus();
}

// Plain loops for row blocks shorter than kBlock and CPUs without AVX-512.
template <typename LoadW>
void DotsScalar(const float* x, int64_t rows_x, const LoadW& load_w, int64_t rows_w, int64_t k,
                int64_t ldy, float* y) {
  for (int64_t r = 0; r < rows_w; ++r) {
    for (int64_t i = 0; i < rows_x; ++i) {
      float acc[16] = {};
      int64_t c = 0;
      for (; c + 16 <= k; c += 16) {
        for (int l = 0; l < 16; ++l) acc[l] += load_w(r, c + l) * x[i * k + c + l];
      }
      float s = 0;
      for (; c < k; ++c) s += load_w(r, c) * x[i * k + c];
      for (float a : acc) s += a;
      y[i * ldy + r] = s;
    }
  }
}

#if defined(__AVX512F__)
// Sum of the 16 lanes (zero-masked shuffles: the plain intrinsics trip GCC 12 -Wuninitialized).
inline float HSum(__m512 v) {
  v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, 0x4E));  // + the other 256-bit half
  v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, 0xB1));  // + the next 128-bit lane
  __m128 s4 = _mm512_maskz_extractf32x4_ps(0xF, v, 0);
  s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
  return _mm_cvtss_f32(s4);
}

// y[i, r] = W[r]·x[i] for 4 rows of W (r < 4) and R rows of x; the W loads are shared. The
// loops over i and r are unrolled so that acc lives in registers.
template <int R>
void Dots4F32(const float* x, const float* w, int64_t k, int64_t ldy, float* y) {
  __m512 acc[R][4];
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) acc[i][r] = _mm512_setzero_ps();
  }
  int64_t c = 0;
  for (; c + 16 <= k; c += 16) {
    __m512 wv[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) wv[r] = _mm512_loadu_ps(w + r * k + c);
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      const __m512 xv = _mm512_loadu_ps(x + i * k + c);
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) acc[i][r] = _mm512_fmadd_ps(wv[r], xv, acc[i][r]);
    }
  }
  if (c < k) {  // masked tail
    const auto mask = static_cast<__mmask16>((1u << (k - c)) - 1);
    __m512 wv[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) wv[r] = _mm512_maskz_loadu_ps(mask, w + r * k + c);
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      const __m512 xv = _mm512_maskz_loadu_ps(mask, x + i * k + c);
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) acc[i][r] = _mm512_fmadd_ps(wv[r], xv, acc[i][r]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) y[i * ldy + r] = HSum(acc[i][r]);
  }
}
#endif

#if defined(__AVX512BF16__)
// As Dots4F32 for bf16 W and bf16 x: 32 products per instruction (pairs summed in f32).
template <int R>
inline void Dots4BF16Step(const uint16_t* x, const uint16_t* w, int64_t k, __mmask32 mask,
                          __m512 (&acc)[R][4]) {
  __m512bh wv[4];
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r) {
    wv[r] = reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(mask, w + r * k));
  }
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i) {
    const auto xv = reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(mask, x + i * k));
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) acc[i][r] = _mm512_dpbf16_ps(acc[i][r], wv[r], xv);
  }
}

template <int R>
void Dots4BF16(const uint16_t* x, const uint16_t* w, int64_t k, int64_t ldy, float* y) {
  __m512 acc[R][4];
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) acc[i][r] = _mm512_setzero_ps();
  }
  int64_t c = 0;
  for (; c + 32 <= k; c += 32) Dots4BF16Step<R>(x + c, w + c, k, ~__mmask32{0}, acc);
  if (c < k) Dots4BF16Step<R>(x + c, w + c, k, __mmask32((1u << (k - c)) - 1), acc);
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) y[i * ldy + r] = HSum(acc[i][r]);
  }
}
#endif

// Runs `block(x_rows, rows_x, j0, rows_w, y_block)` for every (x row group, W row block) pair,
// W blocks split over threads (each block is streamed from memory once), then adds the bias.
template <typename Block>
void ForEachBlock(const float* bias, float* y, int64_t m, int64_t n, int64_t k,
                  const Block& block) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (n * k >= kParallelMinWork)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t j0 = b * kBlock, rows_w = std::min(kBlock, n - j0);
    for (int64_t i0 = 0; i0 < m; i0 += kGemvRows) {
      block(i0, std::min(kGemvRows, m - i0), j0, rows_w, y + i0 * n + j0);
    }
    if (bias != nullptr) {
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = j0; j < j0 + rows_w; ++j) y[i * n + j] += bias[j];
      }
    }
  }
}

}  // namespace

Status GemvF32(const float* x, const float* w, const float* bias, float* y, int64_t m, int64_t n,
               int64_t k) {
  COSY_RETURN_IF_ERROR(CheckArgs("gemv f32", x, w, y, m, n, k));
#if defined(__AVX512F__)
  if (m == 1 && n % kBlock == 0) {  // decode: the plainest loop (~15% faster than via a lambda)
#pragma omp parallel for schedule(static) if (n * k >= kParallelMinWork)
    for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
      Dots4F32<1>(x, w + j0 * k, k, n, y + j0);
      if (bias != nullptr) {
        for (int64_t j = j0; j < j0 + kBlock; ++j) y[j] += bias[j];
      }
    }
    return OkStatus();
  }
#endif
  ForEachBlock(bias, y, m, n, k,
               [&](int64_t i0, int64_t rows_x, int64_t j0, int64_t rows_w, float* yb) {
                 const float* xb = x + i0 * k;
                 const float* wb = w + j0 * k;
#if defined(__AVX512F__)
                 if (rows_w == kBlock) {
                   switch (rows_x) {
                     case 1: return Dots4F32<1>(xb, wb, k, n, yb);
                     case 2: return Dots4F32<2>(xb, wb, k, n, yb);
                     case 3: return Dots4F32<3>(xb, wb, k, n, yb);
                     default: return Dots4F32<4>(xb, wb, k, n, yb);
                   }
                 }
#endif
                 DotsScalar(xb, rows_x, [&](int64_t r, int64_t c) { return wb[r * k + c]; },
                            rows_w, k, n, yb);
               });
  return OkStatus();
}

Status GemvBF16(const float* x, const uint16_t* w, const float* bias, float* y, int64_t m,
                int64_t n, int64_t k, uint16_t* x_bf16) {
  COSY_RETURN_IF_ERROR(CheckArgs("gemv bf16", x, w, y, m, n, k));
  if (x_bf16 == nullptr) return InvalidArgument("gemv bf16: x_bf16 scratch must not be null");
  for (int64_t i = 0; i < m * k; ++i) x_bf16[i] = F32ToBF16(x[i]);
#if defined(__AVX512BF16__)
  if (m == 1 && n % kBlock == 0) {  // decode: the plainest loop, as in GemvF32
#pragma omp parallel for schedule(static) if (n * k >= kParallelMinWork)
    for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
      Dots4BF16<1>(x_bf16, w + j0 * k, k, n, y + j0);
      if (bias != nullptr) {
        for (int64_t j = j0; j < j0 + kBlock; ++j) y[j] += bias[j];
      }
    }
    return OkStatus();
  }
#endif
  ForEachBlock(bias, y, m, n, k,
               [&](int64_t i0, int64_t rows_x, int64_t j0, int64_t rows_w, float* yb) {
                 const uint16_t* xb = x_bf16 + i0 * k;
                 const uint16_t* wb = w + j0 * k;
#if defined(__AVX512BF16__)
                 if (rows_w == kBlock) {
                   switch (rows_x) {
                     case 1: return Dots4BF16<1>(xb, wb, k, n, yb);
                     case 2: return Dots4BF16<2>(xb, wb, k, n, yb);
                     case 3: return Dots4BF16<3>(xb, wb, k, n, yb);
                     default: return Dots4BF16<4>(xb, wb, k, n, yb);
                   }
                 }
#endif
                 // Scalar path: the same bf16 values, widened exactly to f32.
                 for (int64_t r = 0; r < rows_w; ++r) {
                   for (int64_t i = 0; i < rows_x; ++i) {
                     float s = 0;
                     for (int64_t c = 0; c < k; ++c) {
                       s += BF16ToF32(wb[r * k + c]) * BF16ToF32(xb[i * k + c]);
                     }
                     yb[i * n + r] = s;
                   }
                 }
               });
  return OkStatus();
}

}  // namespace cosyflow::kernels::cpu
