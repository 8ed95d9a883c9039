// WarmPages: released mappings come back warm (same pages, contents kept) within the idle limit,
// the oldest are unmapped past it, and a request larger than every idle mapping maps new memory.
#include <doctest/doctest.h>

#include <cstring>

#include "runtime/warm_pages.h"

namespace cosyflow {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

TEST_CASE("WarmPages: a released mapping is handed back warm, its pages kept") {
  WarmPages::Trim();
  const size_t saved_limit = WarmPages::idle_limit();
  WarmPages::SetIdleLimit(64 * kMiB);
  const auto before = WarmPages::stats();

  auto a = WarmPages::Acquire(3 * kMiB);
  REQUIRE(a.ok());
  CHECK(a->bytes >= 3 * kMiB);
  CHECK(a->bytes % (2 * kMiB) == 0);
  std::memset(a->base, 0x5a, 3 * kMiB);
  void* base = a->base;
  WarmPages::Release(*a, 3 * kMiB);
  CHECK(WarmPages::stats().idle_mappings == 1);
  CHECK(WarmPages::stats().idle_resident_bytes == 3 * kMiB);

  // Same size or smaller: the same mapping, still holding what was written (no fresh pages).
  auto b = WarmPages::Acquire(2 * kMiB);
  REQUIRE(b.ok());
  CHECK(b->base == base);
  CHECK(static_cast<unsigned char*>(b->base)[3 * kMiB - 1] == 0x5a);
  CHECK(b->resident == 3 * kMiB);
  CHECK(WarmPages::stats().acquired_warm == before.acquired_warm + 1);

  // Larger than anything idle: a fresh mapping.
  WarmPages::Release(*b, 0);
  auto c = WarmPages::Acquire(9 * kMiB);
  REQUIRE(c.ok());
  CHECK(c->base != base);
  CHECK(c->resident == 0);
  CHECK(WarmPages::stats().acquired_fresh == before.acquired_fresh + 2);
  WarmPages::Release(*c, 9 * kMiB);
  CHECK(WarmPages::stats().idle_mappings == 2);

  WarmPages::Trim();
  CHECK(WarmPages::stats().idle_mappings == 0);
  CHECK(WarmPages::stats().idle_resident_bytes == 0);
  WarmPages::SetIdleLimit(saved_limit);
}

TEST_CASE("WarmPages: the idle limit unmaps the oldest first; 0 keeps nothing") {
  WarmPages::Trim();
  const size_t saved_limit = WarmPages::idle_limit();
  WarmPages::SetIdleLimit(10 * kMiB);
  auto a = WarmPages::Acquire(4 * kMiB);
  auto b = WarmPages::Acquire(4 * kMiB);
  auto c = WarmPages::Acquire(4 * kMiB);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  WarmPages::Release(*a, 4 * kMiB);
  WarmPages::Release(*b, 4 * kMiB);
  CHECK(WarmPages::stats().idle_mappings == 2);
  WarmPages::Release(*c, 4 * kMiB);  // 12 MiB resident > 10: `a` goes
  CHECK(WarmPages::stats().idle_mappings == 2);
  CHECK(WarmPages::stats().idle_resident_bytes == 8 * kMiB);
  auto d = WarmPages::Acquire(4 * kMiB);  // the most recently released of equal sizes
  REQUIRE(d.ok());
  CHECK(d->base == c->base);
  WarmPages::Release(*d, 4 * kMiB);

  WarmPages::SetIdleLimit(0);
  CHECK(WarmPages::stats().idle_mappings == 0);
  auto e = WarmPages::Acquire(kMiB);
  REQUIRE(e.ok());
  WarmPages::Release(*e, kMiB);  // over a zero limit: unmapped at once
  CHECK(WarmPages::stats().idle_mappings == 0);
  WarmPages::SetIdleLimit(saved_limit);
}

TEST_CASE("WarmPages: untouched and null releases") {
  WarmPages::Trim();
  WarmPages::Release({}, 123);  // ignored
  CHECK(WarmPages::stats().idle_mappings == 0);
  auto a = WarmPages::Acquire(0);  // the smallest granule
  REQUIRE(a.ok());
  CHECK(a->bytes == 2 * kMiB);
  WarmPages::Release(*a, 100 * kMiB);  // touched is capped at the mapping's length
  CHECK(WarmPages::stats().idle_resident_bytes == 2 * kMiB);
  WarmPages::Trim();
}

}  // namespace
}  // namespace cosyflow
