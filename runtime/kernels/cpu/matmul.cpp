// oneDNN matmul kernels (linear.h: MatMul, LinearForward, BatchedMatMul): run-time-shaped
// primitives cached by their static configuration.
#include <dnnl.hpp>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <tuple>

#include "runtime/kernels/cpu/dnnl_context.h"
#include "runtime/kernels/cpu/gemv.h"
#include "runtime/kernels/cpu/linear.h"

namespace cosyflow::kernels::cpu {
namespace {

using dnnl::memory;
using Dt = memory::data_type;

// What a run-time-shaped matmul primitive is specialised on.
// Shapes and leading dimensions are run-time values; which stride is 1 (the transposes) is
// not, because oneDNN only has its reference implementation for fully run-time strides.
// Batched primitives that broadcast an operand or add a bias are also specialised on the batch
// size: oneDNN cannot check broadcast compatibility against a run-time batch dimension.
struct MatMulKey {
  bool batched, trans_a, trans_b, bcast_a, bcast_b, has_bias, scaled;
  float beta;
  int64_t batch;  // 0 (run time) unless an operand is broadcast or a bias is added
  auto Tie() const {
    return std::tie(batched, trans_a, trans_b, bcast_a, bcast_b, has_bias, scaled, beta, batch);
  }
  bool operator<(const MatMulKey& o) const { return Tie() < o.Tie(); }
};

memory::desc RuntimeDesc(int ndims, bool bcast, int64_t batch, bool transposed) {
  memory::dims dims(ndims, kRt), strides(ndims, kRt);
  if (ndims == 3 && batch > 0) dims[0] = bcast ? 1 : batch;
  strides[ndims - (transposed ? 2 : 1)] = 1;
  return memory::desc(dims, Dt::f32, strides);
}

MatMulEntry MakeMatMul(const MatMulKey& key) {
  const int nd = key.batched ? 3 : 2;
  const memory::desc a = RuntimeDesc(nd, key.bcast_a, key.batch, key.trans_a);
  const memory::desc b = RuntimeDesc(nd, key.bcast_b, key.batch, key.trans_b);
  const memory::desc c = RuntimeDesc(nd, false, key.batch, false);
  memory::desc bias;
  if (key.has_bias) {
    memory::dims dims(nd, 1), strides(nd, kRt);
    dims[nd - 1] = kRt;
    strides[nd - 1] = 1;
    bias = memory::desc(dims, Dt::f32, strides);
  }
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (key.scaled) attr.set_output_scales(0, {DNNL_RUNTIME_F32_VAL});
  if (key.beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(key.beta);
    attr.set_post_ops(ops);
  }
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, bias, c), attr, DnnlEngine());
  return {dnnl::matmul(pd), pd.scratchpad_desc().data};
}

// Bounded only by the number of distinct keys (at most 2^5 * distinct betas in practice).
const MatMulEntry& GetMatMul(const MatMulKey& key) {
  static std::shared_mutex mu;
  static std::map<MatMulKey, MatMulEntry> cache;
  {
    std::shared_lock lock(mu);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  MatMulEntry entry = MakeMatMul(key);
  std::unique_lock lock(mu);
  return cache.try_emplace(key, std::move(entry)).first->second;
}

// Plain 2-D or 3-D descriptor of a stored matrix: rows x cols with leading dimension ld.
dnnl_memory_desc_t MatrixDesc(bool batched, int64_t batch, int64_t batch_stride, int64_t rows,
                              int64_t cols, int64_t ld, bool transposed) {
  // Logical dims are (rows, cols) of op(X); the storage holds the transpose when `transposed`.
  const int64_t rs = transposed ? 1 : ld, cs = transposed ? ld : 1;
  if (!batched) {
    const int64_t dims[2] = {rows, cols}, strides[2] = {rs, cs};
    return PlainDesc(2, dims, strides, dnnl_f32);
  }
  const int64_t dims[3] = {batch, rows, cols}, strides[3] = {batch_stride, rs, cs};
  return PlainDesc(3, dims, strides, dnnl_f32);
}

// alpha == 0: C = bias + beta * C without touching A and B (also avoids bias / alpha).
Status ScaleOnlyMatMul(const MatMulParams& p, const float* bias, float* c) {
  const MatMulStrides s = ResolveMatMulStrides(p);
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t i = 0; i < p.m; ++i) {
      float* row = c + b * s.stride_c + i * s.ldc;
      for (int64_t j = 0; j < p.n; ++j) {
        row[j] = (bias != nullptr ? bias[j] : 0.0f) + (p.beta != 0.0f ? p.beta * row[j] : 0.0f);
      }
    }
  }
  return OkStatus();
}

}  // namespace

