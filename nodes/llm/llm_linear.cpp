// LlmLinear: f32 row-major weights with a one-row AVX-512 GEMV, or cpu::Linear for bf16.
#include "nodes/llm/llm_linear.h"

#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace cosyflow {
namespace {

namespace cpu = kernels::cpu;

// Dot products of 4 rows of W with x (the x loads are shared); out[r] = W[r]·x.
inline void Dot4(const float* w, int64_t k, const float* x, float* out) {
#if defined(__AVX512F__)
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    const __m512 xv = _mm512_loadu_ps(x + i);
    a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), xv, a0);
    a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + k + i), xv, a1);
    a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + 2 * k + i), xv, a2);
    a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + 3 * k + i), xv, a3);
  }
  if (i < k) {
    const __mmask16 m = static_cast<__mmask16>((1u << (k - i)) - 1);
    const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
    a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + i), xv, a0);
    a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + k + i), xv, a1);
    a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + 2 * k + i), xv, a2);
    a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + 3 * k + i), xv, a3);
  }
  out[0] = _mm512_reduce_add_ps(a0);
  out[1] = _mm512_reduce_add_ps(a1);
  out[2] = _mm512_reduce_add_ps(a2);
  out[3] = _mm512_reduce_add_ps(a3);
#else
  for (int r = 0; r < 4; ++r) {
    float acc[16] = {};
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
      for (int l = 0; l < 16; ++l) acc[l] += w[r * k + i + l] * x[i + l];
    }
    float s = 0;
    for (; i < k; ++i) s += w[r * k + i] * x[i];
    for (float a : acc) s += a;
    out[r] = s;
  }
#endif
}

}  // namespace

void LlmGemvF32(const float* w, const float* x, const float* bias, int64_t n, int64_t k,
                float* y) {
  const int64_t blocks = n / 4;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) Dot4(w + b * 4 * k, k, x, y + b * 4);
  for (int64_t j = blocks * 4; j < n; ++j) {  // tail rows
    float s = 0;
    for (int64_t i = 0; i < k; ++i) s += w[j * k + i] * x[i];
    y[j] = s;
  }
  if (bias != nullptr) {
    for (int64_t j = 0; j < n; ++j) y[j] += bias[j];
  }
}

Result<std::unique_ptr<LlmLinear>> LlmLinear::Create(const float* w, const float* bias, int64_t n,
                                                     int64_t k, cpu::WeightType type) {
  std::unique_ptr<LlmLinear> l(new LlmLinear());
  l->n_ = n;
  l->k_ = k;
  if (type == cpu::WeightType::kBF16) {
    COSY_ASSIGN_OR_RETURN(l->packed_, cpu::Linear::Create(w, bias, n, k, type));
    return l;
  }
  if (n <= 0 || k <= 0) return InvalidArgument("llm linear: dims must be > 0, got [{}, {}]", n, k);
  COSY_ASSIGN_OR_RETURN(l->w_, Tensor::Empty({n, k}, DType::kF32));
  std::memcpy(l->w_.data<float>(), w, static_cast<size_t>(n * k) * sizeof(float));
  if (bias != nullptr) {
    COSY_ASSIGN_OR_RETURN(l->b_, Tensor::Empty({n}, DType::kF32));
    std::memcpy(l->b_.data<float>(), bias, static_cast<size_t>(n) * sizeof(float));
  }
  return l;
}

Status LlmLinear::Forward(const float* x, int64_t m, float* y) const {
  if (packed_) return packed_->Forward(x, m, y);
  const float* bias = b_.defined() ? b_.data<float>() : nullptr;
  if (m == 1) {
    LlmGemvF32(w_.data<float>(), x, bias, n_, k_, y);
    return OkStatus();
  }
  return cpu::LinearForward(x, w_.data<float>(), bias, y, m, n_, k_);
}

size_t LlmLinear::weight_bytes() const {
  return packed_ ? packed_->packed_weight_bytes() : w_.nbytes();
}

}  // namespace cosyflow
