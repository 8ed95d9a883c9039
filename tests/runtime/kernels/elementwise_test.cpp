// Tests: cpu binary ops with broadcasting, axpy, scale-add and clamp against the reference.
#include "runtime/kernels/cpu/elementwise.h"

#include <doctest/doctest.h>
#include <fmt/ranges.h>

#include <vector>

#include "runtime/kernels/ref/elementwise.h"
#include "tests/runtime/kernels/kernel_test_util.h"

namespace cosyflow::kernels {
namespace {

using test::CheckClose;
using test::RandomVector;
using Shape = std::vector<int64_t>;

int64_t Numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

TEST_CASE("Elementwise: cpu binary ops match ref under broadcasting (exact)") {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{17}, {17}},               // same shape
      {{7, 65}, {65}},            // row broadcast
      {{7, 65}, {7, 1}},          // column broadcast
      {{1}, {3, 17}},             // scalar left
      {{3, 17}, {}},              // rank-0 right
      {{2, 3, 1, 5}, {3, 4, 1}},  // both sides broadcast
      {{2, 1, 33}, {1, 7, 1}},
      {{5, 1, 3, 1}, {1, 4, 1, 896}},
      {{1, 512, 1}, {2, 1, 33}},
  };
  for (auto op :
       {ref::BinaryOp::kAdd, ref::BinaryOp::kSub, ref::BinaryOp::kMul, ref::BinaryOp::kDiv}) {
    for (const auto& [sa, sb] : cases) {
      Shape out;
      REQUIRE(ref::BroadcastShape(sa, sb, &out).ok());
      auto a = RandomVector(Numel(sa), 1, 0.5f, 2.0f), b = RandomVector(Numel(sb), 2, 0.5f, 2.0f);
      std::vector<float> yr(Numel(out)), yc(Numel(out), -1.0f);
      REQUIRE(ref::Binary(op, a.data(), sa, b.data(), sb, yr.data()).ok());
      REQUIRE(cpu::Binary(op, a.data(), sa, b.data(), sb, yc.data()).ok());
      CheckClose(yc, yr, 0.0, fmt::format("binary op {} a{} b{}", int(op), sa, sb));
    }
  }
}

TEST_CASE("Elementwise: broadcast known values and in-place use") {
  std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {10, 20, 30}, c = {100, 200};
  const Shape sa = {2, 3}, sb = {3}, sc = {2, 1};
  REQUIRE(cpu::Binary(cpu::BinaryOp::kAdd, a.data(), sa, b.data(), sb, a.data()).ok());
  CHECK(a == std::vector<float>{11, 22, 33, 14, 25, 36});
  REQUIRE(cpu::Binary(cpu::BinaryOp::kMul, a.data(), sa, c.data(), sc, a.data()).ok());
  CHECK(a == std::vector<float>{1100, 2200, 3300, 2800, 5000, 7200});
}

TEST_CASE("Elementwise: incompatible shapes and rank > 4 are errors naming the shapes") {
  std::vector<float> a(12), b(12), o(12);
  Status s = cpu::Binary(cpu::BinaryOp::kAdd, a.data(), Shape{3, 4}, b.data(), Shape{3}, o.data());
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("[3, 4]") != std::string::npos);
  CHECK_FALSE(cpu::Binary(cpu::BinaryOp::kAdd, a.data(), Shape{1, 1, 1, 1, 12}, b.data(), Shape{12},
                          o.data())
                  .ok());
  CHECK_FALSE(
      cpu::Binary(cpu::BinaryOp::kAdd, nullptr, Shape{12}, b.data(), Shape{12}, o.data()).ok());
}

TEST_CASE("Elementwise: axpy, scale_add and clamp match ref (tol 1e-6 rel)") {
  for (int64_t n : {1, 3, 17, 65, 1000}) {
    auto x = RandomVector(n, 3), y0 = RandomVector(n, 4);
    auto yr = y0, yc = y0;
    REQUIRE(ref::Axpy(n, 0.7f, x.data(), yr.data()).ok());
    REQUIRE(cpu::Axpy(n, 0.7f, x.data(), yc.data()).ok());
    CheckClose(yc, yr, 1e-6, fmt::format("axpy n={}", n));
    std::vector<float> outr(n), outc(n);
    REQUIRE(ref::ScaleAdd(x.data(), 1.7f, y0.data(), -0.7f, n, outr.data()).ok());
    REQUIRE(cpu::ScaleAdd(x.data(), 1.7f, y0.data(), -0.7f, n, outc.data()).ok());
    CheckClose(outc, outr, 1e-6, fmt::format("scale_add n={}", n));
    REQUIRE(ref::Clamp(x.data(), n, -0.5f, 0.25f, outr.data()).ok());
    REQUIRE(cpu::Clamp(x.data(), n, -0.5f, 0.25f, outc.data()).ok());
    CheckClose(outc, outr, 0.0, fmt::format("clamp n={}", n));
  }
  float v = 0.0f;
  CHECK_FALSE(cpu::Clamp(&v, 1, 1.0f, -1.0f, &v).ok());
  CHECK_FALSE(cpu::Axpy(-1, 1.0f, &v, &v).ok());
}

}  // namespace
}  // namespace cosyflow::kernels
