// WarmPages: idle large mappings kept mapped for the next user (see warm_pages.h).
#include "runtime/warm_pages.h"

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <mutex>

#include <sys/mman.h>
#include <unistd.h>

namespace cosyflow {
namespace {

constexpr size_t kGranule = size_t{2} << 20;

size_t DefaultIdleLimit() {
  if (const char* env = std::getenv("COSYFLOW_WARM_POOL_MB"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const unsigned long long mb = std::strtoull(env, &end, 10);
    if (end != env && *end == '\0') return static_cast<size_t>(mb) << 20;
  }
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  const size_t ram = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : 0;
  return std::min(size_t{4} << 30, ram / 4);
}

struct Pool {
  std::mutex mu;
  std::deque<WarmPages::Mapping> idle;  // oldest first
  size_t idle_resident = 0;
  size_t limit = DefaultIdleLimit();
  size_t warm = 0, fresh = 0;

  // Drops the oldest idle mappings until the resident total fits `limit`. Caller holds mu.
  void Evict() {
    while (!idle.empty() && idle_resident > limit) {
      const WarmPages::Mapping m = idle.front();
      idle.pop_front();
      idle_resident -= m.resident;
      munmap(m.base, m.bytes);
    }
  }
};

Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: mappings may be released during exit
  return *p;
}

}  // namespace

Result<WarmPages::Mapping> WarmPages::Acquire(size_t bytes) {
  const size_t want = std::max(kGranule, (bytes + kGranule - 1) / kGranule * kGranule);
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mu);
    auto best = p.idle.end();
    for (auto it = p.idle.begin(); it != p.idle.end(); ++it) {
      if (it->bytes >= want && (best == p.idle.end() || it->bytes <= best->bytes)) best = it;
    }
    if (best != p.idle.end()) {
      const Mapping m = *best;
      p.idle.erase(best);
      p.idle_resident -= m.resident;
      ++p.warm;
      return m;
    }
    ++p.fresh;
  }
  void* base = mmap(nullptr, want, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) {
    return MakeError(StatusCode::kResourceExhausted, "cannot map {} MiB of memory", want >> 20);
  }
  return Mapping{base, want, 0};
}

void WarmPages::Release(Mapping m, size_t touched) {
  if (m.base == nullptr) return;
  m.resident = std::min(m.bytes, std::max(m.resident, touched));
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  if (m.resident > p.limit) {
    munmap(m.base, m.bytes);
    return;
  }
  p.idle.push_back(m);
  p.idle_resident += m.resident;
  p.Evict();
}

void WarmPages::SetIdleLimit(size_t bytes) {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  p.limit = bytes;
  p.Evict();
}

size_t WarmPages::idle_limit() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  return p.limit;
}

WarmPages::Stats WarmPages::stats() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  return Stats{p.idle.size(), p.idle_resident, p.warm, p.fresh};
}

void WarmPages::Trim() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  for (const Mapping& m : p.idle) munmap(m.base, m.bytes);
  p.idle.clear();
  p.idle_resident = 0;
}

}  // namespace cosyflow
