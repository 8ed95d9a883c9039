// Fast embedding gather: row memcpy for f32, vector widening for bf16/f16.
#include "runtime/kernels/cpu/embedding.h"

#include <cstring>

#include "runtime/kernels/kernel_checks.h"

#include "runtime/kernels/cpu/vec_math.h"

namespace cosyflow::kernels::cpu {

namespace {
void CopyRow(const void* table, DType dtype, int64_t row, int64_t dim, float* out) {
  if (dtype == DType::kF32) {
    std::memcpy(out, static_cast<const float*>(table) + row * dim, dim * sizeof(float));
    return;
  }
  const uint16_t* src = static_cast<const uint16_t*>(table) + row * dim;
  int64_t i = 0;
#if COSY_AVX512
  for (; i + 16 <= dim; i += 16) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    const __m512 f = dtype == DType::kBF16
                         ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
                         : _mm512_cvtph_ps(h);
    _mm512_storeu_ps(out + i, f);
  }
#endif
  for (; i < dim; ++i) out[i] = dtype == DType::kBF16 ? BF16ToF32(src[i]) : F16ToF32(src[i]);
}

}  // namespace

Status EmbeddingGather(const void* table, DType table_dtype, int64_t vocab, int64_t dim,
                       const int32_t* ids, int64_t n, float* out) {
  return GatherEmbeddingRows(table, table_dtype, vocab, dim, ids, n, out, CopyRow);
}
Status EmbeddingGather(const void* table, DType table_dtype, int64_t vocab, int64_t dim,
                       const int64_t* ids, int64_t n, float* out) {
  return GatherEmbeddingRows(table, table_dtype, vocab, dim, ids, n, out, CopyRow);
}

}  // namespace cosyflow::kernels::cpu
