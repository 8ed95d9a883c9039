// Pointwise, norm, softmax, RoPE and widening kernels of one ISA variant (see simd.h). Shapes are
// those of the KernelTable entries (kernel_table.h); arguments were checked by the caller.
#include <algorithm>
#include <cstring>
#include <limits>

#include "runtime/kernels/cpu/i8_rows.h"
#include "runtime/kernels/cpu/simd/kernels.h"
#include "runtime/kernels/cpu/simd/vec_math.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS {
namespace {
constexpr float kNegInf = -INFINITY;
}  // namespace

// ---- Activations ----------------------------------------------------------------------------

void GeluErf(const float* x, int64_t n, float* y) {
  // eight vectors evaluated side by side (vec_math.h, NormalCdfN), then the rest one at a time
  constexpr int kGroup = 8;
  int64_t i = 0;
  for (; i + kGroup * kLanes <= n; i += kGroup * kLanes) {
    Vf v[kGroup];
    for (int j = 0; j < kGroup; ++j) v[j] = Load(x + i + j * kLanes);
    GeluErfN(v);
    for (int j = 0; j < kGroup; ++j) Store(y + i + j * kLanes, v[j]);
  }
  MapRow(x + i, n - i, y + i, [](Vf v) { return Mul(v, NormalCdf(v)); });
}

void GeluTanh(const float* x, int64_t n, float* y) {
  // 0.5 (1 + tanh(u)) == sigmoid(2u): keeps relative accuracy on the negative tail.
  MapRow(x, n, y, [](Vf v) {
    const Vf v3 = Mul(Mul(v, v), v);
    const Vf u = Mul(Fmadd(v3, Set1(0.044715f), v), Set1(2.0f * 0.7978845608028654f));
    return Mul(v, Sigmoid(u));
  });
}

void Silu(const float* x, int64_t n, float* y) {
  MapRow(x, n, y, [](Vf v) { return Mul(v, Sigmoid(v)); });
}

void Mish(const float* x, int64_t n, float* y) {
  // tanh(log(1 + u)) = (u^2 + 2u) / (u^2 + 2u + 2) with u = e^x; x clamped at 20 where it is 1.
  MapRow(x, n, y, [](Vf v) {
    const Vf u = Exp(Min(v, Set1(20.0f)));
    const Vf p = Mul(u, Add(u, Set1(2.0f)));
    return Mul(v, Div(p, Add(p, Set1(2.0f))));
  });
}

void Elu(const float* x, int64_t n, float* y) {
  // e^x - 1 from the ~2 ulp exp: absolute error ~3e-7 near 0, where expm1 would be relative.
  MapRow(x, n, y, [](Vf v) {
    const Vf e = Sub(Exp(Min(v, Zero())), Set1(1.0f));
    return Select(Gt(v, Zero()), v, e);
  });
}

void TanhMap(const float* x, int64_t n, float* y) { MapRow(x, n, y, [](Vf v) { return Tanh(v); }); }
void SigmoidMap(const float* x, int64_t n, float* y) {
  MapRow(x, n, y, [](Vf v) { return Sigmoid(v); });
}
void ExpMap(const float* x, int64_t n, float* y) { MapRow(x, n, y, [](Vf v) { return Exp(v); }); }
void SinMap(const float* x, int64_t n, float* y) { MapRow(x, n, y, [](Vf v) { return Sin(v); }); }

void LeakyRelu(const float* x, int64_t n, float slope, float* y) {
  const Vf s = Set1(slope);
  MapRow(x, n, y, [s](Vf v) { return Select(Lt(v, Zero()), Mul(v, s), v); });
}

void Snake(const float* x, const float* alpha, int64_t channels, int64_t time, float* y) {
  for (int64_t c = 0; c < channels; ++c) {
    const float a = alpha[c];
    const Vf va = Set1(a), vinv = Set1(1.0f / (a + 1e-9f));
    MapRow(x + c * time, time, y + c * time, [va, vinv](Vf v) {
      const Vf s = Sin(Mul(va, v));
      return Fmadd(Mul(s, s), vinv, v);
    });
  }
}

