// safetensors: JSON header parsing with every offset validated, and writing.
#include "runtime/io/safetensors.h"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

namespace cosyflow {
namespace {

using Json = nlohmann::ordered_json;

constexpr uint64_t kMaxHeader = uint64_t{100} << 20;  // the format's own limit is 100 MB

constexpr struct {
  std::string_view name;
  DType dtype;
} kDTypes[] = {{"F32", DType::kF32},  {"F16", DType::kF16}, {"BF16", DType::kBF16},
               {"I32", DType::kI32},  {"I64", DType::kI64}, {"U8", DType::kU8},
               {"BOOL", DType::kBool}};

Result<CheckpointEntry> ParseEntry(const io::ByteSource& src, const std::string& name,
                                   const Json& info, uint64_t data_start) {
  const std::string where = fmt::format("{}: tensor '{}'", src.name(), name);
  if (!info.is_object() || !info.contains("dtype") || !info["dtype"].is_string() ||
      !info.contains("shape") || !info["shape"].is_array() || !info.contains("data_offsets") ||
      !info["data_offsets"].is_array() || info["data_offsets"].size() != 2) {
    return DataLoss("{}: header entry needs dtype, shape and data_offsets [begin, end]", where);
  }
  const std::string& dname = info["dtype"].get_ref<const std::string&>();
  const DType* dtype = nullptr;
  for (const auto& d : kDTypes) {
    if (d.name == dname) dtype = &d.dtype;
  }
  if (dtype == nullptr) return Unsupported("{}: dtype '{}' is not supported", where, dname);
  const Json& shape_json = info["shape"];
  if (shape_json.size() > static_cast<size_t>(kMaxDims)) {
    return Unsupported("{}: rank {} exceeds {}", where, shape_json.size(), kMaxDims);
  }
  Dims shape;
  uint64_t numel = 1;
  for (const Json& v : shape_json) {
    if (!v.is_number_unsigned()) return DataLoss("{}: shape entries must be integers >= 0", where);
    const uint64_t n = v.get<uint64_t>();
    if (n > (uint64_t{1} << 48) || (n != 0 && numel > (uint64_t{1} << 48) / n)) {
      return OutOfRange("{}: absurd shape {}", where, shape_json.dump());
    }
    numel *= n;
    shape.push_back(static_cast<int64_t>(n));
  }
  const Json& offs = info["data_offsets"];
  if (!offs[0].is_number_unsigned() || !offs[1].is_number_unsigned()) {
    return DataLoss("{}: data_offsets must be integers >= 0", where);
  }
  const uint64_t begin = offs[0].get<uint64_t>();
  const uint64_t end = offs[1].get<uint64_t>();
  const uint64_t nbytes = numel * DTypeSize(*dtype);
  if (end < begin || end - begin != nbytes) {
    return DataLoss("{}: data_offsets [{}, {}] hold {} bytes, shape {} {} needs {}", where, begin,
                    end, end - begin, shape.ToString(), DTypeName(*dtype), nbytes);
  }
  if (!src.Contains(data_start, end)) {
    return OutOfRange("{}: data_offsets [{}, {}] run past the end of the {}-byte file", where,
                      begin, end, src.size());
  }
  COSY_ASSIGN_OR_RETURN(std::shared_ptr<Storage> storage,
                        src.MakeStorage(data_start + begin, nbytes, *dtype));
  COSY_ASSIGN_OR_RETURN(Tensor t, Tensor::FromStorage(std::move(storage), 0, shape,
                                                      Tensor::ContiguousStrides(shape), *dtype));
  return CheckpointEntry{name, std::move(t)};
}

}  // namespace

namespace io {

bool IsSafetensors(std::span<const uint8_t> b) {
  if (b.size() < 10) return false;
  const uint64_t n = LoadLE64(b.data());
  return n >= 2 && n <= b.size() - 8 && b[8] == '{';
}

Result<std::vector<CheckpointEntry>> ReadSafetensors(const ByteSource& src) {
  if (src.size() < 8) return DataLoss("{}: safetensors file shorter than 8 bytes", src.name());
  const uint64_t header_len = LoadLE64(src.data());
  if (header_len > kMaxHeader || !src.Contains(8, header_len)) {
    return DataLoss("{}: safetensors header length {} is invalid for a {}-byte file", src.name(),
                    header_len, src.size());
  }
  const char* h = reinterpret_cast<const char*>(src.data() + 8);
  Json header = Json::parse(h, h + header_len, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    return DataLoss("{}: safetensors header is not a JSON object", src.name());
  }
  std::vector<CheckpointEntry> entries;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    COSY_ASSIGN_OR_RETURN(CheckpointEntry e, ParseEntry(src, name, info, 8 + header_len));
    entries.push_back(std::move(e));
  }
  return entries;
}

}  // namespace io

Status WriteSafetensors(const std::string& path, const std::vector<CheckpointEntry>& entries) {
  Json header = Json::object();
  std::vector<Tensor> data;
  uint64_t offset = 0;
  for (const CheckpointEntry& e : entries) {
    std::string_view dname;
    for (const auto& d : kDTypes) {
      if (d.dtype == e.tensor.dtype()) dname = d.name;
    }
    if (!e.tensor.defined() || e.tensor.device() != Device::kCpu || dname.empty()) {
      return InvalidArgument("{}: tensor '{}' is undefined or not a CPU tensor", path, e.name);
    }
    COSY_ASSIGN_OR_RETURN(Tensor c, e.tensor.Contiguous());
    std::vector<int64_t> shape(c.shape().begin(), c.shape().end());
    header[e.name] = {
        {"dtype", dname}, {"shape", shape}, {"data_offsets", {offset, offset + c.nbytes()}}};
    offset += c.nbytes();
    data.push_back(std::move(c));
  }
  std::string text = header.dump(-1, ' ', false, Json::error_handler_t::replace);
  text.append((64 - (8 + text.size()) % 64) % 64, ' ');  // data starts 64-byte aligned
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(text.size() >> (8 * i));
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) return NotFound("{}: cannot open for writing", path);
  bool ok = std::fwrite(len, 1, 8, f.get()) == 8 &&
            std::fwrite(text.data(), 1, text.size(), f.get()) == text.size();
  for (const Tensor& t : data) {
    if (ok && t.nbytes() > 0) ok = std::fwrite(t.raw(), 1, t.nbytes(), f.get()) == t.nbytes();
  }
  if (!ok || std::fflush(f.get()) != 0) return DataLoss("{}: write failed", path);
  return OkStatus();
}

}  // namespace cosyflow
