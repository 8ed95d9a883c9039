// Less common ONNX kernels that exporters emit for indexing and activations: Tile, Size,
// CumSum, Trilu, GatherElements, ScatterND, PRelu, LeakyRelu, Softplus, Elu. Not in the tiny
// front-end models; here so that plausible variants of the official files still load.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/onnx/ops.h"

namespace cosyflow::onnx::detail {
namespace {

// Multi-index odometer over `shape` (row-major): calls f(flat, idx).
template <typename F>
void ForEachIndex(const Dims& shape, F&& f) {
  const int64_t total = shape.Product();
  std::array<int64_t, kMaxDims> idx{};
  for (int64_t o = 0; o < total; ++o) {
    f(o, idx);
    for (int d = shape.size() - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

Result<Kernel> MakeTile(const NodeView&) {
  return Kernel([](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    COSY_ASSIGN_OR_RETURN(std::vector<int64_t> reps, ToInt64s(*in[1], "repeats"));
    if (static_cast<int>(reps.size()) != x.dim()) {
      return InvalidArgument("repeats has {} values for {}", reps.size(), ShapeStr(x));
    }
    Dims shape;
    for (int d = 0; d < x.dim(); ++d) {
      if (reps[d] < 0) return InvalidArgument("repeats[{}] = {} is negative", d, reps[d]);
      int64_t dim = 0;
      if (__builtin_mul_overflow(x.shape()[d], reps[d], &dim)) {
        return InvalidArgument("repeats[{}] = {} overflows dim {} of {}", d, reps[d], d,
                               ShapeStr(x));
      }
      shape.push_back(dim);
    }
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(shape, x.dtype()));
    const Dims strides = Tensor::ContiguousStrides(x.shape());
    return VisitDType(x.dtype(), [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* src = x.data<T>();
      T* dst = out[0].data<T>();
      ForEachIndex(shape, [&](int64_t o, const std::array<int64_t, kMaxDims>& idx) {
        int64_t off = 0;
        for (int d = 0; d < x.dim(); ++d) off += (idx[d] % x.shape()[d]) * strides[d];
        dst[o] = src[off];
      });
      return OkStatus();
    });
  });
}

Result<Kernel> MakeSize(const NodeView&) {
  return Kernel([](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(Dims{}, DType::kI64));
    out[0].data<int64_t>()[0] = in[0]->numel();
    return OkStatus();
  });
}

// CumSum(x, axis): running sum along axis; `exclusive` shifts by one, `reverse` runs backwards.
Result<Kernel> MakeCumSum(const NodeView& node) {
  const bool exclusive = AttrInt(node.proto, "exclusive", 0) != 0;
  const bool reverse = AttrInt(node.proto, "reverse", 0) != 0;
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    COSY_ASSIGN_OR_RETURN(double axis_value, ToScalar(*in[1], "axis"));
    COSY_ASSIGN_OR_RETURN(int axis, NormAxis(static_cast<int64_t>(axis_value), x.dim(), "axis"));
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(x.shape(), x.dtype()));
    int64_t outer = 1, inner = 1;
    const int64_t len = x.shape()[axis];
    for (int i = 0; i < axis; ++i) outer *= x.shape()[i];
    for (int i = axis + 1; i < x.dim(); ++i) inner *= x.shape()[i];
    return VisitDType(x.dtype(), [&](auto tag) -> Status {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, bool>) {
        return InvalidArgument("CumSum of bool {}", ShapeStr(x));
      } else {
        const T* src = x.data<T>();
        T* dst = out[0].data<T>();
        for (int64_t o = 0; o < outer; ++o) {
          for (int64_t i = 0; i < inner; ++i) {
            T acc{};
            for (int64_t j = 0; j < len; ++j) {
              const int64_t jj = reverse ? len - 1 - j : j;
              const int64_t off = (o * len + jj) * inner + i;
              if (exclusive) {
                dst[off] = acc;
                acc = WrapAdd(acc, src[off]);
              } else {
                acc = WrapAdd(acc, src[off]);
                dst[off] = acc;
              }
            }
          }
        }
        return OkStatus();
      }
    });
  });
}

