// Attention with bf16 products on AVX512_BF16 (vdpbf16ps) and on AMX-BF16 tiles, AVX-512
// variant only; see attention.cpp for the f32 and emulated-bf16 paths they fall back to.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "runtime/kernels/cpu/simd/amx_tiles.h"
#include "runtime/kernels/cpu/simd/attention_rows.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS {

#if defined(COSY_SIMD_AVX512)
// ---- AVX512_BF16: bf16-product attention on vdpbf16ps (32 products per instruction) ---------
// Same definition as the emulated path (AttentionParams::bf16), pairs summed by the instruction.
// Layouts (uint16 bf16 bits in the float scratch): key panels kp[(pb * d/2 + c2) * 32 + 2l + e] =
// k_{16 pb + l}[2 c2 + e]; value pairs vp[(j2 * d + c) * 2 + e] = v_{2 j2 + e}[c]; probability
// rows p16[r * ld + j]; query pairs q2[r * d/2 + c2] = (q_r[2 c2], q_r[2 c2 + 1]).
#define COSY_TARGET_BF16 __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))
namespace {
using ref::AttentionParams;
using attention_rows::SoftmaxRowTo;
using attention_rows::SoftmaxRowToWith;
using attention_rows::VisibleEnd;

// A K/V element as bf16 bits.
inline uint16_t Bits(float x) { return Bf16Bits(x); }
inline uint16_t Bits(uint16_t h) { return h; }

template <class T>
void PackKeyPairs(const T* k, int64_t stride, int64_t n, int64_t d, uint16_t* kp) {
  const int64_t panels = (n + 15) / 16, d2 = d / 2;
  for (int64_t pb = 0; pb < panels; ++pb) {
    for (int l = 0; l < 16; ++l) {
      const int64_t j = pb * 16 + l;
      const T* src = k + j * stride;
      for (int64_t c2 = 0; c2 < d2; ++c2) {
        uint16_t* dst = kp + (pb * d2 + c2) * 32 + 2 * l;
        dst[0] = j < n ? Bits(src[2 * c2]) : 0;
        dst[1] = j < n ? Bits(src[2 * c2 + 1]) : 0;
      }
    }
  }
}

template <class T>
void PackValuePairs(const T* v, int64_t stride, int64_t n, int64_t d, uint16_t* vp) {
  const int64_t pairs = (n + 1) / 2;
  for (int64_t j2 = 0; j2 < pairs; ++j2) {
    for (int e = 0; e < 2; ++e) {
      const int64_t j = 2 * j2 + e;
      const T* src = v + j * stride;
      for (int64_t c = 0; c < d; ++c) vp[(j2 * d + c) * 2 + e] = j < n ? Bits(src[c]) : 0;
    }
  }
}

// Asks for the cache lines of one K/V row ahead of its use.
inline void PrefetchRow(const void* row, int64_t bytes) {
  const char* p = static_cast<const char*>(row);
  for (int64_t b = 0; b < bytes; b += 64) __builtin_prefetch(p + b, 0, 3);
}

// The same layouts from bf16 storage (the flow's K/V cache), vectorized: each chunk call packs
// every visible key of every head again, so with few query rows (a 25-token streaming chunk:
// 50 rows against hundreds of keys) the scalar packing cost as much as the products.
// Keys: a [16 keys] x [d/2 pairs] transpose of 32-bit pairs, 16 pair columns at a time (16 row
// loads and a register transpose instead of one masked gather per column: the packing of a
// streaming chunk's K/V, memory reads included, 15-20 % less time).
COSY_TARGET_BF16 void PackKeyPairs(const uint16_t* k, int64_t stride, int64_t n, int64_t d,
                                   uint16_t* kp) {
  const int64_t panels = (n + 15) / 16, d2 = d / 2;
  for (int64_t pb = 0; pb < panels; ++pb) {
    const int64_t live = MinI(16, n - pb * 16);
    const uint16_t* base = k + pb * 16 * stride;
    // The rows are strided (all heads of a frame side by side) and read once per call, mostly
    // from memory: fetch the panel after next while this one is transposed.
    for (int64_t j = (pb + 2) * 16, e = MinI(n, j + 16); j < e; ++j) {
      PrefetchRow(k + j * stride, d * 2);
    }
    for (int64_t c0 = 0; c0 < d2; c0 += 16) {
      const int64_t cols = MinI(16, d2 - c0);
      const auto cmask = static_cast<__mmask16>((1u << cols) - 1u);
      __m512i r[16];
      for (int64_t l = 0; l < 16; ++l) {
        r[l] = l < live ? _mm512_maskz_loadu_epi32(cmask, base + l * stride + 2 * c0)
                        : _mm512_setzero_si512();
      }
      Transpose16x16(r);
      for (int64_t c = 0; c < cols; ++c) _mm512_storeu_si512(kp + (pb * d2 + c0 + c) * 32, r[c]);
    }
  }
}

// Values: rows 2 j2 and 2 j2 + 1 interleaved word by word (zeros for a missing odd row); d is a
// multiple of 16 on this path.
COSY_TARGET_BF16 void PackValuePairs(const uint16_t* v, int64_t stride, int64_t n, int64_t d,
                                     uint16_t* vp) {
  const int64_t pairs = (n + 1) / 2;
  constexpr int64_t kAhead = 16;  // rows fetched ahead (as in PackKeyPairs)
  for (int64_t j2 = 0; j2 < pairs; ++j2) {
    const uint16_t* a = v + 2 * j2 * stride;
    const uint16_t* b = 2 * j2 + 1 < n ? a + stride : nullptr;
    for (int64_t j = 2 * j2 + kAhead, e = MinI(n, j + 2); j < e; ++j) {
      PrefetchRow(v + j * stride, d * 2);
    }
    for (int64_t c0 = 0; c0 < d; c0 += 16) {
      const __m512i lo = _mm512_cvtepu16_epi32(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + c0)));
      __m512i pair = lo;
      if (b != nullptr) {
        const __m512i hi = _mm512_cvtepu16_epi32(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + c0)));
        pair = _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
      }
      _mm512_storeu_si512(vp + (j2 * d + c0) * 2, pair);
    }
  }
}

