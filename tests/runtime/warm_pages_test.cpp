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

// Labels: a mapping released with a content label comes back with it only to a caller asking
// for that label and layout; an unlabelled caller prefers unlabelled mappings of the same fit,
// and takes a labelled one (label dropped) only when nothing else fits.
TEST_CASE("WarmPages: content labels") {
  WarmPages::Trim();
  const size_t saved_limit = WarmPages::idle_limit();
  WarmPages::SetIdleLimit(64 * kMiB);
  const auto before = WarmPages::stats();

  auto a = WarmPages::Acquire(4 * kMiB, /*huge_pages=*/false);
  auto b = WarmPages::Acquire(4 * kMiB, /*huge_pages=*/false);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->content == 0);
  std::memset(a->base, 0x11, kMiB);
  a->content = 77;
  a->layout = 5;
  void* labelled = a->base;
  void* plain = b->base;
  WarmPages::Release(*a, kMiB);
  WarmPages::Release(*b, kMiB);  // released last: the plain one is the most recent

  // The label asked for, even though another idle mapping is the more recent.
  auto c = WarmPages::Acquire(4 * kMiB, false, 77, 5);
  REQUIRE(c.ok());
  CHECK(c->base == labelled);
  CHECK(c->content == 77);
  CHECK(c->layout == 5);
  CHECK(static_cast<unsigned char*>(c->base)[kMiB - 1] == 0x11);
  CHECK(WarmPages::stats().acquired_labelled == before.acquired_labelled + 1);
  WarmPages::Release(*c, kMiB);  // label kept (c still says 77 / 5)

  // Same label, other layout: not a match; best fit among equals prefers the unlabelled one.
  auto d = WarmPages::Acquire(4 * kMiB, false, 77, 6);
  REQUIRE(d.ok());
  CHECK(d->base == plain);
  CHECK(d->content == 0);
  // Unlabelled request with only the labelled mapping idle: it gets it, without the label.
  auto e = WarmPages::Acquire(4 * kMiB, false);
  REQUIRE(e.ok());
  CHECK(e->base == labelled);
  CHECK(e->content == 0);
  CHECK(e->layout == 0);
  CHECK(WarmPages::stats().acquired_labelled == before.acquired_labelled + 1);
  WarmPages::Release(*d, kMiB);
  WarmPages::Release(*e, kMiB);
  // Nothing labelled 77 is idle any more.
  auto f = WarmPages::Acquire(4 * kMiB, false, 77, 5);
  REQUIRE(f.ok());
  CHECK(f->content == 0);
  WarmPages::Release(*f, 0);

  WarmPages::Trim();
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
