// Tests: cpu layer_norm / rms_norm against the reference kernels.
#include "runtime/kernels/cpu/norm.h"

#include <doctest/doctest.h>

#include <vector>

#include "runtime/kernels/ref/norm.h"
#include "tests/runtime/kernels/kernel_test_util.h"

namespace cosyflow::kernels {
namespace {

using test::CheckClose;
using test::RandomVector;

TEST_CASE("Norm: cpu layer_norm matches ref on odd shapes (tol 1e-5 rel)") {
  for (int64_t rows : {1, 7, 33}) {
    for (int64_t dim : {1, 3, 17, 65, 512, 896}) {
      for (float eps : {1e-12f, 1e-5f}) {
        auto x = RandomVector(rows * dim, 1, -3.0f, 5.0f);  // non-zero mean
        auto g = RandomVector(dim, 2, 0.5f, 1.5f), b = RandomVector(dim, 3);
        std::vector<float> yr(x.size()), yc(x.size());
        REQUIRE(ref::LayerNorm(x.data(), g.data(), b.data(), rows, dim, eps, yr.data()).ok());
        REQUIRE(cpu::LayerNorm(x.data(), g.data(), b.data(), rows, dim, eps, yc.data()).ok());
        CheckClose(yc, yr, 1e-5, fmt::format("layer_norm [{},{}] eps {}", rows, dim, eps));
        // In place, no affine.
        REQUIRE(ref::LayerNorm(x.data(), nullptr, nullptr, rows, dim, eps, yr.data()).ok());
        REQUIRE(cpu::LayerNorm(x.data(), nullptr, nullptr, rows, dim, eps, x.data()).ok());
        CheckClose(x, yr, 1e-5, fmt::format("layer_norm in place [{},{}]", rows, dim));
      }
    }
  }
}

TEST_CASE("Norm: layer_norm output has zero mean and unit variance") {
  auto x = RandomVector(512, 4, 10.0f, 12.0f);
  std::vector<float> y(512);
  REQUIRE(cpu::LayerNorm(x.data(), nullptr, nullptr, 1, 512, 1e-5f, y.data()).ok());
  double m = 0, v = 0;
  for (float f : y) m += f;
  m /= 512;
  for (float f : y) v += (f - m) * (f - m);
  CHECK(std::abs(m) < 1e-5);
  CHECK(std::abs(v / 512 - 1.0) < 1e-3);
}

TEST_CASE("Norm: cpu rms_norm matches ref on odd shapes (tol 1e-5 rel)") {
  for (int64_t rows : {1, 7, 64}) {
    for (int64_t dim : {1, 3, 17, 65, 896}) {
      auto x = RandomVector(rows * dim, 5, -2.0f, 2.0f);
      auto w = RandomVector(dim, 6, 0.5f, 1.5f);
      std::vector<float> yr(x.size()), yc(x.size());
      REQUIRE(ref::RmsNorm(x.data(), w.data(), rows, dim, 1e-6f, yr.data()).ok());
      REQUIRE(cpu::RmsNorm(x.data(), w.data(), rows, dim, 1e-6f, yc.data()).ok());
      CheckClose(yc, yr, 1e-5, fmt::format("rms_norm [{},{}]", rows, dim));
    }
  }
}

TEST_CASE("Norm: bad arguments are Status errors") {
  std::vector<float> x(8), y(8);
  CHECK_FALSE(cpu::LayerNorm(x.data(), nullptr, nullptr, 1, 0, 1e-5f, y.data()).ok());
  CHECK_FALSE(cpu::LayerNorm(nullptr, nullptr, nullptr, 1, 8, 1e-5f, y.data()).ok());
  CHECK_FALSE(cpu::RmsNorm(x.data(), nullptr, -1, 8, 1e-6f, y.data()).ok());
  CHECK_FALSE(ref::RmsNorm(x.data(), nullptr, 1, 8, -1.0f, y.data()).ok());
}

}  // namespace
}  // namespace cosyflow::kernels
