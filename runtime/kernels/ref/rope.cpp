// Reference rotary position embedding.
#include "runtime/kernels/ref/rope.h"

#include <cmath>

#include "runtime/kernels/kernel_checks.h"

namespace cosyflow::kernels::ref {

Status RopeTable(int64_t max_pos, int64_t head_dim, double theta, float* cos_table,
                 float* sin_table) {
  if (max_pos < 0 || head_dim <= 0 || head_dim % 2 != 0) {
    return InvalidArgument("rope: need max_pos >= 0 and an even head_dim > 0, got {} and {}",
                           max_pos, head_dim);
  }
  if (!(theta > 1.0)) return InvalidArgument("rope: theta must be > 1, got {}", theta);
  if (max_pos > 0 && (cos_table == nullptr || sin_table == nullptr)) {
    return InvalidArgument("rope: cos_table and sin_table must be non-null");
  }
  const int64_t half = head_dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    const float inv_freq = static_cast<float>(1.0 / std::pow(theta, static_cast<double>(exponent)));
    for (int64_t p = 0; p < max_pos; ++p) {
      const float angle = static_cast<float>(p) * inv_freq;  // f32 product, as the reference
      cos_table[p * half + i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      sin_table[p * half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
  return OkStatus();
}

Status ApplyRope(float* x, int64_t tokens, int64_t heads, int64_t head_dim, int64_t token_stride,
                 int64_t start_pos, const float* cos_table, const float* sin_table,
                 int64_t max_pos) {
  COSY_RETURN_IF_ERROR(CheckRopeArgs(x, tokens, heads, head_dim, &token_stride, start_pos,
                                     cos_table, sin_table, max_pos));
  const int64_t half = head_dim / 2;
  for (int64_t t = 0; t < tokens; ++t) {
    const float* c = cos_table + (start_pos + t) * half;
    const float* s = sin_table + (start_pos + t) * half;
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x + t * token_stride + h * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const double a = v[i], b = v[i + half];
        v[i] = static_cast<float>(a * c[i] - b * s[i]);
        v[i + half] = static_cast<float>(b * c[i] + a * s[i]);
      }
    }
  }
  return OkStatus();
}

}  // namespace cosyflow::kernels::ref
