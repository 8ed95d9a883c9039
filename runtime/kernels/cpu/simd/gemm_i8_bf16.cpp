// The many-row product of int8 Linear weights on vdpbf16ps (kernel_table.h: pack_gemm_bf16_x,
// gemm_i8_bf16): x packed once per call as bf16 channel pairs in column tiles, W widened per
// block of 8 rows and chunk of channel pairs into an L1 buffer of exact bf16 integers and
// broadcast one pair at a time into an 8-row x 48-column tile of f32 accumulators. AVX-512
// variant only, for CPUs with AVX512_BF16 (linear.cpp uses oneDNN elsewhere).
#include <cstdint>
#include <cstring>

#include "runtime/kernels/cpu/simd/bf16_tile.h"
#include "runtime/kernels/cpu/simd/kernels.h"
#include "runtime/kernels/cpu/simd/simd.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS {

#if defined(COSY_SIMD_AVX512)
#define COSY_TARGET_BF16 __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl,avx512dq")))
namespace {

constexpr int kRows = kGemmBf16Rows;
constexpr int64_t kChunk = kGemmBf16PairChunk;
constexpr int64_t kTile = kGemmBf16TileCols;

// 16 rows of 16 dwords -> 16 columns of 16 dwords (r[c] becomes column c).
inline void Transpose16x16(__m512i r[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  // u[4g + q]: in each 128-bit lane L, column 4L + q of rows 4g .. 4g + 3.
  for (int g = 0; g < 4; ++g) {
    const __m512i* tg = t + 4 * g;
    u[4 * g + 0] = _mm512_unpacklo_epi64(tg[0], tg[2]);
    u[4 * g + 1] = _mm512_unpackhi_epi64(tg[0], tg[2]);
    u[4 * g + 2] = _mm512_unpacklo_epi64(tg[1], tg[3]);
    u[4 * g + 3] = _mm512_unpackhi_epi64(tg[1], tg[3]);
  }
  for (int q = 0; q < 4; ++q) {
    const __m512i a = _mm512_shuffle_i32x4(u[q], u[4 + q], 0x88);       // cols q, 8+q; rows 0-7
    const __m512i b = _mm512_shuffle_i32x4(u[q], u[4 + q], 0xdd);       // cols 4+q, 12+q; rows 0-7
    const __m512i c = _mm512_shuffle_i32x4(u[8 + q], u[12 + q], 0x88);  // rows 8-15
    const __m512i d = _mm512_shuffle_i32x4(u[8 + q], u[12 + q], 0xdd);
    r[q] = _mm512_shuffle_i32x4(a, c, 0x88);
    r[8 + q] = _mm512_shuffle_i32x4(a, c, 0xdd);
    r[4 + q] = _mm512_shuffle_i32x4(b, d, 0x88);
    r[12 + q] = _mm512_shuffle_i32x4(b, d, 0xdd);
  }
}

// 8 rows of 8 floats -> 8 columns (r[c] becomes column c).
inline void Transpose8x8(__m256 r[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int g = 0; g < 2; ++g) {
    const __m256* tg = t + 4 * g;
    s[4 * g + 0] = _mm256_shuffle_ps(tg[0], tg[2], 0x44);
    s[4 * g + 1] = _mm256_shuffle_ps(tg[0], tg[2], 0xee);
    s[4 * g + 2] = _mm256_shuffle_ps(tg[1], tg[3], 0x44);
    s[4 * g + 3] = _mm256_shuffle_ps(tg[1], tg[3], 0xee);
  }
  for (int q = 0; q < 4; ++q) {
    r[q] = _mm256_permute2f128_ps(s[q], s[4 + q], 0x20);
    r[4 + q] = _mm256_permute2f128_ps(s[q], s[4 + q], 0x31);
  }
}

// n int8 values -> ceil(n / 2) words of two bf16 (the exact values: |q| <= 128 has at most 8
// significant bits), the lower index in the low half; an odd n's last word pairs with +0.
COSY_TARGET_BF16 inline void WidenPairs(const int8_t* src, int64_t n, uint32_t* out) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    const __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q)));
    const __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1)));
    _mm512_storeu_si512(out + i / 2, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
  }
  for (; i < n; i += 2) {
    const uint32_t a = Bf16Bits(static_cast<float>(src[i]));
    const uint32_t b = i + 1 < n ? Bf16Bits(static_cast<float>(src[i + 1])) : 0u;
    out[i / 2] = a | b << 16;
  }
}

// The weight rows of the next block's chunk, fetched a cache line at a time from inside the
// current block's first tile (one line every 4 pairs), so the widening finds them cached.
struct Prefetch {
  const char* base = nullptr;  // first row's first byte
  int64_t stride = 0, bytes = 0;
  int rows = 0;
  int row = 0;
  int64_t off = 0;
  inline void Next() {
    if (row >= rows) return;
    _mm_prefetch(base + row * stride + off, _MM_HINT_T0);
    off += 64;
    if (off >= bytes) off = 0, ++row;
  }
};

// One tile: the 8 rows of wb ([8][kChunk] pair words) against V 16-column vectors of the x
// tile xt (pc pairs, tw words apart). The accumulators start at zero or from `part` (rows ldp
// apart); they end in `part` (out == nullptr) or, scaled and biased per row, transposed into
// out (columns ldo apart: out[c * ldo + r]) for the first `cols` columns and `rows` rows. pf:
// null, or the next block's rows to fetch along the way.
template <int V>
COSY_TARGET_BF16 inline void Tile(const uint32_t* xt, int64_t tw, int64_t pc, const uint32_t* wb,
                                  bool from_part, float* part, int64_t ldp, float* out, int64_t ldo,
                                  const float* scale, const float* bias, int rows, int64_t cols,
                                  Prefetch* pf) {
  __m512 acc[kRows][V];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      acc[r][v] = from_part ? _mm512_loadu_ps(part + r * ldp + 16 * v) : _mm512_setzero_ps();
    }
  }
  for (int64_t p = 0; p < pc; ++p) {
    if ((p & 3) == 0 && pf != nullptr) pf->Next();
    Bf16PairStep<kRows, V>(acc, xt + p * tw, wb + p, kChunk);
  }
  if (out == nullptr) {
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) _mm512_storeu_ps(part + r * ldp + 16 * v, acc[r][v]);
    }
    return;
  }
  const __mmask8 row_mask = static_cast<__mmask8>((1u << rows) - 1u);
#pragma GCC unroll 4
  for (int v = 0; v < V; ++v) {
    for (int h = 0; h < 2; ++h) {
      const int64_t c0 = 16 * v + 8 * h;
      if (c0 >= cols) break;
      __m256 col[8];
      for (int r = 0; r < kRows; ++r) {
        const __m512 y =
            _mm512_fmadd_ps(acc[r][v], _mm512_set1_ps(scale[r]), _mm512_set1_ps(bias[r]));
        col[r] = h == 0 ? _mm512_castps512_ps256(y) : _mm512_extractf32x8_ps(y, 1);
      }
      Transpose8x8(col);
      const int n = cols - c0 < 8 ? static_cast<int>(cols - c0) : 8;
      for (int c = 0; c < n; ++c) _mm256_mask_storeu_ps(out + (c0 + c) * ldo, row_mask, col[c]);
    }
  }
}

}  // namespace

COSY_TARGET_BF16 void PackGemmBf16X(const float* x, int64_t ldx, int64_t m, int64_t k, int64_t i0,
                                    int64_t i1, uint32_t* xv) {
  const int64_t pairs = (k + 1) / 2, mpad = (m + 15) / 16 * 16;
  for (int64_t ib = i0; ib < i1 && ib < mpad; ib += 16) {
    for (int64_t p0 = 0; p0 < pairs; p0 += 16) {
      // Row r's 16 pair words from its floats 2 p0 .. 2 p0 + 31 (zeros past k and past m).
      const int64_t nf = k - 2 * p0 < 32 ? k - 2 * p0 : 32;
      const __mmask16 lo_mask = static_cast<__mmask16>(nf >= 16 ? 0xffffu : (1u << nf) - 1u);
      const __mmask16 hi_mask =
          static_cast<__mmask16>(nf >= 32 ? 0xffffu : (nf > 16 ? (1u << (nf - 16)) - 1u : 0u));
      __m512i r[16];
      for (int i = 0; i < 16; ++i) {
        if (ib + i >= m) {
          r[i] = _mm512_setzero_si512();
          continue;
        }
        const float* xr = x + (ib + i) * ldx + 2 * p0;
        const __m512i lo = Bf16BitsLanes(_mm512_castps_si512(_mm512_maskz_loadu_ps(lo_mask, xr)));
        const __m512i hi =
            Bf16BitsLanes(_mm512_castps_si512(_mm512_maskz_loadu_ps(hi_mask, xr + 16)));
        r[i] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi32_epi16(lo)),
                                  _mm512_cvtepi32_epi16(hi), 1);
      }
      Transpose16x16(r);
      const int64_t np = pairs - p0 < 16 ? pairs - p0 : 16;
      for (int64_t q = 0; q < np; ++q) {
        _mm512_storeu_si512(xv + GemmBf16XIndex(ib, p0 + q, mpad, pairs), r[q]);
      }
    }
  }
}

COSY_TARGET_BF16 void GemmI8Bf16(const uint32_t* xv, int64_t m, int64_t k, const int8_t* w,
                                 const float* scales, const float* bias, int64_t j0, int64_t j1,
                                 float* y, int64_t ldy, void* scratch) {
  const int64_t pairs = (k + 1) / 2, mpad = (m + 15) / 16 * 16;
  const int64_t blocks = (j1 - j0 + kRows - 1) / kRows;
  auto* wb = static_cast<uint32_t*>(scratch);
  // [blocks][8][mpad] f32 partial sums, only when k spans more than one chunk
  float* part = pairs > kChunk ? reinterpret_cast<float*>(wb + kRows * kChunk) : nullptr;
  for (int64_t p0 = 0; p0 < pairs; p0 += kChunk) {
    const int64_t pc = pairs - p0 < kChunk ? pairs - p0 : kChunk;
    const bool first = p0 == 0, last = p0 + pc == pairs;
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t jb = j0 + b * kRows;
      const int rows = static_cast<int>(j1 - jb < kRows ? j1 - jb : kRows);
      for (int r = 0; r < kRows; ++r) {
        uint32_t* dst = wb + r * kChunk;
        if (r >= rows) {
          std::memset(dst, 0, sizeof(uint32_t) * pc);
          continue;
        }
        const int64_t nk = 2 * pc < k - 2 * p0 ? 2 * pc : k - 2 * p0;  // odd only at k's end
        WidenPairs(w + (jb + r) * k + 2 * p0, nk, dst);
      }
      float sc[kRows] = {}, bi[kRows] = {};
      for (int r = 0; r < rows; ++r) {
        sc[r] = scales[jb + r];
        bi[r] = bias != nullptr ? bias[jb + r] : 0.0f;
      }
      Prefetch pf;
      if (b + 1 < blocks) {
        const int64_t jn = jb + kRows;
        pf.base = reinterpret_cast<const char*>(w + jn * k + 2 * p0);
        pf.stride = k;
        pf.bytes = 2 * pc < k - 2 * p0 ? 2 * pc : k - 2 * p0;
        pf.rows = static_cast<int>(j1 - jn < kRows ? j1 - jn : kRows);
      }
      float* pb = part != nullptr ? part + b * kRows * mpad : nullptr;
      for (int64_t c0 = 0; c0 < mpad; c0 += kTile) {
        const int64_t tw = mpad - c0 < kTile ? mpad - c0 : kTile;
        const uint32_t* xt = xv + c0 * pairs + p0 * tw;
        const int64_t cols = m - c0 < tw ? m - c0 : tw;
        float* out = last ? y + c0 * ldy + jb : nullptr;
        float* pt = pb != nullptr ? pb + c0 : nullptr;
        switch (tw / 16) {
          case 3:
            Tile<3>(xt, tw, pc, wb, !first, pt, mpad, out, ldy, sc, bi, rows, cols,
                    c0 == 0 ? &pf : nullptr);
            break;
          case 2:
            Tile<2>(xt, tw, pc, wb, !first, pt, mpad, out, ldy, sc, bi, rows, cols,
                    c0 == 0 ? &pf : nullptr);
            break;
          default:
            Tile<1>(xt, tw, pc, wb, !first, pt, mpad, out, ldy, sc, bi, rows, cols,
                    c0 == 0 ? &pf : nullptr);
            break;
        }
      }
    }
  }
}
#undef COSY_TARGET_BF16
#endif

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS
