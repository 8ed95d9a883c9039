// ONNX file parsing (size limit raised) and the static summary behind `cosyflow inspect`.
#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <climits>
#include <exception>
#include <limits>
#include <map>

#include "runtime/onnx/model.h"
#include "runtime/onnx/ops.h"
#include "runtime/storage.h"

namespace cosyflow::onnx {
namespace detail {

bool IsDefaultDomain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

Result<::onnx::ModelProto> ParseModel(std::span<const uint8_t> bytes, const std::string& name) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return Unsupported(
        "onnx: {} is {} bytes; protobuf files over 2 GiB need external data, "
        "which is not supported",
        name, bytes.size());
  }
  ::onnx::ModelProto model;
  google::protobuf::io::ArrayInputStream stream(bytes.data(), static_cast<int>(bytes.size()));
  google::protobuf::io::CodedInputStream coded(&stream);
  coded.SetTotalBytesLimit(INT_MAX);  // the default 64 MiB is far below the 0.5 GB tokenizer
  if (!model.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage()) {
    return DataLoss(
        "onnx: {} is not a valid ONNX model (protobuf parse failed; truncated or "
        "not an .onnx file)",
        name);
  }
  if (model.ir_version() <= 0 || !model.has_graph() || model.opset_import_size() == 0) {
    return DataLoss("onnx: {} is not an ONNX model (ir_version {}, graph {}, {} opset imports)",
                    name, model.ir_version(), model.has_graph() ? "present" : "missing",
                    model.opset_import_size());
  }
  return model;
}

ValueInfo ToValueInfo(const ::onnx::ValueInfoProto& v) {
  ValueInfo info;
  info.name = v.name();
  const auto& tt = v.type().tensor_type();
  DType dt = DType::kF32;
  DTypeFromOnnx(tt.elem_type(), &dt);
  info.dtype = dt;
  info.has_shape = tt.has_shape();
  for (const auto& d : tt.shape().dim()) {
    info.dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    info.dim_names.push_back(d.has_dim_param() ? d.dim_param() : "");
  }
  return info;
}

std::string ValueLine(const ::onnx::ValueInfoProto& v) {
  ValueInfo info = ToValueInfo(v);
  return fmt::format("  {} {} {}\n", v.name(), OnnxTypeName(v.type().tensor_type().elem_type()),
                     info.has_shape ? info.ShapeString() : "(no shape)");
}

// The static part of Describe / DescribeFile.
std::string DescribeProto(const ::onnx::ModelProto& m) {
  std::string s;
  const auto& g = m.graph();
  s += fmt::format("format: onnx\nir_version: {}\nproducer: {} {}\n", m.ir_version(),
                   m.producer_name(), m.producer_version());
  for (const auto& o : m.opset_import()) {
    s += fmt::format("opset: {} {}\n", o.domain().empty() ? "ai.onnx" : o.domain(), o.version());
  }
  std::map<std::string, int> inits;
  for (const auto& t : g.initializer()) inits[t.name()] = 1;
  s += "inputs:\n";
  for (const auto& v : g.input()) {
    if (!inits.count(v.name())) s += ValueLine(v);
  }
  s += "outputs:\n";
  for (const auto& v : g.output()) s += ValueLine(v);
  // Declared sizes are summed with overflow checks: the file need not be valid.
  int64_t bytes = 0;
  bool bytes_valid = true;
  std::string lines;
  for (const auto& t : g.initializer()) {
    std::string dims;
    for (int64_t d : t.dims()) {
      if (!dims.empty()) dims += ",";
      dims += std::to_string(d);
    }
    DType dt;
    int64_t b = static_cast<int64_t>(t.raw_data().size());
    const bool known = DTypeFromOnnx(t.data_type(), &dt);
    const bool fits =
        !known || CheckedBytes({t.dims().data(), static_cast<size_t>(t.dims_size())}, DTypeSize(dt),
                               std::numeric_limits<int64_t>::max(), &b);
    if (!fits || __builtin_add_overflow(bytes, b, &bytes)) bytes_valid = false;
    lines += fmt::format("  {} {} [{}]{}{}\n", t.name(), OnnxTypeName(t.data_type()), dims,
                         t.data_location() == ::onnx::TensorProto::EXTERNAL ? " (external)" : "",
                         fits ? "" : " (invalid dims)");
  }
  s += fmt::format("initializers: {} ({})\n{}", g.initializer_size(),
                   bytes_valid ? fmt::format("{} bytes", bytes) : "size overflows", lines);
  std::map<std::string, int> ops;
  std::map<std::string, int> unsupported;
  for (const auto& n : g.node()) {
    const std::string key =
        IsDefaultDomain(n.domain()) ? n.op_type() : n.domain() + "." + n.op_type();
    ++ops[key];
    if (!IsDefaultDomain(n.domain()) || !IsSupportedOp(n.op_type())) ++unsupported[key];
  }
  s += fmt::format("nodes: {}\nop types: {}\n", g.node_size(), ops.size());
  for (const auto& [op, count] : ops) s += fmt::format("  {} {}\n", op, count);
  if (unsupported.empty()) {
    s += "unsupported ops: none\n";
  } else {
    s += "unsupported ops:";
    for (const auto& [op, count] : unsupported) s += fmt::format(" {} ({})", op, count);
    s += "\n";
  }
  return s;
}

}  // namespace detail

std::string ValueInfo::ShapeString() const {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    s += dims[i] >= 0 ? std::to_string(dims[i]) : (dim_names[i].empty() ? "?" : dim_names[i]);
  }
  return s + "]";
}

Result<std::string> DescribeFile(const std::string& path) {
  COSY_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::Open(path));
  try {
    COSY_ASSIGN_OR_RETURN(::onnx::ModelProto proto,
                          detail::ParseModel({file->data(), file->size()}, path));
    return detail::DescribeProto(proto);
  } catch (const std::exception& e) {
    return Internal("onnx: {}: {}", path, e.what());
  }
}

}  // namespace cosyflow::onnx
