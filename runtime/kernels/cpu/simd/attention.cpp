// Attention of one ISA variant. Query rows of one KV head (the whole GQA group, i-major) go in
// blocks, so each K/V row loaded serves several query rows; the 1/sum of the softmax is applied
// at the end. Two paths:
// - few query rows (decode): blocks of 4 rows, scores as 4 dot products per key (horizontal
//   sums), kept interleaved [key][4 rows] so masking/softmax run on all 4 rows in one vector;
// - many query rows (prefill, flow chunks, whole sequences): K is first transposed into panels
//   of kLanes keys ([panel][head_dim][kLanes]), so a block of kPanelRows query rows gets its
//   scores from broadcast q elements times key vectors (no horizontal sums); scores row-major.
// The AVX512_BF16 path (vdpbf16ps) is attention_bf16dot.cpp.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "runtime/kernels/cpu/simd/attention_rows.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS {
namespace {
constexpr int kRows = 4;
static_assert(kLanes % kRows == 0, "a vector holds whole [key][4 rows] groups");
// Largest number of head_dim vectors of all 4 q rows kept in registers while scanning keys
// (4 per chunk, plus 4 accumulators and the key vector must fit).
constexpr int kMaxQChunks = (kVecRegisters - kRows - 2) / kRows;

using ref::AttentionMask;
using ref::AttentionParams;
using attention_rows::kNegInf;
using attention_rows::SoftmaxRowTo;
using attention_rows::VisibleEnd;

// One block of up to kRows query rows against one KV head.
struct Block {
  const float* q[kRows];
  float* out[kRows];
  int64_t row[kRows];  // query index i (for the keep mask)
  int64_t end[kRows];  // keys [0, end) visible before the keep mask
  int n = 0;           // live rows; rows n..3 repeat row 0 and are never written back
  int64_t end_max = 0;
};

// s[j * 4 + r] = scale * q_r . k_j for j in [j0, j1). kC > 0: head_dim <= kC kLanes, q kept in
// registers; kC == 0: any head_dim.
template <int kC>
void Scores(const Block& b, const float* k, int64_t k_row_stride, int64_t d, float scale,
            int64_t j0, int64_t j1, float* s) {
  if constexpr (kC > 0) {
    Vf qr[kRows][kC];
    for (int r = 0; r < kRows; ++r)
      for (int c = 0; c < kC; ++c) qr[r][c] = LoadN(b.q[r] + kLanes * c, d - kLanes * c);
    for (int64_t j = j0; j < j1; ++j) {
      const float* kj = k + j * k_row_stride;
      Vf acc[kRows];
      for (int r = 0; r < kRows; ++r) acc[r] = Zero();
      for (int c = 0; c < kC; ++c) {
        const Vf kv = LoadN(kj + kLanes * c, d - kLanes * c);
        for (int r = 0; r < kRows; ++r) acc[r] = Fmadd(qr[r][c], kv, acc[r]);
      }
      float* sj = s + j * kRows;
      Reduce4(acc[0], acc[1], acc[2], acc[3], sj);
      for (int r = 0; r < kRows; ++r) sj[r] *= scale;
    }
  } else {
    for (int64_t j = j0; j < j1; ++j) {
      const float* kj = k + j * k_row_stride;
      Vf acc[kRows];
      for (int r = 0; r < kRows; ++r) acc[r] = Zero();
      for (int64_t c = 0; c < d; c += kLanes) {
        const Vf kv = LoadN(kj + c, d - c);
        for (int r = 0; r < kRows; ++r) acc[r] = Fmadd(LoadN(b.q[r] + c, d - c), kv, acc[r]);
      }
      float* sj = s + j * kRows;
      Reduce4(acc[0], acc[1], acc[2], acc[3], sj);
      for (int r = 0; r < kRows; ++r) sj[r] *= scale;
    }
  }
}

// Masks s (interleaved [key][4]) to [0, end_r) per row, exponentiates against the row max and
// returns 1 / row sum per row (0 for a row that sees no key) in inv[4]. Lane l of a vector
// holds key l / 4 (plus the vector's first key) of row l % 4.
void SoftmaxInterleaved(const Block& b, float* s, float inv[kRows]) {
  const int64_t n = (b.end_max + 3) / 4 * 4 * kRows;
  float lane_key[kLanes], lane_end[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    lane_key[l] = static_cast<float>(l / kRows);
    lane_end[l] = static_cast<float>(b.end[l % kRows]);
  }
  const Vf key0 = Load(lane_key), ends = Load(lane_end), ninf = Set1(kNegInf);
  Vf mx = ninf;
  for (int64_t o = 0; o < n; o += kLanes) {
    const Vf key = Add(key0, Set1(static_cast<float>(o / kRows)));
    const Vf v = Select(Lt(key, ends), Load(s + o), ninf);
    Store(s + o, v);
    mx = Max(mx, v);
  }
  // Row maxima: fold the lanes with equal l % 4. A row that sees no key has max -inf; shift
  // by 0 there so exp(-inf - 0) = 0 without NaN.
  float lanes[kLanes], row_max[kRows];
  Store(lanes, mx);
  for (int r = 0; r < kRows; ++r) {
    row_max[r] = lanes[r];
    for (int l = r + kRows; l < kLanes; l += kRows) row_max[r] = lanes[l] > row_max[r] ? lanes[l] : row_max[r];
    if (row_max[r] == kNegInf) row_max[r] = 0.0f;
  }
  for (int l = 0; l < kLanes; ++l) lanes[l] = row_max[l % kRows];
  const Vf shift = Load(lanes);
  Vf sum = Zero();
  for (int64_t o = 0; o < n; o += kLanes) {
    const Vf v = Load(s + o);
    const Vf e = ZeroUnless(Ne(v, ninf), Exp(Sub(v, shift)));
    Store(s + o, e);
    sum = Add(sum, e);
  }
  Store(lanes, sum);
  for (int r = 0; r < kRows; ++r) {
    float t = 0.0f;
    for (int l = r; l < kLanes; l += kRows) t += lanes[l];
    inv[r] = t > 0.0f ? 1.0f / t : 0.0f;
  }
}

// out_r[c0 .. c0 + kC kLanes) = inv_r * sum_j p[j][r] v_j, one slice of head_dim, over the keys
// [j0, j1) of one tile: the sums start from `carry` (null: zero) and, unless `inv` is given (the
// last tile), end there. Every output element is one FMA chain over j in key order whatever the
// tiles.
template <int kC>
void WeightedSum(const Block& b, const float* s, const float* v, int64_t v_row_stride, int64_t d,
                 int64_t c0, int64_t j0, int64_t j1, const float* inv, float* carry, bool first) {
  Vf acc[kRows][kC];
  for (int r = 0; r < kRows; ++r)
    for (int c = 0; c < kC; ++c) acc[r][c] = first ? Zero() : Load(carry + (r * kC + c) * kLanes);
  for (int64_t j = j0; j < j1; ++j) {
    const float* vj = v + j * v_row_stride + c0;
    Vf vr[kC];
    for (int c = 0; c < kC; ++c) vr[c] = LoadN(vj + kLanes * c, d - c0 - kLanes * c);
    for (int r = 0; r < kRows; ++r) {
      const Vf p = Set1(s[j * kRows + r]);
      for (int c = 0; c < kC; ++c) acc[r][c] = Fmadd(p, vr[c], acc[r][c]);
    }
  }
  if (inv == nullptr) {
    for (int r = 0; r < kRows; ++r)
      for (int c = 0; c < kC; ++c) Store(carry + (r * kC + c) * kLanes, acc[r][c]);
    return;
  }
  for (int r = 0; r < b.n; ++r) {
    const Vf vi = Set1(inv[r]);
    for (int c = 0; c < kC; ++c) {
      const int64_t left = d - c0 - kLanes * c;
      if (left > 0) StoreN(b.out[r] + c0 + kLanes * c, Mul(acc[r][c], vi), left);
    }
  }
}

// Slices of up to 4 vectors per row (16 accumulators + 4 V vectors on AVX-512; AVX2 spills a
// little at 4, which still beats reloading the probabilities twice).
constexpr int64_t kSlice = 4 * kLanes;
// Keys per tile when several blocks share a pass: the tile's K (then V) rows, 16 KiB at head_dim
// 64, are read from memory by the first block and from L1 by the others. The decode step's 7
// query rows of a KV head are two blocks; untiled, each block streamed K and V once more (from
// memory once they outgrow L2: ~1500 cached positions of a 64-dim head).
constexpr int64_t kKeyTile = 64;

// Blocks [0, nb) of query rows (nb <= kMaxBlocks) of one KV head: their scores a key tile at a
// time, the softmax per block, then their weighted sums a key tile at a time. scratch: the
// interleaved scores (kRows x ld floats per block), then the sums carried between tiles (kRows x
// kSlice floats per block and slice; AttentionScratchFloats counts both).
constexpr int kMaxBlocks = 4;
void RunBlocks(const AttentionParams& p, const Block* blocks, int nb, const float* k,
               const float* v, float* scratch) {
  const int64_t d = p.head_dim, ld = (MaxI(p.kv_len, 1) + 15) / 16 * 16;
  const int64_t slices = (d + kSlice - 1) / kSlice;
  int64_t end_all = 0;
  for (int b = 0; b < nb; ++b) end_all = MaxI(end_all, blocks[b].end_max);
  const int64_t tile = nb > 1 ? kKeyTile : MaxI(end_all, 1);
  float* carry = scratch + kMaxBlocks * kRows * ld;
  auto scores = [&](const Block& b, int64_t j0, int64_t j1, float* s) {
    if (d <= kLanes) {
      Scores<1>(b, k, p.k_row_stride, d, p.scale, j0, j1, s);
    } else if (d <= 2 * kLanes) {
      Scores<2>(b, k, p.k_row_stride, d, p.scale, j0, j1, s);
    } else if (kMaxQChunks >= 4 && d <= 4 * kLanes) {
      Scores<(kMaxQChunks >= 4 ? 4 : 2)>(b, k, p.k_row_stride, d, p.scale, j0, j1, s);
    } else {
      Scores<0>(b, k, p.k_row_stride, d, p.scale, j0, j1, s);
    }
  };
  for (int64_t j0 = 0; j0 < end_all; j0 += tile) {
    for (int b = 0; b < nb; ++b) {
      const int64_t j1 = MinI(j0 + tile, blocks[b].end_max);
      if (j0 < j1) scores(blocks[b], j0, j1, scratch + b * kRows * ld);
    }
  }
  float inv[kMaxBlocks][kRows];
  for (int bi = 0; bi < nb; ++bi) {
    const Block& b = blocks[bi];
    float* s = scratch + bi * kRows * ld;
    if (p.keep_mask) {
      for (int r = 0; r < b.n; ++r) {
        const uint8_t* keep = p.keep_mask + b.row[r] * p.kv_len;
        for (int64_t j = 0; j < b.end[r]; ++j) {
          if (keep[j] == 0) s[j * kRows + r] = kNegInf;
        }
      }
    }
    SoftmaxInterleaved(b, s, inv[bi]);
  }
  for (int64_t j0 = 0; j0 < MaxI(end_all, 1); j0 += tile) {
    for (int bi = 0; bi < nb; ++bi) {
      const Block& b = blocks[bi];
      const int64_t j1 = MinI(j0 + tile, b.end_max);
      const bool first = j0 == 0, last = j0 + tile >= b.end_max;
      if (!first && j0 >= b.end_max) continue;  // this block's keys ended in an earlier tile
      const float* s = scratch + bi * kRows * ld;
      for (int64_t si = 0; si < slices; ++si) {
        const int64_t c0 = si * kSlice;
        float* cs = carry + (bi * slices + si) * kRows * kSlice;
        const float* iv = last ? inv[bi] : nullptr;
        if (d - c0 <= kLanes)
          WeightedSum<1>(b, s, v, p.v_row_stride, d, c0, j0, MaxI(j1, j0), iv, cs, first);
        else if (d - c0 <= 2 * kLanes)
          WeightedSum<2>(b, s, v, p.v_row_stride, d, c0, j0, MaxI(j1, j0), iv, cs, first);
        else
          WeightedSum<4>(b, s, v, p.v_row_stride, d, c0, j0, MaxI(j1, j0), iv, cs, first);
      }
    }
  }
}
// ---- Panel path --------------------------------------------------------------------------
constexpr int kPanelRows = kVecRegisters >= 32 ? 8 : 4;  // query rows per score block
constexpr int kPanelKeyVecs = 3;  // key panels per score block
static_assert(kPanelRows <= 16, "AttentionScratchFloats reserves 16 score rows");
// Below this many query rows per KV head the transposition costs more than it saves.
constexpr int64_t kPanelMinRows = 16;

// A K/V element as f32 (bf16 storage widens exactly).
inline float Widen(float x) { return x; }
inline float Widen(uint16_t h) { return Bf16ToF32Bits(h); }

// PackKeyPanels with kLanes x kLanes blocks transposed in registers (the scalar loop below
// stored one element at a time, and a streaming chunk packs every visible key of every head
// again): kLanes consecutive elements of a key row as f32 lanes, widened from bf16 storage or
// rounded to bf16 (RoundBf16's bits) when `round`. d % kLanes == 0.
#if defined(COSY_SIMD_AVX512)
inline Vf KeyLanes(const float* p, bool round) {
  const Vf x = Load(p);
  if (!round) return x;
  return _mm512_castsi512_ps(_mm512_slli_epi32(Bf16BitsLanes(_mm512_castps_si512(x)), 16));
}
inline void TransposeLanes(Vf r[16]) {
  __m512i u[16];
  for (int i = 0; i < 16; ++i) u[i] = _mm512_castps_si512(r[i]);
  Transpose16x16(u);
  for (int i = 0; i < 16; ++i) r[i] = _mm512_castsi512_ps(u[i]);
}
#elif defined(COSY_SIMD_AVX2)
inline Vf KeyLanes(const float* p, bool round) {
  const Vf x = Load(p);
  if (!round) return x;
  return _mm256_castsi256_ps(_mm256_slli_epi32(Bf16BitsLanes(_mm256_castps_si256(x)), 16));
}
inline void TransposeLanes(Vf r[8]) { Transpose8x8(r); }
#endif
#if defined(COSY_SIMD_AVX512) || defined(COSY_SIMD_AVX2)
inline Vf KeyLanes(const uint16_t* p, bool) { return LoadBF16(p); }
template <class T>
void PackKeyPanelsVec(const T* k, int64_t k_row_stride, int64_t n, int64_t d, bool round,
                      float* kt) {
  const int64_t panels = (n + kLanes - 1) / kLanes;
  for (int64_t pb = 0; pb < panels; ++pb) {
    float* dst = kt + pb * d * kLanes;
    const int64_t live = MinI(kLanes, n - pb * kLanes);
    const T* base = k + pb * kLanes * k_row_stride;
    for (int64_t c0 = 0; c0 < d; c0 += kLanes) {
      Vf r[kLanes];
      for (int64_t l = 0; l < kLanes; ++l) {
        r[l] = l < live ? KeyLanes(base + l * k_row_stride + c0, round) : Zero();
      }
      TransposeLanes(r);
      for (int64_t c = 0; c < kLanes; ++c) Store(dst + (c0 + c) * kLanes, r[c]);
    }
  }
}
#endif

// kt[(j / kLanes) * d * kLanes + c * kLanes + j % kLanes] = k_j[c] for j < n (zeros up to the
// next panel boundary), rounded to bf16 when `bf16` (bf16 storage is already).
template <class T>
void PackKeyPanels(const T* k, int64_t k_row_stride, int64_t n, int64_t d, bool bf16,
                   float* kt) {
#if defined(COSY_SIMD_AVX512) || defined(COSY_SIMD_AVX2)
  if (d % kLanes == 0) {
    PackKeyPanelsVec(k, k_row_stride, n, d, bf16 && sizeof(T) == 4, kt);
    return;
  }
#endif
  const int64_t panels = (n + kLanes - 1) / kLanes;
  for (int64_t pb = 0; pb < panels; ++pb) {
    float* dst = kt + pb * d * kLanes;
    for (int l = 0; l < kLanes; ++l) {
      const int64_t j = pb * kLanes + l;
      if (j < n) {
        const T* src = k + j * k_row_stride;
        if (bf16 && sizeof(T) == 4) {
          for (int64_t c = 0; c < d; ++c) dst[c * kLanes + l] = RoundBf16(Widen(src[c]));
        } else {
          for (int64_t c = 0; c < d; ++c) dst[c * kLanes + l] = Widen(src[c]);
        }
      } else {
        for (int64_t c = 0; c < d; ++c) dst[c * kLanes + l] = 0.0f;
      }
    }
  }
}

// s[r * ld + j] = scale * q_r . k_j for r < R, j < round_up(end_max, kLanes).
template <int R, int KV>
void PanelScoresStep(const float* const* q, const float* kt, int64_t d, float scale, float* s,
                     int64_t ld) {
  Vf acc[R][KV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < KV; ++v) acc[r][v] = Zero();
  for (int64_t c = 0; c < d; ++c) {
    Vf kv[KV];
    for (int v = 0; v < KV; ++v) kv[v] = Load(kt + v * d * kLanes + c * kLanes);
    for (int r = 0; r < R; ++r) {
      const Vf qb = Set1(q[r][c]);
      for (int v = 0; v < KV; ++v) acc[r][v] = Fmadd(qb, kv[v], acc[r][v]);
    }
  }
  const Vf sc = Set1(scale);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < KV; ++v) Store(s + r * ld + v * kLanes, Mul(acc[r][v], sc));
}