// Trilu(x [..., N, M], k): keeps j - i >= k (upper, default) or j - i <= k (lower).
Result<Kernel> MakeTrilu(const NodeView& node) {
  const bool upper = AttrInt(node.proto, "upper", 1) != 0;
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    if (x.dim() < 2) return InvalidArgument("Trilu needs rank >= 2, got {}", ShapeStr(x));
    int64_t k = 0;
    if (in.size() > 1 && in[1]) {
      COSY_ASSIGN_OR_RETURN(double kv, ToScalar(*in[1], "k"));
      k = static_cast<int64_t>(kv);
    }
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(x.shape(), x.dtype()));
    const int64_t n = x.shape()[x.dim() - 2], m = x.shape()[x.dim() - 1];
    const int64_t mats = n * m == 0 ? 0 : x.numel() / (n * m);
    return VisitDType(x.dtype(), [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* src = x.data<T>();
      T* dst = out[0].data<T>();
      for (int64_t b = 0; b < mats; ++b) {
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t j = 0; j < m; ++j) {
            const int64_t off = (b * n + i) * m + j;
            const bool keep = upper ? j - i >= k : j - i <= k;
            dst[off] = keep ? src[off] : T{};
          }
        }
      }
      return OkStatus();
    });
  });
}

// GatherElements(data, indices, axis): out[idx] = data[idx with idx[axis] = indices[idx]].
Result<Kernel> MakeGatherElements(const NodeView& node) {
  const int64_t axis_attr = AttrInt(node.proto, "axis", 0);
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    COSY_ASSIGN_OR_RETURN(std::vector<int64_t> idx, ToInt64s(*in[1], "indices"));
    const Dims& ishape = in[1]->shape();
    COSY_ASSIGN_OR_RETURN(int axis, NormAxis(axis_attr, x.dim(), "axis"));
    if (ishape.size() != x.dim()) {
      return InvalidArgument("indices {} and data {} differ in rank", ShapeStr(*in[1]),
                             ShapeStr(x));
    }
    for (int d = 0; d < x.dim(); ++d) {
      if (d != axis && ishape[d] > x.shape()[d]) {
        return InvalidArgument("indices {} exceed data {}", ShapeStr(*in[1]), ShapeStr(x));
      }
    }
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(ishape, x.dtype()));
    const Dims strides = Tensor::ContiguousStrides(x.shape());
    const int64_t dim = x.shape()[axis];
    for (int64_t& i : idx) {
      if (i < -dim || i >= dim)
        return InvalidArgument("index {} out of range for axis {}", i, axis);
      if (i < 0) i += dim;
    }
    return VisitDType(x.dtype(), [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* src = x.data<T>();
      T* dst = out[0].data<T>();
      ForEachIndex(ishape, [&](int64_t o, const std::array<int64_t, kMaxDims>& at) {
        int64_t off = 0;
        for (int d = 0; d < x.dim(); ++d) off += (d == axis ? idx[o] : at[d]) * strides[d];
        dst[o] = src[off];
      });
      return OkStatus();
    });
  });
}

