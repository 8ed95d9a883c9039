// Argument checks shared by the reference and fast kernels.
#include "runtime/kernels/kernel_checks.h"

namespace cosyflow::kernels {

Status CheckUnaryArgs(const char* name, const float* x, int64_t n, const float* y) {
  if (n < 0) return InvalidArgument("{}: element count must be >= 0, got {}", name, n);
  if (n > 0 && (x == nullptr || y == nullptr)) {
    return InvalidArgument("{}: x and y must be non-null", name);
  }
  return OkStatus();
}

Status CheckSnakeArgs(const float* x, const float* alpha, int64_t channels, int64_t time,
                      const float* y) {
  if (channels < 0 || time < 0) {
    return InvalidArgument("snake: need channels, time >= 0, got channels={} time={}", channels,
                           time);
  }
  if (channels * time > 0 && (x == nullptr || y == nullptr || alpha == nullptr)) {
    return InvalidArgument("snake: x, alpha and y must be non-null");
  }
  return OkStatus();
}

Status CheckSoftmaxArgs(const char* name, const float* x, int64_t rows, int64_t cols,
                        const float* y) {
  if (rows < 0 || cols <= 0) {
    return InvalidArgument("{}: need rows >= 0 and cols > 0, got rows={} cols={}", name, rows,
                           cols);
  }
  if (rows > 0 && (x == nullptr || y == nullptr)) {
    return InvalidArgument("{}: x and y must be non-null", name);
  }
  return OkStatus();
}

Status CheckSoftmaxMaskedArgs(const float* x, int64_t mask_row_stride, int64_t rows,
                              int64_t cols, const float* y) {
  COSY_RETURN_IF_ERROR(CheckSoftmaxArgs("softmax", x, rows, cols, y));
  if (mask_row_stride < 0) {
    return InvalidArgument("softmax: mask_row_stride must be >= 0, got {}", mask_row_stride);
  }
  return OkStatus();
}

Status CheckNormArgs(const char* name, const float* x, int64_t rows, int64_t dim, float eps,
                     const float* y) {
  if (x == nullptr || y == nullptr) return InvalidArgument("{}: x and y must be non-null", name);
  if (rows < 0 || dim <= 0) {
    return InvalidArgument("{}: need rows >= 0 and dim > 0, got rows={} dim={}", name, rows, dim);
  }
  if (!(eps >= 0.0f)) return InvalidArgument("{}: eps must be >= 0, got {}", name, eps);
  return OkStatus();
}

Status CheckRopeArgs(const float* x, int64_t tokens, int64_t heads, int64_t head_dim,
                     int64_t* token_stride, int64_t start_pos, const float* cos_table,
                     const float* sin_table, int64_t max_pos) {
  if (tokens < 0 || heads <= 0 || head_dim <= 0 || head_dim % 2 != 0 || start_pos < 0) {
    return InvalidArgument(
        "rope: need tokens >= 0, heads > 0, even head_dim > 0, start_pos >= 0, got {} {} {} {}",
        tokens, heads, head_dim, start_pos);
  }
  if (*token_stride == 0) *token_stride = heads * head_dim;
  if (*token_stride < heads * head_dim) {
    return InvalidArgument("rope: token_stride {} < heads * head_dim {}", *token_stride,
                           heads * head_dim);
  }
  if (start_pos + tokens > max_pos) {
    return OutOfRange("rope: positions up to {} need a table of more than {} rows",
                      start_pos + tokens - 1, max_pos);
  }
  if (tokens > 0 && (x == nullptr || cos_table == nullptr || sin_table == nullptr)) {
    return InvalidArgument("rope: x and tables must be non-null");
  }
  return OkStatus();
}

Status CheckEmbeddingArgs(const void* table, DType dtype, int64_t vocab, int64_t dim,
                          const void* ids, int64_t n, const float* out) {
  if (dtype != DType::kF32 && dtype != DType::kBF16 && dtype != DType::kF16) {
    return Unsupported("embedding: table dtype must be f32, bf16 or f16, got {}", DTypeName(dtype));
  }
  if (vocab <= 0 || dim <= 0 || n < 0) {
    return InvalidArgument("embedding: need vocab > 0, dim > 0, n >= 0, got vocab={} dim={} n={}",
                           vocab, dim, n);
  }
  if (n > 0 && (table == nullptr || ids == nullptr || out == nullptr)) {
    return InvalidArgument("embedding: table, ids and out must be non-null");
  }
  return OkStatus();
}

}  // namespace cosyflow::kernels
