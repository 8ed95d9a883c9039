// ONNX compute kernels on the cpu kernels: MatMul/Gemm (oneDNN, constant weights pre-packed in
// cpu::Linear), Conv 1-d (cpu::Conv1d: per-tap sgemm / oneDNN grouped) and 2-d (im2col + GEMM).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/kernels/cpu/conv.h"
#include "runtime/kernels/cpu/linear.h"
#include "runtime/onnx/ops.h"

namespace cosyflow::onnx::detail {
namespace {

namespace cpu = kernels::cpu;

Status RequireF32(const Tensor& t, const char* what) {
  if (t.dtype() != DType::kF32) return InvalidArgument("{} must be f32, got {}", what, ShapeStr(t));
  return OkStatus();
}

// --- MatMul / Gemm ----------------------------------------------------------------------------

// c: [batch..., M, N] = a: [batch..., M, K] @ b: [batch..., K, N] with numpy batch broadcasting.
Status GeneralMatMul(Arena& arena, const Tensor& a_in, const Tensor& b_in, Tensor* out) {
  COSY_RETURN_IF_ERROR(RequireF32(a_in, "A"));
  COSY_RETURN_IF_ERROR(RequireF32(b_in, "B"));
  if (a_in.dim() == 0 || b_in.dim() == 0) return InvalidArgument("MatMul needs rank >= 1");
  // 1-D operands: [K] -> [1, K] (A) / [K, 1] (B); the extra dim is dropped from the result.
  Tensor a = a_in, b = b_in;
  if (a.dim() == 1) {
    COSY_ASSIGN_OR_RETURN(a, a.Unsqueeze(0));
  }
  if (b.dim() == 1) {
    COSY_ASSIGN_OR_RETURN(b, b.Unsqueeze(1));
  }
  const int64_t m = a.shape()[a.dim() - 2], k = a.shape()[a.dim() - 1];
  const int64_t n = b.shape()[b.dim() - 1];
  if (b.shape()[b.dim() - 2] != k) {
    return InvalidArgument("inner dims differ: {} @ {}", ShapeStr(a_in), ShapeStr(b_in));
  }
  Dims a_batch, b_batch;
  for (int i = 0; i < a.dim() - 2; ++i) a_batch.push_back(a.shape()[i]);
  for (int i = 0; i < b.dim() - 2; ++i) b_batch.push_back(b.shape()[i]);
  std::array<Dims, 2> batches{a_batch, b_batch};
  COSY_ASSIGN_OR_RETURN(Dims batch, BroadcastShape(batches));
  Dims shape = batch;
  if (a_in.dim() > 1) shape.push_back(m);
  if (b_in.dim() > 1) shape.push_back(n);
  COSY_ASSIGN_OR_RETURN(*out, arena.Alloc(shape, DType::kF32));
  const int64_t nb = batch.Product();
  if (nb == 0 || m == 0 || n == 0) return OkStatus();
  float* c = out->data<float>();
  if (k == 0) {
    std::fill_n(c, out->numel(), 0.0f);
    return OkStatus();
  }
  kernels::MatMulParams p;
  p.m = m, p.n = n, p.k = k;
  if (b_batch.Product() == 1) {
    p.m = m * a_batch.Product();  // shared B: fold A's batch into its rows
    return cpu::MatMul(p, a.data<float>(), b.data<float>(), nullptr, c);
  }
  if (a_batch == batch && b_batch == batch) {
    p.batch = nb;
    return cpu::MatMul(p, a.data<float>(), b.data<float>(), nullptr, c);
  }
  if (a_batch.Product() == 1 && b_batch == batch) {
    p.batch = nb;
    p.stride_a = 0;
    return cpu::MatMul(p, a.data<float>(), b.data<float>(), nullptr, c);
  }
  // Mixed broadcasting: one product per output batch entry.
  std::array<Dims, 2> strides{BroadcastStrides(a_batch, batch), BroadcastStrides(b_batch, batch)};
  Status status;
  ForEachBroadcast<2>(batch, strides, [&](int64_t o, const std::array<int64_t, 2>& off) {
    if (!status.ok()) return;
    status = cpu::MatMul(p, a.data<float>() + off[0] * m * k, b.data<float>() + off[1] * k * n,
                         nullptr, c + o * m * n);
  });
  return status;
}

Result<Kernel> MakeMatMul(const NodeView& node) {
  const Tensor* w = node.constant_inputs.size() > 1 ? node.constant_inputs[1] : nullptr;
  if (w == nullptr || w->dim() != 2 || w->dtype() != DType::kF32) {
    return Kernel([](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
      return GeneralMatMul(arena, *in[0], *in[1], &out[0]);
    });
  }
  // Constant [K, N] weight: pre-packed once as an nn.Linear-layout [N, K] cpu::Linear.
  const int64_t k = w->shape()[0], n = w->shape()[1];
  std::unique_ptr<float[]> wt(new float[static_cast<size_t>(n * k)]);
  const float* src = w->data<float>();
  constexpr int64_t kTile = 32;  // tiled transpose: both sides stay in cache
  for (int64_t i0 = 0; i0 < k; i0 += kTile) {
    for (int64_t j0 = 0; j0 < n; j0 += kTile) {
      for (int64_t i = i0; i < std::min(k, i0 + kTile); ++i) {
        for (int64_t j = j0; j < std::min(n, j0 + kTile); ++j) wt[j * k + i] = src[i * n + j];
      }
    }
  }
  COSY_ASSIGN_OR_RETURN(std::unique_ptr<cpu::Linear> lin,
                        cpu::Linear::Create(wt.get(), nullptr, n, k));
  std::shared_ptr<const cpu::Linear> linear(std::move(lin));
  if (node.absorbed) (*node.absorbed)[1] = true;
  return Kernel([linear, k, n](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& a = *in[0];
    COSY_RETURN_IF_ERROR(RequireF32(a, "A"));
    if (a.dim() < 1 || a.shape()[a.dim() - 1] != k) {
      return InvalidArgument("A {} does not match the weight [{},{}]", ShapeStr(a), k, n);
    }
    Dims shape = a.shape();
    shape[shape.size() - 1] = n;
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(shape, DType::kF32));
    const int64_t m = a.numel() / std::max<int64_t>(k, 1);
    if (m == 0) return OkStatus();
    return linear->Forward(a.data<float>(), m, out[0].data<float>());
  });
}

// Gemm: Y = alpha * op(A) @ op(B) + beta * C (C broadcast to [M, N]).
Result<Kernel> MakeGemm(const NodeView& node) {
  const float alpha = AttrFloat(node.proto, "alpha", 1.0f);
  const float beta = AttrFloat(node.proto, "beta", 1.0f);
  const bool ta = AttrInt(node.proto, "transA", 0) != 0;
  const bool tb = AttrInt(node.proto, "transB", 0) != 0;
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& a = *in[0];
    const Tensor& b = *in[1];
    COSY_RETURN_IF_ERROR(RequireF32(a, "A"));
    COSY_RETURN_IF_ERROR(RequireF32(b, "B"));
    if (a.dim() != 2 || b.dim() != 2) return InvalidArgument("Gemm needs 2-D A and B");
    const int64_t m = ta ? a.shape()[1] : a.shape()[0], k = ta ? a.shape()[0] : a.shape()[1];
    const int64_t n = tb ? b.shape()[0] : b.shape()[1];
    if ((tb ? b.shape()[1] : b.shape()[0]) != k) {
      return InvalidArgument("inner dims differ: {} @ {}", ShapeStr(a), ShapeStr(b));
    }
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(Dims{m, n}, DType::kF32));
    float* y = out[0].data<float>();
    kernels::MatMulParams p;
    p.m = m, p.n = n, p.k = k, p.trans_a = ta, p.trans_b = tb, p.alpha = alpha;
    COSY_RETURN_IF_ERROR(cpu::MatMul(p, a.data<float>(), b.data<float>(), nullptr, y));
    if (in.size() > 2 && in[2] && beta != 0.0f) {
      const Tensor& c = *in[2];
      COSY_RETURN_IF_ERROR(RequireF32(c, "C"));
      std::array<Dims, 2> shapes{c.shape(), out[0].shape()};
      COSY_ASSIGN_OR_RETURN(Dims bs, BroadcastShape(shapes));
      if (bs != out[0].shape())
        return InvalidArgument("C {} does not broadcast to [M,N]", ShapeStr(c));
      std::array<Dims, 1> s{BroadcastStrides(c.shape(), out[0].shape())};
      const float* pc = c.data<float>();
      ForEachBroadcast<1>(out[0].shape(), s, [&](int64_t o, const std::array<int64_t, 1>& off) {
        y[o] += beta * pc[off[0]];
      });
    }
    return OkStatus();
  });
}