template <int R>
void PanelScores(const float* const* q, const float* kt, int64_t d, int64_t end_max, float scale,
                 float* s, int64_t ld) {
  const int64_t panels = (end_max + kLanes - 1) / kLanes;
  int64_t pb = 0;
  for (; pb + kPanelKeyVecs <= panels; pb += kPanelKeyVecs) {
    PanelScoresStep<R, kPanelKeyVecs>(q, kt + pb * d * kLanes, d, scale, s + pb * kLanes, ld);
  }
  for (; pb < panels; ++pb) PanelScoresStep<R, 1>(q, kt + pb * d * kLanes, d, scale, s + pb * kLanes, ld);
}

float PanelSoftmaxRow(float* s, int64_t end, int64_t width, const uint8_t* keep) {
  return SoftmaxRowTo(s, end, width, keep, [s](int64_t j, Vf e) { Store(s + j, e); });
}

// out_r[c0 .. c0 + kC kLanes) = inv_r * sum_{j < end} p_r[j] v_j for kR <= 4 rows of s; kFull:
// all kC vectors lie inside the row (plain loads), else lanes at or past d are masked off.
template <int kR, int kC, bool kFull>
void PanelWeightedSum(const float* s, int64_t ld, float* const* out, const float* inv,
                      const float* v, int64_t v_row_stride, int64_t d, int64_t c0, int64_t end) {
  Vf acc[kR][kC];
  for (int r = 0; r < kR; ++r)
    for (int c = 0; c < kC; ++c) acc[r][c] = Zero();
  for (int64_t j = 0; j < end; ++j) {
    const float* vj = v + j * v_row_stride + c0;
    Vf vr[kC];
    for (int c = 0; c < kC; ++c) {
      vr[c] = kFull ? Load(vj + kLanes * c) : LoadN(vj + kLanes * c, d - c0 - kLanes * c);
    }
    for (int r = 0; r < kR; ++r) {
      const Vf pr = Set1(s[r * ld + j]);
      for (int c = 0; c < kC; ++c) acc[r][c] = Fmadd(pr, vr[c], acc[r][c]);
    }
  }
  for (int r = 0; r < kR; ++r) {
    const Vf vi = Set1(inv[r]);
    for (int c = 0; c < kC; ++c) {
      if (kFull) {
        Store(out[r] + c0 + kLanes * c, Mul(acc[r][c], vi));
      } else {
        const int64_t left = d - c0 - kLanes * c;
        if (left > 0) StoreN(out[r] + c0 + kLanes * c, Mul(acc[r][c], vi), left);
      }
    }
  }
}

