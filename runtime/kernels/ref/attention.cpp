// Reference attention: one query row at a time, scores and softmax in double (int16 products:
// the integer definition of AttentionParams::int16, scores and weights in f32 as defined).
#include "runtime/kernels/ref/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "runtime/dtype.h"

namespace cosyflow::kernels::ref {

Status ResolveAttentionParams(const AttentionParams& in, AttentionParams* out) {
  AttentionParams p = in;
  if (p.q_heads <= 0 || p.kv_heads <= 0 || p.q_len < 0 || p.kv_len < 0 || p.head_dim <= 0) {
    return InvalidArgument(
        "attention: need q_heads, kv_heads, head_dim > 0 and q_len, kv_len >= 0, got "
        "q_heads={} kv_heads={} q_len={} kv_len={} head_dim={}",
        p.q_heads, p.kv_heads, p.q_len, p.kv_len, p.head_dim);
  }
  if (p.q_heads % p.kv_heads != 0) {
    return InvalidArgument("attention: q_heads ({}) must be a multiple of kv_heads ({})", p.q_heads,
                           p.kv_heads);
  }
  if (p.scale == 0.0f) p.scale = 1.0f / std::sqrt(static_cast<float>(p.head_dim));
  if (!std::isfinite(p.scale)) return InvalidArgument("attention: scale must be finite");
  if (p.valid_kv_len < 0) p.valid_kv_len = p.kv_len;
  if (p.valid_kv_len > p.kv_len) {
    return InvalidArgument("attention: valid_kv_len ({}) > kv_len ({})", p.valid_kv_len, p.kv_len);
  }
  if (p.q_offset < 0)
    return InvalidArgument("attention: q_offset must be >= 0, got {}", p.q_offset);
  if (p.kv_bf16 && !p.bf16) {
    return InvalidArgument("attention: bf16 k/v (kv_bf16) need bf16 products (bf16)");
  }
  if (p.int16 && (p.bf16 || p.kv_bf16)) {
    return InvalidArgument("attention: int16 products exclude bf16 products and bf16 k/v");
  }
  if (p.mask == AttentionMask::kChunkCausal && p.chunk_size <= 0) {
    return InvalidArgument("attention: chunk-causal mask needs chunk_size > 0, got {}",
                           p.chunk_size);
  }
  const int64_t d = p.head_dim;
  auto fill = [d](int64_t* head, int64_t* row, int64_t heads_unused, int64_t len, const char* n) {
    (void)heads_unused;
    if (*row == 0) *row = d;
    if (*head == 0) *head = len * *row;
    if (*row < d) return InvalidArgument("attention: {} row stride {} < head_dim {}", n, *row, d);
    return OkStatus();
  };
  COSY_RETURN_IF_ERROR(fill(&p.q_head_stride, &p.q_row_stride, p.q_heads, p.q_len, "q"));
  COSY_RETURN_IF_ERROR(fill(&p.k_head_stride, &p.k_row_stride, p.kv_heads, p.kv_len, "k"));
  COSY_RETURN_IF_ERROR(fill(&p.v_head_stride, &p.v_row_stride, p.kv_heads, p.kv_len, "v"));
  COSY_RETURN_IF_ERROR(fill(&p.out_head_stride, &p.out_row_stride, p.q_heads, p.q_len, "out"));
  *out = p;
  return OkStatus();
}

int64_t AttentionScratchFloats(const AttentionParams&) { return 0; }

namespace {
// Number of leading keys query row i may see before the keep mask: [0, end).
int64_t VisibleEnd(const AttentionParams& p, int64_t i) {
  const int64_t a = p.q_offset + i;
  int64_t end = p.valid_kv_len;
  if (p.mask == AttentionMask::kCausal) end = std::min(end, a + 1);
  if (p.mask == AttentionMask::kChunkCausal)
    end = std::min(end, (a / p.chunk_size + 1) * p.chunk_size);
  return end;
}
}  // namespace

namespace {
double Value(float x) { return x; }
double Value(uint16_t h) { return static_cast<double>(BF16ToF32(h)); }

template <class T>
Status AttentionImpl(const AttentionParams& params, const float* q, const T* k, const T* v,
                     float* out) {
  AttentionParams p;
  COSY_RETURN_IF_ERROR(ResolveAttentionParams(params, &p));
  if (p.q_len > 0 && p.kv_len > 0 && (!q || !k || !v)) {
    return InvalidArgument("attention: q, k and v must be non-null");
  }
  if (p.q_len > 0 && !out) return InvalidArgument("attention: out must be non-null");
  const int64_t group = p.q_heads / p.kv_heads, d = p.head_dim;
  // bf16: operands rounded to bf16 (exact in double), see AttentionParams::bf16.
  const auto rd = [&](double x) -> double {
    return p.bf16 ? static_cast<double>(BF16ToF32(F32ToBF16(static_cast<float>(x)))) : x;
  };
  std::vector<double> s(p.kv_len), acc(d);
  for (int64_t h = 0; h < p.q_heads; ++h) {
    const T* kh = k + (h / group) * p.k_head_stride;
    const T* vh = v + (h / group) * p.v_head_stride;
    for (int64_t i = 0; i < p.q_len; ++i) {
      const float* qi = q + h * p.q_head_stride + i * p.q_row_stride;
      const int64_t end = VisibleEnd(p, i);
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < end; ++j) {
        if (p.keep_mask && p.keep_mask[i * p.kv_len + j] == 0) continue;
        double dot = 0.0;
        for (int64_t c = 0; c < d; ++c)
          dot += rd(qi[c]) * rd(Value(kh[j * p.k_row_stride + c]));
        s[j] = dot * p.scale;
        mx = std::max(mx, s[j]);
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      double sum = 0.0;
      for (int64_t j = 0; j < end; ++j) {
        if (p.keep_mask && p.keep_mask[i * p.kv_len + j] == 0) continue;
        const double e = std::exp(s[j] - mx);
        sum += e;
        const double w = rd(e);
        for (int64_t c = 0; c < d; ++c) acc[c] += w * rd(Value(vh[j * p.v_row_stride + c]));
      }
      float* oi = out + h * p.out_head_stride + i * p.out_row_stride;
      for (int64_t c = 0; c < d; ++c) oi[c] = sum > 0.0 ? static_cast<float>(acc[c] / sum) : 0.0f;
    }
  }
  return OkStatus();
}
}  // namespace

namespace {
// One row quantized as AttentionParams::int16 defines it (f32 arithmetic): returns the scale.
float QuantizeRow(const float* x, int64_t n, int32_t qmax, int32_t* q) {
  float a = 0.0f;
  bool finite = true;
  for (int64_t c = 0; c < n; ++c) {
    finite = finite && std::isfinite(x[c]);
    a = std::max(a, std::fabs(x[c]));
  }
  if (!finite || !(a > 0.0f)) {
    std::fill(q, q + n, 0);
    return finite ? 0.0f : std::numeric_limits<float>::quiet_NaN();
  }
  // below 2^-64 both scaled by 2^64 first (exact), so that qmax / max does not overflow
  const float pre = a < 0x1p-64f ? 0x1p64f : 1.0f;
  const float inv = static_cast<float>(qmax) / (a * pre);
  for (int64_t c = 0; c < n; ++c) {
    const float t = std::nearbyint(x[c] * pre * inv);
    q[c] = static_cast<int32_t>(std::clamp(t, -static_cast<float>(qmax), static_cast<float>(qmax)));
  }
  return a / static_cast<float>(qmax);
}

// f32 sum of the exact integer dot products of blocks of kAttnI16Block terms, in order.
float BlockSums(const int32_t* a, int64_t a_stride, const int32_t* b, int64_t b_stride, int64_t n) {
  float total = 0.0f;
  for (int64_t c0 = 0; c0 < n; c0 += kAttnI16Block) {
    int64_t part = 0;
    for (int64_t c = c0; c < std::min(n, c0 + kAttnI16Block); ++c) {
      part += static_cast<int64_t>(a[c * a_stride]) * b[c * b_stride];
    }
    const float f = static_cast<float>(part);
    total = c0 == 0 ? f : total + f;
  }
  return total;
}

Status AttentionI16Impl(const AttentionParams& params, const float* q, const float* k,
                        const float* v, float* out) {
  AttentionParams p;
  COSY_RETURN_IF_ERROR(ResolveAttentionParams(params, &p));
  if (p.q_len > 0 && p.kv_len > 0 && (!q || !k || !v)) {
    return InvalidArgument("attention: q, k and v must be non-null");
  }
  if (p.q_len > 0 && !out) return InvalidArgument("attention: out must be non-null");
  const int64_t group = p.q_heads / p.kv_heads, d = p.head_dim, n = p.kv_len;
  const int32_t key_max = AttnI16KeyMax(d);
  std::vector<int32_t> kq(n * d), vq(n * d), qq(d), pq(n);
  std::vector<float> ks(n), vs(n), s(n), pw(n);
  for (int64_t hk = 0; hk < p.kv_heads; ++hk) {
    for (int64_t j = 0; j < n; ++j) {
      ks[j] = QuantizeRow(k + hk * p.k_head_stride + j * p.k_row_stride, d, key_max, &kq[j * d]);
      vs[j] = QuantizeRow(v + hk * p.v_head_stride + j * p.v_row_stride, d, kAttnI16ValueMax,
                          &vq[j * d]);
    }
    for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
      for (int64_t i = 0; i < p.q_len; ++i) {
        const float sq = QuantizeRow(q + h * p.q_head_stride + i * p.q_row_stride, d,
                                     kAttnI16QueryMax, qq.data());
        const int64_t end = VisibleEnd(p, i);
        auto visible = [&](int64_t j) {
          return p.keep_mask == nullptr || p.keep_mask[i * p.kv_len + j] != 0;
        };
        float* oi = out + h * p.out_head_stride + i * p.out_row_stride;
        // NaN or infinity in the query row or a visible key or value row: the row is NaN
        bool finite = std::isfinite(sq);
        for (int64_t j = 0; j < end && finite; ++j) {
          finite = !visible(j) || (std::isfinite(ks[j]) && std::isfinite(vs[j]));
        }
        if (!finite) {
          std::fill(oi, oi + d, std::numeric_limits<float>::quiet_NaN());
          continue;
        }
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < end; ++j) {
          if (!visible(j)) continue;
          s[j] = BlockSums(qq.data(), 1, &kq[j * d], 1, d) * ((p.scale * ks[j]) * sq);
          mx = std::max(mx, s[j]);
        }
        double sum = 0.0;
        for (int64_t j = 0; j < end; ++j) {
          const float e =
              visible(j) ? static_cast<float>(std::exp(static_cast<double>(s[j] - mx))) : 0.0f;
          sum += e;
          pw[j] = e > 0.0f ? e * vs[j] : 0.0f;
        }
        const float sp = QuantizeRow(pw.data(), end, kAttnI16QueryMax, pq.data());
        const float scale = sp * (sum > 0.0 ? static_cast<float>(1.0 / sum) : 0.0f);
        for (int64_t c = 0; c < d; ++c) {
          oi[c] = end > 0 ? BlockSums(pq.data(), 1, &vq[c], d, end) * scale : 0.0f;
        }
      }
    }
  }
  return OkStatus();
}
}  // namespace

Status Attention(const AttentionParams& params, const float* q, const float* k, const float* v,
                 float* out, float* scratch, int64_t scratch_floats) {
  (void)scratch;
  (void)scratch_floats;
  if (params.kv_bf16) return InvalidArgument("attention: kv_bf16 set for f32 k and v");
  if (params.int16) return AttentionI16Impl(params, q, k, v, out);
  return AttentionImpl(params, q, k, v, out);
}

Status Attention(const AttentionParams& params, const float* q, const uint16_t* k,
                 const uint16_t* v, float* out, float* scratch, int64_t scratch_floats) {
  (void)scratch;
  (void)scratch_floats;
  AttentionParams p = params;
  p.kv_bf16 = true;
  return AttentionImpl(p, q, k, v, out);
}

}  // namespace cosyflow::kernels::ref