// ScatterND(data, indices [..., q], updates) without reduction: a copy of data with the
// addressed slices replaced.
Result<Kernel> MakeScatterND(const NodeView& node) {
  const std::string reduction = AttrString(node.proto, "reduction", "none");
  if (reduction != "none") return Unsupported("ScatterND reduction '{}'", reduction);
  return Kernel([](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    const Tensor& upd = *in[2];
    COSY_ASSIGN_OR_RETURN(std::vector<int64_t> idx, ToInt64s(*in[1], "indices"));
    const Dims& ishape = in[1]->shape();
    if (ishape.empty() || upd.dtype() != x.dtype()) {
      return InvalidArgument("bad indices {} / updates {}", ShapeStr(*in[1]), ShapeStr(upd));
    }
    const int64_t q = ishape[ishape.size() - 1];
    if (q < 1 || q > x.dim()) return InvalidArgument("index depth {} for {}", q, ShapeStr(x));
    const int64_t n = q == 0 ? 0 : static_cast<int64_t>(idx.size()) / q;
    int64_t slice = 1;
    for (int d = static_cast<int>(q); d < x.dim(); ++d) slice *= x.shape()[d];
    if (upd.numel() != n * slice) {
      return InvalidArgument("updates {} do not match {} slices of {}", ShapeStr(upd), n, slice);
    }
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(x.shape(), x.dtype()));
    const size_t es = DTypeSize(x.dtype());
    std::memcpy(out[0].raw(), x.raw(), x.nbytes());
    const Dims strides = Tensor::ContiguousStrides(x.shape());
    auto* dst = static_cast<uint8_t*>(out[0].raw());
    const auto* src = static_cast<const uint8_t*>(upd.raw());
    for (int64_t i = 0; i < n; ++i) {
      int64_t off = 0;
      for (int64_t d = 0; d < q; ++d) {
        int64_t v = idx[i * q + d];
        const int64_t dim = x.shape()[static_cast<int>(d)];
        if (v < -dim || v >= dim) return InvalidArgument("index {} out of range for dim {}", v, d);
        if (v < 0) v += dim;
        off += v * strides[static_cast<int>(d)];
      }
      std::memcpy(dst + off * es, src + i * slice * es, static_cast<size_t>(slice) * es);
    }
    return OkStatus();
  });
}

// PRelu(x, slope): slope broadcasts to x's shape (unidirectional).
Result<Kernel> MakePRelu(const NodeView&) {
  return Kernel([](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    const Tensor& s = *in[1];
    if (x.dtype() != DType::kF32 || s.dtype() != DType::kF32) {
      return InvalidArgument("PRelu supports f32, got {} and {}", ShapeStr(x), ShapeStr(s));
    }
    std::array<Dims, 2> shapes{x.shape(), s.shape()};
    COSY_ASSIGN_OR_RETURN(Dims bs, BroadcastShape(shapes));
    if (bs != x.shape())
      return InvalidArgument("slope {} does not broadcast to {}", ShapeStr(s), ShapeStr(x));
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(x.shape(), DType::kF32));
    std::array<Dims, 2> strides{Tensor::ContiguousStrides(x.shape()),
                                BroadcastStrides(s.shape(), x.shape())};
    const float* px = x.data<float>();
    const float* ps = s.data<float>();
    float* po = out[0].data<float>();
    ForEachBroadcast<2>(x.shape(), strides, [&](int64_t o, const std::array<int64_t, 2>& off) {
      const float v = px[off[0]];
      po[o] = v < 0.0f ? v * ps[off[1]] : v;
    });
    return OkStatus();
  });
}

// LeakyRelu (alpha 0.01), Elu (alpha 1), Softplus: f32 maps.
template <int kKind>
Result<Kernel> MakeActivation(const NodeView& node) {
  const float alpha = AttrFloat(node.proto, "alpha", kKind == 0 ? 0.01f : 1.0f);
  return Kernel([alpha](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    static_cast<void>(alpha);  // Softplus (kKind 2) has none
    const Tensor& x = *in[0];
    if (x.dtype() != DType::kF32) return InvalidArgument("input must be f32, got {}", ShapeStr(x));
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(x.shape(), DType::kF32));
    const float* s = x.data<float>();
    float* d = out[0].data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float v = s[i];
      if constexpr (kKind == 0) d[i] = v < 0.0f ? alpha * v : v;
      if constexpr (kKind == 1) d[i] = v < 0.0f ? alpha * std::expm1(v) : v;
      if constexpr (kKind == 2) d[i] = v > 20.0f ? v : std::log1p(std::exp(v));
    }
    return OkStatus();
  });
}

const OpEntry kOps[] = {
    {"Tile", MakeTile},
    {"Size", MakeSize},
    {"CumSum", MakeCumSum},
    {"Trilu", MakeTrilu},
    {"GatherElements", MakeGatherElements},
    {"ScatterND", MakeScatterND},
    {"PRelu", MakePRelu},
    {"LeakyRelu", MakeActivation<0>},
    {"Elu", MakeActivation<1>},
    {"Softplus", MakeActivation<2>},
};

}  // namespace

std::span<const OpEntry> MiscOps() { return kOps; }

}  // namespace cosyflow::onnx::detail
