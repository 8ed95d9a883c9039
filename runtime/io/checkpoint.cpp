// Checkpoint: format sniffing, the name index and entry edits.
#include "runtime/io/checkpoint.h"

#include <algorithm>

#include "runtime/io/byte_source.h"
#include "runtime/io/npy.h"
#include "runtime/io/safetensors.h"
#include "runtime/io/torch_checkpoint.h"

namespace cosyflow {

Result<Checkpoint> Checkpoint::OpenSource(const io::ByteSource& src) {
  const std::span<const uint8_t> b = src.bytes();
  std::vector<CheckpointEntry> entries;
  CheckpointFormat format;
  if (b.size() >= 4 && b[0] == 'P' && b[1] == 'K' && (b[2] == 3 || b[2] == 5)) {
    format = CheckpointFormat::kTorchZip;
    COSY_ASSIGN_OR_RETURN(entries, io::ReadTorchCheckpoint(src));
  } else if (io::IsLegacyTorchPickle(b)) {
    return io::ReadTorchCheckpoint(src).status();  // the "legacy torch format" error
  } else if (io::IsNpy(b)) {
    format = CheckpointFormat::kNpy;
    COSY_ASSIGN_OR_RETURN(Tensor t, io::ParseNpy(src));
    entries.push_back({io::FileStem(src.name()), std::move(t)});
  } else if (io::IsSafetensors(b)) {
    format = CheckpointFormat::kSafetensors;
    COSY_ASSIGN_OR_RETURN(entries, io::ReadSafetensors(src));
  } else {
    return Unsupported(
        "{}: unrecognised checkpoint format (not a torch zip, safetensors or .npy; "
        "{} bytes)",
        src.name(), b.size());
  }
  COSY_ASSIGN_OR_RETURN(Checkpoint ckpt, Checkpoint::FromEntries(src.name(), std::move(entries)));
  ckpt.format_ = format;
  return ckpt;
}

std::string_view CheckpointFormatName(CheckpointFormat f) {
  switch (f) {
    case CheckpointFormat::kTorchZip:
      return "torch";
    case CheckpointFormat::kSafetensors:
      return "safetensors";
    case CheckpointFormat::kNpy:
      return "npy";
  }
  return "?";
}

Result<Checkpoint> Checkpoint::Open(const std::string& path) {
  COSY_ASSIGN_OR_RETURN(io::ByteSource src, io::ByteSource::FromFile(path));
  COSY_ASSIGN_OR_RETURN(Checkpoint c, OpenSource(src));
  c.file_ = src.file();
  return c;
}

void Checkpoint::ReleaseResidentPages() const {
  if (file_ != nullptr) file_->ReleaseResidentPages();
}

Result<Checkpoint> Checkpoint::OpenBytes(const std::string& name, std::span<const uint8_t> bytes) {
  COSY_ASSIGN_OR_RETURN(io::ByteSource src, io::ByteSource::CopyOf(name, bytes));
  return OpenSource(src);
}

Result<Checkpoint> Checkpoint::FromEntries(std::string name, std::vector<CheckpointEntry> entries) {
  Checkpoint c;
  c.path_ = std::move(name);
  COSY_RETURN_IF_ERROR(c.ReplaceEntries(std::move(entries)));
  return c;
}

Status Checkpoint::ReplaceEntries(std::vector<CheckpointEntry> entries) {
  std::unordered_map<std::string, size_t, StringHash, std::equal_to<>> index;
  index.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!entries[i].tensor.defined()) {
      return InvalidArgument("{}: tensor '{}' is undefined", path_, entries[i].name);
    }
    if (!index.emplace(entries[i].name, i).second) {
      return DataLoss("{}: tensor '{}' appears twice", path_, entries[i].name);
    }
  }
  entries_ = std::move(entries);
  index_ = std::move(index);
  return OkStatus();
}

const Tensor* Checkpoint::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second].tensor;
}

namespace {

// Index of the first NaN or infinity of a floating-point tensor (element order), else -1: a
// checkpoint whose CRCs match can still carry them (a bad conversion or training run), and every
// output would be NaN (the vocoder's then wrote full-scale -32768 samples).
template <typename Bits>
int64_t FirstNonFiniteBits(const Bits* p, int64_t n, Bits exponent) {
  constexpr int64_t kBlock = 4096;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    bool any = false;  // branch-free over the block (vectorizes); located only when set
    for (int64_t i = b; i < e; ++i) any |= (p[i] & exponent) == exponent;
    if (!any) continue;
    for (int64_t i = b; i < e; ++i) {
      if ((p[i] & exponent) == exponent) return i;
    }
  }
  return -1;
}

Result<int64_t> FirstNonFinite(const Tensor& view) {
  if (view.dtype() != DType::kF32 && view.dtype() != DType::kF16 && view.dtype() != DType::kBF16) {
    return int64_t{-1};
  }
  if (view.device() != Device::kCpu) return int64_t{-1};
  COSY_ASSIGN_OR_RETURN(Tensor t, view.Contiguous());
  switch (t.dtype()) {
    case DType::kF32:
      return FirstNonFiniteBits(t.data<uint32_t>(), t.numel(), uint32_t{0x7f800000});
    case DType::kF16:
      return FirstNonFiniteBits(t.data<uint16_t>(), t.numel(), uint16_t{0x7c00});
    default:
      return FirstNonFiniteBits(t.data<uint16_t>(), t.numel(), uint16_t{0x7f80});
  }
}

}  // namespace

Result<Tensor> Checkpoint::Get(std::string_view name) const {
  const Tensor* t = Find(name);
  if (t == nullptr) return NotFound("{}: tensor '{}' not found", path_, name);
  COSY_ASSIGN_OR_RETURN(const int64_t bad, FirstNonFinite(*t));
  if (bad >= 0) {
    COSY_ASSIGN_OR_RETURN(Tensor flat, t->Contiguous());
    COSY_ASSIGN_OR_RETURN(Tensor one, flat.Reshape(Dims{flat.numel()}));
    COSY_ASSIGN_OR_RETURN(Tensor value, one.Slice(0, bad, bad + 1));
    COSY_ASSIGN_OR_RETURN(Tensor as_f32, value.To(DType::kF32));
    return DataLoss("{}: tensor '{}' {} holds {} at element {} (weights must be finite)", path_,
                    name, t->ToString(), as_f32.data<float>()[0], bad);
  }
  return *t;
}

Result<Tensor> Checkpoint::Get(std::string_view name, const Dims& expected_shape) const {
  COSY_ASSIGN_OR_RETURN(Tensor t, Get(name));
  if (t.shape() != expected_shape) {
    return InvalidArgument("{}: tensor '{}' has shape {}, expected {}", path_, name,
                           t.shape().ToString(), expected_shape.ToString());
  }
  return t;
}

int64_t Checkpoint::total_params() const {
  int64_t n = 0;
  for (const CheckpointEntry& e : entries_) n += e.tensor.numel();
  return n;
}

Status Checkpoint::Rename(std::string_view from, std::string_view to) {
  auto it = index_.find(from);
  if (it == index_.end()) return NotFound("{}: tensor '{}' not found", path_, from);
  if (from == to) return OkStatus();
  if (index_.count(to)) return InvalidArgument("{}: tensor '{}' already exists", path_, to);
  const size_t pos = it->second;
  index_.erase(it);
  entries_[pos].name = std::string(to);
  index_.emplace(entries_[pos].name, pos);
  return OkStatus();
}

Status Checkpoint::StripPrefix(std::string_view prefix) {
  if (prefix.empty()) return OkStatus();
  std::vector<CheckpointEntry> renamed = entries_;
  for (CheckpointEntry& e : renamed) {
    if (e.name.starts_with(prefix)) e.name.erase(0, prefix.size());
  }
  return ReplaceEntries(std::move(renamed));
}

std::string FormatCheckpointListing(const Checkpoint& ckpt) {
  std::string out;
  for (const CheckpointEntry& e : ckpt.entries()) {
    out +=
        fmt::format("{} {} {}\n", e.name, DTypeName(e.tensor.dtype()), e.tensor.shape().ToString());
  }
  out += fmt::format("{} tensors, {} parameters\n", ckpt.size(), ckpt.total_params());
  return out;
}

}  // namespace cosyflow
