// Reference (plain-loop) matrix products: the oracle for the oneDNN kernels in cpu/linear.h.
#pragma once

#include <cstdint>

#include "runtime/status.h"

namespace cosyflow::kernels {

// Describes C[b] = alpha * op(A[b]) · op(B[b]) + bias + beta * C[b] for b in [0, batch).
// op(A) is [m, k]: A[b] is stored [m, k] row-major, or [k, m] when trans_a.
// op(B) is [k, n]: B[b] is stored [k, n] row-major, or [n, k] when trans_b (nn.Linear layout).
// C[b] is [m, n] row-major. bias (optional) is [n], added to every row.
struct MatMulParams {
  int64_t batch = 1;
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  bool trans_a = false;
  bool trans_b = false;
  // Row strides in elements between consecutive stored rows; 0 = dense (the stored row length).
  int64_t lda = 0;
  int64_t ldb = 0;
  int64_t ldc = 0;
  // Batch strides in elements between consecutive matrices; -1 = dense (rows * ld).
  // 0 for A or B broadcasts that operand over the batch (e.g. shared keys in attention).
  int64_t stride_a = -1;
  int64_t stride_b = -1;
  int64_t stride_c = -1;
  float alpha = 1.0f;
  float beta = 0.0f;
};

// Checks sizes (> 0), leading dimensions (>= stored row length) and batch strides (>= 0 or -1;
// C cannot be broadcast). Strides that make elements of C alias each other are the caller's bug.
Status ValidateMatMulParams(const MatMulParams& p);

// Resolved strides of one call: stored row length, leading dimension and batch stride.
struct MatMulStrides {
  int64_t lda, ldb, ldc;
  int64_t stride_a, stride_b, stride_c;
};
MatMulStrides ResolveMatMulStrides(const MatMulParams& p);

// Parameters of LinearForward (y: [m, n] = x: [m, k] · w^T, w: [n, k]) and of BatchedMatMul
// (see ref::BatchedMatMul), shared by the ref and cpu versions.
MatMulParams LinearForwardParams(int64_t m, int64_t n, int64_t k);
MatMulParams BatchedMatMulParams(int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_a,
                                 bool trans_b, bool broadcast_b, float alpha);

namespace ref {

// a, b, c, bias: see MatMulParams; f32, accumulated in double.
Status MatMul(const MatMulParams& p, const float* a, const float* b, const float* bias, float* c);

// y: [m, n] = x: [m, k] · w^T + bias; w: [n, k] f32 row-major (PyTorch nn.Linear), bias [n] or
// null.
Status LinearForward(const float* x, const float* w, const float* bias, float* y, int64_t m,
                     int64_t n, int64_t k);

// c: [batch, m, n] = alpha * op(a) · op(b); a: [batch, m, k] ([batch, k, m] if trans_a);
// b: [batch or 1, k, n] ([.., n, k] if trans_b), one b shared by all batches when broadcast_b.
Status BatchedMatMul(const float* a, const float* b, float* c, int64_t batch, int64_t m, int64_t n,
                     int64_t k, bool trans_a, bool trans_b, bool broadcast_b, float alpha = 1.0f);

}  // namespace ref
}  // namespace cosyflow::kernels
