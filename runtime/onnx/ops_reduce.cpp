// ONNX pooling, normalisation, softmax and reduction kernels (AveragePool/MaxPool,
// BatchNormalization, LayerNormalization on cpu::LayerNorm, Softmax/LogSoftmax on cpu::Softmax,
// Reduce*).
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

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
  if (static_cast<int>(strides.size()) != nd || static_cast<int>(dil.size()) != nd ||
      static_cast<int>(pads.size()) != 2 * nd) {
    return InvalidArgument("strides/dilations/pads ({}/{}/{} values) do not match {} spatial dims",
                           strides.size(), dil.size(), pads.size(), nd);
  }
  for (int i = 0; i < nd; ++i) {
    constexpr int64_t kMaxAttr = int64_t{1} << 24;  // keeps the window arithmetic in int64
    const auto in_range = [](int64_t v, int64_t lo) { return v >= lo && v <= kMaxAttr; };
    if (!in_range(kernel[i], 1) || !in_range(strides[i], 1) || !in_range(dil[i], 1) ||
        !in_range(pads[i], 0) || !in_range(pads[i + nd], 0)) {
      return InvalidArgument(
          "kernel_shape/strides/dilations must be in [1, {}] and pads in [0, {}]", kMaxAttr,
          kMaxAttr);
    }
  }
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
    int64_t inner = 1;  // product of the spatial dims (no division: N or C may be 0)
    for (int d = 2; d < x.dim(); ++d) inner *= x.shape()[d];
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
            a = WrapMul(a, v);
          else if constexpr (K == ReduceKind::kMax)
            a = std::max(a, v);
          else if constexpr (K == ReduceKind::kMin)
            a = std::min(a, v);
          else if constexpr (K == ReduceKind::kSumSquare || K == ReduceKind::kL2)
            a = WrapAdd(a, WrapMul(v, v));
          else
            a = WrapAdd(a, v);
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

std::span<const OpEntry> ReduceOps() { return kOps; }

}  // namespace cosyflow::onnx::detail
