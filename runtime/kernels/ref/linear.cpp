// Reference matrix products: straightforward loops with double accumulation.
#include "runtime/kernels/ref/linear.h"

namespace cosyflow::kernels {

Status ValidateMatMulParams(const MatMulParams& p) {
  if (p.batch <= 0 || p.m <= 0 || p.n <= 0 || p.k <= 0) {
    return InvalidArgument("matmul: batch, m, n, k must be > 0, got batch={} m={} n={} k={}",
                           p.batch, p.m, p.n, p.k);
  }
  const int64_t row_a = p.trans_a ? p.m : p.k;
  const int64_t row_b = p.trans_b ? p.k : p.n;
  if (p.lda < 0 || (p.lda != 0 && p.lda < row_a)) {
    return InvalidArgument("matmul: lda must be 0 or >= {}, got {}", row_a, p.lda);
  }
  if (p.ldb < 0 || (p.ldb != 0 && p.ldb < row_b)) {
    return InvalidArgument("matmul: ldb must be 0 or >= {}, got {}", row_b, p.ldb);
  }
  if (p.ldc < 0 || (p.ldc != 0 && p.ldc < p.n)) {
    return InvalidArgument("matmul: ldc must be 0 or >= n ({}), got {}", p.n, p.ldc);
  }
  if (p.stride_a < -1 || p.stride_b < -1 || p.stride_c < -1) {
    return InvalidArgument("matmul: batch strides must be >= 0 or -1 (dense), got a={} b={} c={}",
                           p.stride_a, p.stride_b, p.stride_c);
  }
  if (p.stride_c == 0 && p.batch > 1) {
    return InvalidArgument("matmul: C cannot be broadcast over a batch of {}", p.batch);
  }
  return OkStatus();
}

MatMulStrides ResolveMatMulStrides(const MatMulParams& p) {
  MatMulStrides s;
  s.lda = p.lda != 0 ? p.lda : (p.trans_a ? p.m : p.k);
  s.ldb = p.ldb != 0 ? p.ldb : (p.trans_b ? p.k : p.n);
  s.ldc = p.ldc != 0 ? p.ldc : p.n;
  s.stride_a = p.stride_a >= 0 ? p.stride_a : (p.trans_a ? p.k : p.m) * s.lda;
  s.stride_b = p.stride_b >= 0 ? p.stride_b : (p.trans_b ? p.n : p.k) * s.ldb;
  s.stride_c = p.stride_c >= 0 ? p.stride_c : p.m * s.ldc;
  return s;
}

MatMulParams LinearForwardParams(int64_t m, int64_t n, int64_t k) {
  MatMulParams p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.trans_b = true;
  return p;
}

MatMulParams BatchedMatMulParams(int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_a,
                                 bool trans_b, bool broadcast_b, float alpha) {
  MatMulParams p;
  p.batch = batch;
  p.m = m;
  p.n = n;
  p.k = k;
  p.trans_a = trans_a;
  p.trans_b = trans_b;
  p.stride_b = broadcast_b ? 0 : -1;
  p.alpha = alpha;
  return p;
}

namespace ref {

Status MatMul(const MatMulParams& p, const float* a, const float* b, const float* bias, float* c) {
  COSY_RETURN_IF_ERROR(ValidateMatMulParams(p));
  if (a == nullptr || b == nullptr || c == nullptr) {
    return InvalidArgument("matmul: a, b and c must not be null");
  }
  const MatMulStrides s = ResolveMatMulStrides(p);
  for (int64_t bi = 0; bi < p.batch; ++bi) {
    const float* ab = a + bi * s.stride_a;
    const float* bb = b + bi * s.stride_b;
    float* cb = c + bi * s.stride_c;
    for (int64_t i = 0; i < p.m; ++i) {
      for (int64_t j = 0; j < p.n; ++j) {
        double acc = 0.0;
        for (int64_t l = 0; l < p.k; ++l) {
          const float av = p.trans_a ? ab[l * s.lda + i] : ab[i * s.lda + l];
          const float bv = p.trans_b ? bb[j * s.ldb + l] : bb[l * s.ldb + j];
          acc += static_cast<double>(av) * bv;
        }
        double out = p.alpha * acc;
        if (bias != nullptr) out += bias[j];
        if (p.beta != 0.0f) out += static_cast<double>(p.beta) * cb[i * s.ldc + j];
        cb[i * s.ldc + j] = static_cast<float>(out);
      }
    }
  }
  return OkStatus();
}

Status LinearForward(const float* x, const float* w, const float* bias, float* y, int64_t m,
                     int64_t n, int64_t k) {
  return MatMul(LinearForwardParams(m, n, k), x, w, bias, y);
}

Status BatchedMatMul(const float* a, const float* b, float* c, int64_t batch, int64_t m, int64_t n,
                     int64_t k, bool trans_a, bool trans_b, bool broadcast_b, float alpha) {
  return MatMul(BatchedMatMulParams(batch, m, n, k, trans_a, trans_b, broadcast_b, alpha), a, b,
                nullptr, c);
}

}  // namespace ref
}  // namespace cosyflow::kernels
