// ONNX compute kernels on the cpu kernels: MatMul/Gemm (oneDNN, constant weights pre-packed in
// cpu::Linear), Conv 1-d (cpu::Conv1d: per-tap sgemm / oneDNN grouped) and 2-d (im2col + GEMM),
// pooling, BatchNormalization, LayerNormalization, Softmax and reductions.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/kernels/cpu/conv.h"
#include "runtime/kernels/cpu/linear.h"
#include "runtime/kernels/cpu/norm.h"
#include "runtime/kernels/cpu/softmax.h"
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

// --- pooling ----------------------------------------------------------------------------------

// AveragePool / MaxPool over 1 or 2 spatial dims (PyTorch's ceil_mode rule: the last window
// must start inside the input or the left padding).
template <bool kMax>
Result<Kernel> MakePool(const NodeView& node) {
  const std::vector<int64_t> kernel = AttrInts(node.proto, "kernel_shape");
  const int nd = static_cast<int>(kernel.size());
  if (nd < 1 || nd > 2) return Unsupported("pooling over {} spatial dims (supported: 1, 2)", nd);
  const std::string auto_pad = AttrString(node.proto, "auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID") return Unsupported("auto_pad {}", auto_pad);
  if (node.proto.output_size() > 1) return Unsupported("MaxPool indices output");
  std::vector<int64_t> strides = AttrInts(node.proto, "strides");
  std::vector<int64_t> pads = AttrInts(node.proto, "pads");
  std::vector<int64_t> dil = AttrInts(node.proto, "dilations");
  if (strides.empty()) strides.assign(nd, 1);
  if (pads.empty() || auto_pad == "VALID") pads.assign(2 * nd, 0);
  if (dil.empty()) dil.assign(nd, 1);
  const bool ceil_mode = AttrInt(node.proto, "ceil_mode", 0) != 0;
  const bool include_pad = AttrInt(node.proto, "count_include_pad", 0) != 0;
  // As 2-d: a 1-d pool is an [1, L] pool.
  std::array<int64_t, 2> k{1, 1}, s{1, 1}, d{1, 1}, pb{0, 0}, pe{0, 0};
  for (int i = 0; i < nd; ++i) {
    const int j = i + 2 - nd;
    k[j] = kernel[i], s[j] = strides[i], d[j] = dil[i], pb[j] = pads[i], pe[j] = pads[i + nd];
  }
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    COSY_RETURN_IF_ERROR(RequireF32(x, "X"));
    if (x.dim() != nd + 2) return InvalidArgument("X {} must have rank {}", ShapeStr(x), nd + 2);
    std::array<int64_t, 2> len{nd == 2 ? x.shape()[2] : 1, x.shape()[x.dim() - 1]};
    std::array<int64_t, 2> olen;
    for (int j = 0; j < 2; ++j) {
      // PyTorch's pooling_output_shape: floor division, then the ceil_mode correction.
      const int64_t span = (k[j] - 1) * d[j] + 1;
      const int64_t num = len[j] + pb[j] + pe[j] - span + (ceil_mode ? s[j] - 1 : 0);
      olen[j] = (num >= 0 ? num / s[j] : -((-num + s[j] - 1) / s[j])) + 1;
      if (ceil_mode && olen[j] > 0 && (olen[j] - 1) * s[j] >= len[j] + pb[j]) --olen[j];
      if (olen[j] < 1) {
        return InvalidArgument("X {} is shorter than the pooling window {}", ShapeStr(x), k[j]);
      }
    }
    Dims shape = x.shape();
    shape[shape.size() - 1] = olen[1];
    if (nd == 2) shape[2] = olen[0];
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(shape, DType::kF32));
    const int64_t planes = x.shape()[0] * x.shape()[1];
    for (int64_t pl = 0; pl < planes; ++pl) {
      const float* src = x.data<float>() + pl * len[0] * len[1];
      float* dst = out[0].data<float>() + pl * olen[0] * olen[1];
      for (int64_t oi = 0; oi < olen[0]; ++oi) {
        for (int64_t oj = 0; oj < olen[1]; ++oj) {
          const int64_t i0 = oi * s[0] - pb[0], j0 = oj * s[1] - pb[1];
          float acc = kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
          int64_t count = 0;
          for (int64_t a = 0; a < k[0]; ++a) {
            const int64_t i = i0 + a * d[0];
            if (i < 0 || i >= len[0]) continue;
            for (int64_t b = 0; b < k[1]; ++b) {
              const int64_t j = j0 + b * d[1];
              if (j < 0 || j >= len[1]) continue;
              const float v = src[i * len[1] + j];
              acc = kMax ? std::max(acc, v) : acc + v;
              ++count;
            }
          }
          if constexpr (!kMax) {
            int64_t div = count;
            if (include_pad) {
              const int64_t hi = std::min(i0 + k[0], len[0] + pe[0]) - i0;
              const int64_t wi = std::min(j0 + k[1], len[1] + pe[1]) - j0;
              div = hi * wi;
            }
            acc = div > 0 ? acc / static_cast<float>(div) : 0.0f;
          }
          dst[oi * olen[1] + oj] = acc;
        }
      }
    }
    return OkStatus();
  });
}

