// Transparent huge page advice for large buffers (see huge_pages.h).
#include "runtime/huge_pages.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>

#include "runtime/storage.h"

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

namespace {

// Shared blocks of WeightAlloc: [base, base + size), `used` bytes handed out in order, `live`
// buffers not yet freed. `current` takes the next buffers until it is full.
struct WeightBlock {
  size_t size = 0, used = 0, live = 0;
};
constexpr size_t kWeightBlockBytes = size_t{8} << 20;
std::mutex weight_mu;
std::map<uintptr_t, WeightBlock>& WeightBlocks() {
  static auto* blocks = new std::map<uintptr_t, WeightBlock>();  // outlives static destructors
  return *blocks;
}
uintptr_t weight_current = 0;

}  // namespace

void* WeightAlloc(size_t bytes) {
  if (bytes >= kHugePageBytes || !HugePagesEnabled()) return AlignedAlloc(bytes);
  // 64-byte steps, at least one: every buffer, an empty one too, has its own address.
  const size_t want =
      (std::max<size_t>(bytes, 1) + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
  std::lock_guard<std::mutex> lock(weight_mu);
  auto& blocks = WeightBlocks();
  auto it = blocks.find(weight_current);
  if (it == blocks.end() || it->second.used + want > it->second.size) {
    void* base = AlignedAlloc(kWeightBlockBytes);  // 2 MiB aligned and advised
    if (base == nullptr) return nullptr;
    weight_current = reinterpret_cast<uintptr_t>(base);
    it = blocks.emplace(weight_current, WeightBlock{kWeightBlockBytes, 0, 0}).first;
  }
  void* p = reinterpret_cast<void*>(it->first + it->second.used);
  it->second.used += want;
  ++it->second.live;
  return p;
}

void WeightFree(void* p) {
  if (p == nullptr) return;
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  {
    std::lock_guard<std::mutex> lock(weight_mu);
    auto& blocks = WeightBlocks();
    auto it = blocks.upper_bound(a);
    if (it != blocks.begin()) {
      --it;
      if (a < it->first + it->second.size) {
        if (--it->second.live == 0) {
          if (it->first == weight_current) weight_current = 0;
          AlignedFree(reinterpret_cast<void*>(it->first));
          blocks.erase(it);
        }
        return;
      }
    }
  }
  AlignedFree(p);
}

size_t WeightPoolBytes() {
  std::lock_guard<std::mutex> lock(weight_mu);
  size_t total = 0;
  for (const auto& [base, b] : WeightBlocks()) total += b.size;
  return total;
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
