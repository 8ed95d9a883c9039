// Fast attention. Query rows of one KV head (the whole GQA group, i-major) go in blocks of 4, so
// each K/V row loaded from cache serves 4 query rows. Scores live in scratch interleaved
// [key][4 rows], which lets the masking/softmax pass run on all 4 rows in one vector and P*V
// broadcast probabilities straight from memory. The 1/sum of the softmax is applied at the end.
#include "runtime/kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/kernels/cpu/vec_math.h"

namespace cosyflow::kernels::cpu {

namespace {
constexpr int kRows = 4;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

int64_t RoundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

int64_t VisibleEnd(const AttentionParams& p, int64_t i) {
  const int64_t a = p.q_offset + i;
  int64_t end = p.valid_kv_len;
  if (p.mask == AttentionMask::kCausal) end = std::min(end, a + 1);
  if (p.mask == AttentionMask::kChunkCausal) {
    end = std::min(end, (a / p.chunk_size + 1) * p.chunk_size);
  }
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

#if COSY_AVX512
inline __mmask16 TailMask(int64_t left) {
  return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1u);
}

// Four horizontal sums -> [sum a, sum b, sum c, sum d].
inline __m128 Reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
  auto half = [](__m512 v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v),
                         _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  };
  const __m256 ab = _mm256_hadd_ps(half(a), half(b));
  const __m256 cd = _mm256_hadd_ps(half(c), half(d));
  const __m256 abcd = _mm256_hadd_ps(ab, cd);  // [a b c d | a b c d] partial sums
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// s[j * 4 + r] = scale * q_r . k_j for j < end_max. kC > 0: head_dim <= 16 kC, q kept in
// registers; kC == 0: any head_dim.
template <int kC>
void Scores(const Block& b, const float* k, int64_t k_row_stride, int64_t d, float scale,
            float* s) {
  const __m128 vscale = _mm_set1_ps(scale);
  if constexpr (kC > 0) {
    __m512 qr[kRows][kC];
    __mmask16 mask[kC];
    for (int c = 0; c < kC; ++c) mask[c] = TailMask(d - 16 * c);
    for (int r = 0; r < kRows; ++r)
      for (int c = 0; c < kC; ++c) qr[r][c] = _mm512_maskz_loadu_ps(mask[c], b.q[r] + 16 * c);
    for (int64_t j = 0; j < b.end_max; ++j) {
      const float* kj = k + j * k_row_stride;
      __m512 acc[kRows];
      for (int r = 0; r < kRows; ++r) acc[r] = _mm512_setzero_ps();
      for (int c = 0; c < kC; ++c) {
        const __m512 kv = _mm512_maskz_loadu_ps(mask[c], kj + 16 * c);
        for (int r = 0; r < kRows; ++r) acc[r] = _mm512_fmadd_ps(qr[r][c], kv, acc[r]);
      }
      _mm_storeu_ps(s + j * kRows, _mm_mul_ps(Reduce4(acc[0], acc[1], acc[2], acc[3]), vscale));
    }
  } else {
    for (int64_t j = 0; j < b.end_max; ++j) {
      const float* kj = k + j * k_row_stride;
      __m512 acc[kRows];
      for (int r = 0; r < kRows; ++r) acc[r] = _mm512_setzero_ps();
      for (int64_t c = 0; c < d; c += 16) {
        const __mmask16 m = TailMask(d - c);
        const __m512 kv = _mm512_maskz_loadu_ps(m, kj + c);
        for (int r = 0; r < kRows; ++r) {
          acc[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, b.q[r] + c), kv, acc[r]);
        }
      }
      _mm_storeu_ps(s + j * kRows, _mm_mul_ps(Reduce4(acc[0], acc[1], acc[2], acc[3]), vscale));
    }
  }
}

// Masks s (interleaved [key][4]) to [0, end_r) per row, exponentiates against the row max and
// returns 1 / row sum per row (0 for a row that sees no key) in inv[4].
void SoftmaxInterleaved(const Block& b, float* s, float inv[kRows]) {
  const int64_t n = RoundUp(b.end_max, 4) * kRows;  // 4 keys x 4 rows per vector
  const __m512i lane_key = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  const __m512i ends =
      _mm512_broadcast_i32x4(_mm_set_epi32(static_cast<int>(b.end[3]), static_cast<int>(b.end[2]),
                                           static_cast<int>(b.end[1]), static_cast<int>(b.end[0])));
  const __m512 ninf = _mm512_set1_ps(kNegInf);
  __m512 mx = ninf;
  for (int64_t o = 0; o < n; o += 16) {
    const __m512i key = _mm512_add_epi32(lane_key, _mm512_set1_epi32(static_cast<int>(o / 4)));
    const __mmask16 live = _mm512_cmplt_epi32_mask(key, ends);
    const __m512 v = _mm512_mask_mov_ps(ninf, live, _mm512_loadu_ps(s + o));
    _mm512_storeu_ps(s + o, v);
    mx = _mm512_max_ps(mx, v);
  }
  // Fold lanes with equal (lane % 4): every 128-bit block then holds [max r0..r3].
  mx = _mm512_max_ps(mx, _mm512_shuffle_f32x4(mx, mx, _MM_SHUFFLE(1, 0, 3, 2)));
  mx = _mm512_max_ps(mx, _mm512_shuffle_f32x4(mx, mx, _MM_SHUFFLE(2, 3, 0, 1)));
  // A fully masked row has max -inf; shift by 0 there so exp(-inf - 0) = 0 without NaN.
  const __mmask16 dead = _mm512_cmpeq_ps_mask(mx, ninf);
  mx = _mm512_mask_mov_ps(mx, dead, _mm512_setzero_ps());
  __m512 sum = _mm512_setzero_ps();
  for (int64_t o = 0; o < n; o += 16) {
    const __m512 v = _mm512_loadu_ps(s + o);
    const __mmask16 live = _mm512_cmp_ps_mask(v, ninf, _CMP_NEQ_OQ);
    const __m512 e = _mm512_maskz_mov_ps(live, vec::Exp(_mm512_sub_ps(v, mx)));
    _mm512_storeu_ps(s + o, e);
    sum = _mm512_add_ps(sum, e);
  }
  sum = _mm512_add_ps(sum, _mm512_shuffle_f32x4(sum, sum, _MM_SHUFFLE(1, 0, 3, 2)));
  sum = _mm512_add_ps(sum, _mm512_shuffle_f32x4(sum, sum, _MM_SHUFFLE(2, 3, 0, 1)));
  float sums[16];
  _mm512_storeu_ps(sums, sum);
  for (int r = 0; r < kRows; ++r) inv[r] = sums[r] > 0.0f ? 1.0f / sums[r] : 0.0f;
}

// out_r[c0 .. c0 + 16 kC) = inv_r * sum_j p[j][r] v_j, for one 16*kC-wide slice of head_dim.
template <int kC>
void WeightedSum(const Block& b, const float* s, const float* v, int64_t v_row_stride, int64_t d,
                 int64_t c0, const float inv[kRows]) {
  __m512 acc[kRows][kC];
  __mmask16 mask[kC];
  for (int c = 0; c < kC; ++c) mask[c] = TailMask(d - c0 - 16 * c);
  for (int r = 0; r < kRows; ++r)
    for (int c = 0; c < kC; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t j = 0; j < b.end_max; ++j) {
    const float* vj = v + j * v_row_stride + c0;
    __m512 vr[kC];
    for (int c = 0; c < kC; ++c) vr[c] = _mm512_maskz_loadu_ps(mask[c], vj + 16 * c);
    for (int r = 0; r < kRows; ++r) {
      const __m512 p = _mm512_set1_ps(s[j * kRows + r]);
      for (int c = 0; c < kC; ++c) acc[r][c] = _mm512_fmadd_ps(p, vr[c], acc[r][c]);
    }
  }
  for (int r = 0; r < b.n; ++r) {
    const __m512 vi = _mm512_set1_ps(inv[r]);
    for (int c = 0; c < kC; ++c) {
      _mm512_mask_storeu_ps(b.out[r] + c0 + 16 * c, mask[c], _mm512_mul_ps(acc[r][c], vi));
    }
  }
}

void RunBlock(const AttentionParams& p, const Block& b, const float* k, const float* v, float* s) {
  const int64_t d = p.head_dim;
  if (d <= 16)
    Scores<1>(b, k, p.k_row_stride, d, p.scale, s);
  else if (d <= 32)
    Scores<2>(b, k, p.k_row_stride, d, p.scale, s);
  else if (d <= 64)
    Scores<4>(b, k, p.k_row_stride, d, p.scale, s);
  else
    Scores<0>(b, k, p.k_row_stride, d, p.scale, s);
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
  for (int64_t c0 = 0; c0 < d; c0 += 64) {
    if (d - c0 <= 16)
      WeightedSum<1>(b, s, v, p.v_row_stride, d, c0, inv);
    else if (d - c0 <= 32)
      WeightedSum<2>(b, s, v, p.v_row_stride, d, c0, inv);
    else
      WeightedSum<4>(b, s, v, p.v_row_stride, d, c0, inv);
  }
}
#else
// Portable path: one query row at a time (scores in s[0 .. end)).
void RunBlock(const AttentionParams& p, const Block& b, const float* k, const float* v, float* s) {
  const int64_t d = p.head_dim;
  for (int r = 0; r < b.n; ++r) {
    const uint8_t* keep = p.keep_mask ? p.keep_mask + b.row[r] * p.kv_len : nullptr;
    float mx = kNegInf;
    for (int64_t j = 0; j < b.end[r]; ++j) {
      float dot = 0.0f;
      for (int64_t c = 0; c < d; ++c) dot += b.q[r][c] * k[j * p.k_row_stride + c];
      s[j] = (keep && keep[j] == 0) ? kNegInf : dot * p.scale;
      mx = std::max(mx, s[j]);
    }
    float* o = b.out[r];
    std::fill(o, o + d, 0.0f);
    if (mx == kNegInf) continue;
    float sum = 0.0f;
    for (int64_t j = 0; j < b.end[r]; ++j) {
      const float e = s[j] == kNegInf ? 0.0f : std::exp(s[j] - mx);
      sum += e;
      for (int64_t c = 0; c < d; ++c) o[c] += e * v[j * p.v_row_stride + c];
    }
    for (int64_t c = 0; c < d; ++c) o[c] /= sum;
  }
}
#endif
}  // namespace

int64_t AttentionScratchFloats(const AttentionParams& params) {
  return kRows * RoundUp(std::max<int64_t>(params.kv_len, 1), 16);
}

Status Attention(const AttentionParams& params, const float* q, const float* k, const float* v,
                 float* out, float* scratch, int64_t scratch_floats) {
  AttentionParams p;
  COSY_RETURN_IF_ERROR(ResolveAttentionParams(params, &p));
  if (p.q_len == 0) return OkStatus();
  if (!q || !out || (p.kv_len > 0 && (!k || !v))) {
    return InvalidArgument("attention: q, k, v and out must be non-null");
  }
  const int64_t need = cpu::AttentionScratchFloats(p);
  if (scratch == nullptr || scratch_floats < need) {
    return InvalidArgument("attention: scratch needs {} floats, got {}", need,
                           scratch ? scratch_floats : 0);
  }
  const int64_t group = p.q_heads / p.kv_heads;
  const int64_t rows = p.q_len * group;
  for (int64_t hk = 0; hk < p.kv_heads; ++hk) {
    const float* kh = k + hk * p.k_head_stride;
    const float* vh = v + hk * p.v_head_stride;
    for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
      Block b;
      b.n = static_cast<int>(std::min<int64_t>(kRows, rows - r0));
      for (int r = 0; r < kRows; ++r) {
        const int64_t rr = r0 + std::min(r, b.n - 1);
        const int64_t i = rr / group, h = hk * group + rr % group;
        b.q[r] = q + h * p.q_head_stride + i * p.q_row_stride;
        b.out[r] = out + h * p.out_head_stride + i * p.out_row_stride;
        b.row[r] = i;
        b.end[r] = std::max<int64_t>(VisibleEnd(p, i), 0);
        b.end_max = std::max(b.end_max, b.end[r]);
      }
      RunBlock(p, b, kh, vh, scratch);
    }
  }
  return OkStatus();
}

}  // namespace cosyflow::kernels::cpu
