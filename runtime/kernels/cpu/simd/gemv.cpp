// Small-m linear kernels of one ISA variant: y: [m, n] = x: [m, k] W^T (+ bias), W: [n, k]
// row-major f32, bf16 or int8 (per-row scales). Memory bound: W is streamed once per group of
// up to kMaxRows x rows, 4 W rows at a time, the n rows split over OpenMP threads.
#include <omp.h>

#include "runtime/kernels/cpu/simd/kernels.h"
#include "runtime/kernels/cpu/simd/simd.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS {
namespace {

// W rows per block; x rows that share one pass over a block (accumulators R*4 + 4 W vectors + 1
// x vector must fit the register file).
constexpr int64_t kBlock = 4;
// Software prefetch distance in bytes ahead of each W row stream.
constexpr int64_t kPrefetchBytes = 16384;
constexpr int kMaxRows = kVecRegisters >= 32 ? 4 : 2;
// Below this many weight elements a single thread is faster than waking the team.
constexpr int64_t kParallelMinWork = int64_t{1} << 16;

struct F32Elems {
  using T = float;
  static Vf Full(const float* p) { return Load(p); }
  static Vf Part(const float* p, int64_t n) { return LoadN(p, n); }
};
struct BF16Elems {
  using T = uint16_t;
  static Vf Full(const uint16_t* p) { return LoadBF16(p); }
  static Vf Part(const uint16_t* p, int64_t n) { return LoadBF16N(p, n); }
};
struct I8Elems {
  using T = int8_t;
  static Vf Full(const int8_t* p) { return LoadI8(p); }
  static Vf Part(const int8_t* p, int64_t n) { return LoadI8N(p, n); }
};

// y[i * ldy + r] = W[r] . x[i] for rows_w <= 4 rows of W and R rows of x; the W loads are
// shared. Missing W rows (rows_w < 4) repeat row 0 and are not written.
template <int R, class XE, class WE>
void Dots4(const typename XE::T* x, const typename WE::T* w, int64_t rows_w, int64_t k,
           int64_t ldy, float* y) {
  const typename WE::T* wr[kBlock];
  for (int r = 0; r < kBlock; ++r) wr[r] = w + (r < rows_w ? r : 0) * k;
  Vf acc[R][kBlock];
  for (int i = 0; i < R; ++i)
    for (int r = 0; r < kBlock; ++r) acc[i][r] = Zero();
  int64_t c = 0;
  for (; c + kLanes <= k; c += kLanes) {
    // Short rows (896 B in int8) defeat the hardware prefetcher: once per 64 bytes, fetch the
    // line kPrefetchBytes ahead of each row stream (this thread's blocks are contiguous, so the
    // four streams together cover the next kPrefetchBytes of its range).
    if (((c * static_cast<int64_t>(sizeof(typename WE::T))) & 63) == 0) {
      for (int r = 0; r < kBlock; ++r) {
        __builtin_prefetch(reinterpret_cast<const char*>(wr[r] + c) + kPrefetchBytes, 0, 0);
      }
    }
    Vf wv[kBlock];
    for (int r = 0; r < kBlock; ++r) wv[r] = WE::Full(wr[r] + c);
    for (int i = 0; i < R; ++i) {
      const Vf xv = XE::Full(x + i * k + c);
      for (int r = 0; r < kBlock; ++r) acc[i][r] = Fmadd(wv[r], xv, acc[i][r]);
    }
  }
  if (c < k) {  // zero-filled tail
    Vf wv[kBlock];
    for (int r = 0; r < kBlock; ++r) wv[r] = WE::Part(wr[r] + c, k - c);
    for (int i = 0; i < R; ++i) {
      const Vf xv = XE::Part(x + i * k + c, k - c);
      for (int r = 0; r < kBlock; ++r) acc[i][r] = Fmadd(wv[r], xv, acc[i][r]);
    }
  }
  for (int i = 0; i < R; ++i) {
    float s[kBlock];
    Reduce4(acc[i][0], acc[i][1], acc[i][2], acc[i][3], s);
    for (int r = 0; r < rows_w; ++r) y[i * ldy + r] = s[r];
  }
}

// Rows [i0, i0 + rows_x) of x against W rows [j0, j0 + rows_w), in groups of kMaxRows.
template <class XE, class WE>
void BlockDots(const typename XE::T* x, const typename WE::T* w, int64_t m, int64_t j0,
               int64_t rows_w, int64_t n, int64_t k, float* y) {
  for (int64_t i0 = 0; i0 < m; i0 += kMaxRows) {
    const int64_t rows_x = MinI(kMaxRows, m - i0);
    const typename XE::T* xb = x + i0 * k;
    const typename WE::T* wb = w + j0 * k;
    float* yb = y + i0 * n + j0;
    if constexpr (kMaxRows >= 4) {
      if (rows_x == 4) { Dots4<4, XE, WE>(xb, wb, rows_w, k, n, yb); continue; }
      if (rows_x == 3) { Dots4<3, XE, WE>(xb, wb, rows_w, k, n, yb); continue; }
    }
    if (rows_x >= 2) {
      Dots4<2, XE, WE>(xb, wb, rows_w, k, n, yb);
    } else {
      Dots4<1, XE, WE>(xb, wb, rows_w, k, n, yb);
    }
  }
}

// Runs BlockDots over every W block, blocks split over threads (each streamed once), then the
// per-row scale (int8) and the bias.
template <class XE, class WE>
void Gemv(const typename XE::T* x, const typename WE::T* w, const float* scales,
          const float* bias, float* y, int64_t m, int64_t n, int64_t k) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (n * k >= kParallelMinWork)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t j0 = b * kBlock, rows_w = MinI(kBlock, n - j0);
    BlockDots<XE, WE>(x, w, m, j0, rows_w, n, k, y);
    if (scales != nullptr || bias != nullptr) {
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = j0; j < j0 + rows_w; ++j) {
          float v = y[i * n + j];
          if (scales != nullptr) v *= scales[j];
          if (bias != nullptr) v += bias[j];
          y[i * n + j] = v;
        }
      }
    }
  }
}

}  // namespace