// Column slices of kOutVecs vectors: kR * kOutVecs accumulators, the slice's value vectors and
// one broadcast stay in registers (16 on AVX2: 2 vectors per slice; 32 on AVX-512: 4). Every
// output element is one FMA chain over j in key order whatever the slicing.
constexpr int kOutVecs = kVecRegisters >= 32 ? 4 : 2;
static_assert(4 * kOutVecs + kOutVecs + 1 <= kVecRegisters, "weighted-sum registers");

template <int kR>
void PanelOutput(const float* s, int64_t ld, float* const* out, const float* inv, const float* v,
                 int64_t v_row_stride, int64_t d, int64_t end) {
  constexpr int64_t kSlice = kOutVecs * kLanes;
  int64_t c0 = 0;
  for (; c0 + kSlice <= d; c0 += kSlice) {
    PanelWeightedSum<kR, kOutVecs, true>(s, ld, out, inv, v, v_row_stride, d, c0, end);
  }
  if (c0 == d) return;
  if (d - c0 <= kLanes)
    PanelWeightedSum<kR, 1, false>(s, ld, out, inv, v, v_row_stride, d, c0, end);
  else
    PanelWeightedSum<kR, kOutVecs, false>(s, ld, out, inv, v, v_row_stride, d, c0, end);
}