// --- normalisation ----------------------------------------------------------------------------

// BatchNormalization (inference): y = x * a[c] + b[c], a = scale / sqrt(var + eps),
// b = bias - mean * a.
Result<Kernel> MakeBatchNorm(const NodeView& node) {
  if (AttrInt(node.proto, "training_mode", 0) != 0) {
    return Unsupported("BatchNormalization training_mode=1");
  }
  const float eps = AttrFloat(node.proto, "epsilon", 1e-5f);
  return Kernel([eps](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    COSY_RETURN_IF_ERROR(RequireF32(x, "X"));
    if (x.dim() < 2) return InvalidArgument("X {} needs rank >= 2", ShapeStr(x));
    const int64_t c = x.shape()[1];
    for (int i = 1; i < 5; ++i) {
      COSY_RETURN_IF_ERROR(RequireF32(*in[i], "scale/B/mean/var"));
      if (in[i]->numel() != c) {
        return InvalidArgument("parameter {} does not match {} channels", ShapeStr(*in[i]), c);
      }
    }
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(x.shape(), DType::kF32));
    const int64_t inner = c == 0 ? 0 : x.numel() / (x.shape()[0] * c);
    const float *sc = in[1]->data<float>(), *bi = in[2]->data<float>();
    const float *mu = in[3]->data<float>(), *var = in[4]->data<float>();
    const float* src = x.data<float>();
    float* dst = out[0].data<float>();
    for (int64_t n = 0; n < x.shape()[0]; ++n) {
      for (int64_t ch = 0; ch < c; ++ch) {
        const float a = sc[ch] / std::sqrt(var[ch] + eps);
        const float b = bi[ch] - mu[ch] * a;
        const int64_t off = (n * c + ch) * inner;
        for (int64_t i = 0; i < inner; ++i) dst[off + i] = src[off + i] * a + b;
      }
    }
    return OkStatus();
  });
}

// LayerNormalization over dims [axis, rank); Scale/B hold exactly those dims.
Result<Kernel> MakeLayerNorm(const NodeView& node) {
  const int64_t axis_attr = AttrInt(node.proto, "axis", -1);
  const float eps = AttrFloat(node.proto, "epsilon", 1e-5f);
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    COSY_RETURN_IF_ERROR(RequireF32(x, "X"));
    COSY_ASSIGN_OR_RETURN(int axis, NormAxis(axis_attr, x.dim(), "axis"));
    int64_t rows = 1, dim = 1;
    for (int i = 0; i < axis; ++i) rows *= x.shape()[i];
    for (int i = axis; i < x.dim(); ++i) dim *= x.shape()[i];
    const Tensor* scale = in[1];
    const Tensor* bias = in.size() > 2 ? in[2] : nullptr;
    COSY_RETURN_IF_ERROR(RequireF32(*scale, "Scale"));
    if (scale->numel() != dim || (bias && (bias->numel() != dim || bias->dtype() != DType::kF32))) {
      return InvalidArgument("Scale/B must hold the {} normalised values of {}", dim, ShapeStr(x));
    }
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(x.shape(), DType::kF32));
    if (rows * dim == 0) return OkStatus();
    return cpu::LayerNorm(x.data<float>(), scale->data<float>(),
                          bias ? bias->data<float>() : nullptr, rows, dim, eps,
                          out[0].data<float>());
  });
}

// Softmax / LogSoftmax: opset >= 13 over one axis, earlier over the flattened dims [axis, rank).
template <bool kLog>
Result<Kernel> MakeSoftmax(const NodeView& node) {
  const bool flatten = node.opset < 13;
  const int64_t axis_attr = AttrInt(node.proto, "axis", flatten ? 1 : -1);
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    COSY_RETURN_IF_ERROR(RequireF32(x, "input"));
    COSY_ASSIGN_OR_RETURN(int axis, NormAxis(axis_attr, x.dim(), "axis"));
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(x.shape(), DType::kF32));
    int64_t outer = 1, len = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= x.shape()[i];
    if (flatten) {
      for (int i = axis; i < x.dim(); ++i) len *= x.shape()[i];
    } else {
      len = x.shape()[axis];
      for (int i = axis + 1; i < x.dim(); ++i) inner *= x.shape()[i];
    }
    if (x.numel() == 0) return OkStatus();
    const float* src = x.data<float>();
    float* dst = out[0].data<float>();
    if (inner == 1) {
      return kLog ? cpu::LogSoftmax(src, outer, len, dst) : cpu::Softmax(src, outer, len, dst);
    }
    // Non-last axis: strided rows.
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const float* s = src + o * len * inner + i;
        float* d = dst + o * len * inner + i;
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < len; ++j) mx = std::max(mx, s[j * inner]);
        float sum = 0.0f;
        for (int64_t j = 0; j < len; ++j) sum += std::exp(s[j * inner] - mx);
        for (int64_t j = 0; j < len; ++j) {
          d[j * inner] =
              kLog ? s[j * inner] - mx - std::log(sum) : std::exp(s[j * inner] - mx) / sum;
        }
      }
    }
    return OkStatus();
  });
}

