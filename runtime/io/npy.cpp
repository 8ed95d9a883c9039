// .npy: header dict parsing, dtype mapping, Fortran-order handling and writing.
#include "runtime/io/npy.h"

#include <cstdio>
#include <memory>

namespace cosyflow {
namespace {

struct NpyHeader {
  std::string descr;
  bool fortran = false;
  Dims shape;
};

// Parses the Python dict literal "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".
class HeaderParser {
 public:
  HeaderParser(std::string_view s, const std::string& name) : s_(s), name_(name) {}

  Result<NpyHeader> Parse() {
    NpyHeader h;
    bool has_descr = false, has_order = false, has_shape = false;
    if (!Eat('{')) return Bad("expected '{'");
    while (!Eat('}')) {
      COSY_ASSIGN_OR_RETURN(std::string key, Quoted());
      if (!Eat(':')) return Bad("expected ':' after key");
      if (key == "descr") {
        COSY_ASSIGN_OR_RETURN(h.descr, Quoted());
        has_descr = true;
      } else if (key == "fortran_order") {
        if (Word("True")) {
          h.fortran = true;
        } else if (!Word("False")) {
          return Bad("fortran_order must be True or False");
        }
        has_order = true;
      } else if (key == "shape") {
        COSY_ASSIGN_OR_RETURN(h.shape, Shape());
        has_shape = true;
      } else {
        return Bad(fmt::format("unknown header key '{}'", key));
      }
      if (!Eat(',')) {
        if (!Eat('}')) return Bad("expected ',' or '}'");
        break;
      }
    }
    if (!has_descr || !has_order || !has_shape) return Bad("missing descr/fortran_order/shape");
    return h;
  }

 private:
  Status Bad(std::string_view what) const {
    return DataLoss("{}: bad .npy header at char {}: {}", name_, i_, what);
  }
  void Space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t')) ++i_;
  }
  bool Eat(char c) {
    Space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool Word(std::string_view w) {
    Space();
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  Result<std::string> Quoted() {
    Space();
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"')) return Bad("expected a string");
    const char q = s_[i_++];
    const size_t end = s_.find(q, i_);
    if (end == std::string_view::npos) return Bad("unterminated string");
    std::string out(s_.substr(i_, end - i_));
    i_ = end + 1;
    return out;
  }
  Result<Dims> Shape() {
    Dims d;
    if (!Eat('(')) return Bad("shape must be a tuple");
    while (!Eat(')')) {
      Space();
      int64_t v = 0;
      size_t digits = 0;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
        if (v > (int64_t{1} << 50)) return Bad("shape dimension too large");
        v = v * 10 + (s_[i_++] - '0');
        ++digits;
      }
      if (digits == 0) return Bad("expected a non-negative integer in shape");
      Word("L");  // Python 2 long suffix
      if (d.size() >= kMaxDims) return Bad(fmt::format("rank exceeds {}", kMaxDims));
      d.push_back(v);
      if (!Eat(',')) {
        if (!Eat(')')) return Bad("expected ',' or ')' in shape");
        break;
      }
    }
    return d;
  }

  std::string_view s_;
  const std::string& name_;
  size_t i_ = 0;
};

Result<DType> DescrDType(const std::string& descr, const std::string& name) {
  static constexpr struct {
    std::string_view descr;
    DType dtype;
  } kMap[] = {{"<f4", DType::kF32},  {"<f2", DType::kF16}, {"<i4", DType::kI32},
              {"<i8", DType::kI64},  {"|u1", DType::kU8},  {"<u1", DType::kU8},
              {"|b1", DType::kBool}, {"<b1", DType::kBool}};
  for (const auto& m : kMap) {
    if (m.descr == descr) return m.dtype;
  }
  return Unsupported("{}: .npy dtype '{}' is not supported (f4, f2, i4, i8, u1, b1 little-endian)",
                     name, descr.substr(0, 32));
}

std::string_view DTypeDescr(DType t) {
  switch (t) {
    case DType::kF32:
      return "<f4";
    case DType::kF16:
      return "<f2";
    case DType::kI32:
      return "<i4";
    case DType::kI64:
      return "<i8";
    case DType::kU8:
      return "|u1";
    case DType::kBool:
      return "|b1";
    case DType::kBF16:
      break;
  }
  return {};
}

}  // namespace

namespace io {

Result<Tensor> ParseNpy(const ByteSource& src) {
  const uint8_t* d = src.data();
  if (!IsNpy(src.bytes()) || src.size() < 10) {
    return DataLoss("{}: not a .npy file (bad magic or shorter than 10 bytes)", src.name());
  }
  const uint8_t major = d[6];
  size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = LoadLE16(d + 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (src.size() < 12) return DataLoss("{}: truncated .npy preamble", src.name());
    header_len = LoadLE32(d + 8);
    header_start = 12;
  } else {
    return Unsupported("{}: .npy format version {}.{} is not supported", src.name(), major, d[7]);
  }
  if (!src.Contains(header_start, header_len)) {
    return DataLoss("{}: .npy header of {} bytes runs past the end of the {}-byte file", src.name(),
                    header_len, src.size());
  }
  std::string_view text(reinterpret_cast<const char*>(d + header_start), header_len);
  COSY_ASSIGN_OR_RETURN(NpyHeader h, HeaderParser(text, src.name()).Parse());
  COSY_ASSIGN_OR_RETURN(DType dtype, DescrDType(h.descr, src.name()));
  const uint64_t data_start = header_start + header_len;
  const uint64_t avail = src.size() - data_start;
  const uint64_t esize = DTypeSize(dtype);
  bool empty = false;
  for (int64_t n : h.shape) empty |= n == 0;
  uint64_t numel = empty ? 0 : 1;
  for (int64_t n : h.shape) {
    if (!empty && numel > avail / esize / static_cast<uint64_t>(n)) {
      return DataLoss("{}: .npy shape {} ({}) needs more than the {} bytes present (truncated?)",
                      src.name(), h.shape.ToString(), DTypeName(dtype), avail);
    }
    if (!empty) numel *= static_cast<uint64_t>(n);
  }
  COSY_ASSIGN_OR_RETURN(std::shared_ptr<Storage> storage,
                        src.MakeStorage(data_start, numel * esize, dtype));
  if (!h.fortran) {
    return Tensor::FromStorage(storage, 0, h.shape, Tensor::ContiguousStrides(h.shape), dtype);
  }
  // Fortran order: column-major strides, then a C-order copy so callers see a plain tensor.
  Dims strides;
  int64_t acc = 1;
  for (int64_t n : h.shape) {
    strides.push_back(acc);
    acc *= std::max<int64_t>(n, 1);
  }
  COSY_ASSIGN_OR_RETURN(Tensor view, Tensor::FromStorage(storage, 0, h.shape, strides, dtype));
  return view.Clone();
}

}  // namespace io

Result<Tensor> ReadNpy(const std::string& path) {
  COSY_ASSIGN_OR_RETURN(io::ByteSource src, io::ByteSource::FromFile(path));
  return io::ParseNpy(src);
}

Result<Tensor> ParseNpy(const std::string& name, std::span<const uint8_t> bytes) {
  COSY_ASSIGN_OR_RETURN(io::ByteSource src, io::ByteSource::CopyOf(name, bytes));
  return io::ParseNpy(src);
}

Status WriteNpy(const std::string& path, const Tensor& t) {
  if (!t.defined()) return InvalidArgument("{}: cannot write an undefined tensor", path);
  if (t.device() != Device::kCpu) return InvalidArgument("{}: tensor is not on the CPU", path);
  const std::string_view descr = DTypeDescr(t.dtype());
  if (descr.empty()) return Unsupported("{}: .npy has no {} dtype", path, DTypeName(t.dtype()));
  std::string shape;
  for (int64_t n : t.shape()) shape += fmt::format("{}{}", shape.empty() ? "" : ", ", n);
  shape = t.dim() == 1 ? "(" + shape + ",)" : "(" + shape + ")";
  std::string header =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape);
  // Pad with spaces so that magic(6) + version(2) + len(2) + header ends on a 64-byte boundary.
  const size_t total = (10 + header.size() + 1 + 63) / 64 * 64;
  header.append(total - 10 - header.size() - 1, ' ');
  header.push_back('\n');
  COSY_ASSIGN_OR_RETURN(Tensor c, t.Contiguous());
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) return NotFound("{}: cannot open for writing", path);
  const uint8_t pre[10] = {0x93,
                           'N',
                           'U',
                           'M',
                           'P',
                           'Y',
                           1,
                           0,
                           static_cast<uint8_t>(header.size() & 0xff),
                           static_cast<uint8_t>(header.size() >> 8)};
  bool ok = std::fwrite(pre, 1, 10, f.get()) == 10 &&
            std::fwrite(header.data(), 1, header.size(), f.get()) == header.size();
  if (ok && c.nbytes() > 0) ok = std::fwrite(c.raw(), 1, c.nbytes(), f.get()) == c.nbytes();
  if (!ok || std::fflush(f.get()) != 0) return DataLoss("{}: write failed", path);
  return OkStatus();
}

}  // namespace cosyflow
