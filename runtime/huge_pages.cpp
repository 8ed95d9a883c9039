// Transparent huge page advice for large buffers (see huge_pages.h).
#include "runtime/huge_pages.h"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace cosyflow {

bool HugePagesEnabled() {
  static const bool enabled = [] {
    const char* env = std::getenv("COSYFLOW_HUGE_PAGES");
    return env == nullptr || std::strcmp(env, "0") != 0;
  }();
  return enabled;
}

bool AdviseHugePages(void* p, size_t bytes) {
  if (!HugePagesEnabled() || p == nullptr) return false;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p);
  const uintptr_t first = (begin + kHugePageBytes - 1) & ~(uintptr_t{kHugePageBytes} - 1);
  const uintptr_t last = (begin + bytes) & ~(uintptr_t{kHugePageBytes} - 1);
  if (last <= first) return false;
  return madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE) == 0;
}

bool AdviseSmallPages(void* p, size_t bytes) {
  if (!HugePagesEnabled() || p == nullptr || bytes == 0) return false;
  return madvise(p, bytes, MADV_NOHUGEPAGE) == 0;
}

bool PopulateForWrite(void* p, size_t bytes) {
#ifndef MADV_POPULATE_WRITE
  constexpr int MADV_POPULATE_WRITE = 23;  // Linux 5.14; older headers lack the name
#endif
  static std::atomic<bool> supported{true};
  if (p == nullptr || bytes == 0 || !supported.load(std::memory_order_relaxed)) return false;
  const uintptr_t page = 4096;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + bytes;
  if (madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE) == 0) return true;
  if (errno == EINVAL) supported.store(false, std::memory_order_relaxed);  // kernel without it
  return false;
}

std::string TransparentHugePageMode() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  if (!in || !std::getline(in, line)) return "unavailable";
  // "always [madvise] never": the bracketed word is the active mode.
  const size_t open = line.find('['), close = line.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) return "unavailable";
  return line.substr(open + 1, close - open - 1);
}

}  // namespace cosyflow