// Query rows [0, rows) of KV head hk (GQA group i-major) through the panel path. bf16 products
// (p.bf16) are emulated: q, k, v and the softmax weights rounded to bf16 in f32 (scratch copies).
// Scratch (AttentionScratchFloats): key panels ld*d | scores 16*ld | values ld*d | q rows 16*d.
// T = uint16_t: k and v are bf16 bits (p.kv_bf16, so p.bf16), widened into the same copies.
template <class T>
void PanelHead(const AttentionParams& p, int64_t hk, int64_t rows, const float* q, const T* kh,
               const T* v_in, float* out, float* scratch) {
  const int64_t group = p.q_heads / p.kv_heads, d = p.head_dim;
  const int64_t ld = (MaxI(p.kv_len, 1) + 15) / 16 * 16;
  float* kt = scratch;
  float* s = kt + ld * d;
  float* vr = s + 16 * ld;
  float* qb = vr + ld * d;
  int64_t end_all = 0;
  for (int64_t rr = 0; rr < rows; ++rr) end_all = MaxI(end_all, VisibleEnd(p, rr / group));
  PackKeyPanels(kh, p.k_row_stride, end_all, d, p.bf16, kt);
  int64_t v_stride = p.v_row_stride;
  const float* vh = nullptr;
  if (p.bf16) {
    for (int64_t j = 0; j < end_all; ++j) {
      const T* src = v_in + j * p.v_row_stride;
      for (int64_t c = 0; c < d; ++c) vr[j * d + c] = RoundBf16(Widen(src[c]));
    }
    vh = vr;
    v_stride = d;
  } else {
    if constexpr (sizeof(T) == 4) vh = v_in;
  }
  for (int64_t r0 = 0; r0 < rows; r0 += kPanelRows) {
    const int n = static_cast<int>(MinI(kPanelRows, rows - r0));
    const float* qr[kPanelRows];
    float* orow[kPanelRows];
    int64_t end[kPanelRows], row[kPanelRows];
    int64_t end_max = 0;
    for (int r = 0; r < kPanelRows; ++r) {
      const int64_t rr = r0 + (r < n ? r : n - 1);
      const int64_t i = rr / group, h = hk * group + rr % group;
      qr[r] = q + h * p.q_head_stride + i * p.q_row_stride;
      orow[r] = out + h * p.out_head_stride + i * p.out_row_stride;
      row[r] = i;
      end[r] = MaxI(VisibleEnd(p, i), 0);
      end_max = MaxI(end_max, end[r]);
      if (p.bf16) {
        for (int64_t c = 0; c < d; ++c) qb[r * d + c] = RoundBf16(qr[r][c]);
        qr[r] = qb + r * d;
      }
    }
    if (end_max == 0) {
      for (int r = 0; r < n; ++r)
        for (int64_t c = 0; c < d; ++c) orow[r][c] = 0.0f;
      continue;
    }
    PanelScores<kPanelRows>(qr, kt, d, end_max, p.scale, s, ld);
    float inv[kPanelRows];
    const int64_t width = (end_max + kLanes - 1) / kLanes * kLanes;
    for (int r = 0; r < kPanelRows; ++r) {
      const uint8_t* keep = p.keep_mask ? p.keep_mask + row[r] * p.kv_len : nullptr;
      inv[r] = r < n ? PanelSoftmaxRow(s + r * ld, end[r], width, keep) : 0.0f;
      if (p.bf16 && r < n) {
        for (int64_t j = 0; j < end[r]; ++j) s[r * ld + j] = RoundBf16(s[r * ld + j]);
      }
    }
    for (int r = 0; r < n; r += 4) {
      const int m = MinI(4, n - r);
      const float* sr = s + r * ld;
      if (m == 4) PanelOutput<4>(sr, ld, orow + r, inv + r, vh, v_stride, d, end_max);
      else if (m == 3) PanelOutput<3>(sr, ld, orow + r, inv + r, vh, v_stride, d, end_max);
      else if (m == 2) PanelOutput<2>(sr, ld, orow + r, inv + r, vh, v_stride, d, end_max);
      else PanelOutput<1>(sr, ld, orow + r, inv + r, vh, v_stride, d, end_max);
    }
  }
}
}  // namespace

