// Tests: rotary embedding table and cpu rotate-half against the reference.
#include "runtime/kernels/cpu/rope.h"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "runtime/kernels/ref/rope.h"
#include "tests/runtime/kernels/kernel_test_util.h"

namespace cosyflow::kernels {
namespace {

using test::CheckClose;
using test::RandomVector;

TEST_CASE("Rope: cpu matches ref for q and k heads with start offsets (tol 1e-6 rel)") {
  const int64_t max_pos = 2048;
  for (int64_t d : {2, 34, 64, 128}) {
    std::vector<float> cos_t(max_pos * d / 2), sin_t(max_pos * d / 2);
    REQUIRE(ref::RopeTable(max_pos, d, 1e6, cos_t.data(), sin_t.data()).ok());
    for (int64_t heads : {1, 2, 14}) {
      for (auto [tokens, start] : {std::pair{1, 0}, {7, 0}, {1, 1000}, {64, 17}}) {
        auto x = RandomVector(tokens * heads * d, 3);
        auto y = x;
        REQUIRE(ref::ApplyRope(x.data(), tokens, heads, d, 0, start, cos_t.data(), sin_t.data(),
                               max_pos)
                    .ok());
        REQUIRE(cpu::ApplyRope(y.data(), tokens, heads, d, 0, start, cos_t.data(), sin_t.data(),
                               max_pos)
                    .ok());
        CheckClose(y, x, 1e-6,
                   fmt::format("rope d {} heads {} tokens {} start {}", d, heads, tokens, start));
      }
    }
  }
}

TEST_CASE("Rope: known rotation, norm preservation and fused-row stride") {
  const int64_t d = 4, max_pos = 8;
  std::vector<float> c(max_pos * 2), s(max_pos * 2);
  REQUIRE(ref::RopeTable(max_pos, d, 10000.0, c.data(), s.data()).ok());
  // Position 3, pair 0: inv_freq 1, angle 3.
  std::vector<float> x = {1, 0, 0, 0};
  REQUIRE(cpu::ApplyRope(x.data(), 1, 1, d, 0, 3, c.data(), s.data(), max_pos).ok());
  CHECK(x[0] == doctest::Approx(std::cos(3.0)).epsilon(1e-6));
  CHECK(x[2] == doctest::Approx(std::sin(3.0)).epsilon(1e-6));
  // Rows of stride 12 (q of 2 heads + 4 extra values): the extra values are untouched.
  auto buf = RandomVector(2 * 12, 5);
  auto orig = buf;
  REQUIRE(cpu::ApplyRope(buf.data(), 2, 2, d, 12, 1, c.data(), s.data(), max_pos).ok());
  for (int t = 0; t < 2; ++t) {
    for (int i = 8; i < 12; ++i) CHECK(buf[t * 12 + i] == orig[t * 12 + i]);
    double n0 = 0, n1 = 0;
    for (int i = 0; i < 8; ++i) {
      n0 += orig[t * 12 + i] * orig[t * 12 + i];
      n1 += buf[t * 12 + i] * buf[t * 12 + i];
    }
    CHECK(n1 == doctest::Approx(n0).epsilon(1e-5));
  }
}

TEST_CASE("Rope: bad arguments are Status errors") {
  std::vector<float> c(16), s(16), x(16);
  CHECK_FALSE(ref::RopeTable(4, 3, 1e6, c.data(), s.data()).ok());
  REQUIRE(ref::RopeTable(4, 4, 1e6, c.data(), s.data()).ok());
  CHECK_FALSE(cpu::ApplyRope(x.data(), 2, 1, 4, 0, 3, c.data(), s.data(), 4).ok());  // pos 4
  CHECK_FALSE(cpu::ApplyRope(x.data(), 1, 2, 4, 4, 0, c.data(), s.data(), 4).ok());  // stride
  CHECK_FALSE(cpu::ApplyRope(x.data(), 1, 1, 3, 0, 0, c.data(), s.data(), 4).ok());  // odd
}

}  // namespace
}  // namespace cosyflow::kernels
