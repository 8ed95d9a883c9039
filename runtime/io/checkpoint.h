// Checkpoint: named tensors from a torch .pt zip, a .safetensors or a .npy file (sniffed by
// content).
//
// Tensors are read-only zero-copy views into the mapped file where the data is aligned for its
// dtype (torch and safetensors align), else copies. Entries keep file order; lookup is O(1).
// Errors always start with the file path and name the entry (tensor, zip record, pickle offset).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/status.h"
#include "runtime/tensor.h"

namespace cosyflow {

namespace io {
class ByteSource;
}

struct CheckpointEntry {
  std::string name;
  Tensor tensor;
};

enum class CheckpointFormat : uint8_t { kTorchZip, kSafetensors, kNpy };
std::string_view CheckpointFormatName(CheckpointFormat f);  // "torch", "safetensors", "npy"

class Checkpoint {
 public:
  Checkpoint() = default;

  // Maps `path` and reads it; the format is sniffed from the first bytes, not the extension.
  static Result<Checkpoint> Open(const std::string& path);
  // Same, from bytes in memory (copied into an aligned buffer); `name` prefixes errors.
  static Result<Checkpoint> OpenBytes(const std::string& name, std::span<const uint8_t> bytes);
  // A checkpoint built from tensors in memory (tests, converters); names must be unique.
  static Result<Checkpoint> FromEntries(std::string name, std::vector<CheckpointEntry> entries);

  const std::string& path() const { return path_; }
  CheckpointFormat format() const { return format_; }
  const std::vector<CheckpointEntry>& entries() const { return entries_; }  // file order
  size_t size() const { return entries_.size(); }

  const Tensor* Find(std::string_view name) const;
  // NotFound "<path>: tensor 'x' not found".
  Result<Tensor> Get(std::string_view name) const;
  // Also checks the shape: "<path>: tensor 'x' has shape [..], expected [..]".
  Result<Tensor> Get(std::string_view name, const Dims& expected_shape) const;
  int64_t total_params() const;

  // After a model has taken what it needs: drops the resident pages of the mapped file
  // (MappedFile::ReleaseResidentPages). Tensors that view the file stay valid and fault their
  // pages back in when read. No-op for checkpoints not opened from a mapped file.
  void ReleaseResidentPages() const;

  // Renames one entry in place (keeps its position); error if `from` is missing or `to` exists.
  Status Rename(std::string_view from, std::string_view to);
  // Removes a leading `prefix` from every name that has it (e.g. hift's "generator.").
  Status StripPrefix(std::string_view prefix);
  // Replaces all entries (e.g. after weight-norm folding); names must be unique.
  Status ReplaceEntries(std::vector<CheckpointEntry> entries);

 private:
  static Result<Checkpoint> OpenSource(const io::ByteSource& src);

  std::string path_;
  std::shared_ptr<const MappedFile> file_;  // set by Open when the file is mapped
  CheckpointFormat format_ = CheckpointFormat::kTorchZip;
  std::vector<CheckpointEntry> entries_;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, size_t, StringHash, std::equal_to<>> index_;
};

// The `cosyflow inspect` listing: "name dtype [d0,d1,...]" per tensor in file order, then
// "N tensors, P parameters"; every line ends with '\n'.
std::string FormatCheckpointListing(const Checkpoint& ckpt);

}  // namespace cosyflow
