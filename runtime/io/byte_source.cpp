// ByteSource: mapped or copied checkpoint bytes and zero-copy storages over them.
#include "runtime/io/byte_source.h"

#include <cstring>

namespace cosyflow::io {

Result<ByteSource> ByteSource::FromFile(const std::string& path) {
  COSY_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::Open(path));
  ByteSource src;
  src.name_ = path;
  src.data_ = file->data();
  src.size_ = file->size();
  src.file_ = file;
  src.keeper_ = std::move(file);
  return src;
}

Result<ByteSource> ByteSource::CopyOf(std::string name, std::span<const uint8_t> bytes) {
  COSY_ASSIGN_OR_RETURN(std::shared_ptr<Storage> buf, Storage::Allocate(bytes.size()));
  if (!bytes.empty()) std::memcpy(buf->data(), bytes.data(), bytes.size());
  ByteSource src;
  src.name_ = std::move(name);
  src.data_ = buf->data();
  src.size_ = bytes.size();
  src.keeper_ = std::move(buf);
  return src;
}

Result<std::shared_ptr<Storage>> ByteSource::MakeStorage(uint64_t offset, uint64_t len,
                                                         DType dtype) const {
  if (!Contains(offset, len)) {
    return OutOfRange("{}: byte range [{}, +{}) outside the file of {} bytes", name_, offset, len,
                      size_);
  }
  const uint8_t* p = data_ + offset;
  if (reinterpret_cast<uintptr_t>(p) % DTypeSize(dtype) == 0) {
    // Tensors keep the whole source alive through the keeper; the data is never written.
    return Storage::Wrap(const_cast<uint8_t*>(p), len, std::const_pointer_cast<void>(keeper_),
                         /*read_only=*/true);
  }
  COSY_ASSIGN_OR_RETURN(std::shared_ptr<Storage> copy, Storage::Allocate(len));
  if (len != 0) std::memcpy(copy->data(), p, len);
  return copy;
}

std::string FileStem(std::string_view path) {
  const size_t slash = path.find_last_of('/');
  if (slash != std::string_view::npos) path = path.substr(slash + 1);
  const size_t dot = path.find_last_of('.');
  if (dot != std::string_view::npos && dot != 0) path = path.substr(0, dot);
  return std::string(path);
}

}  // namespace cosyflow::io
