// Tests: cpu softmax (plain, additive mask, boolean mask, fully masked rows) and log_softmax.
#include "runtime/kernels/cpu/softmax.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/kernels/ref/softmax.h"
#include "tests/runtime/kernels/kernel_test_util.h"

namespace cosyflow::kernels {
namespace {

using test::CheckClose;
using test::RandomVector;

TEST_CASE("Softmax: cpu matches ref with and without masks (tol 1e-5 rel)") {
  for (int64_t rows : {1, 7, 14}) {
    for (int64_t cols : {1, 3, 17, 65, 1024}) {
      auto x = RandomVector(rows * cols, 1, -8.0f, 8.0f);
      std::vector<float> yr(x.size()), yc(x.size());
      REQUIRE(ref::Softmax(x.data(), rows, cols, yr.data()).ok());
      REQUIRE(cpu::Softmax(x.data(), rows, cols, yc.data()).ok());
      CheckClose(yc, yr, 1e-5, fmt::format("softmax [{},{}]", rows, cols));

      auto add = RandomVector(rows * cols, 2, -4.0f, 0.0f);
      std::vector<uint8_t> keep(rows * cols);
      for (size_t i = 0; i < keep.size(); ++i) keep[i] = (i * 7 + 3) % 5 != 0;
      for (int64_t stride : {int64_t{0}, cols}) {
        REQUIRE(ref::SoftmaxMasked(x.data(), add.data(), keep.data(), stride, rows, cols, yr.data())
                    .ok());
        REQUIRE(cpu::SoftmaxMasked(x.data(), add.data(), keep.data(), stride, rows, cols, yc.data())
                    .ok());
        CheckClose(yc, yr, 1e-5,
                   fmt::format("masked softmax [{},{}] stride {}", rows, cols, stride));
      }
      REQUIRE(ref::LogSoftmax(x.data(), rows, cols, yr.data()).ok());
      REQUIRE(cpu::LogSoftmax(x.data(), rows, cols, yc.data()).ok());
      CheckClose(yc, yr, 1e-5, fmt::format("log_softmax [{},{}]", rows, cols));
      REQUIRE(cpu::LogSoftmax(x.data(), rows, cols, x.data()).ok());  // in place
      CheckClose(x, yr, 1e-5, fmt::format("log_softmax in place [{},{}]", rows, cols));
    }
  }
}

// Rows spread far below their maximum (peaky logits): the weights under the smallest normal
// float are 0, never denormals (each denormal lane costs a microcode assist: such rows took
// ~20x the time), and the rest equal the reference's.
TEST_CASE("Softmax: rows spread far below their maximum give 0 or normal weights, as ref") {
  for (int64_t cols : {17, 1024, 6564}) {
    auto x = RandomVector(3 * cols, 5, -300.0f, 0.0f);
    for (int64_t r = 0; r < 3; ++r) x[static_cast<size_t>(r * cols + (r * 5) % cols)] = 4.0f;
    std::vector<float> yr(x.size()), yc(x.size());
    REQUIRE(ref::Softmax(x.data(), 3, cols, yr.data()).ok());
    REQUIRE(cpu::Softmax(x.data(), 3, cols, yc.data()).ok());
    CheckClose(yc, yr, 1e-5, fmt::format("spread softmax [3,{}]", cols));
    int zeros = 0;
    for (size_t i = 0; i < yc.size(); ++i) {
      INFO("at " << i << " x " << x[i] << " y " << yc[i] << " ref " << yr[i]);
      CHECK(std::fpclassify(yc[i]) != FP_SUBNORMAL);
      CHECK(std::abs(double(yc[i]) - yr[i]) <=
            1e-6 * std::max(1e-30, std::abs(double(yr[i]))) + 1.2e-38);
      zeros += yc[i] == 0.0f;
    }
    CHECK(zeros > 0);  // the test reaches the flushed range
  }
}

TEST_CASE("Softmax: fully masked rows give zeros, masked entries exactly 0, rows sum to 1") {
  const int64_t rows = 3, cols = 37;
  auto x = RandomVector(rows * cols, 5, -3.0f, 3.0f);
  std::vector<uint8_t> keep(rows * cols, 1);
  for (int64_t j = 0; j < cols; ++j) keep[1 * cols + j] = 0;  // row 1 fully masked
  for (int64_t j = 20; j < cols; ++j) keep[2 * cols + j] = 0;
  std::vector<float> y(x.size());
  REQUIRE(cpu::SoftmaxMasked(x.data(), nullptr, keep.data(), cols, rows, cols, y.data()).ok());
  double s0 = 0, s2 = 0;
  for (int64_t j = 0; j < cols; ++j) {
    s0 += y[j];
    CHECK(y[cols + j] == 0.0f);
    s2 += y[2 * cols + j];
    if (j >= 20) CHECK(y[2 * cols + j] == 0.0f);
  }
  CHECK(s0 == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(s2 == doctest::Approx(1.0).epsilon(1e-6));
  // An additive -inf mask over a whole row behaves the same.
  std::vector<float> add(cols, -INFINITY);
  REQUIRE(cpu::SoftmaxMasked(x.data(), add.data(), nullptr, 0, 1, cols, y.data()).ok());
  for (int64_t j = 0; j < cols; ++j) CHECK(y[j] == 0.0f);
}

TEST_CASE("Softmax: bad arguments are Status errors") {
  float x = 0.0f;
  CHECK_FALSE(cpu::Softmax(&x, 1, 0, &x).ok());
  CHECK_FALSE(cpu::Softmax(nullptr, 1, 1, &x).ok());
  CHECK_FALSE(cpu::SoftmaxMasked(&x, &x, nullptr, -1, 1, 1, &x).ok());
  CHECK_FALSE(ref::LogSoftmax(&x, -1, 1, &x).ok());
}

}  // namespace
}  // namespace cosyflow::kernels
