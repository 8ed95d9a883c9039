// Internal: the op kernels of the ONNX executor and the helpers they share (not installed API).
#pragma once

#include <onnx/onnx_pb.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/onnx/model.h"
#include "runtime/status.h"
#include "runtime/storage.h"
#include "runtime/tensor.h"

namespace cosyflow::onnx::detail {

// Buffer pool of one Run at a time: storages released by the plan's lifetime analysis are
// handed out again to later steps (best fit by size, at most 4x too large); contents of a
// reused buffer are stale. The model keeps idle arenas between calls (Model::Impl), so repeated
// calls reuse warm pages instead of faulting in fresh ones.
class Arena {
 public:
  // max_bytes: the largest single buffer Alloc hands out (LoadOptions::max_tensor_bytes); a
  // larger or overflowing shape is an error, not an allocation.
  explicit Arena(int64_t max_bytes = kDefaultMaxTensorBytes) : max_bytes_(max_bytes) {}
  Result<Tensor> Alloc(const Dims& shape, DType dtype);
  // Takes the tensor's storage back when no one else (slot, view, caller, model constant)
  // holds it.
  void Recycle(Tensor&& t);
  size_t free_bytes() const { return free_bytes_; }

 private:
  std::multimap<size_t, std::shared_ptr<Storage>> free_;  // by size
  size_t free_bytes_ = 0;
  int64_t max_bytes_;
};

// Inputs of one step: nullptr for an absent optional input. Every tensor is contiguous.
using Inputs = std::span<const Tensor* const>;
// Writes outputs[i] for every declared output (outputs.size() = node outputs, absent ones
// included; a kernel may leave an optional output undefined).
using Kernel = std::function<Status(Arena& arena, Inputs inputs, std::span<Tensor> outputs)>;

// What a kernel factory sees at load: the node, the model's ai.onnx opset and, for inputs that
// are constants (initializers / folded), their values (nullptr otherwise). A factory may pre-pack
// constant weights (MatMul, Conv) into the kernel it returns.
struct NodeView {
  const ::onnx::NodeProto& proto;
  int opset;
  std::vector<const Tensor*> constant_inputs;
  // Set by a factory for each constant input it copied into the kernel (pre-packed weights):
  // the kernel then gets nullptr there, and the plan drops constants no step reads.
  std::vector<bool>* absorbed = nullptr;
};

// nullptr when op_type has no kernel.
using KernelFactory = Result<Kernel> (*)(const NodeView& node);
KernelFactory FindKernelFactory(const std::string& op_type);
std::vector<std::string> SupportedOpTypes();

// Input/output counts of an op (op_arity.cpp): inputs [min_inputs, max_inputs], outputs
// [min_outputs, max_outputs]; bit i of `optional` is set when input i may be absent (an empty
// name). Inputs below min_inputs without that bit must be present.
struct OpArity {
  int min_inputs, max_inputs;
  uint32_t optional;
  int min_outputs, max_outputs;
};
// nullptr when op_type has no row at this opset (every supported op has one: a test checks).
const OpArity* FindOpArity(const std::string& op_type, int opset);
// InvalidArgument ("takes 2 input(s), got 1"; the caller names the node) when the node's
// counts do not fit.
Status CheckArity(const ::onnx::NodeProto& n, int opset);

// Registration tables, one per source file (ops_elementwise.cpp, ops_shape.cpp, ops_nn.cpp,
// ops_reduce.cpp, ops_misc.cpp).
struct OpEntry {
  const char* op_type;
  KernelFactory factory;
};
std::span<const OpEntry> ElementwiseOps();
std::span<const OpEntry> ShapeOps();
std::span<const OpEntry> NnOps();
std::span<const OpEntry> ReduceOps();
std::span<const OpEntry> MiscOps();

// --- proto helpers (proto.cpp) ---------------------------------------------------------------
// ONNX TensorProto.DataType -> DType; false for types without kernels here.
bool DTypeFromOnnx(int onnx_type, DType* out);
const char* OnnxTypeName(int onnx_type);  // "FLOAT", "INT64", ...
// A TensorProto (raw_data or typed fields; external data is an error naming the tensor).
Result<Tensor> TensorFromProto(const ::onnx::TensorProto& t);

const ::onnx::AttributeProto* FindAttr(const ::onnx::NodeProto& n, const char* name);
int64_t AttrInt(const ::onnx::NodeProto& n, const char* name, int64_t def);
float AttrFloat(const ::onnx::NodeProto& n, const char* name, float def);
std::string AttrString(const ::onnx::NodeProto& n, const char* name, const std::string& def);
std::vector<int64_t> AttrInts(const ::onnx::NodeProto& n, const char* name);
bool HasAttr(const ::onnx::NodeProto& n, const char* name);

// --- model helpers (describe.cpp) ------------------------------------------------------------
bool IsDefaultDomain(const std::string& domain);  // "" or "ai.onnx"
// Parses a ModelProto (2 GiB limit) and checks it looks like a model (ir_version, graph, opsets).
Result<::onnx::ModelProto> ParseModel(std::span<const uint8_t> bytes, const std::string& name);
ValueInfo ToValueInfo(const ::onnx::ValueInfoProto& v);
// ir_version, producer, opsets, I/O, initializers, op counts, unsupported ops (Describe()).
std::string DescribeProto(const ::onnx::ModelProto& m);

// --- tensor helpers (op_util.cpp) -------------------------------------------------------------
// Elements of `dims` (each >= 0) times elem_size, false when the product passes `limit` bytes
// (or overflows int64): callers check before they allocate.
bool CheckedBytes(std::span<const int64_t> dims, size_t elem_size, int64_t limit, int64_t* bytes);
// Values of a small integer tensor (i32/i64; shapes, axes, indices).
Result<std::vector<int64_t>> ToInt64s(const Tensor& t, const char* what);
// Scalar (any numeric dtype) as double.
Result<double> ToScalar(const Tensor& t, const char* what);
// Axis in [-rank, rank) -> [0, rank); error otherwise.
Result<int> NormAxis(int64_t axis, int rank, const char* what);
// numpy broadcast of shapes.
Result<Dims> BroadcastShape(std::span<const Dims> shapes);
// Strides of `shape` (contiguous) seen from the rank of `out`: 0 on broadcast dims.
Dims BroadcastStrides(const Dims& shape, const Dims& out);
// 1-element int64 tensor list -> Tensor [n] i64.
Result<Tensor> Int64Tensor(Arena& arena, std::span<const int64_t> values);
std::string ShapeStr(const Tensor& t);  // "f32[1,128,340]"

// Calls f(out_index, in_offsets...) for every element of `out` (row-major), K operands whose
// strides (BroadcastStrides) may be 0 on broadcast dims.
template <size_t K, typename F>
void ForEachBroadcast(const Dims& out, const std::array<Dims, K>& strides, F&& f) {
  const int rank = out.size();
  const int64_t total = out.Product();
  if (total == 0) return;
  if (rank == 0) {
    std::array<int64_t, K> off{};
    f(int64_t{0}, off);
    return;
  }
  const int64_t inner = out[rank - 1];
  std::array<int64_t, K> inner_stride;
  for (size_t k = 0; k < K; ++k) inner_stride[k] = strides[k][rank - 1];
  std::array<int64_t, kMaxDims> idx{};
  std::array<int64_t, K> base{};
  for (int64_t o = 0; o < total; o += inner) {
    std::array<int64_t, K> off = base;
    for (int64_t i = 0; i < inner; ++i) {
      f(o + i, off);
      for (size_t k = 0; k < K; ++k) off[k] += inner_stride[k];
    }
    // Advance the odometer over dims [0, rank-1).
    for (int d = rank - 2; d >= 0; --d) {
      ++idx[d];
      for (size_t k = 0; k < K; ++k) base[k] += strides[k][d];
      if (idx[d] < out[d]) break;
      for (size_t k = 0; k < K; ++k) base[k] -= strides[k][d] * out[d];
      idx[d] = 0;
    }
  }
}

// Integer arithmetic of the kernels wraps around (two's complement, as ONNX Runtime and numpy
// compute it) instead of overflowing, which C++ leaves undefined (the fuzzer's UBSan build found
// an int32 CumSum that did); float arithmetic as usual. The unsigned type is at least `unsigned`,
// so that narrower operands are not promoted to int and multiplied past it.
template <typename T>
constexpr bool kWrapsInteger = std::is_integral_v<T> && !std::is_same_v<T, bool>;
template <typename T>
using WrapUnsigned =
    std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
template <typename T>
inline T WrapAdd(T a, T b) {
  if constexpr (kWrapsInteger<T>) {
    using U = WrapUnsigned<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return static_cast<T>(a + b);
  }
}
template <typename T>
inline T WrapSub(T a, T b) {
  if constexpr (kWrapsInteger<T>) {
    using U = WrapUnsigned<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
  } else {
    return static_cast<T>(a - b);
  }
}
template <typename T>
inline T WrapMul(T a, T b) {
  if constexpr (kWrapsInteger<T>) {
    using U = WrapUnsigned<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) * static_cast<U>(b)));
  } else {
    return static_cast<T>(a * b);
  }
}

// Runs f(T{}) with T the C++ type of dtype (f32, i32, i64, u8, bool).
template <typename F>
Status VisitDType(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kF32:
      return f(float{});
    case DType::kI32:
      return f(int32_t{});
    case DType::kI64:
      return f(int64_t{});
    case DType::kU8:
      return f(uint8_t{});
    case DType::kBool:
      return f(bool{});
    default:
      return Unsupported("dtype {} has no ONNX kernels", DTypeName(dtype));
  }
}

}  // namespace cosyflow::onnx::detail
