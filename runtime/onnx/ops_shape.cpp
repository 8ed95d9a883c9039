// ONNX data-movement and shape kernels: Shape, Gather, Concat, Reshape, Flatten, (Un)Squeeze,
// Transpose, Slice, Expand, Pad, Split, ConstantOfShape, Range, Constant, Identity.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/onnx/ops.h"

namespace cosyflow::onnx::detail {
namespace {

// Copies `x` read through `strides` (from base element `base`) into a new contiguous tensor of
// `shape`: the one strided gather behind Transpose, Slice and Expand.
Result<Tensor> StridedCopy(Arena& arena, const Tensor& x, const Dims& shape, const Dims& strides,
                           int64_t base) {
  COSY_ASSIGN_OR_RETURN(Tensor out, arena.Alloc(shape, x.dtype()));
  COSY_RETURN_IF_ERROR(VisitDType(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* src = x.data<T>() + base;
    T* dst = out.data<T>();
    std::array<Dims, 1> s{strides};
    ForEachBroadcast<1>(
        shape, s, [&](int64_t o, const std::array<int64_t, 1>& off) { dst[o] = src[off[0]]; });
    return OkStatus();
  }));
  return out;
}

// A view of x with a new shape (a fresh buffer when x is empty: zero-size views have no
// meaningful strides).
Result<Tensor> ReshapeView(Arena& arena, const Tensor& x, const Dims& shape) {
  if (x.numel() == 0) return arena.Alloc(shape, x.dtype());
  return x.Reshape(shape);
}

Result<Kernel> MakeIdentity(const NodeView&) {
  return Kernel([](Arena&, Inputs in, std::span<Tensor> out) -> Status {
    out[0] = *in[0];
    return OkStatus();
  });
}

Result<Kernel> MakeConstant(const NodeView& node) {
  const auto& n = node.proto;
  Tensor value;
  if (const auto* a = FindAttr(n, "value")) {
    COSY_ASSIGN_OR_RETURN(value, TensorFromProto(a->t()));
  } else if (const auto* a = FindAttr(n, "value_float")) {
    COSY_ASSIGN_OR_RETURN(value, Tensor::Empty(Dims{}, DType::kF32));
    value.data<float>()[0] = a->f();
  } else if (const auto* a = FindAttr(n, "value_int")) {
    COSY_ASSIGN_OR_RETURN(value, Tensor::Empty(Dims{}, DType::kI64));
    value.data<int64_t>()[0] = a->i();
  } else if (const auto* a = FindAttr(n, "value_floats")) {
    std::vector<float> v(a->floats().begin(), a->floats().end());
    COSY_ASSIGN_OR_RETURN(value,
                          Tensor::FromVector<float>(Dims{static_cast<int64_t>(v.size())}, v));
  } else if (const auto* a = FindAttr(n, "value_ints")) {
    std::vector<int64_t> v(a->ints().begin(), a->ints().end());
    COSY_ASSIGN_OR_RETURN(value,
                          Tensor::FromVector<int64_t>(Dims{static_cast<int64_t>(v.size())}, v));
  } else {
    return Unsupported("Constant without a value/value_float(s)/value_int(s) attribute");
  }
  return Kernel([value](Arena&, Inputs, std::span<Tensor> out) -> Status {
    out[0] = value;
    return OkStatus();
  });
}

Result<Kernel> MakeShape(const NodeView& node) {
  const int64_t start_attr = AttrInt(node.proto, "start", 0);
  const bool has_end = HasAttr(node.proto, "end");
  const int64_t end_attr = AttrInt(node.proto, "end", 0);
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const int r = in[0]->dim();
    auto clamp = [r](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + r : v, 0, r); };
    const int64_t s = clamp(start_attr), e = has_end ? clamp(end_attr) : r;
    std::vector<int64_t> dims;
    for (int64_t i = s; i < e; ++i) dims.push_back(in[0]->shape()[static_cast<int>(i)]);
    COSY_ASSIGN_OR_RETURN(out[0], Int64Tensor(arena, dims));
    return OkStatus();
  });
}

Result<Kernel> MakeGather(const NodeView& node) {
  const int64_t axis_attr = AttrInt(node.proto, "axis", 0);
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    COSY_ASSIGN_OR_RETURN(int axis, NormAxis(axis_attr, x.dim(), "axis"));
    COSY_ASSIGN_OR_RETURN(std::vector<int64_t> idx, ToInt64s(*in[1], "indices"));
    const int64_t dim = x.shape()[axis];
    Dims shape;
    for (int i = 0; i < axis; ++i) shape.push_back(x.shape()[i]);
    for (int64_t d : in[1]->shape()) shape.push_back(d);
    for (int i = axis + 1; i < x.dim(); ++i) shape.push_back(x.shape()[i]);
    if (shape.size() > kMaxDims) return InvalidArgument("output rank exceeds {}", kMaxDims);
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(shape, x.dtype()));
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= x.shape()[i];
    for (int i = axis + 1; i < x.dim(); ++i) inner *= x.shape()[i];
    const size_t es = DTypeSize(x.dtype());
    const auto* src = static_cast<const uint8_t*>(x.raw());
    auto* dst = static_cast<uint8_t*>(out[0].raw());
    for (int64_t& i : idx) {
      if (i < -dim || i >= dim) {
        return InvalidArgument("index {} is out of range for axis {} of {}", i, axis, ShapeStr(x));
      }
      if (i < 0) i += dim;
    }
    const size_t chunk = static_cast<size_t>(inner) * es;
    for (int64_t o = 0; o < outer; ++o) {
      for (size_t j = 0; j < idx.size(); ++j) {
        std::memcpy(dst + (o * static_cast<int64_t>(idx.size()) + static_cast<int64_t>(j)) * chunk,
                    src + (o * dim + idx[j]) * chunk, chunk);
      }
    }
    return OkStatus();
  });
}

Result<Kernel> MakeConcat(const NodeView& node) {
  const int64_t axis_attr = AttrInt(node.proto, "axis", 0);
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& first = *in[0];
    COSY_ASSIGN_OR_RETURN(int axis, NormAxis(axis_attr, first.dim(), "axis"));
    Dims shape = first.shape();
    shape[axis] = 0;
    for (const Tensor* t : in) {
      if (t->dtype() != first.dtype() || t->dim() != first.dim()) {
        return InvalidArgument("inputs {} and {} cannot be concatenated", ShapeStr(first),
                               ShapeStr(*t));
      }
      for (int d = 0; d < t->dim(); ++d) {
        if (d != axis && t->shape()[d] != first.shape()[d]) {
          return InvalidArgument("inputs {} and {} differ outside axis {}", ShapeStr(first),
                                 ShapeStr(*t), axis);
        }
      }
      shape[axis] += t->shape()[axis];
    }
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(shape, first.dtype()));
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= shape[i];
    for (int i = axis + 1; i < shape.size(); ++i) inner *= shape[i];
    const size_t es = DTypeSize(first.dtype());
    auto* dst = static_cast<uint8_t*>(out[0].raw());
    const size_t out_row = static_cast<size_t>(shape[axis] * inner) * es;
    size_t col = 0;
    for (const Tensor* t : in) {
      const size_t row = static_cast<size_t>(t->shape()[axis] * inner) * es;
      const auto* src = static_cast<const uint8_t*>(t->raw());
      for (int64_t o = 0; o < outer && row > 0; ++o) {
        std::memcpy(dst + o * out_row + col, src + o * row, row);
      }
      col += row;
    }
    return OkStatus();
  });
}

// Reshape: 0 copies the input dim (unless allowzero), one -1 is inferred. A view, no copy.
Result<Kernel> MakeReshape(const NodeView& node) {
  const bool allowzero = AttrInt(node.proto, "allowzero", 0) != 0;
  std::vector<int64_t> attr_shape = AttrInts(node.proto, "shape");  // opset < 5
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    std::vector<int64_t> want = attr_shape;
    if (in.size() > 1 && in[1]) {
      COSY_ASSIGN_OR_RETURN(want, ToInt64s(*in[1], "shape"));
    }
    if (want.size() > static_cast<size_t>(kMaxDims)) {
      return InvalidArgument("shape has {} dims (max {})", want.size(), kMaxDims);
    }
    Dims shape;
    int infer = -1;
    int64_t known = 1;
    for (size_t i = 0; i < want.size(); ++i) {
      int64_t d = want[i];
      if (d == 0 && !allowzero) {
        if (static_cast<int>(i) >= x.dim())
          return InvalidArgument("shape[{}] = 0 copies a missing dim", i);
        d = x.shape()[static_cast<int>(i)];
      }
      if (d == -1) {
        if (infer >= 0) return InvalidArgument("shape has more than one -1");
        infer = static_cast<int>(i);
        d = 1;
      } else if (d < 0) {
        return InvalidArgument("shape[{}] = {} is invalid", i, d);
      }
      shape.push_back(d);
      known *= d;
    }
    if (infer >= 0) {
      if (known == 0 || x.numel() % known != 0) {
        return InvalidArgument("cannot reshape {} to {}", ShapeStr(x), shape.ToString());
      }
      shape[infer] = x.numel() / known;
    }
    if (shape.Product() != x.numel()) {
      return InvalidArgument("cannot reshape {} to {}", ShapeStr(x), shape.ToString());
    }
    COSY_ASSIGN_OR_RETURN(out[0], ReshapeView(arena, x, shape));
    return OkStatus();
  });
}

Result<Kernel> MakeFlatten(const NodeView& node) {
  const int64_t axis_attr = AttrInt(node.proto, "axis", 1);
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    const int64_t axis = axis_attr < 0 ? axis_attr + x.dim() : axis_attr;
    if (axis < 0 || axis > x.dim()) return InvalidArgument("axis {} out of range", axis_attr);
    int64_t a = 1;
    for (int i = 0; i < axis; ++i) a *= x.shape()[i];
    COSY_ASSIGN_OR_RETURN(out[0], ReshapeView(arena, x, Dims{a, a == 0 ? 0 : x.numel() / a}));
    return OkStatus();
  });
}

// Unsqueeze / Squeeze: axes from the attribute (opset < 13) or input 1.
template <bool kUnsqueeze>
Result<Kernel> MakeSqueezeLike(const NodeView& node) {
  std::vector<int64_t> attr_axes = AttrInts(node.proto, "axes");
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    std::vector<int64_t> axes = attr_axes;
    if (in.size() > 1 && in[1]) {
      COSY_ASSIGN_OR_RETURN(axes, ToInt64s(*in[1], "axes"));
    }
    Dims shape;
    if constexpr (kUnsqueeze) {
      const int rank = x.dim() + static_cast<int>(axes.size());
      if (rank > kMaxDims) return InvalidArgument("output rank {} exceeds {}", rank, kMaxDims);
      std::array<bool, kMaxDims> insert{};
      for (int64_t a : axes) {
        COSY_ASSIGN_OR_RETURN(int ax, NormAxis(a, rank, "axes"));
        if (insert[ax]) return InvalidArgument("axes repeat {}", a);
        insert[ax] = true;
      }
      int j = 0;
      for (int i = 0; i < rank; ++i) shape.push_back(insert[i] ? 1 : x.shape()[j++]);
    } else {
      std::array<bool, kMaxDims> drop{};
      for (int64_t a : axes) {
        COSY_ASSIGN_OR_RETURN(int ax, NormAxis(a, x.dim(), "axes"));
        if (x.shape()[ax] != 1) {
          return InvalidArgument("cannot squeeze axis {} of {} (size != 1)", a, ShapeStr(x));
        }
        drop[ax] = true;
      }
      for (int i = 0; i < x.dim(); ++i) {
        if (axes.empty() ? x.shape()[i] != 1 : !drop[i]) shape.push_back(x.shape()[i]);
      }
    }
    COSY_ASSIGN_OR_RETURN(out[0], ReshapeView(arena, x, shape));
    return OkStatus();
  });
}