// x[0 .. n) -> bf16 bits, n a multiple of 16. vcvtneps2bf16 rounds to nearest even and quiets
// NaNs as Bf16Bits does, but flushes f32 denormals to zero; every value converted here is only
// ever multiplied by vdpbf16ps, which reads bf16 denormals as zero, so the products are the
// same bit for bit.
COSY_TARGET_BF16 inline void ToBf16(const float* x, int64_t n, uint16_t* y) {
  for (int64_t i = 0; i < n; i += 16) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i),
                        reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_loadu_ps(x + i))));
  }
}

// The f32-storage layouts (the flow's whole-sequence pass) through the bf16 ones: each panel's
// rows are converted once (ToBf16) into `rows16`, then packed as bf16 storage is. d % 16 == 0.
COSY_TARGET_BF16 void PackKeyPairs(const float* k, int64_t stride, int64_t n, int64_t d,
                                   uint16_t* kp, uint16_t* rows16) {
  const int64_t d2 = d / 2;
  for (int64_t j0 = 0; j0 < n; j0 += 16) {
    const int64_t live = MinI(16, n - j0);
    for (int64_t l = 0; l < live; ++l) ToBf16(k + (j0 + l) * stride, d, rows16 + l * d);
    PackKeyPairs(rows16, d, live, d, kp + (j0 / 16) * d2 * 32);
  }
}

COSY_TARGET_BF16 void PackValuePairs(const float* v, int64_t stride, int64_t n, int64_t d,
                                     uint16_t* vp, uint16_t* rows16) {
  for (int64_t j0 = 0; j0 < n; j0 += 16) {
    const int64_t live = MinI(16, n - j0);
    for (int64_t l = 0; l < live; ++l) ToBf16(v + (j0 + l) * stride, d, rows16 + l * d);
    PackValuePairs(rows16, d, live, d, vp + j0 * d);
  }
}

// The bf16 path's softmax works in base 2: the scores come scaled by log2(e) (ScoresBf16's
// scale), and 2^x replaces e^x. x = floor(x) + f with f in [0, 1) from vreduceps; 2^f by a
// degree-4 minimax polynomial with p(0) = 1 exactly (a row's maximum weighs exactly 1, so one
// visible key gives exactly its value row), 3.0e-6 relative in f32 arithmetic, against the 2^-9
// rounding of the bf16 weights it feeds (ExpNonPositive: degree 6 after a two-part ln 2
// reduction);
// vscalefps multiplies by 2^floor(x) itself. Lanes below -126 (2^x under the smallest normal
// float, -inf of masked keys included) are zeroed by the mask without being computed: a
// denormal or underflowing vscalefps result costs a microcode assist per lane (rows whose
// scores spread over ~90 ran many times slower), and the tile unit and vdpbf16ps read bf16
// denormals as zero anyway; NaN lanes stay NaN. 7 operations per vector instead of 12.
COSY_TARGET_BF16 inline __m512 Exp2ForBf16(__m512 x) {
  const __mmask16 normal = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-126.0f), _CMP_NLT_UQ);
  const __m512 f = _mm512_reduce_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  __m512 p = _mm512_set1_ps(1.342668384e-02f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.224247277e-02f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.412801981e-01f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.930448413e-01f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_maskz_scalef_ps(normal, p, x);
}

// Softmax weights as bf16 bits (the products' inputs), straight from the exp pass.
struct EmitBf16 {
  uint16_t* row;
  COSY_TARGET_BF16 void operator()(int64_t j, __m512 e) const {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + j),
                        reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(e)));
  }
};

// Scores of R query rows against KV key panels (16 keys each), scaled: s[r][16 v + l]. Inlined
// into the loop over panels with d2 >= 1 known, so that the accumulators live in registers only
// (as a separate call GCC kept a zeroed stack copy of them for a loop that might not run and
// spilled them around every call: ~20 % of this phase at d = 64, 32 pair columns per call).
template <int R, int KV>
COSY_TARGET_BF16 inline __attribute__((always_inline)) void ScoresBf16Step(
    const uint32_t* const* q2, const uint16_t* kp, int64_t d2, const float* scale, float* s,
    int64_t ld) {
  if (d2 <= 0) __builtin_unreachable();
  __m512 acc[R][KV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < KV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t c2 = 0; c2 < d2; ++c2) {
    __m512bh kv[KV];
    for (int v = 0; v < KV; ++v) {
      kv[v] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(kp + (v * d2 + c2) * 32));
    }
    for (int r = 0; r < R; ++r) {
      const auto qb = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(q2[r][c2])));
      for (int v = 0; v < KV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], kv[v], qb);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < KV; ++v) {
      _mm512_storeu_ps(s + r * ld + v * 16, _mm512_mul_ps(acc[r][v], _mm512_set1_ps(*scale)));
    }
}

// Scores of R rows against `panels` key panels: three panels per step, the rest by two or one.
template <int R>
COSY_TARGET_BF16 void ScoresBf16(const uint32_t* const* q2, const uint16_t* kp, int64_t d2,
                                 int64_t panels, float scale, float* s, int64_t ld) {
  if (d2 <= 0) return;
  const float* sc = &scale;
  int64_t pb = 0;
  for (; pb + 3 <= panels; pb += 3) ScoresBf16Step<R, 3>(q2, kp + pb * d2 * 32, d2, sc, s + pb * 16, ld);
  if (panels - pb == 2) ScoresBf16Step<R, 2>(q2, kp + pb * d2 * 32, d2, sc, s + pb * 16, ld);
  else if (panels - pb == 1) ScoresBf16Step<R, 1>(q2, kp + pb * d2 * 32, d2, sc, s + pb * 16, ld);
}

// out_r[c0 .. c0 + 16 kC) = inv_r * sum over key pairs of (p_r pair) . (v pair), kR <= 4 rows.
template <int kR, int kC>
COSY_TARGET_BF16 void WeightedSumBf16(const uint16_t* p16, int64_t ld, float* const* out,
                                      const float* inv, const uint16_t* vp, int64_t d, int64_t c0,
                                      int64_t pairs) {
  __m512 acc[kR][kC];
  for (int r = 0; r < kR; ++r)
    for (int c = 0; c < kC; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t j2 = 0; j2 < pairs; ++j2) {
    __m512bh vr[kC];
    for (int c = 0; c < kC; ++c) {
      vr[c] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(vp + (j2 * d + c0 + 16 * c) * 2));
    }
    for (int r = 0; r < kR; ++r) {
      uint32_t pair;
      std::memcpy(&pair, p16 + r * ld + 2 * j2, 4);
      const auto pb = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(pair)));
      for (int c = 0; c < kC; ++c) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], vr[c], pb);
    }
  }
  for (int r = 0; r < kR; ++r) {
    const __m512 vi = _mm512_set1_ps(inv[r]);
    for (int c = 0; c < kC; ++c) _mm512_storeu_ps(out[r] + c0 + 16 * c, _mm512_mul_ps(acc[r][c], vi));
  }
}

template <int kR>
COSY_TARGET_BF16 void OutputBf16(const uint16_t* p16, int64_t ld, float* const* out,
                                 const float* inv, const uint16_t* vp, int64_t d, int64_t pairs) {
  for (int64_t c0 = 0; c0 < d; c0 += 64) {
    const int64_t left = d - c0;  // a multiple of 16
    if (left >= 64) WeightedSumBf16<kR, 4>(p16, ld, out, inv, vp, d, c0, pairs);
    else if (left == 48) WeightedSumBf16<kR, 3>(p16, ld, out, inv, vp, d, c0, pairs);
    else if (left == 32) WeightedSumBf16<kR, 2>(p16, ld, out, inv, vp, d, c0, pairs);
    else WeightedSumBf16<kR, 1>(p16, ld, out, inv, vp, d, c0, pairs);
  }
}

// One head's scratch for ld keys (16 or 32 aligned): 16 * ld f32 scores, ld * d key panel and
// value pair words (uint16), 16 * ld probability rows, 16 * d / 2 query pairs.
struct HeadScratch {
  float* s;
  uint16_t *kp, *vp, *p16;
  uint32_t* q2;
};
inline HeadScratch CarveHead(float* scratch, int64_t ld, int64_t d) {
  HeadScratch h;
  h.s = scratch;
  h.kp = reinterpret_cast<uint16_t*>(h.s + 16 * ld);
  h.vp = h.kp + ld * d;
  h.p16 = h.vp + ld * d;
  h.q2 = reinterpret_cast<uint32_t*>(h.p16 + 16 * ld);
  return h;
}

// The keys the head's rows see (the largest visible end), packed as key panels and value
// pairs; returns that count.
template <class T>
COSY_TARGET_BF16 int64_t PackHead(const AttentionParams& p, int64_t rows, const T* kh, const T* vh,
                                  uint16_t* kp, uint16_t* vp) {
  const int64_t group = p.q_heads / p.kv_heads, d = p.head_dim;
  int64_t end_all = 0;
  for (int64_t rr = 0; rr < rows; ++rr) end_all = MaxI(end_all, VisibleEnd(p, rr / group));
  constexpr int64_t kMaxVectorD = 256;  // 16 converted rows on the stack (8 KiB)
  if constexpr (std::is_same_v<T, float>) {
    if (d <= kMaxVectorD) {
      alignas(64) uint16_t rows16[16 * kMaxVectorD];
      PackKeyPairs(kh, p.k_row_stride, end_all, d, kp, rows16);
      PackValuePairs(vh, p.v_row_stride, end_all, d, vp, rows16);
    } else {
      PackKeyPairs<float>(kh, p.k_row_stride, end_all, d, kp);
      PackValuePairs<float>(vh, p.v_row_stride, end_all, d, vp);
    }
  } else {
    PackKeyPairs(kh, p.k_row_stride, end_all, d, kp);
    PackValuePairs(vh, p.v_row_stride, end_all, d, vp);
  }
  return end_all;
}

