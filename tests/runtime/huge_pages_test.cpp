// Huge page advice: large AlignedAlloc blocks and WarmPages mappings are 2 MiB aligned and, where
// the system's THP mode allows it, the kernel reports the range as huge-page eligible.
#include <doctest/doctest.h>
#include <sys/mman.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/huge_pages.h"
#include "runtime/storage.h"
#include "runtime/warm_pages.h"

namespace cosyflow {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

// /proc/self/smaps' "THPeligible" for the mapping containing p: 1, 0, or -1 when not shown.
int ThpEligible(const void* p) {
  std::ifstream in("/proc/self/smaps");
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    unsigned long lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (line.find(':') > line.find(' ') && (head >> std::hex >> lo >> dash >> hi) && dash == '-') {
      inside = a >= lo && a < hi;
      continue;
    }
    if (inside && line.rfind("THPeligible:", 0) == 0) {
      return std::stoi(line.substr(std::strlen("THPeligible:")));
    }
  }
  return -1;
}

// Whether this system honours the advice at all, probed with a raw madvise (not the code under
// test): a user-mode emulator such as qemu-x86_64 (scripts/test-emulated-cpu) accepts
// MADV_HUGEPAGE as a no-op and shows the host's view of the mapping.
bool SystemHonoursAdvice() {
  static const bool honours = [] {
    const size_t bytes = 8 * kMiB;
    void* raw = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return false;
    const uintptr_t a = reinterpret_cast<uintptr_t>(raw);
    void* first = reinterpret_cast<void*>((a + kHugePageBytes - 1) &
                                          ~(uintptr_t{kHugePageBytes} - 1));
    const bool ok = madvise(first, 4 * kMiB, MADV_HUGEPAGE) == 0 && ThpEligible(first) == 1;
    munmap(raw, bytes);
    return ok;
  }();
  return honours;
}

bool ThpAdvisable() {
  const std::string mode = TransparentHugePageMode();
  if (!HugePagesEnabled() || (mode != "always" && mode != "madvise")) return false;
  if (!SystemHonoursAdvice()) {
    MESSAGE("a raw MADV_HUGEPAGE does not make a range THPeligible here (emulator?): advice "
            "not checked");
    return false;
  }
  return true;
}

TEST_CASE("AlignedAlloc: small blocks 64-byte aligned, large blocks 2 MiB aligned and advised") {
  void* small = AlignedAlloc(1000);
  REQUIRE(small != nullptr);
  CHECK(reinterpret_cast<uintptr_t>(small) % kCpuAlignment == 0);
  AlignedFree(small);

  const size_t bytes = 9 * kMiB + 123;
  void* big = AlignedAlloc(bytes);
  REQUIRE(big != nullptr);
  std::memset(big, 1, bytes);  // usable to the last byte
  if (!HugePagesEnabled()) {
    MESSAGE("COSYFLOW_HUGE_PAGES=0: alignment and advice not checked");
  } else {
    CHECK(reinterpret_cast<uintptr_t>(big) % kHugePageBytes == 0);
    if (ThpAdvisable()) {
      const int eligible = ThpEligible(big);
      if (eligible < 0) {
        MESSAGE("kernel does not report THPeligible; advice not checked");
      } else {
        CHECK(eligible == 1);
      }
    } else {
      MESSAGE("THP mode is " << TransparentHugePageMode() << ": advice not checked");
    }
  }
  AlignedFree(big);
}

TEST_CASE("AlignedAllocator: vectors of weights use WeightAlloc") {
  std::vector<int8_t, AlignedAllocator<int8_t>> v(5 * kMiB, 3);
  if (HugePagesEnabled()) CHECK(reinterpret_cast<uintptr_t>(v.data()) % kHugePageBytes == 0);
  CHECK(v[5 * kMiB - 1] == 3);
  std::vector<float, AlignedAllocator<float>> f(7);
  CHECK(reinterpret_cast<uintptr_t>(f.data()) % kCpuAlignment == 0);
}

