// Tests for the small-m GEMV kernels (cpu/gemv.h) against the reference linear loops, and for
// cpu::Linear agreeing with itself across the GEMV / oneDNN switch.
#include "runtime/kernels/cpu/gemv.h"

#include <doctest/doctest.h>

#include <vector>

#include "runtime/dtype.h"
#include "runtime/kernels/cpu/linear.h"
#include "runtime/kernels/ref/linear.h"
#include "tests/runtime/kernels/kernel_test_util.h"

namespace cosyflow::kernels {
namespace {

using test::CheckClose;
using test::RandomVector;

// Rounds every value to bf16 and back (what the bf16 path computes with).
std::vector<float> RoundBF16(std::vector<float> v) {
  for (float& x : v) x = BF16ToF32(F32ToBF16(x));
  return v;
}

struct Shape {
  int64_t m, n, k;
};
// Tails in every dimension: n not a multiple of the 4-row block, k not a multiple of 16/32,
// m beyond one 4-row x group; plus the Qwen2 decode shapes.
const Shape kShapes[] = {{1, 1, 1},    {1, 3, 15},    {2, 4, 16},   {3, 7, 17},    {4, 9, 33},
                         {5, 64, 64},  {8, 130, 96},  {1, 1152, 896}, {1, 896, 4864},
                         {2, 6564, 64}, {7, 33, 250}};

TEST_CASE("GemvF32: matches the reference linear with and without bias") {
  uint32_t seed = 1;
  for (const Shape& s : kShapes) {
    for (bool with_bias : {false, true}) {
      CAPTURE(s.m);
      CAPTURE(s.n);
      CAPTURE(s.k);
      CAPTURE(with_bias);
      auto x = RandomVector(s.m * s.k, seed++), w = RandomVector(s.n * s.k, seed++);
      auto bias = RandomVector(s.n, seed++);
      std::vector<float> y(s.m * s.n, -7.0f), y_ref(s.m * s.n);
      const float* b = with_bias ? bias.data() : nullptr;
      REQUIRE(ref::LinearForward(x.data(), w.data(), b, y_ref.data(), s.m, s.n, s.k).ok());
      REQUIRE(cpu::GemvF32(x.data(), w.data(), b, y.data(), s.m, s.n, s.k).ok());
      CheckClose(y, y_ref, 1e-5, "gemv f32");
    }
  }
}

TEST_CASE("GemvBF16: equals the reference on bf16-rounded operands up to f32 summation order") {
  uint32_t seed = 100;
  for (const Shape& s : kShapes) {
    CAPTURE(s.m);
    CAPTURE(s.n);
    CAPTURE(s.k);
    auto x = RandomVector(s.m * s.k, seed++), w = RandomVector(s.n * s.k, seed++);
    auto bias = RandomVector(s.n, seed++);
    std::vector<uint16_t> wb(w.size()), scratch(x.size());
    for (size_t i = 0; i < w.size(); ++i) wb[i] = F32ToBF16(w[i]);
    std::vector<float> y(s.m * s.n), y_ref(s.m * s.n);
    const auto xr = RoundBF16(x), wr = RoundBF16(w);
    REQUIRE(
        ref::LinearForward(xr.data(), wr.data(), bias.data(), y_ref.data(), s.m, s.n, s.k).ok());
    REQUIRE(cpu::GemvBF16(x.data(), wb.data(), bias.data(), y.data(), s.m, s.n, s.k,
                          scratch.data()).ok());
    CheckClose(y, y_ref, 1e-5, "gemv bf16");
  }
}

TEST_CASE("GemvF32: bad dims and null pointers are errors") {
  std::vector<float> x(4), w(4), y(4);
  CHECK(!cpu::GemvF32(x.data(), w.data(), nullptr, y.data(), 0, 2, 2).ok());
  CHECK(!cpu::GemvF32(x.data(), w.data(), nullptr, y.data(), 1, 2, -1).ok());
  CHECK(!cpu::GemvF32(nullptr, w.data(), nullptr, y.data(), 1, 2, 2).ok());
  std::vector<uint16_t> wb(4);
  CHECK(!cpu::GemvBF16(x.data(), wb.data(), nullptr, y.data(), 1, 2, 2, nullptr).ok());
}

// The same input row must give the same output whether it is forwarded alone (GEMV) or inside a
// 128-row batch (oneDNN): both round x and W to bf16 and sum exact products in f32.
TEST_CASE("Linear: bf16 weights give one row the same result alone and in a 128-row batch") {
  const int64_t n = 896, k = 896, m = 128;
  auto w = RandomVector(n * k, 7, -0.05f, 0.05f), bias = RandomVector(n, 8);
  auto x = RandomVector(m * k, 9);
  auto lin = cpu::Linear::Create(w.data(), bias.data(), n, k, cpu::WeightType::kBF16);
  REQUIRE(lin.ok());
  std::vector<float> batch(m * n), one(n), y_ref(m * n);
  REQUIRE((*lin)->Forward(x.data(), m, batch.data()).ok());
  const auto xr = RoundBF16(x), wr = RoundBF16(w);
  REQUIRE(ref::LinearForward(xr.data(), wr.data(), bias.data(), y_ref.data(), m, n, k).ok());
  CheckClose(batch, y_ref, 1e-5, "oneDNN bf16 vs rounded reference");
  for (int64_t r : {int64_t{0}, int64_t{63}, m - 1}) {
    REQUIRE((*lin)->Forward(x.data() + r * k, 1, one.data()).ok());
    CheckClose(one, std::span<const float>(batch.data() + r * n, n), 1e-5, "row alone vs batch");
  }
}

TEST_CASE("Linear and LinearForward: small m (GEMV) and large m (oneDNN) agree in f32") {
  const int64_t n = 300, k = 200;
  auto w = RandomVector(n * k, 11), bias = RandomVector(n, 12);
  auto x = RandomVector(16 * k, 13);
  auto lin = cpu::Linear::Create(w.data(), bias.data(), n, k);
  REQUIRE(lin.ok());
  std::vector<float> y_ref(16 * n);
  REQUIRE(ref::LinearForward(x.data(), w.data(), bias.data(), y_ref.data(), 16, n, k).ok());
  for (int64_t m : {int64_t{1}, int64_t{3}, cpu::kGemvMaxM, cpu::kGemvMaxM + 1, int64_t{16}}) {
    CAPTURE(m);
    std::vector<float> y(m * n), y2(m * n);
    REQUIRE((*lin)->Forward(x.data(), m, y.data()).ok());
    REQUIRE(cpu::LinearForward(x.data(), w.data(), bias.data(), y2.data(), m, n, k).ok());
    const std::span<const float> expect(y_ref.data(), m * n);
    CheckClose(y, expect, 1e-5, "Linear");
    CheckClose(y2, expect, 1e-5, "LinearForward");
  }
}

}  // namespace
}  // namespace cosyflow::kernels
