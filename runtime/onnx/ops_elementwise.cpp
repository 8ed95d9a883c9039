// ONNX elementwise kernels: unary maths, broadcasting binary arithmetic / comparisons / logic,
// variadic Min/Max/Sum, Where, Cast, Clip. Plain loops (the compiler vectorises the flat cases).
#include <cmath>
#include <limits>
#include <type_traits>

#include "runtime/kernels/cpu/activation.h"
#include "runtime/onnx/ops.h"

namespace cosyflow::onnx::detail {
namespace {

template <typename T>
constexpr bool kIsFloat = std::is_same_v<T, float>;
template <typename T>
constexpr bool kIsArith = std::is_same_v<T, float> || std::is_same_v<T, int32_t> ||
                          std::is_same_v<T, int64_t> || std::is_same_v<T, uint8_t>;

// --- unary ----------------------------------------------------------------------------------

enum class UnaryKind {
  kNeg,
  kAbs,
  kSqrt,
  kExp,
  kLog,
  kErf,
  kTanh,
  kSigmoid,
  kRelu,
  kRound,
  kFloor,
  kCeil,
  kSin,
  kCos,
  kReciprocal,
  kNot,
  kSign
};

template <typename T>
T ApplyUnary(UnaryKind k, T x) {
  if constexpr (kIsFloat<T>) {
    switch (k) {
      case UnaryKind::kNeg:
        return -x;
      case UnaryKind::kAbs:
        return std::fabs(x);
      case UnaryKind::kSqrt:
        return std::sqrt(x);
      case UnaryKind::kExp:
        return std::exp(x);
      case UnaryKind::kLog:
        return std::log(x);
      case UnaryKind::kErf:
        return std::erf(x);
      case UnaryKind::kTanh:
        return std::tanh(x);
      case UnaryKind::kSigmoid:
        return 1.0f / (1.0f + std::exp(-x));
      case UnaryKind::kRelu:
        return x > 0.0f ? x : 0.0f;
      case UnaryKind::kRound:
        return std::nearbyint(x);  // half to even (default FE mode)
      case UnaryKind::kFloor:
        return std::floor(x);
      case UnaryKind::kCeil:
        return std::ceil(x);
      case UnaryKind::kSin:
        return std::sin(x);
      case UnaryKind::kCos:
        return std::cos(x);
      case UnaryKind::kReciprocal:
        return 1.0f / x;
      case UnaryKind::kSign:
        return static_cast<float>((x > 0) - (x < 0));
      default:
        return x;
    }
  } else if constexpr (std::is_same_v<T, bool>) {
    return !x;  // kNot (validated at load)
  } else {
    switch (k) {
      case UnaryKind::kNeg:
        return WrapSub(T{0}, x);
      case UnaryKind::kAbs:
        return x < 0 ? WrapSub(T{0}, x) : x;
      case UnaryKind::kRelu:
        return x > 0 ? x : T{0};
      case UnaryKind::kSign:
        return static_cast<T>((x > 0) - (x < 0));
      default:
        return x;  // integer rounding ops are identities
    }
  }
}

// erf over [n] f32 in two vectorisable passes: |x| < 0.5 by its Taylor series to x^13 (relative
// error < 1e-8), otherwise Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7, i.e. about one
// ulp of values >= erf(0.5)) with e^(-x^2) from the cpu::Exp kernel. y may not alias x.
Status FastErf(const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = -x[i] * x[i];
  COSY_RETURN_IF_ERROR(kernels::cpu::Exp(y, n, y));
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i], a = std::fabs(v), z = v * v;
    const float series =
        v * 1.1283791671f *
        (1.0f +
         z * (-1.0f / 3 +
              z * (1.0f / 10 +
                   z * (-1.0f / 42 + z * (1.0f / 216 + z * (-1.0f / 1320 + z * (1.0f / 9360)))))));
    const float t = 1.0f / (1.0f + 0.3275911f * a);
    const float poly =
        t * (0.254829592f +
             t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    const float tail = std::copysign(1.0f - poly * y[i], v);
    y[i] = a < 0.5f ? series : tail;
  }
  return OkStatus();
}

template <UnaryKind K>
Result<Kernel> MakeUnary(const NodeView&) {
  return Kernel([](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    const bool is_not = K == UnaryKind::kNot;
    if (is_not != (x.dtype() == DType::kBool)) {
      return InvalidArgument("input {} has the wrong dtype for this op", ShapeStr(x));
    }
    const bool float_only = K == UnaryKind::kSqrt || K == UnaryKind::kExp || K == UnaryKind::kLog ||
                            K == UnaryKind::kErf || K == UnaryKind::kTanh ||
                            K == UnaryKind::kSigmoid || K == UnaryKind::kSin ||
                            K == UnaryKind::kCos || K == UnaryKind::kReciprocal;
    if (float_only && x.dtype() != DType::kF32) {
      return InvalidArgument("input must be f32, got {}", ShapeStr(x));
    }
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(x.shape(), x.dtype()));
    // Transcendentals on f32: the vectorised cpu kernels (~1e-7 relative).
    if (x.dtype() == DType::kF32) {
      const float* src = x.data<float>();
      float* dst = out[0].data<float>();
      const int64_t n = x.numel();
      if constexpr (K == UnaryKind::kErf) return FastErf(src, n, dst);
      if constexpr (K == UnaryKind::kExp) return kernels::cpu::Exp(src, n, dst);
      if constexpr (K == UnaryKind::kTanh) return kernels::cpu::Tanh(src, n, dst);
      if constexpr (K == UnaryKind::kSigmoid) return kernels::cpu::Sigmoid(src, n, dst);
      if constexpr (K == UnaryKind::kSin) return kernels::cpu::Sin(src, n, dst);
    }
    return VisitDType(x.dtype(), [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* src = x.data<T>();
      T* dst = out[0].data<T>();
      const int64_t n = x.numel();
      for (int64_t i = 0; i < n; ++i) dst[i] = ApplyUnary<T>(K, src[i]);
      return OkStatus();
    });
  });
}

// --- binary ---------------------------------------------------------------------------------

enum class BinaryKind {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kPow,
  kMod,
  kMin,
  kMax,
  kEqual,
  kLess,
  kLessOrEqual,
  kGreater,
  kGreaterOrEqual,
  kAnd,
  kOr,
  kXor
};

constexpr bool IsCompare(BinaryKind k) {
  return k == BinaryKind::kEqual || k == BinaryKind::kLess || k == BinaryKind::kLessOrEqual ||
         k == BinaryKind::kGreater || k == BinaryKind::kGreaterOrEqual;
}
constexpr bool IsLogic(BinaryKind k) {
  return k == BinaryKind::kAnd || k == BinaryKind::kOr || k == BinaryKind::kXor;
}

template <BinaryKind K, typename T>
inline auto ApplyBinary(T a, T b) {
  if constexpr (K == BinaryKind::kAdd) return WrapAdd(a, b);
  if constexpr (K == BinaryKind::kSub) return WrapSub(a, b);
  if constexpr (K == BinaryKind::kMul) return WrapMul(a, b);
  if constexpr (K == BinaryKind::kDiv) {
    if constexpr (kIsFloat<T>) {
      return a / b;
    } else {
      if (b == 0) return T{0};  // integer division by 0 -> 0, no trap
      if constexpr (std::is_signed_v<T>) {
        if (b == -1) return WrapSub(T{0}, a);  // the lowest value / -1 wraps (no trap)
      }
      return static_cast<T>(a / b);
    }
  }
  if constexpr (K == BinaryKind::kMod) {
    if constexpr (kIsFloat<T>)
      return std::fmod(a, b);
    else {
      if (b == 0) return T{0};
      if constexpr (std::is_signed_v<T>) {
        if (b == -1) return T{0};  // the lowest value % -1 traps on x86
      }
      T r = static_cast<T>(a % b);  // fmod=0: sign of the divisor (Python)
      if (r != 0 && ((r < 0) != (b < 0))) r = WrapAdd(r, b);
      return r;
    }
  }
  if constexpr (K == BinaryKind::kMin) return a < b ? a : b;
  if constexpr (K == BinaryKind::kMax) return a > b ? a : b;
  if constexpr (K == BinaryKind::kEqual) return a == b;
  if constexpr (K == BinaryKind::kLess) return a < b;
  if constexpr (K == BinaryKind::kLessOrEqual) return a <= b;
  if constexpr (K == BinaryKind::kGreater) return a > b;
  if constexpr (K == BinaryKind::kGreaterOrEqual) return a >= b;
  if constexpr (K == BinaryKind::kAnd) return static_cast<bool>(a && b);
  if constexpr (K == BinaryKind::kOr) return static_cast<bool>(a || b);
  if constexpr (K == BinaryKind::kXor) return static_cast<bool>(a != b);
  if constexpr (K == BinaryKind::kPow) return a;  // unused (Pow has its own kernel)
}

// out = a (op) b with numpy broadcasting; out already allocated with the broadcast shape.
template <BinaryKind K, typename T, typename R>
void BinaryLoop(const Tensor& a, const Tensor& b, Tensor& out) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  R* po = out.data<R>();
  const int64_t n = out.numel();
  if (a.shape() == out.shape() && b.shape() == out.shape()) {
    for (int64_t i = 0; i < n; ++i) po[i] = ApplyBinary<K, T>(pa[i], pb[i]);
  } else if (a.shape() == out.shape() && b.numel() == 1) {
    const T s = pb[0];
    for (int64_t i = 0; i < n; ++i) po[i] = ApplyBinary<K, T>(pa[i], s);
  } else if (b.shape() == out.shape() && a.numel() == 1) {
    const T s = pa[0];
    for (int64_t i = 0; i < n; ++i) po[i] = ApplyBinary<K, T>(s, pb[i]);
  } else {
    std::array<Dims, 2> strides{BroadcastStrides(a.shape(), out.shape()),
                                BroadcastStrides(b.shape(), out.shape())};
    ForEachBroadcast<2>(out.shape(), strides, [&](int64_t o, const std::array<int64_t, 2>& off) {
      po[o] = ApplyBinary<K, T>(pa[off[0]], pb[off[1]]);
    });
  }
}

template <BinaryKind K>
Status RunBinary(Arena& arena, const Tensor& a, const Tensor& b, Tensor* out) {
  if (a.dtype() != b.dtype()) {
    return InvalidArgument("operands have different dtypes: {} and {}", ShapeStr(a), ShapeStr(b));
  }
  if (IsLogic(K) != (a.dtype() == DType::kBool) && !(IsCompare(K) && K == BinaryKind::kEqual)) {
    return InvalidArgument("operand dtype {} is not valid for this op", ShapeStr(a));
  }
  std::array<Dims, 2> shapes{a.shape(), b.shape()};
  COSY_ASSIGN_OR_RETURN(Dims shape, BroadcastShape(shapes));
  const DType out_dtype = (IsCompare(K) || IsLogic(K)) ? DType::kBool : a.dtype();
  COSY_ASSIGN_OR_RETURN(*out, arena.Alloc(shape, out_dtype));
  return VisitDType(a.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (IsCompare(K) || IsLogic(K)) {
      BinaryLoop<K, T, bool>(a, b, *out);
    } else if constexpr (kIsArith<T>) {
      BinaryLoop<K, T, T>(a, b, *out);
    }
    return OkStatus();
  });
}

template <BinaryKind K>
Result<Kernel> MakeBinary(const NodeView&) {
  return Kernel([](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    return RunBinary<K>(arena, *in[0], *in[1], &out[0]);
  });
}

// Min / Max / Sum over 1..n inputs, folded pairwise.
template <BinaryKind K>
Result<Kernel> MakeVariadic(const NodeView&) {
  return Kernel([](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    if (in.empty() || in[0] == nullptr) return InvalidArgument("needs at least one input");
    Tensor acc = *in[0];
    if (in.size() == 1) {
      COSY_ASSIGN_OR_RETURN(out[0], acc.Clone());
      return OkStatus();
    }
    for (size_t i = 1; i < in.size(); ++i) {
      Tensor next;
      COSY_RETURN_IF_ERROR(RunBinary<K>(arena, acc, *in[i], &next));
      if (i > 1) arena.Recycle(std::move(acc));
      acc = std::move(next);
    }
    out[0] = std::move(acc);
    return OkStatus();
  });
}

// Pow: base f32 (or int), exponent any numeric dtype; x^2 as x*x (what ONNX Runtime does).
Result<Kernel> MakePow(const NodeView&) {
  return Kernel([](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& a = *in[0];
    const Tensor& b = *in[1];
    if (a.dtype() != DType::kF32 || b.dtype() == DType::kBool) {
      return InvalidArgument("Pow supports an f32 base, got {} ^ {}", ShapeStr(a), ShapeStr(b));
    }
    Tensor bf = b;
    if (b.dtype() != DType::kF32) {
      COSY_ASSIGN_OR_RETURN(bf, b.To(DType::kF32));
    }
    std::array<Dims, 2> shapes{a.shape(), b.shape()};
    COSY_ASSIGN_OR_RETURN(Dims shape, BroadcastShape(shapes));
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(shape, DType::kF32));
    const float* pa = a.data<float>();
    const float* pb = bf.data<float>();
    float* po = out[0].data<float>();
    if (bf.numel() == 1 && a.shape() == shape) {
      const float e = pb[0];
      const int64_t n = a.numel();
      if (e == 2.0f) {
        for (int64_t i = 0; i < n; ++i) po[i] = pa[i] * pa[i];
      } else if (e == 0.5f) {
        for (int64_t i = 0; i < n; ++i) po[i] = std::sqrt(pa[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) po[i] = std::pow(pa[i], e);
      }
      return OkStatus();
    }
    std::array<Dims, 2> strides{BroadcastStrides(a.shape(), shape),
                                BroadcastStrides(bf.shape(), shape)};
    ForEachBroadcast<2>(shape, strides, [&](int64_t o, const std::array<int64_t, 2>& off) {
      po[o] = std::pow(pa[off[0]], pb[off[1]]);
    });
    return OkStatus();
  });
}

// Where(cond: bool, x, y): three-way broadcast.
Result<Kernel> MakeWhere(const NodeView&) {
  return Kernel([](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& c = *in[0];
    const Tensor& x = *in[1];
    const Tensor& y = *in[2];
    if (c.dtype() != DType::kBool)
      return InvalidArgument("condition must be bool, got {}", ShapeStr(c));
    if (x.dtype() != y.dtype()) {
      return InvalidArgument("x and y differ in dtype: {} and {}", ShapeStr(x), ShapeStr(y));
    }
    std::array<Dims, 3> shapes{c.shape(), x.shape(), y.shape()};
    COSY_ASSIGN_OR_RETURN(Dims shape, BroadcastShape(shapes));
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(shape, x.dtype()));
    std::array<Dims, 3> strides{BroadcastStrides(c.shape(), shape),
                                BroadcastStrides(x.shape(), shape),
                                BroadcastStrides(y.shape(), shape)};
    return VisitDType(x.dtype(), [&](auto tag) -> Status {
      using T = decltype(tag);
      const bool* pc = c.data<bool>();
      const T* px = x.data<T>();
      const T* py = y.data<T>();
      T* po = out[0].data<T>();
      ForEachBroadcast<3>(shape, strides, [&](int64_t o, const std::array<int64_t, 3>& off) {
        po[o] = pc[off[0]] ? px[off[1]] : py[off[2]];
      });
      return OkStatus();
    });
  });
}

// Cast: f32 -> int truncates toward zero (C conversion, as ONNX Runtime), saturating outside the
// integer's range (NaN -> 0); to bool is x != 0.
Result<Kernel> MakeCast(const NodeView& node) {
  const int64_t to = AttrInt(node.proto, "to", 0);
  DType dst;
  if (!DTypeFromOnnx(static_cast<int>(to), &dst)) {
    return Unsupported("Cast to {} is not supported", OnnxTypeName(static_cast<int>(to)));
  }
  return Kernel([dst](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    if (x.dtype() == dst) {
      out[0] = x;  // shares the buffer (values are immutable)
      return OkStatus();
    }
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(x.shape(), dst));
    return VisitDType(x.dtype(), [&](auto stag) -> Status {
      using S = decltype(stag);
      return VisitDType(dst, [&](auto dtag) -> Status {
        using D = decltype(dtag);
        const S* src = x.data<S>();
        D* d = out[0].data<D>();
        const int64_t n = x.numel();
        for (int64_t i = 0; i < n; ++i) {
          if constexpr (std::is_same_v<D, bool>) {
            d[i] = src[i] != S{};
          } else if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>) {
            // out of the integer's range (undefined in C++): saturated; NaN -> 0
            const S v = src[i];
            constexpr S lo = static_cast<S>(std::numeric_limits<D>::lowest());
            constexpr S hi = static_cast<S>(std::numeric_limits<D>::max());
            d[i] = v != v    ? D{0}
                   : v <= lo ? std::numeric_limits<D>::lowest()
                   : v >= hi ? std::numeric_limits<D>::max()
                             : static_cast<D>(v);
          } else {
            d[i] = static_cast<D>(src[i]);
          }
        }
        return OkStatus();
      });
    });
  });
}

// Clip: bounds from attributes (opset < 11) or optional inputs 1, 2.
Result<Kernel> MakeClip(const NodeView& node) {
  const float attr_lo = AttrFloat(node.proto, "min", -std::numeric_limits<float>::infinity());
  const float attr_hi = AttrFloat(node.proto, "max", std::numeric_limits<float>::infinity());
  return Kernel([=](Arena& arena, Inputs in, std::span<Tensor> out) -> Status {
    const Tensor& x = *in[0];
    if (x.dtype() != DType::kF32) return InvalidArgument("Clip supports f32, got {}", ShapeStr(x));
    float lo = attr_lo, hi = attr_hi;
    if (in.size() > 1 && in[1]) {
      COSY_ASSIGN_OR_RETURN(lo, ToScalar(*in[1], "min"));
    }
    if (in.size() > 2 && in[2]) {
      COSY_ASSIGN_OR_RETURN(hi, ToScalar(*in[2], "max"));
    }
    COSY_ASSIGN_OR_RETURN(out[0], arena.Alloc(x.shape(), DType::kF32));
    const float* s = x.data<float>();
    float* d = out[0].data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) d[i] = std::min(std::max(s[i], lo), hi);
    return OkStatus();
  });
}

const OpEntry kOps[] = {
    {"Neg", MakeUnary<UnaryKind::kNeg>},
    {"Abs", MakeUnary<UnaryKind::kAbs>},
    {"Sqrt", MakeUnary<UnaryKind::kSqrt>},
    {"Exp", MakeUnary<UnaryKind::kExp>},
    {"Log", MakeUnary<UnaryKind::kLog>},
    {"Erf", MakeUnary<UnaryKind::kErf>},
    {"Tanh", MakeUnary<UnaryKind::kTanh>},
    {"Sigmoid", MakeUnary<UnaryKind::kSigmoid>},
    {"Relu", MakeUnary<UnaryKind::kRelu>},
    {"Round", MakeUnary<UnaryKind::kRound>},
    {"Floor", MakeUnary<UnaryKind::kFloor>},
    {"Ceil", MakeUnary<UnaryKind::kCeil>},
    {"Sin", MakeUnary<UnaryKind::kSin>},
    {"Cos", MakeUnary<UnaryKind::kCos>},
    {"Reciprocal", MakeUnary<UnaryKind::kReciprocal>},
    {"Sign", MakeUnary<UnaryKind::kSign>},
    {"Not", MakeUnary<UnaryKind::kNot>},
    {"Add", MakeBinary<BinaryKind::kAdd>},
    {"Sub", MakeBinary<BinaryKind::kSub>},
    {"Mul", MakeBinary<BinaryKind::kMul>},
    {"Div", MakeBinary<BinaryKind::kDiv>},
    {"Mod", MakeBinary<BinaryKind::kMod>},
    {"Equal", MakeBinary<BinaryKind::kEqual>},
    {"Less", MakeBinary<BinaryKind::kLess>},
    {"LessOrEqual", MakeBinary<BinaryKind::kLessOrEqual>},
    {"Greater", MakeBinary<BinaryKind::kGreater>},
    {"GreaterOrEqual", MakeBinary<BinaryKind::kGreaterOrEqual>},
    {"And", MakeBinary<BinaryKind::kAnd>},
    {"Or", MakeBinary<BinaryKind::kOr>},
    {"Xor", MakeBinary<BinaryKind::kXor>},
    {"Min", MakeVariadic<BinaryKind::kMin>},
    {"Max", MakeVariadic<BinaryKind::kMax>},
    {"Sum", MakeVariadic<BinaryKind::kAdd>},
    {"Pow", MakePow},
    {"Where", MakeWhere},
    {"Cast", MakeCast},
    {"Clip", MakeClip},
};

}  // namespace

std::span<const OpEntry> ElementwiseOps() { return kOps; }

}  // namespace cosyflow::onnx::detail
