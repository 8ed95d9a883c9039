// Aligned allocation, storage ownership and memory-mapped files.
#include "runtime/storage.h"

#include "runtime/huge_pages.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace cosyflow {

void* AlignedAlloc(size_t bytes) {
  void* p = nullptr;
  // From 2 MiB up: 2 MiB aligned and advised for huge pages before anything touches it (glibc
  // serves these sizes from their own mapping, or the heap's top; see huge_pages.h).
  const bool huge = bytes >= kHugePageBytes && HugePagesEnabled();
  const size_t align = huge ? kHugePageBytes : kCpuAlignment;
  if (posix_memalign(&p, align, bytes == 0 ? kCpuAlignment : bytes) != 0) return nullptr;
  if (huge) AdviseHugePages(p, bytes);
  return p;
}

void AlignedFree(void* p) { std::free(p); }

Result<std::shared_ptr<Storage>> Storage::Allocate(size_t bytes) {
  void* p = AlignedAlloc(bytes);
  if (p == nullptr) {
    return MakeError(StatusCode::kResourceExhausted, "storage: cannot allocate {} bytes", bytes);
  }
  std::memset(p, 0, bytes);
  std::shared_ptr<Storage> s(new Storage());
  s->data_ = static_cast<uint8_t*>(p);
  s->bytes_ = bytes;
  s->owned_ = true;
  return s;
}

std::shared_ptr<Storage> Storage::Wrap(uint8_t* data, size_t bytes, std::shared_ptr<void> keeper,
                                       bool read_only, Device device) {
  std::shared_ptr<Storage> s(new Storage());
  s->data_ = data;
  s->bytes_ = bytes;
  s->keeper_ = std::move(keeper);
  s->read_only_ = read_only;
  s->device_ = device;
  return s;
}

Storage::~Storage() {
  if (owned_) AlignedFree(data_);
}

Result<std::shared_ptr<MappedFile>> MappedFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NotFound("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument("{}: not a regular file", path);
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ == 0) {
    ::close(fd);
    return f;
  }
  void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p != MAP_FAILED) {
    f->data_ = static_cast<const uint8_t*>(p);
    f->mapped_ = true;
    ::close(fd);
    return f;
  }
  // Fallback: read the whole file (e.g. filesystems without mmap).
  auto* buf = static_cast<uint8_t*>(AlignedAlloc(f->size_));
  if (buf == nullptr) {
    ::close(fd);
    return MakeError(StatusCode::kResourceExhausted, "{}: cannot allocate {} bytes", path,
                     f->size_);
  }
  size_t got = 0;
  while (got < f->size_) {
    ssize_t n = ::read(fd, buf + got, f->size_ - got);
    if (n <= 0) {
      AlignedFree(buf);
      ::close(fd);
      return DataLoss("{}: read failed after {} of {} bytes", path, got, f->size_);
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  f->data_ = buf;
  return f;
}

void MappedFile::ReleaseResidentPages() const {
  if (!mapped_ || size_ == 0) return;
  // The mapping is private and never written, so discarding its pages loses nothing.
  (void)::madvise(const_cast<uint8_t*>(data_), size_, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (data_ == nullptr) return;
  if (mapped_) {
    ::munmap(const_cast<uint8_t*>(data_), size_);
  } else {
    AlignedFree(const_cast<uint8_t*>(data_));
  }
}

}  // namespace cosyflow
