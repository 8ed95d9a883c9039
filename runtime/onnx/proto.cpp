// ONNX protobuf helpers: TensorProto -> Tensor, dtype names, node attributes.
#include <algorithm>
#include <cstring>

#include "runtime/onnx/ops.h"

namespace cosyflow::onnx::detail {

using ::onnx::TensorProto;

bool DTypeFromOnnx(int onnx_type, DType* out) {
  switch (onnx_type) {
    case TensorProto::FLOAT:
      *out = DType::kF32;
      return true;
    case TensorProto::INT32:
      *out = DType::kI32;
      return true;
    case TensorProto::INT64:
      *out = DType::kI64;
      return true;
    case TensorProto::UINT8:
      *out = DType::kU8;
      return true;
    case TensorProto::BOOL:
      *out = DType::kBool;
      return true;
    default:
      return false;
  }
}

const char* OnnxTypeName(int onnx_type) {
  if (!TensorProto::DataType_IsValid(onnx_type)) return "INVALID";
  static thread_local std::string name;
  name = TensorProto::DataType_Name(static_cast<TensorProto::DataType>(onnx_type));
  return name.c_str();
}

namespace {

constexpr int64_t kMaxInitializerBytes = int64_t{2} << 30;  // protobuf's message limit

// Copies typed-field values (float_data / int32_data / int64_data) into dst of type T.
template <typename T, typename Field>
Status CopyTyped(const Field& field, int64_t n, const std::string& name, T* dst) {
  if (static_cast<int64_t>(field.size()) != n) {
    return DataLoss("initializer '{}' holds {} values, its shape needs {}", name, field.size(), n);
  }
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(field.Get(static_cast<int>(i)));
  return OkStatus();
}

// Values in the typed field that holds `dtype` (float_data, int64_data, int32_data).
int64_t TypedCount(const TensorProto& t, DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return t.float_data_size();
    case DType::kI64:
      return t.int64_data_size();
    default:
      return t.int32_data_size();  // INT32, UINT8, BOOL
  }
}

}  // namespace

Result<Tensor> TensorFromProto(const TensorProto& t) {
  const std::string& name = t.name();
  if (t.data_location() == TensorProto::EXTERNAL || t.external_data_size() > 0) {
    return Unsupported(
        "tensor '{}' keeps its data in an external file (not supported; "
        "re-save the model with the data inside the .onnx file)",
        name);
  }
  DType dtype;
  if (!DTypeFromOnnx(t.data_type(), &dtype)) {
    return Unsupported(
        "tensor '{}' has data type {} (supported: FLOAT, INT32, INT64, UINT8, "
        "BOOL)",
        name, OnnxTypeName(t.data_type()));
  }
  Dims shape;
  if (t.dims_size() > kMaxDims) {
    return Unsupported("tensor '{}' has rank {} (max {})", name, t.dims_size(), kMaxDims);
  }
  for (int64_t d : t.dims()) {
    if (d < 0) return DataLoss("tensor '{}' has a negative dim {}", name, d);
    shape.push_back(d);
  }
  // Size and data are checked before anything is allocated: a few bytes of dims must not
  // reserve gigabytes. No tensor of a (2 GiB) protobuf holds more than kMaxInitializerBytes.
  int64_t want = 0;
  if (!CheckedBytes({shape.begin(), shape.end()}, DTypeSize(dtype), kMaxInitializerBytes, &want)) {
    return DataLoss("tensor '{}' {}{} is larger than any tensor of an ONNX file ({} bytes)", name,
                    DTypeName(dtype), shape.ToString(), kMaxInitializerBytes);
  }
  const int64_t n = shape.Product();  // no overflow: bounded by want above
  const int64_t have = t.has_raw_data()
                           ? static_cast<int64_t>(t.raw_data().size())
                           : TypedCount(t, dtype) * static_cast<int64_t>(DTypeSize(dtype));
  if (have != want) {
    return DataLoss("tensor '{}' {}{}: {} holds {} bytes, the shape needs {}", name,
                    DTypeName(dtype), shape.ToString(),
                    t.has_raw_data() ? "raw_data" : "the typed data field", have, want);
  }
  // Uninitialised: every byte is written below (no zero fill over 0.5 GB of weights).
  const size_t alloc = std::max<size_t>(static_cast<size_t>(want), kCpuAlignment);
  void* mem = AlignedAlloc(alloc);
  if (mem == nullptr) return Internal("out of memory for tensor '{}' ({} bytes)", name, alloc);
  std::shared_ptr<void> keeper(mem, [](void* q) { AlignedFree(q); });
  COSY_ASSIGN_OR_RETURN(
      Tensor out, Tensor::FromStorage(
                      Storage::Wrap(static_cast<uint8_t*>(mem), alloc, std::move(keeper), false), 0,
                      shape, Tensor::ContiguousStrides(shape), dtype));
  if (t.has_raw_data()) {
    if (want > 0) std::memcpy(out.raw(), t.raw_data().data(), static_cast<size_t>(want));
    return out;  // little-endian host
  }
  switch (dtype) {
    case DType::kF32:
      COSY_RETURN_IF_ERROR(CopyTyped(t.float_data(), n, name, out.data<float>()));
      break;
    case DType::kI64:
      COSY_RETURN_IF_ERROR(CopyTyped(t.int64_data(), n, name, out.data<int64_t>()));
      break;
    case DType::kI32:
      COSY_RETURN_IF_ERROR(CopyTyped(t.int32_data(), n, name, out.data<int32_t>()));
      break;
    case DType::kU8:
      COSY_RETURN_IF_ERROR(CopyTyped(t.int32_data(), n, name, out.data<uint8_t>()));
      break;
    case DType::kBool:
      COSY_RETURN_IF_ERROR(CopyTyped(t.int32_data(), n, name, out.data<bool>()));
      break;
    default:
      break;
  }
  return out;
}

const ::onnx::AttributeProto* FindAttr(const ::onnx::NodeProto& n, const char* name) {
  for (const auto& a : n.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

bool HasAttr(const ::onnx::NodeProto& n, const char* name) { return FindAttr(n, name) != nullptr; }

int64_t AttrInt(const ::onnx::NodeProto& n, const char* name, int64_t def) {
  const auto* a = FindAttr(n, name);
  return a ? a->i() : def;
}

float AttrFloat(const ::onnx::NodeProto& n, const char* name, float def) {
  const auto* a = FindAttr(n, name);
  return a ? a->f() : def;
}

std::string AttrString(const ::onnx::NodeProto& n, const char* name, const std::string& def) {
  const auto* a = FindAttr(n, name);
  return a ? a->s() : def;
}

std::vector<int64_t> AttrInts(const ::onnx::NodeProto& n, const char* name) {
  const auto* a = FindAttr(n, name);
  if (!a) return {};
  return {a->ints().begin(), a->ints().end()};
}

}  // namespace cosyflow::onnx::detail