void Attention(const ref::AttentionParams& p, const float* q, const void* k_in, const void* v_in,
               float* out, float* scratch) {
  const int64_t group = p.q_heads / p.kv_heads;
  const int64_t rows = p.q_len * group;
  if (p.kv_bf16) {  // bf16 storage implies bf16 products: the panel path
    const auto* k = static_cast<const uint16_t*>(k_in);
    const auto* v = static_cast<const uint16_t*>(v_in);
    for (int64_t hk = 0; hk < p.kv_heads; ++hk) {
      PanelHead(p, hk, rows, q, k + hk * p.k_head_stride, v + hk * p.v_head_stride, out, scratch);
    }
    return;
  }
  const auto* k = static_cast<const float*>(k_in);
  const auto* v = static_cast<const float*>(v_in);
  for (int64_t hk = 0; hk < p.kv_heads; ++hk) {
    const float* kh = k + hk * p.k_head_stride;
    const float* vh = v + hk * p.v_head_stride;
    if (rows >= kPanelMinRows || p.bf16) {  // bf16 products: the panel path emulates them
      PanelHead(p, hk, rows, q, kh, vh, out, scratch);
      continue;
    }
    // Few rows (rows < kPanelMinRows = kMaxBlocks * kRows): all their blocks in one pass.
    static_assert(kPanelMinRows <= kMaxBlocks * kRows, "the few-row path's blocks fit RunBlocks");
    Block blocks[kMaxBlocks];
    int nb = 0;
    for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
      Block& b = blocks[nb++];
      b.n = static_cast<int>(MinI(kRows, rows - r0));
      for (int r = 0; r < kRows; ++r) {
        const int64_t rr = r0 + (r < b.n ? r : b.n - 1);
        const int64_t i = rr / group, h = hk * group + rr % group;
        b.q[r] = q + h * p.q_head_stride + i * p.q_row_stride;
        b.out[r] = out + h * p.out_head_stride + i * p.out_row_stride;
        b.row[r] = i;
        b.end[r] = MaxI(VisibleEnd(p, i), 0);
        b.end_max = MaxI(b.end_max, b.end[r]);
      }
    }
    RunBlocks(p, blocks, nb, kh, vh, scratch);
  }
}


}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS
