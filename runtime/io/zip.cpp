// ZipReader: end-of-central-directory (incl. ZIP64), central directory and local headers.
#include "runtime/io/zip.h"

#include <zlib.h>

#include <algorithm>

namespace cosyflow::io {
namespace {

constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kLocalSig = 0x04034b50;
constexpr size_t kEocdSize = 22;
constexpr size_t kCentralSize = 46;
constexpr size_t kLocalSize = 30;

// Reads the ZIP64 extended-information extra field, replacing the 0xFFFFFFFF placeholders.
Status ApplyZip64Extra(const uint8_t* extra, size_t len, uint64_t* usize, uint64_t* csize,
                       uint64_t* offset, const std::string& where) {
  size_t pos = 0;
  while (pos + 4 <= len) {
    const uint16_t id = LoadLE16(extra + pos);
    const uint16_t n = LoadLE16(extra + pos + 2);
    if (pos + 4 + n > len) break;
    if (id == 0x0001) {
      const uint8_t* p = extra + pos + 4;
      size_t left = n;
      for (uint64_t* field : {usize, csize, offset}) {
        if (*field != 0xffffffffu) continue;
        if (left < 8) return DataLoss("{}: truncated ZIP64 extra field", where);
        *field = LoadLE64(p);
        p += 8;
        left -= 8;
      }
      return OkStatus();
    }
    pos += 4 + n;
  }
  if (*usize == 0xffffffffu || *csize == 0xffffffffu || *offset == 0xffffffffu) {
    return DataLoss("{}: ZIP64 sizes announced but no ZIP64 extra field", where);
  }
  return OkStatus();
}

}  // namespace

Result<ZipReader> ZipReader::Open(const ByteSource& src) {
  const uint8_t* d = src.data();
  const size_t n = src.size();
  if (n < kEocdSize) {
    return DataLoss("{}: not a zip archive: {} bytes is shorter than an end record", src.name(), n);
  }
  // The end record sits in the last 22 + 65535 (comment) bytes.
  const size_t lowest = n > kEocdSize + 0xffff ? n - kEocdSize - 0xffff : 0;
  size_t eocd = n;
  for (size_t pos = n - kEocdSize + 1; pos-- > lowest;) {
    if (LoadLE32(d + pos) == kEocdSig && pos + kEocdSize + LoadLE16(d + pos + 20) <= n) {
      eocd = pos;
      break;
    }
  }
  if (eocd == n) {
    return DataLoss("{}: zip end-of-central-directory record not found (truncated file?)",
                    src.name());
  }
  uint64_t count = LoadLE16(d + eocd + 10);
  uint64_t cd_size = LoadLE32(d + eocd + 12);
  uint64_t cd_offset = LoadLE32(d + eocd + 16);
  if (count == 0xffff || cd_size == 0xffffffffu || cd_offset == 0xffffffffu) {
    if (eocd < 20 || LoadLE32(d + eocd - 20) != kZip64LocatorSig) {
      return DataLoss("{}: ZIP64 archive without a ZIP64 end locator", src.name());
    }
    const uint64_t z64 = LoadLE64(d + eocd - 20 + 8);
    if (!src.Contains(z64, 56) || LoadLE32(d + z64) != kZip64EocdSig) {
      return DataLoss("{}: ZIP64 end record at offset {} is missing or outside the file",
                      src.name(), z64);
    }
    count = LoadLE64(d + z64 + 32);
    cd_size = LoadLE64(d + z64 + 40);
    cd_offset = LoadLE64(d + z64 + 48);
  }
  if (!src.Contains(cd_offset, cd_size)) {
    return OutOfRange("{}: central directory [{}, +{}) lies outside the file of {} bytes",
                      src.name(), cd_offset, cd_size, n);
  }
  if (count > cd_size / kCentralSize) {
    return DataLoss("{}: central directory of {} bytes cannot hold {} entries", src.name(), cd_size,
                    count);
  }
  ZipReader zip;
  zip.src_ = src;
  COSY_RETURN_IF_ERROR(zip.ParseCentralDirectory(cd_offset, cd_size, count));
  return zip;
}

Status ZipReader::ParseCentralDirectory(uint64_t cd_offset, uint64_t cd_size, uint64_t count) {
  const uint8_t* d = src_.data();
  const uint64_t end = cd_offset + cd_size;
  uint64_t pos = cd_offset;
  entries_.reserve(static_cast<size_t>(count));
  for (uint64_t i = 0; i < count; ++i) {
    if (pos + kCentralSize > end || LoadLE32(d + pos) != kCentralSig) {
      return DataLoss("{}: central directory entry {} at offset {} is corrupt", src_.name(), i,
                      pos);
    }
    const uint8_t* h = d + pos;
    const size_t name_len = LoadLE16(h + 28);
    const size_t extra_len = LoadLE16(h + 30);
    const size_t comment_len = LoadLE16(h + 32);
    if (pos + kCentralSize + name_len + extra_len + comment_len > end) {
      return DataLoss("{}: central directory entry {} runs past the directory", src_.name(), i);
    }
    ZipEntry e;
    e.name.assign(reinterpret_cast<const char*>(h + kCentralSize), name_len);
    e.method = LoadLE16(h + 10);
    e.crc32 = LoadLE32(h + 16);
    uint64_t csize = LoadLE32(h + 20);
    uint64_t usize = LoadLE32(h + 24);
    uint64_t local = LoadLE32(h + 42);
    COSY_RETURN_IF_ERROR(ApplyZip64Extra(h + kCentralSize + name_len, extra_len, &usize, &csize,
                                         &local, src_.name() + ": entry '" + e.name + "'"));
    if (e.method == 0 && csize != usize) {
      return DataLoss("{}: stored entry '{}' has compressed size {} != size {}", src_.name(),
                      e.name, csize, usize);
    }
    e.size = csize;
    COSY_ASSIGN_OR_RETURN(e.data_offset, LocalDataOffset(e, local));
    if (!index_.emplace(e.name, entries_.size()).second) {
      return DataLoss("{}: duplicate zip entry '{}'", src_.name(), e.name);
    }
    entries_.push_back(std::move(e));
    pos += kCentralSize + name_len + extra_len + comment_len;
  }
  return OkStatus();
}

Result<uint64_t> ZipReader::LocalDataOffset(const ZipEntry& e, uint64_t local) const {
  if (!src_.Contains(local, kLocalSize) || LoadLE32(src_.data() + local) != kLocalSig) {
    return OutOfRange("{}: zip entry '{}': local header offset {} is outside the file or corrupt",
                      src_.name(), e.name, local);
  }
  const uint8_t* h = src_.data() + local;
  const uint64_t data = local + kLocalSize + LoadLE16(h + 26) + LoadLE16(h + 28);
  if (!src_.Contains(data, e.size)) {
    return OutOfRange("{}: zip entry '{}': data [{}, +{}) lies outside the file of {} bytes",
                      src_.name(), e.name, data, e.size, src_.size());
  }
  return data;
}

const ZipEntry* ZipReader::Find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &entries_[it->second];
}

Result<std::span<const uint8_t>> ZipReader::Read(const ZipEntry& e) const {
  if (e.method != 0) {
    return Unsupported(
        "{}: zip entry '{}' is compressed (method {}); only stored entries are "
        "supported",
        src_.name(), e.name, e.method);
  }
  const std::span<const uint8_t> bytes(src_.data() + e.data_offset, static_cast<size_t>(e.size));
  const uint32_t crc = Crc32(bytes.data(), bytes.size());
  if (crc != e.crc32) {
    return DataLoss(
        "{}: zip entry '{}' ({} bytes) fails its CRC-32 check (recorded {:08x}, computed "
        "{:08x}): the file is corrupt or was altered",
        src_.name(), e.name, e.size, e.crc32, crc);
  }
  return bytes;
}

uint32_t Crc32(const void* data, size_t n, uint32_t crc) {
  return static_cast<uint32_t>(crc32_z(crc, static_cast<const Bytef*>(data), n));
}

}  // namespace cosyflow::io