Result<Kernel> MakeTranspose(const NodeView& node) {
  std::vector<int64_t> perm_attr = AttrInts(node.proto, "perm");
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    std::vector<int64_t> perm = perm_attr;
    if (perm.empty()) {
      for (int i = x.dim() - 1; i >= 0; --i) perm.push_back(i);
    }
    if (static_cast<int>(perm.size()) != x.dim()) {
      return InvalidArgument("perm has {} entries for {}", perm.size(), ShapeStr(x));
    }
    Dims in_strides = Tensor::ContiguousStrides(x.shape());
    Dims shape, strides;
    std::array<bool, kMaxDims> seen{};
    for (int64_t p : perm) {
      COSY_ASSIGN_OR_RETURN(int a, NormAxis(p, x.dim(), "perm"));
      if (seen[a]) return InvalidArgument("perm repeats {}", p);
      seen[a] = true;
      shape.push_back(x.shape()[a]);
      strides.push_back(in_strides[a]);
    }
    COSY_ASSIGN_OR_RETURN(out[0], StridedCopy(arena, x, shape, strides, 0));
    return OkStatus();
  });
}

// Slice: starts/ends/axes/steps from inputs (opset >= 10) or attributes (opset < 10).
Result<Kernel> MakeSlice(const NodeView& node) {
  std::vector<int64_t> a_starts = AttrInts(node.proto, "starts");
  std::vector<int64_t> a_ends = AttrInts(node.proto, "ends");
  std::vector<int64_t> a_axes = AttrInts(node.proto, "axes");
  const bool from_inputs = node.opset >= 10;
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    std::vector<int64_t> starts = a_starts, ends = a_ends, axes = a_axes, steps;
    if (from_inputs) {
      if (in.size() < 3 || !in[1] || !in[2]) return InvalidArgument("needs starts and ends");
      COSY_ASSIGN_OR_RETURN(starts, ToInt64s(*in[1], "starts"));
      COSY_ASSIGN_OR_RETURN(ends, ToInt64s(*in[2], "ends"));
      if (in.size() > 3 && in[3]) {
        COSY_ASSIGN_OR_RETURN(axes, ToInt64s(*in[3], "axes"));
      }
      if (in.size() > 4 && in[4]) {
        COSY_ASSIGN_OR_RETURN(steps, ToInt64s(*in[4], "steps"));
      }
    }
    if (axes.empty()) {
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    }
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() ||
        steps.size() != starts.size()) {
      return InvalidArgument("starts/ends/axes/steps differ in length");
    }
    Dims shape = x.shape();
    Dims strides = Tensor::ContiguousStrides(x.shape());
    int64_t base = 0;
    for (size_t i = 0; i < starts.size(); ++i) {
      COSY_ASSIGN_OR_RETURN(int a, NormAxis(axes[i], x.dim(), "axes"));
      const int64_t dim = x.shape()[a];
      const int64_t step = steps[i];
      if (step == 0) return InvalidArgument("steps[{}] is 0", i);
      int64_t s = starts[i] < 0 ? starts[i] + dim : starts[i];
      int64_t e = ends[i] < 0 ? ends[i] + dim : ends[i];
      if (step > 0) {
        s = std::clamp<int64_t>(s, 0, dim);
        e = std::clamp<int64_t>(e, 0, dim);
      } else {
        s = std::clamp<int64_t>(s, 0, dim - 1);
        e = std::clamp<int64_t>(e, -1, dim - 1);
      }
      const int64_t n = step > 0 ? (e - s + step - 1) / step : (s - e - step - 1) / (-step);
      shape[a] = std::max<int64_t>(n, 0);
      if (shape[a] > 0) base += s * strides[a];
      strides[a] *= step;
    }
    COSY_ASSIGN_OR_RETURN(out[0], StridedCopy(arena, x, shape, strides, base));
    return OkStatus();
  });
}

Result<Kernel> MakeExpand(const NodeView&) {
  return Kernel([](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    COSY_ASSIGN_OR_RETURN(std::vector<int64_t> want, ToInt64s(*in[1], "shape"));
    COSY_ASSIGN_OR_RETURN(Dims target, Dims::From(want));
    std::array<Dims, 2> shapes{x.shape(), target};
    COSY_ASSIGN_OR_RETURN(Dims shape, BroadcastShape(shapes));
    COSY_ASSIGN_OR_RETURN(out[0],
                          StridedCopy(arena, x, shape, BroadcastStrides(x.shape(), shape), 0));
    return OkStatus();
  });
}

Result<Kernel> MakeConstantOfShape(const NodeView& node) {
  Tensor value;
  if (const auto* a = FindAttr(node.proto, "value")) {
    COSY_ASSIGN_OR_RETURN(value, TensorFromProto(a->t()));
    if (value.numel() != 1) return InvalidArgument("value must hold one element");
  } else {
    COSY_ASSIGN_OR_RETURN(value, Tensor::Empty(Dims{1}, DType::kF32));
  }
  return Kernel([value](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    COSY_ASSIGN_OR_RETURN(std::vector<int64_t> want, ToInt64s(*in[0], "shape"));
    COSY_ASSIGN_OR_RETURN(Dims shape, Dims::From(want));
    for (int64_t d : shape) {
      if (d < 0) return InvalidArgument("shape {} has a negative dim", shape.ToString());
    }
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(shape, value.dtype()));
    return VisitDType(value.dtype(), [&](auto tag) -> Status {
      using T = decltype(tag);
      std::fill_n(out[0].data<T>(), shape.Product(), value.data<T>()[0]);
      return OkStatus();
    });
  });
}

Result<Kernel> MakeRange(const NodeView&) {
  return Kernel([](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const DType dt = in[0]->dtype();
    if (in[1]->dtype() != dt || in[2]->dtype() != dt) {
      return InvalidArgument("start/limit/delta differ in dtype");
    }
    COSY_ASSIGN_OR_RETURN(double start, ToScalar(*in[0], "start"));
    COSY_ASSIGN_OR_RETURN(double limit, ToScalar(*in[1], "limit"));
    COSY_ASSIGN_OR_RETURN(double delta, ToScalar(*in[2], "delta"));
    if (delta == 0) return InvalidArgument("delta is 0");
    const double count = std::ceil((limit - start) / delta);
    // Checked as a double first: a NaN or huge count is not converted to int64.
    if (!(count < 9.0e15)) {
      return InvalidArgument("range [{}, {}) step {} has too many elements", start, limit, delta);
    }
    const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(Dims{n}, dt));
    return VisitDType(dt, [&](auto tag) -> Status {
      using T = decltype(tag);
      T* d = out[0].data<T>();
      const T s = in[0]->data<T>()[0], step = in[2]->data<T>()[0];
      for (int64_t i = 0; i < n; ++i) d[i] = WrapAdd(s, WrapMul(static_cast<T>(i), step));
      return OkStatus();
    });
  });
}

// Pad: pads from input 1 (opset >= 11) or the attribute; constant / reflect / edge modes;
// negative pads crop.
Result<Kernel> MakePad(const NodeView& node) {
  const std::string mode = AttrString(node.proto, "mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge") {
    return Unsupported("Pad mode '{}' (supported: constant, reflect, edge)", mode);
  }
  std::vector<int64_t> attr_pads = AttrInts(node.proto, "pads");
  const float attr_value = AttrFloat(node.proto, "value", 0.0f);
  const bool from_inputs = node.opset >= 11;
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    const int r = x.dim();
    std::vector<int64_t> pads = attr_pads;
    if (from_inputs) {
      COSY_ASSIGN_OR_RETURN(pads, ToInt64s(*in[1], "pads"));
    }
    std::vector<int64_t> begin(r, 0), end(r, 0);
    if (from_inputs && in.size() > 3 && in[3]) {
      COSY_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ToInt64s(*in[3], "axes"));
      if (pads.size() != 2 * axes.size()) return InvalidArgument("pads/axes length mismatch");
      for (size_t i = 0; i < axes.size(); ++i) {
        COSY_ASSIGN_OR_RETURN(int a, NormAxis(axes[i], r, "axes"));
        begin[a] = pads[i];
        end[a] = pads[i + axes.size()];
      }
    } else {
      if (pads.size() != 2 * static_cast<size_t>(r)) {
        return InvalidArgument("pads has {} values for rank {}", pads.size(), r);
      }
      for (int i = 0; i < r; ++i) begin[i] = pads[i], end[i] = pads[i + r];
    }
    Dims shape;
    for (int i = 0; i < r; ++i) {
      const int64_t d = x.shape()[i] + begin[i] + end[i];
      if (d < 0) return InvalidArgument("pads make dim {} negative", i);
      if (mode != "constant" && x.shape()[i] == 0 && d > 0) {
        return InvalidArgument("cannot {}-pad an empty dim", mode);
      }
      shape.push_back(d);
    }
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(shape, x.dtype()));
    double cval = attr_value;
    if (from_inputs && in.size() > 2 && in[2]) {
      COSY_ASSIGN_OR_RETURN(cval, ToScalar(*in[2], "value"));
    }
    const Dims in_strides = Tensor::ContiguousStrides(x.shape());
    const int mode_id = mode == "constant" ? 0 : (mode == "reflect" ? 1 : 2);
    return VisitDType(x.dtype(), [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* src = x.data<T>();
      T* dst = out[0].data<T>();
      const T fill = static_cast<T>(cval);
      std::array<int64_t, kMaxDims> idx{};
      const int64_t total = shape.Product();
      for (int64_t o = 0; o < total; ++o) {
        int64_t off = 0;
        bool inside = true;
        for (int d = 0; d < r; ++d) {
          int64_t i = idx[d] - begin[d];
          const int64_t n = x.shape()[d];
          if (i < 0 || i >= n) {
            if (mode_id == 0) {
              inside = false;
              break;
            }
            if (mode_id == 2 || n == 1) {
              i = i < 0 ? 0 : n - 1;
            } else {
              const int64_t period = 2 * (n - 1);
              i = ((i % period) + period) % period;
              if (i >= n) i = period - i;
            }
          }
          off += i * in_strides[d];
        }
        dst[o] = inside ? src[off] : fill;
        for (int d = r - 1; d >= 0; --d) {
          if (++idx[d] < shape[d]) break;
          idx[d] = 0;
        }
      }
      return OkStatus();
    });
  });
}

// Split: sizes from input 1 (opset >= 13), the `split` attribute, or equal parts.
Result<Kernel> MakeSplit(const NodeView& node) {
  const int64_t axis_attr = AttrInt(node.proto, "axis", 0);
  std::vector<int64_t> attr_split = AttrInts(node.proto, "split");
  const int n_out = node.proto.output_size();
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    COSY_ASSIGN_OR_RETURN(int axis, NormAxis(axis_attr, x.dim(), "axis"));
    std::vector<int64_t> split = attr_split;
    if (in.size() > 1 && in[1]) {
      COSY_ASSIGN_OR_RETURN(split, ToInt64s(*in[1], "split"));
    }
    const int64_t dim = x.shape()[axis];
    if (split.empty()) {
      const int64_t part = (dim + n_out - 1) / n_out;
      for (int i = 0; i < n_out; ++i) split.push_back(std::min(part, dim - part * i));
    }
    int64_t sum = 0;
    for (int64_t s : split) sum += s;
    if (static_cast<int>(split.size()) != n_out || sum != dim) {
      return InvalidArgument("split sizes do not cover axis {} of {}", axis, ShapeStr(x));
    }
    int64_t start = 0;
    for (int i = 0; i < n_out; ++i) {
      Dims shape = x.shape();
      shape[axis] = split[i];
      Dims strides = Tensor::ContiguousStrides(x.shape());
      COSY_ASSIGN_OR_RETURN(out[i], StridedCopy(arena, x, shape, strides, start * strides[axis]));
      start += split[i];
    }
    return OkStatus();
  });
}

const OpEntry kOps[] = {
    {"Identity", MakeIdentity},
    {"Dropout", MakeIdentity},  // inference: identity (mask output not supported)
    {"Constant", MakeConstant},
    {"Shape", MakeShape},
    {"Gather", MakeGather},
    {"Concat", MakeConcat},
    {"Reshape", MakeReshape},
    {"Flatten", MakeFlatten},
    {"Unsqueeze", MakeSqueezeLike<true>},
    {"Squeeze", MakeSqueezeLike<false>},
    {"Transpose", MakeTranspose},
    {"Slice", MakeSlice},
    {"Expand", MakeExpand},
    {"ConstantOfShape", MakeConstantOfShape},
    {"Range", MakeRange},
    {"Pad", MakePad},
    {"Split", MakeSplit},
};

}  // namespace

std::span<const OpEntry> ShapeOps() { return kOps; }

}  // namespace cosyflow::onnx::detail
