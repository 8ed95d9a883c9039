// Attention of one ISA variant. Query rows of one KV head (the whole GQA group, i-major) go in
// blocks, so each K/V row loaded serves several query rows; the 1/sum of the softmax is applied
// at the end. Two paths:
// - few query rows (decode): blocks of 4 rows, scores as 4 dot products per key (horizontal
//   sums), kept interleaved [key][4 rows] so masking/softmax run on all 4 rows in one vector;
// - many query rows (prefill, flow chunks, whole sequences): K is first transposed into panels
//   of kLanes keys ([panel][head_dim][kLanes]), so a block of kPanelRows query rows gets its
//   scores from broadcast q elements times key vectors (no horizontal sums); scores row-major.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "runtime/kernels/cpu/simd/kernels.h"
#include "runtime/kernels/cpu/simd/vec_math.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS {
namespace {
constexpr int kRows = 4;
constexpr float kNegInf = -INFINITY;
static_assert(kLanes % kRows == 0, "a vector holds whole [key][4 rows] groups");
// Largest number of head_dim vectors of all 4 q rows kept in registers while scanning keys
// (4 per chunk, plus 4 accumulators and the key vector must fit).
constexpr int kMaxQChunks = (kVecRegisters - kRows - 2) / kRows;

using ref::AttentionMask;
using ref::AttentionParams;

int64_t VisibleEnd(const AttentionParams& p, int64_t i) {
  const int64_t a = p.q_offset + i;
  int64_t end = p.valid_kv_len;
  if (p.mask == AttentionMask::kCausal) end = MinI(end, a + 1);
  if (p.mask == AttentionMask::kChunkCausal) end = MinI(end, (a / p.chunk_size + 1) * p.chunk_size);
  return end;
}

// One block of up to kRows query rows against one KV head.
struct Block {
  const float* q[kRows];
  float* out[kRows];
  int64_t row[kRows];  // query index i (for the keep mask)
  int64_t end[kRows];  // keys [0, end) visible before the keep mask
  int n = 0;           // live rows; rows n..3 repeat row 0 and are never written back
  int64_t end_max = 0;
};

// s[j * 4 + r] = scale * q_r . k_j for j < end_max. kC > 0: head_dim <= kC kLanes, q kept in
// registers; kC == 0: any head_dim.
template <int kC>
void Scores(const Block& b, const float* k, int64_t k_row_stride, int64_t d, float scale,
            float* s) {
  if constexpr (kC > 0) {
    Vf qr[kRows][kC];
    for (int r = 0; r < kRows; ++r)
      for (int c = 0; c < kC; ++c) qr[r][c] = LoadN(b.q[r] + kLanes * c, d - kLanes * c);
    for (int64_t j = 0; j < b.end_max; ++j) {
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
    for (int64_t j = 0; j < b.end_max; ++j) {
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

// out_r[c0 .. c0 + kC kLanes) = inv_r * sum_j p[j][r] v_j, one slice of head_dim.
template <int kC>
void WeightedSum(const Block& b, const float* s, const float* v, int64_t v_row_stride, int64_t d,
                 int64_t c0, const float inv[kRows]) {
  Vf acc[kRows][kC];
  for (int r = 0; r < kRows; ++r)
    for (int c = 0; c < kC; ++c) acc[r][c] = Zero();
  for (int64_t j = 0; j < b.end_max; ++j) {
    const float* vj = v + j * v_row_stride + c0;
    Vf vr[kC];
    for (int c = 0; c < kC; ++c) vr[c] = LoadN(vj + kLanes * c, d - c0 - kLanes * c);
    for (int r = 0; r < kRows; ++r) {
      const Vf p = Set1(s[j * kRows + r]);
      for (int c = 0; c < kC; ++c) acc[r][c] = Fmadd(p, vr[c], acc[r][c]);
    }
  }
  for (int r = 0; r < b.n; ++r) {
    const Vf vi = Set1(inv[r]);
    for (int c = 0; c < kC; ++c) {
      const int64_t left = d - c0 - kLanes * c;
      if (left > 0) StoreN(b.out[r] + c0 + kLanes * c, Mul(acc[r][c], vi), left);
    }
  }
}

void RunBlock(const AttentionParams& p, const Block& b, const float* k, const float* v, float* s) {
  const int64_t d = p.head_dim;
  if (d <= kLanes) {
    Scores<1>(b, k, p.k_row_stride, d, p.scale, s);
  } else if (d <= 2 * kLanes) {
    Scores<2>(b, k, p.k_row_stride, d, p.scale, s);
  } else if (kMaxQChunks >= 4 && d <= 4 * kLanes) {
    Scores<(kMaxQChunks >= 4 ? 4 : 2)>(b, k, p.k_row_stride, d, p.scale, s);
  } else {
    Scores<0>(b, k, p.k_row_stride, d, p.scale, s);
  }
  if (p.keep_mask) {
    for (int r = 0; r < b.n; ++r) {
      const uint8_t* keep = p.keep_mask + b.row[r] * p.kv_len;
      for (int64_t j = 0; j < b.end[r]; ++j) {
        if (keep[j] == 0) s[j * kRows + r] = kNegInf;
      }
    }
  }
  float inv[kRows];
  SoftmaxInterleaved(b, s, inv);
  // Slices of up to 4 vectors per row (16 accumulators + 4 V vectors on AVX-512; AVX2 spills
  // a little at 4, which still beats reloading the probabilities twice).
  constexpr int64_t kSlice = 4 * kLanes;
  for (int64_t c0 = 0; c0 < d; c0 += kSlice) {
    if (d - c0 <= kLanes)
      WeightedSum<1>(b, s, v, p.v_row_stride, d, c0, inv);
    else if (d - c0 <= 2 * kLanes)
      WeightedSum<2>(b, s, v, p.v_row_stride, d, c0, inv);
    else
      WeightedSum<4>(b, s, v, p.v_row_stride, d, c0, inv);
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

// kt[(j / kLanes) * d * kLanes + c * kLanes + j % kLanes] = k_j[c] for j < n (zeros up to the
// next panel boundary), rounded to bf16 when `bf16` (bf16 storage is already).
template <class T>
void PackKeyPanels(const T* k, int64_t k_row_stride, int64_t n, int64_t d, bool bf16,
                   float* kt) {
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

// The softmax's exp is ExpNonPositive (vec_math.h): no overflow clamp, no -inf mask, degree 6;
// together with the two-vector pass ~13 % fewer cycles per vector in the flow's attention.
// Row r of s: keys [0, end) (and the keep mask) exponentiated against the row max, zeros up to
// `width`; returns 1 / sum (0 when no key is visible). The weights go to emit(j, vector) for
// j = 0, kLanes, ... < width (PanelSoftmaxRow: back into s).
template <class Emit>
__attribute__((always_inline)) inline float SoftmaxRowTo(float* s, int64_t end, int64_t width,
                                                         const uint8_t* keep, Emit&& emit) {
  const Vf ninf = Set1(kNegInf);
  if (keep != nullptr) {
    for (int64_t j = 0; j < end; ++j) {
      if (keep[j] == 0) s[j] = kNegInf;
    }
  }
  Vf mx = ninf;
  int64_t j = 0;
  for (; j + kLanes <= end; j += kLanes) mx = Max(mx, Load(s + j));
  if (j < end) mx = Max(mx, Select(HeadMask(end - j), LoadN(s + j, end - j), ninf));
  float m = ReduceMax(mx);
  if (m == kNegInf) m = 0.0f;  // no visible key: exp(-inf) = 0 everywhere, sum 0
  const Vf shift = Set1(m);
  // Two vectors per pass, two partial sums: the exp's ~20 dependent operations of one vector
  // overlap the other's (bf16 attention 650 x 650: 3.26-3.37 -> 3.19-3.24 ms on one thread).
  Vf sum = Zero(), sum1 = Zero();
  for (j = 0; j + 2 * kLanes <= end; j += 2 * kLanes) {
    const Vf v0 = Load(s + j), v1 = Load(s + j + kLanes);
    const Vf e0 = ExpNonPositive(Sub(v0, shift));
    const Vf e1 = ExpNonPositive(Sub(v1, shift));
    emit(j, e0);
    emit(j + kLanes, e1);
    sum = Add(sum, e0);
    sum1 = Add(sum1, e1);
  }
  sum = Add(sum, sum1);
  for (; j + kLanes <= end; j += kLanes) {
    const Vf v = Load(s + j);
    const Vf e = ExpNonPositive(Sub(v, shift));
    emit(j, e);
    sum = Add(sum, e);
  }
  if (j < end) {
    const Vf v = Select(HeadMask(end - j), LoadN(s + j, end - j), ninf);
    const Vf e = ExpNonPositive(Sub(v, shift));
    emit(j, e);
    sum = Add(sum, e);
    j += kLanes;
  }
  for (; j < width; j += kLanes) emit(j, Zero());
  const float t = ReduceAdd(sum);
  return t > 0.0f ? 1.0f / t : 0.0f;
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
    for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
      Block b;
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
      RunBlock(p, b, kh, vh, scratch);
    }
  }
}

#if defined(COSY_SIMD_AVX512)
// ---- AVX512_BF16: bf16-product attention on vdpbf16ps (32 products per instruction) ---------
// Same definition as the emulated path (AttentionParams::bf16), pairs summed by the instruction.
// Layouts (uint16 bf16 bits in the float scratch): key panels kp[(pb * d/2 + c2) * 32 + 2l + e] =
// k_{16 pb + l}[2 c2 + e]; value pairs vp[(j2 * d + c) * 2 + e] = v_{2 j2 + e}[c]; probability
// rows p16[r * ld + j]; query pairs q2[r * d/2 + c2] = (q_r[2 c2], q_r[2 c2 + 1]).
#define COSY_TARGET_BF16 __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))
namespace {

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

// 16 x 16 transpose of 32-bit elements: r[l] holds row l on entry, column l on return (lane i
// of r[c] = element c of row i).
COSY_TARGET_BF16 inline void Transpose16x16(__m512i r[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int i = 0; i < 16; i += 8) {
    for (int j = 0; j < 4; ++j) {
      t[i + j] = _mm512_shuffle_i32x4(u[i + j], u[i + j + 4], 0x88);
      t[i + j + 4] = _mm512_shuffle_i32x4(u[i + j], u[i + j + 4], 0xdd);
    }
  }
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0x88);
    r[j + 8] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0xdd);
  }
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

// Softmax weights as bf16 bits (the products' inputs), straight from the exp pass.
struct EmitBf16 {
  uint16_t* row;
  COSY_TARGET_BF16 void operator()(int64_t j, __m512 e) const {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + j),
                        reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(e)));
  }
};

template <int R, int KV>
COSY_TARGET_BF16 void ScoresBf16Step(const uint32_t* const* q2, const uint16_t* kp, int64_t d2,
                                     float scale, float* s, int64_t ld) {
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
  const __m512 sc = _mm512_set1_ps(scale);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < KV; ++v) _mm512_storeu_ps(s + r * ld + v * 16, _mm512_mul_ps(acc[r][v], sc));
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

// PanelHead with vdpbf16ps: head_dim % 16 == 0. Scratch as AttentionScratchFloats reserves.
template <class T>
COSY_TARGET_BF16 void PanelHeadBf16(const AttentionParams& p, int64_t hk, int64_t rows,
                                    const float* q, const T* kh, const T* vh, float* out,
                                    float* scratch) {
  constexpr int kRowsB = 8, kKeyVecs = 3;
  const int64_t group = p.q_heads / p.kv_heads, d = p.head_dim, d2 = d / 2;
  const int64_t ld = (MaxI(p.kv_len, 1) + 15) / 16 * 16;
  float* s = scratch;                                           // 16 * ld f32 scores
  auto* kp = reinterpret_cast<uint16_t*>(s + 16 * ld);          // ld * d
  uint16_t* vp = kp + ld * d;                                   // ld * d
  uint16_t* p16 = vp + ld * d;                                  // 16 * ld
  auto* q2 = reinterpret_cast<uint32_t*>(p16 + 16 * ld);        // 16 * d / 2
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
    if (end_max == 0) {
      for (int r = 0; r < n; ++r)
        for (int64_t c = 0; c < d; ++c) orow[r][c] = 0.0f;
      continue;
    }
    const int64_t panels = (end_max + 15) / 16;
    int64_t pb = 0;
    for (; pb + kKeyVecs <= panels; pb += kKeyVecs) {
      ScoresBf16Step<kRowsB, kKeyVecs>(qr, kp + pb * d2 * 32, d2, p.scale, s + pb * 16, ld);
    }
    for (; pb < panels; ++pb) ScoresBf16Step<kRowsB, 1>(qr, kp + pb * d2 * 32, d2, p.scale, s + pb * 16, ld);
    float inv[kRowsB];
    const int64_t width = panels * 16;
    for (int r = 0; r < kRowsB; ++r) {
      if (r >= n) {
        inv[r] = 0.0f;
        continue;
      }
      const uint8_t* keep = p.keep_mask ? p.keep_mask + row[r] * p.kv_len : nullptr;
      float* sr = s + r * ld;
      inv[r] = SoftmaxRowTo(sr, end[r], width, keep, EmitBf16{p16 + r * ld});
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
}  // namespace

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