// ---- Norms ----------------------------------------------------------------------------------

namespace {
// Sum of x[0..n) and sum of (x - shift)^2.
void RowSums(const float* x, int64_t n, float shift, float* sum, float* sumsq) {
  Vf s = Zero(), q = Zero();
  const Vf sh = Set1(shift);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const Vf v = Load(x + i);
    s = Add(s, v);
    const Vf d = Sub(v, sh);
    q = Fmadd(d, d, q);
  }
  if (i < n) {
    const Vf v = LoadN(x + i, n - i);
    s = Add(s, v);
    const Vf d = ZeroUnless(HeadMask(n - i), Sub(v, sh));
    q = Fmadd(d, d, q);
  }
  *sum = ReduceAdd(s);
  *sumsq = ReduceAdd(q);
}

// y = (x - shift) * scale * g + b, g/b optional.
void ScaleRow(const float* x, int64_t n, float shift, float scale, const float* g, const float* b,
              float* y) {
  const Vf sh = Set1(shift), sc = Set1(scale);
  for (int64_t i = 0; i < n; i += kLanes) {
    const int64_t left = n - i;
    Vf v = Mul(Sub(LoadN(x + i, left), sh), sc);
    if (g) v = Mul(v, LoadN(g + i, left));
    if (b) v = Add(v, LoadN(b + i, left));
    StoreN(y + i, v, left);
  }
}
}  // namespace

void LayerNorm(const float* x, const float* gamma, const float* beta, int64_t rows, int64_t dim,
               float eps, float* y) {
  const float inv_dim = 1.0f / static_cast<float>(dim);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float sum, unused, sq;
    RowSums(xr, dim, 0.0f, &sum, &unused);
    const float mean = sum * inv_dim;
    RowSums(xr, dim, mean, &unused, &sq);  // two-pass variance: no cancellation for large means
    const float inv = 1.0f / std::sqrt(sq * inv_dim + eps);
    ScaleRow(xr, dim, mean, inv, gamma, beta, y + r * dim);
  }
}

void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps,
             float* y) {
  const float inv_dim = 1.0f / static_cast<float>(dim);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float unused, sq;
    RowSums(xr, dim, 0.0f, &unused, &sq);
    const float inv = 1.0f / std::sqrt(sq * inv_dim + eps);
    ScaleRow(xr, dim, 0.0f, inv, weight, nullptr, y + r * dim);
  }
}

// ---- Softmax --------------------------------------------------------------------------------

namespace {
// y = masked x; returns max(y).
float MaskAndMax(const float* x, const float* add, const uint8_t* keep, int64_t n, float* y) {
  const Vf ninf = Set1(kNegInf);
  Vf mx = ninf;
  for (int64_t i = 0; i < n; i += kLanes) {
    const int64_t left = n - i;
    Vf v = LoadN(x + i, left);
    if (add) v = Add(v, LoadN(add + i, left));
    if (keep) v = Select(NonZeroBytes(keep + i, left), v, ninf);
    if (add || keep || y != x) StoreN(y + i, v, left);
    mx = Max(mx, Select(HeadMask(left), v, ninf));
  }
  return ReduceMax(mx);
}

// y = exp(y - shift) (exactly 0 where y is -inf), stored when `store`; returns the sum.
float ExpShiftSum(float* y, int64_t n, float shift, bool store) {
  const Vf sh = Set1(shift), ninf = Set1(kNegInf);
  Vf sum = Zero();
  for (int64_t i = 0; i < n; i += kLanes) {
    const int64_t left = n - i;
    const Vf v = LoadN(y + i, left);
    const Vm live = And(HeadMask(left), Ne(v, ninf));
    const Vf e = ZeroUnless(live, Exp(Sub(v, sh)));
    sum = Add(sum, e);
    if (store) StoreN(y + i, e, left);
  }
  return ReduceAdd(sum);
}

// y = y * s with s = 1 / sum, the weights that would come out below the smallest normal float
// set to 0 first (their denormal products cost a microcode assist per lane).
void NormalizeInPlace(float* y, int64_t n, float sum) {
  const Vf vs = Set1(1.0f / sum), tiny = Set1(std::numeric_limits<float>::min() * sum);
  for (int64_t i = 0; i < n; i += kLanes) {
    const int64_t left = n - i;
    const Vf v = LoadN(y + i, left);
    StoreN(y + i, Mul(Select(Lt(v, tiny), Zero(), v), vs), left);
  }
}

void AddInPlace(float* y, int64_t n, float a, float s) {  // y = (y + a) * s
  const Vf va = Set1(a), vs = Set1(s);
  for (int64_t i = 0; i < n; i += kLanes) {
    const int64_t left = n - i;
    StoreN(y + i, Mul(Add(LoadN(y + i, left), va), vs), left);
  }
}
}  // namespace