// PanelHead with vdpbf16ps: head_dim % 16 == 0. Scratch as AttentionScratchFloats reserves.
template <class T>
COSY_TARGET_BF16 void PanelHeadBf16(const AttentionParams& p, int64_t hk, int64_t rows,
                                    const float* q, const T* kh, const T* vh, float* out,
                                    float* scratch) {
  constexpr int kRowsB = 8;
  const int64_t group = p.q_heads / p.kv_heads, d = p.head_dim, d2 = d / 2;
  const int64_t ld = (MaxI(p.kv_len, 1) + 15) / 16 * 16;
  const HeadScratch hs = CarveHead(scratch, ld, d);
  float* s = hs.s;
  uint16_t *kp = hs.kp, *vp = hs.vp, *p16 = hs.p16;
  uint32_t* q2 = hs.q2;
  PackHead(p, rows, kh, vh, kp, vp);
  for (int64_t r0 = 0; r0 < rows; r0 += kRowsB) {
    const int n = static_cast<int>(MinI(kRowsB, rows - r0));
    const uint32_t* qr[kRowsB];
    float* orow[kRowsB];
    int64_t end[kRowsB], row[kRowsB];
    int64_t end_max = 0;
    for (int r = 0; r < kRowsB; ++r) {
      const int64_t rr = r0 + (r < n ? r : n - 1);
      const int64_t i = rr / group, h = hk * group + rr % group;
      const float* qs = q + h * p.q_head_stride + i * p.q_row_stride;
      uint32_t* qd = q2 + r * d2;
      ToBf16(qs, d, reinterpret_cast<uint16_t*>(qd));  // pairs (q[2 c2], q[2 c2 + 1]), low first
      qr[r] = qd;
      orow[r] = out + h * p.out_head_stride + i * p.out_row_stride;
      row[r] = i;
      end[r] = MaxI(VisibleEnd(p, i), 0);
      end_max = MaxI(end_max, end[r]);
    }
    // The next block's query rows (read) and output rows (written): with hundreds of frames
    // they are strided rows beyond L2, and each row is touched once per head.
    for (int64_t rr = r0 + kRowsB, e = MinI(rows, rr + kRowsB); rr < e; ++rr) {
      const int64_t i = rr / group, h = hk * group + rr % group;
      PrefetchRow(q + h * p.q_head_stride + i * p.q_row_stride, d * 4);
      const char* o = reinterpret_cast<const char*>(out + h * p.out_head_stride + i * p.out_row_stride);
      for (int64_t b = 0; b < d * 4; b += 64) __builtin_prefetch(o + b, 1, 3);
    }
    if (end_max == 0) {
      for (int r = 0; r < n; ++r)
        for (int64_t c = 0; c < d; ++c) orow[r][c] = 0.0f;
      continue;
    }
    const int64_t panels = (end_max + 15) / 16;
    ScoresBf16<kRowsB>(qr, kp, d2, panels, p.scale * 1.4426950408889634f, s, ld);  // base 2
    float inv[kRowsB];
    const int64_t width = panels * 16;
    for (int r = 0; r < kRowsB; ++r) {
      if (r >= n) {
        inv[r] = 0.0f;
        continue;
      }
      const uint8_t* keep = p.keep_mask ? p.keep_mask + row[r] * p.kv_len : nullptr;
      float* sr = s + r * ld;
      inv[r] = SoftmaxRowToWith(sr, end[r], width, keep, EmitBf16{p16 + r * ld},
                                [](__m512 v) COSY_TARGET_BF16 { return Exp2ForBf16(v); });
    }
    const int64_t pairs = (end_max + 1) / 2;
    for (int r = 0; r < n; r += 4) {
      const int m = static_cast<int>(MinI(4, n - r));
      const uint16_t* pr = p16 + r * ld;
      if (m == 4) OutputBf16<4>(pr, ld, orow + r, inv + r, vp, d, pairs);
      else if (m == 3) OutputBf16<3>(pr, ld, orow + r, inv + r, vp, d, pairs);
      else if (m == 2) OutputBf16<2>(pr, ld, orow + r, inv + r, vp, d, pairs);
      else OutputBf16<1>(pr, ld, orow + r, inv + r, vp, d, pairs);
    }
  }
}

// ---- AMX-BF16: the same products on the tile unit (TDPBF16PS) -------------------------------
// The layouts above are AMX's: a key panel's pair rows c2 (64 bytes: 16 keys x 2 dims) are the
// B operand of the scores (K = dims), a value pair row's 16-column slices the B operand of the
// output (K = keys), the query pair rows and the probability rows the A operands. Each
// TDPBF16PS multiplies 16 rows x 16 columns x 32 bf16 pairs, products exact and summed in f32
// as vdpbf16ps sums them. Tiles: 0-3 accumulators, 4 the A operand, 5-7 B operands; all 16 rows
// x 64 bytes (the last key block's pairs padded with zeros, unused query rows ignored).
COSY_TARGET_AMX void ConfigureTiles() {
  const TileConfig c = FullTiles(8);
  _tile_loadconfig(&c);
}

