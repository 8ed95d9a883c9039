// torch.save writer: pickle protocol 2 of the dict (tensors as torch._utils._rebuild_tensor_v2
// with persistent storage ids) inside a stored zip with 64-byte aligned records.
#include "runtime/io/torch_save.h"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace cosyflow::io {
namespace {

constexpr size_t kRecordAlignment = 64;  // torch's kFieldAlignment

Result<std::string_view> StorageClass(DType dt) {
  switch (dt) {
    case DType::kF32: return std::string_view("FloatStorage");
    case DType::kF16: return std::string_view("HalfStorage");
    case DType::kBF16: return std::string_view("BFloat16Storage");
    case DType::kI32: return std::string_view("IntStorage");
    case DType::kI64: return std::string_view("LongStorage");
    case DType::kU8: return std::string_view("ByteStorage");
    case DType::kBool: return std::string_view("BoolStorage");
  }
  return InvalidArgument("torch_save: unsupported dtype");
}

class Pickler {
 public:
  void Proto() { out_ += "\x80\x02"; }
  void Stop() { out_ += '.'; }
  void Mark() { out_ += '('; }
  void Tuple() { out_ += 't'; }
  void EmptyDict() { out_ += '}'; }
  void EmptyTuple() { out_ += ')'; }
  void SetItems() { out_ += 'u'; }
  void Reduce() { out_ += 'R'; }
  void BinPersId() { out_ += 'Q'; }
  void False() { out_ += '\x89'; }
  void Global(std::string_view module, std::string_view name) {
    out_ += 'c';
    out_.append(module);
    out_ += '\n';
    out_.append(name);
    out_ += '\n';
  }
  void Str(std::string_view s) {
    out_ += 'X';
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  void Int(int64_t v) {
    if (v >= 0 && v < 256) {
      out_ += 'K';
      out_ += static_cast<char>(v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      out_ += 'J';
      U32(static_cast<uint32_t>(static_cast<int32_t>(v)));
    } else {  // LONG1 with 8 little-endian two's-complement bytes
      out_ += '\x8a';
      out_ += '\x08';
      for (int i = 0; i < 8; ++i) out_ += static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
    }
  }
  std::string& bytes() { return out_; }

 private:
  void U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_ += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  std::string out_;
};

struct Record {
  std::string name;
  std::string data;
};

Status PickleDict(const TorchDict& d, Pickler* p, std::vector<Record>* storages,
                  const std::string& archive, int depth) {
  if (depth > 8) return InvalidArgument("torch_save: dict nesting deeper than 8");
  p->EmptyDict();
  if (d.items.empty()) return OkStatus();
  p->Mark();
  for (const auto& [key, value] : d.items) {
    p->Str(key);
    if (const TorchDict* sub = std::get_if<TorchDict>(&value)) {
      COSY_RETURN_IF_ERROR(PickleDict(*sub, p, storages, archive, depth + 1));
      continue;
    }
    const Tensor& t = std::get<Tensor>(value);
    if (!t.defined() || t.device() != Device::kCpu) {
      return InvalidArgument("torch_save: '{}' is not a defined CPU tensor", key);
    }
    COSY_ASSIGN_OR_RETURN(std::string_view storage_class, StorageClass(t.dtype()));
    COSY_ASSIGN_OR_RETURN(Tensor c, t.Contiguous());
    const std::string storage_key = std::to_string(storages->size());
    storages->push_back(
        {archive + "/data/" + storage_key,
         std::string(static_cast<const char*>(c.raw()), c.nbytes())});
    p->Global("torch._utils", "_rebuild_tensor_v2");
    p->Mark();
    p->Mark();  // persistent id ('storage', class, key, location, numel)
    p->Str("storage");
    p->Global("torch", storage_class);
    p->Str(storage_key);
    p->Str("cpu");
    p->Int(c.numel());
    p->Tuple();
    p->BinPersId();
    p->Int(0);  // storage offset
    p->Mark();
    for (int i = 0; i < c.dim(); ++i) p->Int(c.size(i));
    p->Tuple();
    p->Mark();
    const Dims strides = Tensor::ContiguousStrides(c.shape());
    for (int i = 0; i < c.dim(); ++i) p->Int(strides[i]);
    p->Tuple();
    p->False();  // requires_grad
    p->Global("collections", "OrderedDict");
    p->EmptyTuple();
    p->Reduce();  // backward hooks
    p->Tuple();
    p->Reduce();
  }
  p->SetItems();
  return OkStatus();
}

void Le16(std::string* s, uint16_t v) {
  s->push_back(static_cast<char>(v & 0xff));
  s->push_back(static_cast<char>(v >> 8));
}
void Le32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

Result<std::string> SerializeTorchDict(const TorchDict& dict, const std::string& archive_name) {
  if (archive_name.empty() || archive_name.find('/') != std::string::npos) {
    return InvalidArgument("torch_save: bad archive name '{}'", archive_name);
  }
  Pickler p;
  std::vector<Record> storages;
  p.Proto();
  COSY_RETURN_IF_ERROR(PickleDict(dict, &p, &storages, archive_name, 0));
  p.Stop();
  std::vector<Record> records;
  records.push_back({archive_name + "/data.pkl", std::move(p.bytes())});
  for (auto& r : storages) records.push_back(std::move(r));
  records.push_back({archive_name + "/version", "3\n"});
  records.push_back({archive_name + "/byteorder", "little"});

  std::string zip;
  std::string central;
  for (const Record& r : records) {
    if (r.data.size() >= 0xFFFFFFFFull || zip.size() >= 0xFFFFFFFFull) {
      return InvalidArgument("torch_save: archive over 4 GiB is not supported");
    }
    const uint32_t crc = Crc32(r.data.data(), r.data.size());
    const uint32_t offset = static_cast<uint32_t>(zip.size());
    // Local header (30 bytes) + name + extra: pad with an 'FB' extra field so the data starts
    // on a 64-byte boundary, as torch's writer does.
    const size_t header_end = zip.size() + 30 + r.name.size();
    size_t pad = (kRecordAlignment - (header_end + 4) % kRecordAlignment) % kRecordAlignment;
    Le32(&zip, 0x04034b50);
    Le16(&zip, 20);  // version needed
    Le16(&zip, 0);   // flags
    Le16(&zip, 0);   // stored
    Le16(&zip, 0);   // time
    Le16(&zip, 0);   // date
    Le32(&zip, crc);
    Le32(&zip, static_cast<uint32_t>(r.data.size()));
    Le32(&zip, static_cast<uint32_t>(r.data.size()));
    Le16(&zip, static_cast<uint16_t>(r.name.size()));
    Le16(&zip, static_cast<uint16_t>(4 + pad));
    zip += r.name;
    Le16(&zip, 0x4246);  // "FB"
    Le16(&zip, static_cast<uint16_t>(pad));
    zip.append(pad, 'Z');
    zip += r.data;

    Le32(&central, 0x02014b50);
    Le16(&central, 20);  // version made by
    Le16(&central, 20);  // version needed
    Le16(&central, 0);
    Le16(&central, 0);
    Le16(&central, 0);
    Le16(&central, 0);
    Le32(&central, crc);
    Le32(&central, static_cast<uint32_t>(r.data.size()));
    Le32(&central, static_cast<uint32_t>(r.data.size()));
    Le16(&central, static_cast<uint16_t>(r.name.size()));
    Le16(&central, 0);  // extra
    Le16(&central, 0);  // comment
    Le16(&central, 0);  // disk
    Le16(&central, 0);  // internal attributes
    Le32(&central, 0);  // external attributes
    Le32(&central, offset);
    central += r.name;
  }
  const uint32_t cd_offset = static_cast<uint32_t>(zip.size());
  zip += central;
  Le32(&zip, 0x06054b50);
  Le16(&zip, 0);
  Le16(&zip, 0);
  Le16(&zip, static_cast<uint16_t>(records.size()));
  Le16(&zip, static_cast<uint16_t>(records.size()));
  Le32(&zip, static_cast<uint32_t>(central.size()));
  Le32(&zip, cd_offset);
  Le16(&zip, 0);
  return zip;
}

Status SaveTorchDict(const std::string& path, const TorchDict& dict,
                     const std::string& archive_name) {
  COSY_ASSIGN_OR_RETURN(std::string bytes, SerializeTorchDict(dict, archive_name));
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return InvalidArgument("{}: cannot create", tmp);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return DataLoss("{}: write failed", tmp);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    return InvalidArgument("{}: cannot replace with {}: {}", path, tmp, std::strerror(e));
  }
  return OkStatus();
}

}  // namespace cosyflow::io