void SoftmaxMasked(const float* x, const float* add_mask, const uint8_t* keep_mask,
                   int64_t mask_row_stride, int64_t rows, int64_t cols, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    float* yr = y + r * cols;
    const float mx = MaskAndMax(x + r * cols, add_mask ? add_mask + r * mask_row_stride : nullptr,
                                keep_mask ? keep_mask + r * mask_row_stride : nullptr, cols, yr);
    if (mx == kNegInf) {
      for (int64_t i = 0; i < cols; ++i) yr[i] = 0.0f;
      continue;
    }
    NormalizeInPlace(yr, cols, ExpShiftSum(yr, cols, mx, true));
  }
}

void LogSoftmax(const float* x, int64_t rows, int64_t cols, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    float* yr = y + r * cols;
    const float mx = MaskAndMax(x + r * cols, nullptr, nullptr, cols, yr);  // copies x into y
    const float sum = ExpShiftSum(yr, cols, mx, false);
    AddInPlace(yr, cols, -(mx + std::log(sum)), 1.0f);
  }
}

// ---- Elementwise ----------------------------------------------------------------------------

namespace {
template <int kOp>
inline Vf ApplyOp(Vf a, Vf b) {
  if constexpr (kOp == 0) return Add(a, b);
  if constexpr (kOp == 1) return Sub(a, b);
  if constexpr (kOp == 2) return Mul(a, b);
  return Div(a, b);
}

// out[i] = a[i * sa] (op) b[i * sb] for i < n, sa and sb in {0, 1}.
template <int kOp>
void InnerRun(const float* a, int64_t sa, const float* b, int64_t sb, int64_t n, float* out) {
  const Vf a0 = Set1(*a), b0 = Set1(*b);
  for (int64_t i = 0; i < n; i += kLanes) {
    const int64_t left = n - i;
    const Vf va = sa ? LoadN(a + i, left) : a0;
    const Vf vb = sb ? LoadN(b + i, left) : b0;
    StoreN(out + i, ApplyOp<kOp>(va, vb), left);
  }
}

template <int kOp>
void Broadcast4(const int64_t* dims, const int64_t* sa, const int64_t* sb, const float* a,
                const float* b, float* out) {
  const int64_t n = dims[3];
  for (int64_t i0 = 0; i0 < dims[0]; ++i0)
    for (int64_t i1 = 0; i1 < dims[1]; ++i1)
      for (int64_t i2 = 0; i2 < dims[2]; ++i2) {
        const float* pa = a + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
        const float* pb = b + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
        InnerRun<kOp>(pa, sa[3], pb, sb[3], n, out);
        out += n;
      }
}
}  // namespace

void Binary4(int op, const int64_t* dims, const int64_t* sa, const int64_t* sb, const float* a,
             const float* b, float* out) {
  switch (op) {
    case 0: return Broadcast4<0>(dims, sa, sb, a, b, out);
    case 1: return Broadcast4<1>(dims, sa, sb, a, b, out);
    case 2: return Broadcast4<2>(dims, sa, sb, a, b, out);
    default: return Broadcast4<3>(dims, sa, sb, a, b, out);
  }
}

void Axpy(int64_t n, float alpha, const float* x, float* y) {
  const Vf va = Set1(alpha);
  for (int64_t i = 0; i < n; i += kLanes) {
    const int64_t left = n - i;
    StoreN(y + i, Fmadd(va, LoadN(x + i, left), LoadN(y + i, left)), left);
  }
}

void ScaleAdd(const float* x, float alpha, const float* y, float beta, int64_t n, float* out) {
  const Vf va = Set1(alpha), vb = Set1(beta);
  for (int64_t i = 0; i < n; i += kLanes) {
    const int64_t left = n - i;
    StoreN(out + i, Fmadd(va, LoadN(x + i, left), Mul(vb, LoadN(y + i, left))), left);
  }
}

void Clamp(const float* x, int64_t n, float lo, float hi, float* y) {
  const Vf vl = Set1(lo), vh = Set1(hi);
  MapRow(x, n, y, [vl, vh](Vf v) { return Min(Max(v, vl), vh); });
}

// ---- RoPE and widening ----------------------------------------------------------------------

void Rope(float* x, int64_t tokens, int64_t heads, int64_t head_dim, int64_t token_stride,
          int64_t start_pos, const float* cos_table, const float* sin_table) {
  const int64_t half = head_dim / 2;
  for (int64_t t = 0; t < tokens; ++t) {
    const float* c = cos_table + (start_pos + t) * half;
    const float* s = sin_table + (start_pos + t) * half;
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x + t * token_stride + h * head_dim;
      for (int64_t i = 0; i < half; i += kLanes) {
        const int64_t left = half - i;
        const Vf a = LoadN(v + i, left), b = LoadN(v + i + half, left);
        const Vf vc = LoadN(c + i, left), vs = LoadN(s + i, left);
        StoreN(v + i, Fmsub(a, vc, Mul(b, vs)), left);
        StoreN(v + i + half, Fmadd(b, vc, Mul(a, vs)), left);
      }
    }
  }
}

void NarrowBf16(const float* x, int64_t n, uint16_t* y) {
  int64_t i = 0;
#if defined(COSY_SIMD_AVX512)
  for (; i + 16 <= n; i += 16) {
    const __m512i r = Bf16BitsLanes(_mm512_castps_si512(_mm512_loadu_ps(x + i)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), _mm512_cvtepi32_epi16(r));
  }
#elif defined(COSY_SIMD_AVX2)
  auto narrow8 = [](const float* p) {
    return Bf16BitsLanes(_mm256_castps_si256(_mm256_loadu_ps(p)));
  };
  for (; i + 16 <= n; i += 16) {
    // Values are <= 0xffff, so the unsigned-saturating pack is exact; it interleaves 128-bit
    // lanes, which the permute undoes.
    const __m256i packed = _mm256_packus_epi32(narrow8(x + i), narrow8(x + i + 8));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), _mm256_permute4x64_epi64(packed, 0xd8));
  }
#endif
  for (; i < n; ++i) y[i] = Bf16Bits(x[i]);
}

#if defined(COSY_SIMD_AVX512)
// NarrowBf16 on AVX512_BF16: vcvtne2ps2bf16 narrows 32 floats in one instruction, rounding to
// nearest even and quieting NaNs as Bf16Bits does (Intel's convert_fp32_to_bfloat16), but it
// reads f32 denormals as zero; the rare 32-value block holding one takes the integer rounding
// instead, so the bits stay F32ToBF16's. 2.2x the integer form's throughput from L1/L2 on a Zen 5
// core (100 k floats: 6.8 -> 3.0 us); in the bf16 flow's first streaming chunk (~290 M floats:
// GEMM inputs, K/V cache rows) the narrowing's TSC cycles fell 72 M -> 60 M only, since the K/V
// rows go to cache lines that come from memory first.
__attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl,avx512dq"))) void NarrowBf16Ne(
    const float* x, int64_t n, uint16_t* y) {
  const __m512i evens =
      _mm512_set_epi16(62, 60, 58, 56, 54, 52, 50, 48, 46, 44, 42, 40, 38, 36, 34, 32, 30, 28, 26,
                       24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  constexpr int kDenormal = 0x20;  // vfpclassps category
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
    const __mmask16 da = _mm512_fpclass_ps_mask(a, kDenormal);
    const __mmask16 db = _mm512_fpclass_ps_mask(b, kDenormal);
    __m512i out;
    if (__builtin_expect(_kortestz_mask16_u8(da, db), 1)) {
      out = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(b, a));  // a in the low half
    } else {
      out = _mm512_permutex2var_epi16(Bf16BitsLanes(_mm512_castps_si512(a)), evens,
                                      Bf16BitsLanes(_mm512_castps_si512(b)));
    }
    _mm512_storeu_si512(y + i, out);
  }
  NarrowBf16(x + i, n - i, y + i);
}
#endif

void WidenI8(const int8_t* src, float scale, int64_t n, float* out) {
  const Vf s = Set1(scale);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) Store(out + i, Mul(s, LoadI8(src + i)));
  if (i < n) StoreN(out + i, Mul(s, LoadI8N(src + i, n - i)), n - i);
}

void WidenI8Bf16(const int8_t* src, int64_t n, uint16_t* out) {
  int64_t i = 0;
#if defined(COSY_SIMD_AVX512)
  // |q| <= 128 has at most 8 significant bits: the f32's upper half is the exact bf16.
  for (; i + 16 <= n; i += 16) {
    const __m512i q = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
    const __m512i b = _mm512_srli_epi32(_mm512_castps_si512(_mm512_cvtepi32_ps(q)), 16);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm512_cvtepi32_epi16(b));
  }
#endif
  for (; i < n; ++i) out[i] = Bf16Bits(static_cast<float>(src[i]));
}

void WidenI8RowsBf16(const int8_t* w, int64_t k, int64_t j0, int64_t rows, uint16_t* out) {
  // Block by block in memory order: each 64-column chunk of a block holds its rows' bytes one
  // after another, so the pass is one sequential read, prefetched 2 KiB ahead (the weights come
  // from memory: 6.9 -> 8.5 GB/s of int8 on one Xeon core; the LM's int8 prefill of 126
  // positions 0.146-0.154 -> 0.135-0.150 s in alternating runs).
  [[maybe_unused]] constexpr int64_t kAhead = 2048;
  const int64_t pk = I8PaddedK(k), end = j0 + rows;
  for (int64_t j = j0; j < end;) {
    const int64_t b = j / kI8BlockRows, r0 = j % kI8BlockRows;
    const int64_t r1 = std::min<int64_t>(kI8BlockRows, end - b * kI8BlockRows);
    const int8_t* block = w + b * kI8BlockRows * pk;
    for (int64_t c = 0; c < k; c += kI8Chunk) {
      const int64_t cn = std::min<int64_t>(kI8Chunk, k - c);
      const int8_t* chunk = block + c / kI8Chunk * (kI8BlockRows * kI8Chunk);
#if defined(COSY_SIMD_AVX512) || defined(COSY_SIMD_AVX2)
      for (int64_t l = 0; l < kI8BlockRows * kI8Chunk; l += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(chunk) + kAhead + l, _MM_HINT_T0);
      }
#endif
      for (int64_t r = r0; r < r1; ++r) {
        WidenI8Bf16(chunk + r * kI8Chunk, cn, out + (b * kI8BlockRows + r - j0) * k + c);
      }
    }
    j = b * kI8BlockRows + r1;
  }
}

void Widen16(const uint16_t* src, bool bf16, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) Store(out + i, bf16 ? LoadBF16(src + i) : LoadF16(src + i));
  if (i == n) return;
  uint16_t tail[kLanes] = {};
  for (int64_t j = i; j < n; ++j) tail[j - i] = src[j];
  StoreN(out + i, bf16 ? LoadBF16(tail) : LoadF16(tail), n - i);
}

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS
