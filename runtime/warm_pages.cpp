// WarmPages: idle large mappings kept mapped for the next user (see warm_pages.h).
#include "runtime/warm_pages.h"

#include "runtime/huge_pages.h"

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <mutex>

#include <sys/mman.h>
#include <unistd.h>

namespace cosyflow {
namespace {

constexpr size_t kGranule = kHugePageBytes;

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
  size_t warm = 0, fresh = 0, labelled = 0;

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

Result<WarmPages::Mapping> WarmPages::Acquire(size_t bytes, bool huge_pages, uint64_t content,
                                              int64_t layout) {
  const size_t want = std::max(kGranule, (bytes + kGranule - 1) / kGranule * kGranule);
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mu);
    const auto labelled = [&](const Mapping& m) {
      return content != 0 && m.content == content && m.layout == layout;
    };
    // Best fit: a mapping with the label asked for, else the smallest; among equal sizes an
    // unlabelled one, then the most recently released.
    const auto better = [&](const Mapping& a, const Mapping& b) {
      if (labelled(a) != labelled(b)) return labelled(a);
      if (a.bytes != b.bytes) return a.bytes < b.bytes;
      return (a.content == 0) >= (b.content == 0);
    };
    auto best = p.idle.end();
    for (auto it = p.idle.begin(); it != p.idle.end(); ++it) {
      if (it->huge != huge_pages || it->bytes < want) continue;
      if (best == p.idle.end() || better(*it, *best)) best = it;
    }
    if (best != p.idle.end()) {
      Mapping m = *best;
      p.idle.erase(best);
      p.idle_resident -= m.resident;
      ++p.warm;
      if (labelled(m)) {
        ++p.labelled;
      } else {
        m.content = 0;
        m.layout = 0;
      }
      return m;
    }
    ++p.fresh;
  }
  // Map one granule more and unmap the unaligned ends: a 2 MiB-aligned range can be backed by
  // huge pages (advised before the first touch; see runtime/huge_pages.h).
  const size_t span = want + kGranule;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) {
    return MakeError(StatusCode::kResourceExhausted, "cannot map {} MiB of memory", want >> 20);
  }
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kGranule - 1) & ~(uintptr_t{kGranule} - 1);
  if (aligned > start) munmap(raw, aligned - start);
  const size_t tail = start + span - (aligned + want);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + want), tail);
  void* base = reinterpret_cast<void*>(aligned);
  if (huge_pages) {
    AdviseHugePages(base, want);
  } else {
    AdviseSmallPages(base, want);
  }
  return Mapping{base, want, 0, huge_pages};
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
  return Stats{p.idle.size(), p.idle_resident, p.warm, p.fresh, p.labelled};
}

void WarmPages::Trim() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  for (const Mapping& m : p.idle) munmap(m.base, m.bytes);
  p.idle.clear();
  p.idle_resident = 0;
}

}  // namespace cosyflow
