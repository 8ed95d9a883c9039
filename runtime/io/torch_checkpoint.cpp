// torch.save zip reader: locate data.pkl, unpickle it, map storages to zero-copy tensors.
#include "runtime/io/torch_checkpoint.h"

#include <unordered_map>
#include <unordered_set>

#include "runtime/io/pickle.h"
#include "runtime/io/zip.h"

namespace cosyflow::io {
namespace {

using Kind = PickleValue::Kind;

constexpr int kMaxNesting = 16;
constexpr int64_t kMaxElements = int64_t{1} << 48;

Result<DType> StorageDType(TorchStorageType t, const std::string& where) {
  switch (t) {
    case TorchStorageType::kFloat:
      return DType::kF32;
    case TorchStorageType::kHalf:
      return DType::kF16;
    case TorchStorageType::kBFloat16:
      return DType::kBF16;
    case TorchStorageType::kLong:
      return DType::kI64;
    case TorchStorageType::kInt:
      return DType::kI32;
    case TorchStorageType::kBool:
      return DType::kBool;
    case TorchStorageType::kByte:
      return DType::kU8;
    case TorchStorageType::kDouble:
      break;
  }
  return Unsupported("{}: float64 (DoubleStorage) tensors are not supported", where);
}

class TorchLoader {
 public:
  TorchLoader(const ByteSource& src, const ZipReader& zip, std::string prefix)
      : src_(src), zip_(zip), prefix_(std::move(prefix)) {}

  Status Flatten(const PickleValue* dict, const std::string& name_prefix, int depth);
  std::vector<CheckpointEntry> Take() { return std::move(entries_); }

 private:
  struct StorageSlot {
    std::shared_ptr<Storage> storage;
    DType dtype;
    int64_t numel;
  };
  Result<std::string> KeyName(const PickleValue* key, const std::string& name_prefix) const;
  Result<const StorageSlot*> LoadStorage(const PickleValue* s, const std::string& tensor);
  Result<Tensor> MakeTensor(const PickleTensorInfo& info, const std::string& name);

  const ByteSource& src_;
  const ZipReader& zip_;
  std::string prefix_;
  std::unordered_map<std::string, StorageSlot> storages_;
  std::unordered_set<std::string> names_;
  std::vector<CheckpointEntry> entries_;
};

Result<std::string> TorchLoader::KeyName(const PickleValue* key,
                                         const std::string& name_prefix) const {
  std::string k;
  if (key->kind == Kind::kString) {
    k = key->s;
  } else if (key->kind == Kind::kInt) {
    k = std::to_string(key->i);
  } else {
    return DataLoss("{}: dict key under '{}' is a {}, expected a string", src_.name(), name_prefix,
                    PickleKindName(key->kind));
  }
  return name_prefix.empty() ? k : name_prefix + "." + k;
}

Status TorchLoader::Flatten(const PickleValue* dict, const std::string& name_prefix, int depth) {
  if (depth > kMaxNesting) {
    return DataLoss("{}: dicts nested deeper than {} at '{}'", src_.name(), kMaxNesting,
                    name_prefix);
  }
  for (const auto& [key, value] : dict->dict) {
    COSY_ASSIGN_OR_RETURN(std::string name, KeyName(key, name_prefix));
    if (value->kind == Kind::kDict) {
      COSY_RETURN_IF_ERROR(Flatten(value, name, depth + 1));
      continue;
    }
    if (value->kind != Kind::kTensor) continue;  // ints, strings, ... are not weights
    if (!names_.insert(name).second) {
      return DataLoss("{}: tensor name '{}' appears twice after flattening", src_.name(), name);
    }
    COSY_ASSIGN_OR_RETURN(Tensor t, MakeTensor(*value->tensor, name));
    entries_.push_back({std::move(name), std::move(t)});
  }
  return OkStatus();
}

Result<const TorchLoader::StorageSlot*> TorchLoader::LoadStorage(const PickleValue* s,
                                                                 const std::string& tensor) {
  const std::string where = fmt::format("{}: tensor '{}'", src_.name(), tensor);
  COSY_ASSIGN_OR_RETURN(DType dtype, StorageDType(s->storage_type, where));
  auto it = storages_.find(s->s);
  if (it != storages_.end()) {
    if (it->second.dtype != dtype || it->second.numel != s->i) {
      return DataLoss("{}: storage '{}' is used with two different types or sizes", where, s->s);
    }
    return &it->second;
  }
  const std::string record = prefix_ + "/data/" + s->s;
  const ZipEntry* e = zip_.Find(record);
  if (e == nullptr) return NotFound("{}: storage record '{}' is missing", where, record);
  auto read = zip_.Read(*e);  // checks the record's CRC-32
  if (!read.ok()) {
    return MakeError(read.status().code(), "{} (the storage of tensor '{}')",
                     read.status().message(), tensor);
  }
  const std::span<const uint8_t> bytes = *read;
  const uint64_t esize = DTypeSize(dtype);
  if (static_cast<uint64_t>(s->i) > bytes.size() / esize) {
    return DataLoss("{}: storage '{}' declares {} {} elements but its record has {} bytes", where,
                    s->s, s->i, DTypeName(dtype), bytes.size());
  }
  const uint64_t offset = static_cast<uint64_t>(bytes.data() - src_.data());
  COSY_ASSIGN_OR_RETURN(std::shared_ptr<Storage> storage,
                        src_.MakeStorage(offset, static_cast<uint64_t>(s->i) * esize, dtype));
  auto [pos, added] = storages_.emplace(s->s, StorageSlot{std::move(storage), dtype, s->i});
  return &pos->second;
}

Result<Tensor> TorchLoader::MakeTensor(const PickleTensorInfo& info, const std::string& name) {
  COSY_ASSIGN_OR_RETURN(const StorageSlot* slot, LoadStorage(info.storage, name));
  // Overflow-safe extent check before any view is built: absurd shapes fail here.
  if (info.offset < 0 || info.offset > kMaxElements) {
    return OutOfRange("{}: tensor '{}' has storage offset {}", src_.name(), name, info.offset);
  }
  int64_t numel = 1;
  int64_t last = info.offset;
  bool empty = false;
  for (int d = 0; d < info.shape.size(); ++d) {
    const int64_t n = info.shape[d];
    const int64_t st = info.strides[d];
    if (n < 0 || st < 0) {
      return DataLoss("{}: tensor '{}' has negative size or stride: size {}, stride {}",
                      src_.name(), name, info.shape.ToString(), info.strides.ToString());
    }
    if (n == 0) empty = true;
    if (n > 0 && (numel > kMaxElements / n || (n > 1 && st > kMaxElements / (n - 1)))) {
      return OutOfRange("{}: tensor '{}' has an absurd shape {} (strides {})", src_.name(), name,
                        info.shape.ToString(), info.strides.ToString());
    }
    numel *= n;
    if (n > 0) last += (n - 1) * st;
  }
  if (!empty && last >= slot->numel) {
    return OutOfRange("{}: tensor '{}' {} needs {} elements of storage '{}', which has {}",
                      src_.name(), name, info.shape.ToString(), last + 1, info.storage->s,
                      slot->numel);
  }
  Result<Tensor> t =
      Tensor::FromStorage(slot->storage, info.offset, info.shape, info.strides, slot->dtype);
  if (!t.ok()) return t.status().WithContext(fmt::format("{}: tensor '{}'", src_.name(), name));
  return t;
}

// The archive prefix is the folder holding data.pkl ("llm" in "llm/data.pkl").
Result<std::string> FindPrefix(const ByteSource& src, const ZipReader& zip) {
  for (const ZipEntry& e : zip.entries()) {
    const size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      return e.name.substr(0, slash);
    }
  }
  return NotFound("{}: zip archive has no <name>/data.pkl record; not a torch.save file",
                  src.name());
}

}  // namespace

bool IsLegacyTorchPickle(std::span<const uint8_t> bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x80 && bytes[1] >= 2 && bytes[1] <= 5;
}

Result<std::vector<CheckpointEntry>> ReadTorchCheckpoint(const ByteSource& src) {
  if (IsLegacyTorchPickle(src.bytes())) {
    return Unsupported(
        "{}: legacy torch format (pre-1.6 torch.save, not a zip archive) is not "
        "supported; re-save it with a newer torch",
        src.name());
  }
  COSY_ASSIGN_OR_RETURN(ZipReader zip, ZipReader::Open(src));
  COSY_ASSIGN_OR_RETURN(std::string prefix, FindPrefix(src, zip));
  if (const ZipEntry* order = zip.Find(prefix + "/byteorder")) {
    COSY_ASSIGN_OR_RETURN(std::span<const uint8_t> b, zip.Read(*order));
    const std::string_view v(reinterpret_cast<const char*>(b.data()), b.size());
    if (!v.starts_with("little")) {
      return Unsupported("{}: byteorder record says '{}'; only little-endian is supported",
                         src.name(), v.substr(0, 16));
    }
  }
  const std::string pkl_name = prefix + "/data.pkl";
  COSY_ASSIGN_OR_RETURN(std::span<const uint8_t> pkl, zip.Read(*zip.Find(pkl_name)));
  COSY_ASSIGN_OR_RETURN(PickleDocument doc, Unpickle(pkl, src.name() + ": " + pkl_name));
  if (doc.root->kind != Kind::kDict) {
    return Unsupported("{}: {} holds a {}, expected a dict of tensors", src.name(), pkl_name,
                       PickleKindName(doc.root->kind));
  }
  TorchLoader loader(src, zip, prefix);
  COSY_RETURN_IF_ERROR(loader.Flatten(doc.root, "", 0));
  return loader.Take();
}

}  // namespace cosyflow::io