void GemvF32(const float* x, const float* w, const float* bias, float* y, int64_t m, int64_t n,
             int64_t k) {
  Gemv<F32Elems, F32Elems>(x, w, nullptr, bias, y, m, n, k);
}

void GemvBF16(const uint16_t* x, const uint16_t* w, const float* bias, float* y, int64_t m,
              int64_t n, int64_t k) {
  Gemv<BF16Elems, BF16Elems>(x, w, nullptr, bias, y, m, n, k);
}

void GemvI8(const float* x, const int8_t* w, const float* scales, const float* bias, float* y,
            int64_t m, int64_t n, int64_t k) {
  Gemv<F32Elems, I8Elems>(x, w, scales, bias, y, m, n, k);
}

#if defined(COSY_SIMD_AVX512)
// ---- AVX512_BF16: 32 bf16 products per instruction (pairs summed in f32) -------------------
#define COSY_TARGET_BF16 __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))
namespace {
template <int R>
COSY_TARGET_BF16 inline void DotBf16Step(const uint16_t* x, const uint16_t* const* wr, int64_t k,
                                         __mmask32 mask, __m512 (&acc)[R][kBlock]) {
  __m512bh wv[kBlock];
  for (int r = 0; r < kBlock; ++r) {
    wv[r] = reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(mask, wr[r]));
  }
  for (int i = 0; i < R; ++i) {
    const auto xv = reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(mask, x + i * k));
    for (int r = 0; r < kBlock; ++r) acc[i][r] = _mm512_dpbf16_ps(acc[i][r], wv[r], xv);
  }
}

template <int R>
COSY_TARGET_BF16 void DotsBf16(const uint16_t* x, const uint16_t* w, int64_t rows_w, int64_t k,
                               int64_t ldy, float* y) {
  const uint16_t* wr[kBlock];
  for (int r = 0; r < kBlock; ++r) wr[r] = w + (r < rows_w ? r : 0) * k;
  __m512 acc[R][kBlock];
  for (int i = 0; i < R; ++i)
    for (int r = 0; r < kBlock; ++r) acc[i][r] = _mm512_setzero_ps();
  int64_t c = 0;
  const uint16_t* wc[kBlock];
  for (; c + 32 <= k; c += 32) {
    for (int r = 0; r < kBlock; ++r) {
      wc[r] = wr[r] + c;
      __builtin_prefetch(reinterpret_cast<const char*>(wc[r]) + kPrefetchBytes, 0, 0);
    }
    DotBf16Step<R>(x + c, wc, k, ~__mmask32{0}, acc);
  }
  if (c < k) {
    for (int r = 0; r < kBlock; ++r) wc[r] = wr[r] + c;
    DotBf16Step<R>(x + c, wc, k, __mmask32((1u << (k - c)) - 1), acc);
  }
  for (int i = 0; i < R; ++i) {
    float s[kBlock];
    Reduce4(acc[i][0], acc[i][1], acc[i][2], acc[i][3], s);
    for (int r = 0; r < rows_w; ++r) y[i * ldy + r] = s[r];
  }
}
}  // namespace

COSY_TARGET_BF16 void GemvBF16Dot(const uint16_t* x, const uint16_t* w, const float* bias,
                                  float* y, int64_t m, int64_t n, int64_t k) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (n * k >= kParallelMinWork)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t j0 = b * kBlock, rows_w = MinI(kBlock, n - j0);
    for (int64_t i0 = 0; i0 < m; i0 += 4) {
      const int64_t rows_x = MinI(4, m - i0);
      const uint16_t* xb = x + i0 * k;
      const uint16_t* wb = w + j0 * k;
      float* yb = y + i0 * n + j0;
      switch (rows_x) {
        case 1: DotsBf16<1>(xb, wb, rows_w, k, n, yb); break;
        case 2: DotsBf16<2>(xb, wb, rows_w, k, n, yb); break;
        case 3: DotsBf16<3>(xb, wb, rows_w, k, n, yb); break;
        default: DotsBf16<4>(xb, wb, rows_w, k, n, yb); break;
      }
    }
    if (bias != nullptr) {
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = j0; j < j0 + rows_w; ++j) y[i * n + j] += bias[j];
      }
    }
  }
}
#undef COSY_TARGET_BF16
#endif

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS
