// HiFT building blocks: Conv1d / ConvTranspose1d as sgemm calls, Snake and LeakyReLU per row.
#include "nodes/hift/hift_layers.h"

#include <algorithm>
#include <cstring>

#include <oneapi/dnnl/dnnl.h>

#include "runtime/kernels/cpu/activation.h"

namespace cosyflow::hift {
namespace {

// Row-major C[M,N] = alpha*A[M,K]·B[K,N] + beta*C (A transposed when ta == 'T').
Status Sgemm(char ta, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
             const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return OkStatus();
  const dnnl_status_t st = dnnl_sgemm(ta, 'N', m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
  if (st != dnnl_success) {
    return Internal("hift: dnnl_sgemm({}x{}x{}) failed with status {}", m, n, k,
                    static_cast<int>(st));
  }
  return OkStatus();
}

Result<std::vector<float>> CopyF32(const Tensor& t, const std::string& what) {
  auto c = t.To(DType::kF32);
  if (!c.ok()) return c.status().WithContext(what);
  const float* p = c->data<float>();
  return std::vector<float>(p, p + c->numel());
}

}  // namespace

Result<Conv1d> Conv1d::Load(const Checkpoint& ckpt, const std::string& name, int cin, int cout,
                            int k, int stride, int padding, int dilation) {
  COSY_ASSIGN_OR_RETURN(Tensor w, ckpt.Get(name + ".weight", Dims{cout, cin, k}));
  COSY_ASSIGN_OR_RETURN(Tensor b, ckpt.Get(name + ".bias", Dims{cout}));
  Conv1d c;
  c.cin_ = cin, c.cout_ = cout, c.k_ = k, c.stride_ = stride, c.pad_ = padding;
  c.dil_ = dilation;
  COSY_ASSIGN_OR_RETURN(std::vector<float> wf, CopyF32(w, ckpt.path() + ": " + name));
  COSY_ASSIGN_OR_RETURN(c.b_, CopyF32(b, ckpt.path() + ": " + name));
  c.w_.resize(wf.size());
  for (int o = 0; o < cout; ++o) {
    for (int i = 0; i < cin; ++i) {
      for (int kk = 0; kk < k; ++kk) {
        c.w_[(static_cast<size_t>(o) * k + kk) * cin + i] =
            wf[(static_cast<size_t>(o) * cin + i) * k + kk];
      }
    }
  }
  return c;
}

Status Conv1d::Forward(const Planar& x, const Planar& y, bool accumulate) const {
  if (x.channels != cin_ || y.channels != cout_ || stride_ != 1 ||
      y.time != OutLength(x.time)) {
    return InvalidArgument("hift conv1d: shapes x [{},{}] y [{},{}] do not fit ({}->{}, k {}, "
                           "stride {})", x.channels, x.time, y.channels, y.time, cin_, cout_, k_,
                           stride_);
  }
  for (int o = 0; o < cout_; ++o) {
    float* yr = y.row(o);
    const float bias = b_[o];
    if (accumulate) {
      for (int64_t t = 0; t < y.time; ++t) yr[t] += bias;
    } else {
      std::fill(yr, yr + y.time, bias);
    }
  }
  for (int kk = 0; kk < k_; ++kk) {
    COSY_RETURN_IF_ERROR(Sgemm('N', cout_, y.time, cin_, w_.data() + static_cast<size_t>(kk) * cin_,
                               static_cast<int64_t>(k_) * cin_, x.data + kk * dil_, x.ld, 1.0f,
                               y.data, y.ld));
  }
  return OkStatus();
}

Status Conv1d::ForwardStrided(const Planar& x, float* col, const Planar& y) const {
  const int64_t tout = OutLength(x.time);
  if (x.channels != cin_ || y.channels != cout_ || y.time != tout) {
    return InvalidArgument("hift conv1d (strided): shapes x [{},{}] y [{},{}] do not fit",
                           x.channels, x.time, y.channels, y.time);
  }
  // col[(kk, ci), t] = x[ci, t*stride + kk*dil - pad] (zero outside).
  for (int kk = 0; kk < k_; ++kk) {
    for (int ci = 0; ci < cin_; ++ci) {
      float* dst = col + (static_cast<int64_t>(kk) * cin_ + ci) * tout;
      const float* src = x.row(ci);
      for (int64_t t = 0; t < tout; ++t) {
        const int64_t s = t * stride_ + kk * dil_ - pad_;
        dst[t] = (s >= 0 && s < x.time) ? src[s] : 0.0f;
      }
    }
  }
  for (int o = 0; o < cout_; ++o) std::fill(y.row(o), y.row(o) + tout, b_[o]);
  return Sgemm('N', cout_, tout, static_cast<int64_t>(k_) * cin_, w_.data(),
               static_cast<int64_t>(k_) * cin_, col, tout, 1.0f, y.data, y.ld);
}

Result<ConvTranspose1d> ConvTranspose1d::Load(const Checkpoint& ckpt, const std::string& name,
                                              int cin, int cout, int k, int stride, int padding) {
  COSY_ASSIGN_OR_RETURN(Tensor w, ckpt.Get(name + ".weight", Dims{cin, cout, k}));
  COSY_ASSIGN_OR_RETURN(Tensor b, ckpt.Get(name + ".bias", Dims{cout}));
  ConvTranspose1d c;
  c.cin_ = cin, c.cout_ = cout, c.k_ = k, c.u_ = stride, c.p_ = padding;
  COSY_ASSIGN_OR_RETURN(c.w_, CopyF32(w, ckpt.path() + ": " + name));
  COSY_ASSIGN_OR_RETURN(c.b_, CopyF32(b, ckpt.path() + ": " + name));
  return c;
}

Status ConvTranspose1d::Forward(const Planar& x, float* z, const Planar& y) const {
  const int64_t tin = x.time, tout = OutLength(tin);
  if (x.channels != cin_ || y.channels != cout_ || y.time != tout) {
    return InvalidArgument("hift conv_transpose1d: shapes x [{},{}] y [{},{}] do not fit",
                           x.channels, x.time, y.channels, y.time);
  }
  // z[(co, kk), s] = sum_ci W[ci, co, kk] x[ci, s]; then out[co, s*u - p + kk] += z.
  COSY_RETURN_IF_ERROR(Sgemm('T', static_cast<int64_t>(cout_) * k_, tin, cin_, w_.data(),
                             static_cast<int64_t>(cout_) * k_, x.data, x.ld, 0.0f, z, tin));
  for (int o = 0; o < cout_; ++o) {
    float* yr = y.row(o);
    std::fill(yr, yr + tout, b_[o]);
    for (int kk = 0; kk < k_; ++kk) {
      const float* zr = z + (static_cast<int64_t>(o) * k_ + kk) * tin;
      for (int64_t s = 0; s < tin; ++s) {
        const int64_t t = s * u_ - p_ + kk;
        if (t >= 0 && t < tout) yr[t] += zr[s];
      }
    }
  }
  return OkStatus();
}

Result<std::vector<float>> LoadAlpha(const Checkpoint& ckpt, const std::string& name, int c) {
  COSY_ASSIGN_OR_RETURN(Tensor a, ckpt.Get(name));
  const bool ok_shape = (a.dim() == 1 && a.size(0) == c) ||
                        (a.dim() == 2 && a.size(0) == c && a.size(1) == 1);
  if (!ok_shape) {
    return InvalidArgument("{}: tensor '{}' has shape {}, expected [{}] or [{},1]", ckpt.path(),
                           name, a.shape().ToString(), c, c);
  }
  return CopyF32(a, ckpt.path() + ": " + name);
}

Status SnakeRows(const Planar& x, const float* alpha, const Planar& y) {
  for (int64_t c = 0; c < x.channels; ++c) {
    COSY_RETURN_IF_ERROR(kernels::cpu::Snake(x.row(c), alpha + c, 1, x.time, y.row(c)));
  }
  return OkStatus();
}

void LeakyReluRows(const Planar& x, float slope, const Planar& y) {
  for (int64_t c = 0; c < x.channels; ++c) {
    const float* xr = x.row(c);
    float* yr = y.row(c);
    for (int64_t t = 0; t < x.time; ++t) yr[t] = xr[t] >= 0.0f ? xr[t] : xr[t] * slope;
  }
}

void ZeroPadColumns(const Planar& x, int pad) {
  if (pad == 0) return;
  for (int64_t c = 0; c < x.channels; ++c) {
    std::memset(x.row(c) - pad, 0, sizeof(float) * pad);
    std::memset(x.row(c) + x.time, 0, sizeof(float) * pad);
  }
}

}  // namespace cosyflow::hift