// --- Conv -------------------------------------------------------------------------------------

struct ConvAttrs {
  std::vector<int64_t> strides, dilations, pads;
  int64_t group = 1;
  std::string auto_pad;
};

// pads for one spatial dim (auto_pad SAME_* computed from the input length).
void ConvPads(const ConvAttrs& c, int d, int nd, int64_t len, int64_t kernel, int64_t* pb,
              int64_t* pe) {
  const int64_t s = c.strides[d], dil = c.dilations[d];
  if (c.auto_pad == "SAME_UPPER" || c.auto_pad == "SAME_LOWER") {
    const int64_t out = (len + s - 1) / s;
    const int64_t total = std::max<int64_t>((out - 1) * s + (kernel - 1) * dil + 1 - len, 0);
    const int64_t small = total / 2, big = total - small;
    *pb = c.auto_pad == "SAME_UPPER" ? small : big;
    *pe = c.auto_pad == "SAME_UPPER" ? big : small;
  } else if (c.auto_pad == "VALID") {
    *pb = *pe = 0;
  } else {
    *pb = c.pads[d];
    *pe = c.pads[d + nd];
  }
}

// 2-d convolution: im2col per (batch, group), then one GEMM W_g [Mg, Cg*kh*kw] @ col.
Status Conv2d(Arena& arena, const ConvAttrs& c, const Tensor& x, const Tensor& w, const float* bias,
              Tensor* out) {
  const int64_t nb = x.shape()[0], cin = x.shape()[1], h = x.shape()[2], wd = x.shape()[3];
  const int64_t m = w.shape()[0], cg = w.shape()[1], kh = w.shape()[2], kw = w.shape()[3];
  const int64_t g = c.group;
  int64_t pt, pb, pl, pr;
  ConvPads(c, 0, 2, h, kh, &pt, &pb);
  ConvPads(c, 1, 2, wd, kw, &pl, &pr);
  const int64_t sh = c.strides[0], sw = c.strides[1], dh = c.dilations[0], dw = c.dilations[1];
  const int64_t oh = (h + pt + pb - (kh - 1) * dh - 1) / sh + 1;
  const int64_t ow = (wd + pl + pr - (kw - 1) * dw - 1) / sw + 1;
  if (oh < 1 || ow < 1) return InvalidArgument("input {} is too small for the kernel", ShapeStr(x));
  if (cin != cg * g || m % g != 0) {
    return InvalidArgument("input {} does not match weight {} with group {}", ShapeStr(x),
                           ShapeStr(w), g);
  }
  COSY_ASSIGN_OR_RETURN(*out, arena.Alloc(Dims{nb, m, oh, ow}, DType::kF32));
  const int64_t kdim = cg * kh * kw, cols = oh * ow, mg = m / g;
  // im2col in blocks of output rows, sized to stay in cache (~512 KB), each followed by its GEMM
  // into the block's columns of y (row stride `cols`).
  const int64_t block = std::clamp<int64_t>((512 << 10) / (kdim * ow * 4), 1, oh);
  COSY_ASSIGN_OR_RETURN(Tensor col, arena.Alloc(Dims{kdim, block * ow}, DType::kF32));
  float* pc = col.data<float>();
  for (int64_t b = 0; b < nb; ++b) {
    for (int64_t gi = 0; gi < g; ++gi) {
      const float* xg = x.data<float>() + (b * cin + gi * cg) * h * wd;
      float* y = out->data<float>() + (b * m + gi * mg) * cols;
      for (int64_t i0 = 0; i0 < oh; i0 += block) {
        const int64_t rows = std::min(block, oh - i0), bc = rows * ow;
        // Row (ci, ki, kj) of col holds x[ci, i*sh - pt + ki*dh, j*sw - pl + kj*dw] over the
        // block's (i, j).
#pragma omp parallel for schedule(static) if (kdim * bc > 32768)
        for (int64_t r = 0; r < kdim; ++r) {
          const int64_t ci = r / (kh * kw), ki = (r / kw) % kh, kj = r % kw;
          float* row = pc + r * bc;
          // Output columns j whose input column lies inside [0, wd).
          const int64_t off = kj * dw - pl;
          const int64_t j_lo = std::clamp<int64_t>(off >= 0 ? 0 : (-off + sw - 1) / sw, 0, ow);
          const int64_t j_hi =
              std::clamp<int64_t>(wd - off > 0 ? (wd - off + sw - 1) / sw : 0, j_lo, ow);
          for (int64_t i = 0; i < rows; ++i) {
            float* dst = row + i * ow;
            const int64_t yi = (i0 + i) * sh - pt + ki * dh;
            if (yi < 0 || yi >= h) {
              std::fill_n(dst, ow, 0.0f);
              continue;
            }
            const float* src = xg + (ci * h + yi) * wd + off;
            std::fill_n(dst, j_lo, 0.0f);
            if (sw == 1) {
              std::copy(src + j_lo, src + j_hi, dst + j_lo);
            } else {
              for (int64_t j = j_lo; j < j_hi; ++j) dst[j] = src[j * sw];
            }
            std::fill(dst + j_hi, dst + ow, 0.0f);
          }
        }
        float* yb = y + i0 * ow;
        kernels::MatMulParams p;
        p.m = mg, p.n = bc, p.k = kdim, p.ldc = cols;
        if (bias) {  // C starts as the bias, the product is summed onto it (beta = 1)
          for (int64_t o = 0; o < mg; ++o) std::fill_n(yb + o * cols, bc, bias[gi * mg + o]);
          p.beta = 1.0f;
        }
        COSY_RETURN_IF_ERROR(cpu::MatMul(p, w.data<float>() + gi * mg * kdim, pc, nullptr, yb));
      }
    }
  }
  arena.Recycle(std::move(col));
  return OkStatus();
}

Result<Kernel> MakeConv(const NodeView& node) {
  const Tensor* w_const = node.constant_inputs.size() > 1 ? node.constant_inputs[1] : nullptr;
  const Tensor* b_const = node.constant_inputs.size() > 2 ? node.constant_inputs[2] : nullptr;
  const bool has_bias = node.proto.input_size() > 2 && !node.proto.input(2).empty();
  ConvAttrs c;
  c.group = AttrInt(node.proto, "group", 1);
  c.auto_pad = AttrString(node.proto, "auto_pad", "NOTSET");
  c.strides = AttrInts(node.proto, "strides");
  c.dilations = AttrInts(node.proto, "dilations");
  c.pads = AttrInts(node.proto, "pads");
  // Spatial rank from kernel_shape or the constant weight; checked again per call.
  int nd = static_cast<int>(AttrInts(node.proto, "kernel_shape").size());
  if (nd == 0 && w_const) nd = w_const->dim() - 2;
  if (nd == 0) return Unsupported("Conv needs kernel_shape or a constant weight");
  if (nd > 2) return Unsupported("Conv with {} spatial dims (supported: 1, 2)", nd);
  if (c.strides.empty()) c.strides.assign(nd, 1);
  if (c.dilations.empty()) c.dilations.assign(nd, 1);
  if (c.pads.empty()) c.pads.assign(2 * nd, 0);
  if (static_cast<int>(c.strides.size()) != nd || static_cast<int>(c.dilations.size()) != nd ||
      static_cast<int>(c.pads.size()) != 2 * nd) {
    return InvalidArgument("Conv strides/dilations/pads do not match {} spatial dims", nd);
  }
  // 1-d with a constant weight and explicit pads: a create-once cpu::Conv1d layer.
  std::shared_ptr<const cpu::Conv1d> layer;
  if (nd == 1 && w_const && w_const->dim() == 3 && w_const->dtype() == DType::kF32 &&
      (!has_bias || b_const) && (c.auto_pad == "NOTSET" || c.auto_pad == "VALID")) {
    kernels::Conv1dParams p;
    p.out_channels = w_const->shape()[0];
    p.in_channels = w_const->shape()[1] * c.group;
    p.kernel_size = w_const->shape()[2];
    p.stride = c.strides[0], p.dilation = c.dilations[0], p.groups = c.group;
    if (c.auto_pad == "NOTSET") p.pad_left = c.pads[0], p.pad_right = c.pads[1];
    COSY_ASSIGN_OR_RETURN(
        std::unique_ptr<cpu::Conv1d> l,
        cpu::Conv1d::Create(p, w_const->data<float>(), b_const ? b_const->data<float>() : nullptr));
    layer = std::move(l);
    if (node.absorbed) {
      (*node.absorbed)[1] = true;
      if (has_bias) (*node.absorbed)[2] = true;
    }
  }
  return Kernel([c, nd, layer](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    COSY_RETURN_IF_ERROR(RequireF32(x, "X"));
    if (layer) {  // weights live in the layer
      const kernels::Conv1dParams& p = layer->params();
      if (x.dim() != 3 || x.shape()[1] != p.in_channels) {
        return InvalidArgument("X {} must be [N, {}, T]", ShapeStr(x), p.in_channels);
      }
      const int64_t nb = x.shape()[0], t_in = x.shape()[2];
      COSY_ASSIGN_OR_RETURN(int64_t t_out, layer->OutputLength(t_in));
      COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(Dims{nb, p.out_channels, t_out}, DType::kF32));
      if (nb == 0) return OkStatus();
      return layer->Forward(x.data<float>(), nb, t_in, out[0].data<float>());
    }
    const Tensor& w = *in[1];
    const Tensor* b = in.size() > 2 ? in[2] : nullptr;
    COSY_RETURN_IF_ERROR(RequireF32(w, "W"));
    if (x.dim() != nd + 2 || w.dim() != nd + 2) {
      return InvalidArgument("X {} and W {} must have rank {}", ShapeStr(x), ShapeStr(w), nd + 2);
    }
    if (b && (b->dtype() != DType::kF32 || b->numel() != w.shape()[0])) {
      return InvalidArgument("bias {} does not match W {}", ShapeStr(*b), ShapeStr(w));
    }
    if (nd == 2) return Conv2d(arena, c, x, w, b ? b->data<float>() : nullptr, &out[0]);
    const int64_t nb = x.shape()[0], t_in = x.shape()[2];
    if (x.shape()[1] != w.shape()[1] * c.group) {
      return InvalidArgument("input {} has {} channels, W {} with group {} needs {}", ShapeStr(x),
                             x.shape()[1], ShapeStr(w), c.group, w.shape()[1] * c.group);
    }
    kernels::Conv1dParams p;
    p.out_channels = w.shape()[0];
    p.in_channels = x.shape()[1];
    p.kernel_size = w.shape()[2];
    p.stride = c.strides[0], p.dilation = c.dilations[0], p.groups = c.group;
    ConvPads(c, 0, 1, t_in, p.kernel_size, &p.pad_left, &p.pad_right);
    COSY_RETURN_IF_ERROR(kernels::ValidateConv1dParams(p));
    COSY_ASSIGN_OR_RETURN(int64_t t_out, kernels::Conv1dOutputLength(p, t_in));
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(Dims{nb, p.out_channels, t_out}, DType::kF32));
    return cpu::Conv1dForward(p, x.data<float>(), nb, t_in, w.data<float>(),
                              b ? b->data<float>() : nullptr, out[0].data<float>());
  });
}

const OpEntry kOps[] = {
    {"MatMul", MakeMatMul},
    {"Gemm", MakeGemm},
    {"Conv", MakeConv},
};

}  // namespace

std::span<const OpEntry> NnOps() { return kOps; }

}  // namespace cosyflow::onnx::detail