TEST_CASE("WeightAlloc: small weight buffers share huge-page blocks, freed with their last") {
  const size_t before = WeightPoolBytes();
  // Sizes of the LM's k/v, q/o rows and a flow layer's tiles, and one past the pool's range.
  const std::vector<size_t> sizes = {1, 64, 114688, 802816, 786432, 524288, 1000, 3 * kMiB};
  char* empty = static_cast<char*>(WeightAlloc(0));  // a buffer of its own, as malloc(0) may give
  std::vector<char*> ps;
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto* p = static_cast<char*>(WeightAlloc(sizes[i]));
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<uintptr_t>(p) % kCpuAlignment == 0);
    std::memset(p, static_cast<int>(i + 1), sizes[i]);  // usable to the last byte
    ps.push_back(p);
  }
  for (size_t i = 0; i < sizes.size(); ++i) {  // no buffer overwrote another
    CHECK(ps[i][0] == static_cast<char>(i + 1));
    CHECK(ps[i][sizes[i] - 1] == static_cast<char>(i + 1));
  }
  if (!HugePagesEnabled()) {
    CHECK(WeightPoolBytes() == before);
    MESSAGE("COSYFLOW_HUGE_PAGES=0: every buffer on its own, not checked further");
  } else {
    CHECK(WeightPoolBytes() > before);
    CHECK(reinterpret_cast<uintptr_t>(ps.back()) % kHugePageBytes == 0);  // 3 MiB: its own block
    if (ThpAdvisable() && ThpEligible(ps[3]) >= 0) {
      for (size_t i = 0; i + 1 < ps.size(); ++i) CHECK(ThpEligible(ps[i]) == 1);
    }
  }
  for (char* p : ps) CHECK(p != empty);
  for (char* p : ps) WeightFree(p);
  WeightFree(empty);
  CHECK(WeightPoolBytes() == before);  // blocks holding only these buffers went back
  WeightFree(nullptr);
}

TEST_CASE("WarmPages: fresh mappings are 2 MiB aligned and advised") {
  WarmPages::Trim();
  auto m = WarmPages::Acquire(5 * kMiB);
  REQUIRE(m.ok());
  CHECK(reinterpret_cast<uintptr_t>(m->base) % kHugePageBytes == 0);
  CHECK(m->bytes == 6 * kMiB);
  std::memset(m->base, 7, m->bytes);  // the whole mapped length is usable
  if (ThpAdvisable() && ThpEligible(m->base) >= 0) CHECK(ThpEligible(m->base) == 1);
  WarmPages::Release(*m, m->bytes);
  WarmPages::Trim();
}

TEST_CASE("AdviseHugePages: THPeligible follows the advice in madvise mode") {
  if (TransparentHugePageMode() != "madvise" || !HugePagesEnabled()) {
    MESSAGE("THP mode is " << TransparentHugePageMode() << ": not checked");
    return;
  }
  if (!ThpAdvisable()) return;
  const size_t bytes = 8 * kMiB;
  void* raw = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(raw != MAP_FAILED);
  const int before = ThpEligible(raw);
  if (before < 0) {
    MESSAGE("kernel does not report THPeligible; not checked");
  } else {
    CHECK(before == 0);  // not advised yet: the probe can tell the difference
    CHECK(AdviseHugePages(raw, bytes));
    const uintptr_t a = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t first = (a + kHugePageBytes - 1) & ~(uintptr_t{kHugePageBytes} - 1);
    CHECK(ThpEligible(reinterpret_cast<void*>(first)) == 1);
  }
  munmap(raw, bytes);
}

TEST_CASE("AdviseHugePages: nothing to advise below one aligned huge page") {
  std::vector<char> buf(kHugePageBytes);  // cannot contain a whole aligned 2 MiB range
  const uintptr_t a = reinterpret_cast<uintptr_t>(buf.data());
  if (a % kHugePageBytes != 0) CHECK_FALSE(AdviseHugePages(buf.data(), buf.size()));
  CHECK_FALSE(AdviseHugePages(nullptr, 8 * kMiB));
}

}  // namespace
}  // namespace cosyflow