// s[r * ld + 16 pb + l] = q_r . k_{16 pb + l} (unscaled) for 16 rows and `panels` key panels;
// q2: 16 pair rows of d2 words, d % 32 == 0.
COSY_TARGET_AMX void ScoresAmx(const uint32_t* q2, const uint16_t* kp, int64_t d2, int64_t panels,
                               float* s, int64_t ld) {
  const int64_t qstride = d2 * 4, sstride = ld * 4;
  for (int64_t pb = 0; pb < panels; pb += 4) {
    const int64_t np = MinI(4, panels - pb);
    COSY_AMX_ZERO_ACC();
    for (int64_t c2 = 0; c2 < d2; c2 += 16) {
      _tile_loadd(4, q2 + c2, qstride);
      COSY_AMX_ROW_TIMES_COLS(4, 5, np, kp + (pb * d2 + c2) * 32, 64, d2 * 64);
    }
    COSY_AMX_STORE_ACC(np, s + pb * 16, sstride);
  }
}

// out_r[c] = inv_r * sum_j p_r[j] v_j[c] for the first n of 16 probability rows (p16, ld apart,
// zeros from the row's last key up to chunks x 32) and the value pairs vp (zeros past the keys).
COSY_TARGET_AMX void OutputAmx(const uint16_t* p16, int64_t ld, const uint16_t* vp, int64_t d,
                               int64_t chunks, int n, float* const* out, const float* inv) {
  alignas(64) float acc[16 * 64];
  const int64_t pstride = ld * 2, vstride = d * 4;
  for (int64_t c0 = 0; c0 < d; c0 += 64) {
    const int64_t nc = MinI(4, (d - c0) / 16);
    COSY_AMX_ZERO_ACC();
    for (int64_t ch = 0; ch < chunks; ++ch) {
      _tile_loadd(4, p16 + ch * 32, pstride);
      COSY_AMX_ROW_TIMES_COLS(4, 5, nc, vp + (ch * 16 * d + c0) * 2, vstride, 64);
    }
    COSY_AMX_STORE_ACC(nc, acc, 256);
    for (int r = 0; r < n; ++r) {
      const __m512 vi = _mm512_set1_ps(inv[r]);
      for (int64_t c = 0; c < nc; ++c) {
        _mm512_storeu_ps(out[r] + c0 + 16 * c,
                         _mm512_mul_ps(_mm512_load_ps(acc + r * 64 + 16 * c), vi));
      }
    }
  }
}