// --- reductions -------------------------------------------------------------------------------

enum class ReduceKind { kSum, kMean, kProd, kMax, kMin, kSumSquare, kL2 };

// axes come from input 1 for ReduceSum at opset >= 13 and every reduction at opset >= 18.
template <ReduceKind K>
Result<Kernel> MakeReduce(const NodeView& node) {
  const bool keepdims = AttrInt(node.proto, "keepdims", 1) != 0;
  const bool noop_empty = AttrInt(node.proto, "noop_with_empty_axes", 0) != 0;
  const std::vector<int64_t> attr_axes = AttrInts(node.proto, "axes");
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    std::vector<int64_t> axes = attr_axes;
    if (in.size() > 1 && in[1]) {
      COSY_ASSIGN_OR_RETURN(axes, ToInt64s(*in[1], "axes"));
    }
    if (axes.empty() && noop_empty) {
      out[0] = x;
      return OkStatus();
    }
    std::array<bool, kMaxDims> red{};
    for (int64_t a : axes) {
      COSY_ASSIGN_OR_RETURN(int ax, NormAxis(a, x.dim(), "axes"));
      red[ax] = true;
    }
    if (axes.empty()) red.fill(true);
    Dims kept, shape;  // kept: keepdims shape (stride source); shape: the output's
    int64_t count = 1;
    for (int i = 0; i < x.dim(); ++i) {
      kept.push_back(red[i] ? 1 : x.shape()[i]);
      if (red[i]) count *= x.shape()[i];
      if (!red[i] || keepdims) shape.push_back(red[i] ? 1 : x.shape()[i]);
    }
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(shape, x.dtype()));
    return VisitDType(x.dtype(), [&](auto tag) -> Status {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, bool>) {
        return InvalidArgument("cannot reduce bool {}", ShapeStr(x));
      } else {
        using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;
        const int64_t n_out = out[0].numel();
        std::vector<Acc> acc(static_cast<size_t>(n_out));
        Acc init = 0;
        if (K == ReduceKind::kProd) init = 1;
        if (K == ReduceKind::kMax) init = std::numeric_limits<T>::lowest();
        if (K == ReduceKind::kMin) init = std::numeric_limits<T>::max();
        std::fill(acc.begin(), acc.end(), init);
        const T* src = x.data<T>();
        std::array<Dims, 2> strides{Tensor::ContiguousStrides(x.shape()),
                                    BroadcastStrides(kept, x.shape())};
        ForEachBroadcast<2>(x.shape(), strides, [&](int64_t, const std::array<int64_t, 2>& off) {
          const Acc v = static_cast<Acc>(src[off[0]]);
          Acc& a = acc[static_cast<size_t>(off[1])];
          if constexpr (K == ReduceKind::kProd)
            a *= v;
          else if constexpr (K == ReduceKind::kMax)
            a = std::max(a, v);
          else if constexpr (K == ReduceKind::kMin)
            a = std::min(a, v);
          else if constexpr (K == ReduceKind::kSumSquare || K == ReduceKind::kL2)
            a += v * v;
          else
            a += v;
        });
        T* dst = out[0].data<T>();
        for (int64_t i = 0; i < n_out; ++i) {
          Acc a = acc[static_cast<size_t>(i)];
          if constexpr (K == ReduceKind::kMean) a = count ? a / static_cast<Acc>(count) : a;
          if constexpr (K == ReduceKind::kL2)
            a = static_cast<Acc>(std::sqrt(static_cast<double>(a)));
          dst[i] = static_cast<T>(a);
        }
        return OkStatus();
      }
    });
  });
}

const OpEntry kOps[] = {
    {"MatMul", MakeMatMul},
    {"Gemm", MakeGemm},
    {"Conv", MakeConv},
    {"AveragePool", MakePool<false>},
    {"MaxPool", MakePool<true>},
    {"BatchNormalization", MakeBatchNorm},
    {"LayerNormalization", MakeLayerNorm},
    {"Softmax", MakeSoftmax<false>},
    {"LogSoftmax", MakeSoftmax<true>},
    {"ReduceSum", MakeReduce<ReduceKind::kSum>},
    {"ReduceMean", MakeReduce<ReduceKind::kMean>},
    {"ReduceProd", MakeReduce<ReduceKind::kProd>},
    {"ReduceMax", MakeReduce<ReduceKind::kMax>},
    {"ReduceMin", MakeReduce<ReduceKind::kMin>},
    {"ReduceSumSquare", MakeReduce<ReduceKind::kSumSquare>},
    {"ReduceL2", MakeReduce<ReduceKind::kL2>},
};

}  // namespace

std::span<const OpEntry> NnOps() { return kOps; }

}  // namespace cosyflow::onnx::detail