Status MatMul(const MatMulParams& p, const float* a, const float* b, const float* bias, float* c) {
  COSY_RETURN_IF_ERROR(ValidateMatMulParams(p));
  if (a == nullptr || b == nullptr || c == nullptr) {
    return InvalidArgument("matmul: a, b and c must not be null");
  }
  if (p.alpha == 0.0f) return ScaleOnlyMatMul(p, bias, c);
  const MatMulStrides rs = ResolveMatMulStrides(p);
  if (p.batch > 1 && rs.stride_a == 0 && rs.stride_b == 0) {
    // oneDNN needs one operand to carry the batch; with both broadcast run each output alone.
    MatMulParams one = p;
    one.batch = 1;
    for (int64_t bi = 0; bi < p.batch; ++bi) {
      COSY_RETURN_IF_ERROR(MatMul(one, a, b, bias, c + bi * rs.stride_c));
    }
    return OkStatus();
  }
  return GuardDnnl("matmul", [&]() -> Status {
    const MatMulStrides s = ResolveMatMulStrides(p);
    MatMulKey key{p.batch > 1,
                  p.trans_a,
                  p.trans_b,
                  p.batch > 1 && s.stride_a == 0,
                  p.batch > 1 && s.stride_b == 0,
                  bias != nullptr,
                  p.alpha != 1.0f,
                  p.beta,
                  0};
    if (key.bcast_a || key.bcast_b || (key.batched && key.has_bias)) key.batch = p.batch;
    const MatMulEntry& e = GetMatMul(key);
    const int64_t ba = key.bcast_a ? 1 : p.batch, bb = key.bcast_b ? 1 : p.batch;
    const int64_t sa = key.bcast_a ? (p.trans_a ? p.k : p.m) * s.lda : s.stride_a;
    const int64_t sb = key.bcast_b ? (p.trans_b ? p.n : p.k) * s.ldb : s.stride_b;
    dnnl_exec_arg_t args[6];
    int nargs = 0;
    args[nargs++] = {
        DNNL_ARG_SRC,
        ThreadMemory(MemRole::kSrc, MatrixDesc(key.batched, ba, sa, p.m, p.k, s.lda, p.trans_a),
                     const_cast<float*>(a))};
    args[nargs++] = {
        DNNL_ARG_WEIGHTS,
        ThreadMemory(MemRole::kWeights, MatrixDesc(key.batched, bb, sb, p.k, p.n, s.ldb, p.trans_b),
                     const_cast<float*>(b))};
    args[nargs++] = {
        DNNL_ARG_DST,
        ThreadMemory(MemRole::kDst,
                     MatrixDesc(key.batched, p.batch, s.stride_c, p.m, p.n, s.ldc, false), c)};
    if (bias != nullptr) {
      // oneDNN scales the bias together with the product (alpha * (AB + bias)); pass
      // bias / alpha so that the result is alpha * AB + bias.
      const float* bias_arg = bias;
      if (key.scaled) {
        auto* scaled = static_cast<float*>(ThreadScratch(ScratchSlot::kConvert, p.n * 4));
        for (int64_t j = 0; j < p.n; ++j) scaled[j] = bias[j] / p.alpha;
        bias_arg = scaled;
      }
      const int64_t dims[3] = {1, 1, p.n}, strides[3] = {p.n, p.n, 1};
      const int nd = key.batched ? 3 : 2;
      args[nargs++] = {
          DNNL_ARG_BIAS,
          ThreadMemory(MemRole::kBias, PlainDesc(nd, dims + 3 - nd, strides + 3 - nd, dnnl_f32),
                       const_cast<float*>(bias_arg))};
    }
    float alpha = p.alpha;
    if (key.scaled) {
      const int64_t one = 1;
      args[nargs++] = {DNNL_ARG_ATTR_OUTPUT_SCALES,
                       ThreadMemory(MemRole::kScale, PlainDesc(1, &one, &one, dnnl_f32), &alpha)};
    }
    ExecuteOnThread(e.prim, e.scratchpad, args, nargs);
    return OkStatus();
  });
}

Status LinearForward(const float* x, const float* w, const float* bias, float* y, int64_t m,
                     int64_t n, int64_t k) {
  if (m >= 1 && m <= kGemvMaxM) return GemvF32(x, w, bias, y, m, n, k);  // memory bound
  return MatMul(LinearForwardParams(m, n, k), x, w, bias, y);
}

Status BatchedMatMul(const float* a, const float* b, float* c, int64_t batch, int64_t m, int64_t n,
                     int64_t k, bool trans_a, bool trans_b, bool broadcast_b, float alpha) {
  return MatMul(BatchedMatMulParams(batch, m, n, k, trans_a, trans_b, broadcast_b, alpha), a, b,
                nullptr, c);
}

}  // namespace cosyflow::kernels::cpu
