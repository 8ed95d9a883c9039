// Tests: cpu activations (fast exp/sin/tanh/erfc approximations) against the double reference.
#include "runtime/kernels/cpu/activation.h"

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "runtime/kernels/ref/activation.h"
#include "tests/runtime/kernels/kernel_test_util.h"
#include "tests/test_util.h"

namespace cosyflow::kernels {
namespace {

using test::CheckClose;
using test::RandomVector;
using UnaryFn = Status (*)(const float*, int64_t, float*);

// Elementwise relative error with an absolute floor: |a - r| <= tol * max(|r|, floor).
void CheckElementwise(const std::vector<float>& a, const std::vector<float>& r, double tol,
                      double floor, const std::string& what) {
  double worst = 0.0;
  size_t at = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double e = std::abs(double(a[i]) - r[i]) / std::max(std::abs(double(r[i])), floor);
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  INFO(what, ": worst at ", at, " actual ", a[at], " expected ", r[at], " err ", worst);
  CHECK(worst <= tol);
}

void CompareUnary(const char* name, UnaryFn fast, UnaryFn oracle, float lo, float hi, double tol,
                  double floor) {
  for (int64_t n : {1, 3, 17, 65, 896, 4099}) {
    auto x = RandomVector(n, static_cast<uint32_t>(n), lo, hi);
    std::vector<float> yr(n), yc(n);
    REQUIRE(oracle(x.data(), n, yr.data()).ok());
    REQUIRE(fast(x.data(), n, yc.data()).ok());
    CheckElementwise(yc, yr, tol, floor, fmt::format("{} n={}", name, n));
  }
}

TEST_CASE("Activation: cpu transcendental ops match ref (tol 1e-5 elementwise rel)") {
  // The floor bounds relative error only where the function crosses zero.
  CompareUnary("gelu", cpu::GeluErf, ref::GeluErf, -12.0f, 12.0f, 1e-5, 1e-6);
  CompareUnary("gelu_tanh", cpu::GeluTanh, ref::GeluTanh, -12.0f, 12.0f, 1e-5, 1e-6);
  CompareUnary("silu", cpu::Silu, ref::Silu, -30.0f, 30.0f, 1e-5, 1e-6);
  CompareUnary("mish", cpu::Mish, ref::Mish, -30.0f, 30.0f, 1e-5, 1e-6);
  CompareUnary("tanh", cpu::Tanh, ref::Tanh, -10.0f, 10.0f, 1e-5, 1e-7);
  CompareUnary("tanh_small", cpu::Tanh, ref::Tanh, -0.5f, 0.5f, 1e-5, 1e-7);
  CompareUnary("sigmoid", cpu::Sigmoid, ref::Sigmoid, -60.0f, 60.0f, 1e-5, 1e-30);
  CompareUnary("exp", cpu::Exp, ref::Exp, -80.0f, 80.0f, 1e-5, 1e-30);
  CompareUnary("sin", cpu::Sin, ref::Sin, -100.0f, 100.0f, 1e-5, 1e-3);
}

TEST_CASE("Activation: exp saturates to 0 and inf like std::exp") {
  std::vector<float> x = {-200.0f, -104.0f, 0.0f, 89.0f, 200.0f}, y(5);
  REQUIRE(cpu::Exp(x.data(), 5, y.data()).ok());
  CHECK(y[0] == 0.0f);
  CHECK(y[2] == 1.0f);
  CHECK(std::isinf(y[3]));
  CHECK(std::isinf(y[4]));
}

TEST_CASE("Activation: leaky_relu is exact for slopes 0.1 and 0.01, in place") {
  for (float slope : {0.1f, 0.01f}) {
    auto x = RandomVector(37, 9, -4.0f, 4.0f);
    std::vector<float> yr(37);
    REQUIRE(ref::LeakyRelu(x.data(), 37, slope, yr.data()).ok());
    REQUIRE(cpu::LeakyRelu(x.data(), 37, slope, x.data()).ok());
    CheckClose(x, yr, 0.0, fmt::format("leaky_relu slope {}", slope));
  }
}

TEST_CASE("Activation: elu matches expm1 within 5e-7 absolute, in place, masked tail") {
  auto x = RandomVector(37, 13, -6.0f, 3.0f);
  x[0] = 0.0f;
  x[1] = -1e-6f;
  std::vector<double> r(x.size());
  for (size_t i = 0; i < x.size(); ++i) r[i] = x[i] > 0.0f ? x[i] : std::expm1(double(x[i]));
  REQUIRE(cpu::Elu(x.data(), 37, x.data()).ok());
  double worst = 0.0;
  for (size_t i = 0; i < x.size(); ++i) worst = cosyflow::test::WorstOf(worst, std::abs(double(x[i]) - r[i]));
  CHECK(worst <= 5e-7);
  CHECK(x[0] == 0.0f);
  CHECK_FALSE(cpu::Elu(nullptr, 4, x.data()).ok());
}

TEST_CASE("Activation: cpu snake matches ref on [C, T] (tol 1e-5 rel)") {
  for (int64_t c : {1, 3, 17, 64}) {
    for (int64_t t : {1, 7, 33, 2000}) {
      auto x = RandomVector(c * t, 11, -3.0f, 3.0f);
      auto alpha = RandomVector(c, 12, 0.2f, 2.0f);
      std::vector<float> yr(x.size()), yc(x.size());
      REQUIRE(ref::Snake(x.data(), alpha.data(), c, t, yr.data()).ok());
      REQUIRE(cpu::Snake(x.data(), alpha.data(), c, t, yc.data()).ok());
      CheckClose(yc, yr, 1e-5, fmt::format("snake [{},{}]", c, t));
    }
  }
  // Known value: x = 1, alpha = 0.5 -> 1 + 2 sin^2(0.5).
  float x = 1.0f, a = 0.5f, y = 0.0f;
  REQUIRE(cpu::Snake(&x, &a, 1, 1, &y).ok());
  CHECK(y == doctest::Approx(1.0 + 2.0 * std::pow(std::sin(0.5), 2)).epsilon(1e-6));
}

TEST_CASE("Activation: gelu's far negative tail is tiny and never a denormal") {
  // Below x = -12.7 the true value is under 3e-36 in magnitude; a denormal anywhere in the
  // computation (e^p, the products after it) costs a microcode assist per lane, which made the
  // flow's feed-forward epilogue ~6x slower on such inputs. Results: 0 or normal floats.
  std::vector<float> x = RandomVector(4099, 7, -1e4f, -12.0f);
  for (float v : {-12.7f, -13.0f, -14.0f, -20.0f, -104.0f, -1e4f, -3.0e38f}) x.push_back(v);
  std::vector<float> y(x.size());
  REQUIRE(cpu::GeluErf(x.data(), static_cast<int64_t>(x.size()), y.data()).ok());
  for (size_t i = 0; i < x.size(); ++i) {
    INFO("x = " << x[i] << " y = " << y[i]);
    CHECK(std::abs(y[i]) <= 1e-30f);
    CHECK(std::fpclassify(y[i]) != FP_SUBNORMAL);
  }
}

TEST_CASE("Activation: exp below -87 is exactly 0, at and above it a normal float") {
  // e^x under ~1.7e-38 would be a denormal (or underflow), a microcode assist per lane.
  std::vector<float> x = RandomVector(4099, 9, -300.0f, -60.0f);
  for (float v : {-87.0f, -87.0001f, -86.9999f, -87.5f, -100.0f, -104.0f, -1e30f,
                  -std::numeric_limits<float>::infinity()}) {
    x.push_back(v);
  }
  std::vector<float> y(x.size());
  REQUIRE(cpu::Exp(x.data(), static_cast<int64_t>(x.size()), y.data()).ok());
  for (size_t i = 0; i < x.size(); ++i) {
    INFO("x = " << x[i] << " y = " << y[i]);
    CHECK(std::fpclassify(y[i]) != FP_SUBNORMAL);
    if (x[i] < -87.0f) {
      CHECK(y[i] == 0.0f);
    } else {
      CHECK(std::abs(y[i] - std::exp(double(x[i]))) <= 1e-5 * std::exp(double(x[i])));
    }
  }
}

TEST_CASE("Activation: bad arguments are Status errors") {
  float x = 0.0f;
  CHECK_FALSE(cpu::GeluErf(&x, -1, &x).ok());
  CHECK_FALSE(cpu::Silu(nullptr, 4, &x).ok());
  CHECK_FALSE(cpu::Snake(&x, nullptr, 1, 1, &x).ok());
  CHECK_FALSE(ref::Snake(&x, &x, -1, 1, &x).ok());
}

}  // namespace
}  // namespace cosyflow::kernels
