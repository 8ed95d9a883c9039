// Storage: a byte buffer owned by tensors through shared_ptr (aligned heap, mapped file or device).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "runtime/dtype.h"
#include "runtime/status.h"

namespace cosyflow {

inline constexpr size_t kCpuAlignment = 64;

// 64-byte aligned CPU allocation; returns nullptr on failure (never throws). From 2 MiB up the
// block is 2 MiB aligned and advised for transparent huge pages (runtime/huge_pages.h).
void* AlignedAlloc(size_t bytes);
void AlignedFree(void* p);

class Storage {
 public:
  // Allocates `bytes` zero-initialised, 64-byte aligned CPU bytes.
  static Result<std::shared_ptr<Storage>> Allocate(size_t bytes);
  // Wraps external memory kept alive by `keeper` (e.g. a memory-mapped file); no copy.
  static std::shared_ptr<Storage> Wrap(uint8_t* data, size_t bytes, std::shared_ptr<void> keeper,
                                       bool read_only, Device device = Device::kCpu);

  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return bytes_; }
  Device device() const { return device_; }
  bool read_only() const { return read_only_; }

 private:
  Storage() = default;
  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_ = Device::kCpu;
  bool read_only_ = false;
  bool owned_ = false;
  std::shared_ptr<void> keeper_;
};

// A read-only memory-mapped file (falls back to reading into memory if mmap fails).
class MappedFile {
 public:
  static Result<std::shared_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  bool mapped() const { return mapped_; }

  // Drops this process's resident pages of the mapping (MADV_DONTNEED). The bytes stay valid:
  // a later read faults its page back in from the page cache (or the file), so views into the
  // file keep working and only the pages they touch come back. For a model whose weights were
  // converted at load (int8 / bf16 / packed copies) this frees the f32 source pages that the
  // conversion read. A no-op for a file read into memory (no mapping).
  void ReleaseResidentPages() const;

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  std::string path_;
};

}  // namespace cosyflow