// PanelHeadBf16 on the tile unit: blocks of 16 query rows; head_dim % 32 == 0; the scratch of
// AttentionScratchFloats with the key count rounded up to 32 (ld), as it reserves.
template <class T>
COSY_TARGET_AMX void PanelHeadAmx(const AttentionParams& p, int64_t hk, int64_t rows,
                                  const float* q, const T* kh, const T* vh, float* out,
                                  float* scratch) {
  constexpr int kRowsB = 16;
  const int64_t group = p.q_heads / p.kv_heads, d = p.head_dim, d2 = d / 2;
  const int64_t ld = (MaxI(p.kv_len, 1) + 31) / 32 * 32;
  const HeadScratch hs = CarveHead(scratch, ld, d);
  float* s = hs.s;
  uint16_t *kp = hs.kp, *vp = hs.vp, *p16 = hs.p16;
  uint32_t* q2 = hs.q2;
  const int64_t end_all = PackHead(p, rows, kh, vh, kp, vp);
  // value pairs past the last key: zeros up to the 32-key block (their weights are zero too,
  // and 0 x NaN from stale scratch would not be)
  const int64_t pairs = (end_all + 1) / 2, pairs_padded = (end_all + 31) / 32 * 16;
  std::memset(vp + pairs * 2 * d, 0, (pairs_padded - pairs) * 4 * d);
  const __m512 scale = _mm512_set1_ps(p.scale * 1.4426950408889634f);  // base 2
  for (int64_t r0 = 0; r0 < rows; r0 += kRowsB) {
    const int n = static_cast<int>(MinI(kRowsB, rows - r0));
    float* orow[kRowsB];
    int64_t end[kRowsB], row[kRowsB];
    int64_t end_max = 0;
    for (int r = 0; r < kRowsB; ++r) {
      const int64_t rr = r0 + (r < n ? r : n - 1);
      const int64_t i = rr / group, h = hk * group + rr % group;
      ToBf16(q + h * p.q_head_stride + i * p.q_row_stride, d,
             reinterpret_cast<uint16_t*>(q2 + r * d2));
      orow[r] = out + h * p.out_head_stride + i * p.out_row_stride;
      row[r] = i;
      end[r] = MaxI(VisibleEnd(p, i), 0);
      end_max = MaxI(end_max, end[r]);
    }
    for (int64_t rr = r0 + kRowsB, e = MinI(rows, rr + kRowsB); rr < e; ++rr) {
      const int64_t i = rr / group, h = hk * group + rr % group;
      PrefetchRow(q + h * p.q_head_stride + i * p.q_row_stride, d * 4);
    }
    if (end_max == 0) {
      for (int r = 0; r < n; ++r)
        for (int64_t c = 0; c < d; ++c) orow[r][c] = 0.0f;
      continue;
    }
    const int64_t panels = (end_max + 15) / 16, width = panels * 16;
    const int64_t chunks = (end_max + 31) / 32;
    ScoresAmx(q2, kp, d2, panels, s, ld);
    float inv[kRowsB];
    for (int r = 0; r < n; ++r) {
      const uint8_t* keep = p.keep_mask ? p.keep_mask + row[r] * p.kv_len : nullptr;
      uint16_t* pr = p16 + r * ld;
      inv[r] = SoftmaxRowToWith(
          s + r * ld, end[r], width, keep, EmitBf16{pr},
          [scale](__m512 v) COSY_TARGET_BF16 { return Exp2ForBf16(_mm512_mul_ps(v, scale)); });
      if (width < chunks * 32) std::memset(pr + width, 0, 32);  // the 32-key block's last 16
    }
    OutputAmx(p16, ld, vp, d, chunks, n, orow, inv);
  }
}
}  // namespace

COSY_TARGET_AMX void AttentionAmx(const ref::AttentionParams& p, const float* q, const void* k,
                                  const void* v, float* out, float* scratch) {
  if (!p.bf16 || p.head_dim % 32 != 0 || p.head_dim > 128) {
    AttentionBf16Dot(p, q, k, v, out, scratch);
    return;
  }
  ConfigureTiles();
  const int64_t rows = p.q_len * (p.q_heads / p.kv_heads);
  for (int64_t hk = 0; hk < p.kv_heads; ++hk) {
    if (p.kv_bf16) {
      const auto* k16 = static_cast<const uint16_t*>(k);
      const auto* v16 = static_cast<const uint16_t*>(v);
      PanelHeadAmx(p, hk, rows, q, k16 + hk * p.k_head_stride, v16 + hk * p.v_head_stride, out,
                   scratch);
    } else {
      const auto* k32 = static_cast<const float*>(k);
      const auto* v32 = static_cast<const float*>(v);
      PanelHeadAmx(p, hk, rows, q, k32 + hk * p.k_head_stride, v32 + hk * p.v_head_stride, out,
                   scratch);
    }
  }
  _tile_release();
}

void AttentionBf16Dot(const ref::AttentionParams& p, const float* q, const void* k,
                      const void* v, float* out, float* scratch) {
  if (!p.bf16 || p.head_dim % 16 != 0) {
    Attention(p, q, k, v, out, scratch);
    return;
  }
  const int64_t rows = p.q_len * (p.q_heads / p.kv_heads);
  for (int64_t hk = 0; hk < p.kv_heads; ++hk) {
    if (p.kv_bf16) {
      const auto* k16 = static_cast<const uint16_t*>(k);
      const auto* v16 = static_cast<const uint16_t*>(v);
      PanelHeadBf16(p, hk, rows, q, k16 + hk * p.k_head_stride, v16 + hk * p.v_head_stride, out,
                    scratch);
    } else {
      const auto* k32 = static_cast<const float*>(k);
      const auto* v32 = static_cast<const float*>(v);
      PanelHeadBf16(p, hk, rows, q, k32 + hk * p.k_head_stride, v32 + hk * p.v_head_stride, out,
                    scratch);
    }
  }
}
#undef COSY_TARGET_BF16
#endif

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS
