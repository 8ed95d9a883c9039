// ByteSource: read-only bytes of a checkpoint file (mapped or copied) that tensors can view.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "runtime/dtype.h"
#include "runtime/status.h"
#include "runtime/storage.h"

namespace cosyflow::io {

// Bytes plus the owner that keeps them alive; `name` (the file path) prefixes every error.
class ByteSource {
 public:
  ByteSource() = default;
  // Memory-maps `path` read-only.
  static Result<ByteSource> FromFile(const std::string& path);
  // Copies `bytes` into a 64-byte aligned buffer (used by tests, fuzzers and in-memory loads).
  static Result<ByteSource> CopyOf(std::string name, std::span<const uint8_t> bytes);

  const std::string& name() const { return name_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }

  // True when [offset, offset+len) lies inside the source (overflow-safe).
  bool Contains(uint64_t offset, uint64_t len) const {
    return offset <= size_ && len <= size_ - offset;
  }

  // A read-only Storage over [offset, offset+len): zero-copy when the start is aligned for
  // `dtype`, otherwise an aligned copy. The range must have been checked with Contains().
  Result<std::shared_ptr<Storage>> MakeStorage(uint64_t offset, uint64_t len, DType dtype) const;
  // The mapped file behind FromFile (null for CopyOf).
  const std::shared_ptr<const MappedFile>& file() const { return file_; }

 private:
  std::string name_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::shared_ptr<const void> keeper_;
  std::shared_ptr<const MappedFile> file_;
};

// Little-endian loads from unaligned memory.
inline uint16_t LoadLE16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t LoadLE32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
inline uint64_t LoadLE64(const uint8_t* p) {
  return static_cast<uint64_t>(LoadLE32(p)) | (static_cast<uint64_t>(LoadLE32(p + 4)) << 32);
}

// "dir/stem.ext" -> "stem".
std::string FileStem(std::string_view path);

}  // namespace cosyflow::io
