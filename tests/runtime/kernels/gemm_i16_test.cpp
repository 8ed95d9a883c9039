// WeightType::kInt16 (kernel_table.h: quantize_i16_rows, gemm_panels_i16; cpu::Linear kInt16)
// against their definitions in every variant of this CPU, and the Linear's error against the f32
// product within the bound its quantization allows.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "runtime/cpu_isa.h"
#include "runtime/kernels/cpu/activation.h"
#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/cpu/linear.h"
#include "tests/runtime/kernels/kernel_test_util.h"

namespace cosyflow::kernels {
namespace {

using test::RandomVector;

std::vector<const cpu::KernelTable*> Variants() {
  std::vector<const cpu::KernelTable*> out;
  for (int v = 0; v <= static_cast<int>(DetectedCpuIsa()); ++v) {
    auto t = cpu::KernelsFor(CpuIsa(v));
    REQUIRE(t.ok());
    REQUIRE(bool((*t)->quantize_i16_rows != nullptr));
    REQUIRE(bool((*t)->gemm_panels_i16 != nullptr));
    out.push_back(*t);
  }
  return out;
}

// W_q [n, k] into gemm_panels_i16's panels.
std::vector<int16_t> Panels(const std::vector<int16_t>& wq, int64_t n, int64_t k) {
  const int64_t pairs = (k + 1) / 2;
  std::vector<int16_t> wp(static_cast<size_t>(cpu::I16PanelElems(n, k)), 0);
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t c = 0; c < k; ++c) {
      wp[((j / 16) * pairs + c / 2) * 32 + (j % 16) * 2 + c % 2] = wq[j * k + c];
    }
  }
  return wp;
}

// The block sums of the definition: per kI16Block channels the exact integer sum (checked to fit
// int32), converted to f32, the blocks added in f32 in order.
float BlockSum(const int16_t* xrow, const int16_t* wrow, int64_t k) {
  float sum = 0.0f;
  for (int64_t c0 = 0; c0 < k; c0 += cpu::kI16Block) {
    int64_t s = 0;
    for (int64_t c = c0; c < std::min(k, c0 + cpu::kI16Block); ++c) s += int64_t{xrow[c]} * wrow[c];
    REQUIRE(std::llabs(s) <= std::numeric_limits<int32_t>::max());
    sum = c0 == 0 ? static_cast<float>(s) : sum + static_cast<float>(s);
  }
  return sum;
}

// With unit scales and no bias the output is the block sums themselves, bit for bit in every
// variant: ragged m (6-row blocks and every remainder), odd k, n not a multiple of the panel, k
// past one block, and the extreme integers (a block of kI16Block x 8191 x 2047 would overflow
// int32 if the blocks were longer).
TEST_CASE("gemm_panels_i16: every variant gives the exact block sums") {
  for (const auto& [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{13, 37, 301},
                                {6, 16, 1536},
                                {1, 5, 1},
                                {11, 48, 256},
                                {16, 33, 960},
                                {9, 20, 130},
                                {2, 17, 64},
                                {4, 7, 3}}) {
    const int64_t ldq = cpu::I16RowStride(k);
    auto xr = RandomVector(m * k, 11, -1.0f, 1.0f), wr = RandomVector(n * k, 12, -1.0f, 1.0f);
    std::vector<int16_t> xq(m * ldq, 0), wq(n * k);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t c = 0; c < k; ++c) {
        // row 0: all at the positive extreme; others random, some at the negative extreme
        xq[i * ldq + c] = static_cast<int16_t>(
            i == 0
                ? cpu::kI16ActMax
                : (c % 7 == 0 ? -cpu::kI16ActMax : std::lround(xr[i * k + c] * cpu::kI16ActMax)));
      }
    }
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t c = 0; c < k; ++c) {
        wq[j * k + c] = static_cast<int16_t>(
            j == 0 ? cpu::kI16WeightMax
                   : (c % 5 == 0 ? -cpu::kI16WeightMax
                                 : std::lround(wr[j * k + c] * cpu::kI16WeightMax)));
      }
    }
    const std::vector<int16_t> wp = Panels(wq, n, k);
    std::vector<float> want(m * n);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) want[i * n + j] = BlockSum(&xq[i * ldq], &wq[j * k], k);
    }
    const std::vector<float> sx(m, 1.0f), sw((n + 15) / 16 * 16, 1.0f);
    for (const cpu::KernelTable* t : Variants()) {
      // the variant's kernel, and its vpmaddwd one where that is not the same (VNNI CPUs)
      for (auto* gemm : {t->gemm_panels_i16, t->gemm_panels_i16_madd}) {
        CAPTURE(t->name);
        CAPTURE(t->gemm_panels_i16_name);
        CAPTURE(gemm == t->gemm_panels_i16_madd);
        CAPTURE(fmt::format("m {} n {} k {}", m, n, k));
        REQUIRE(bool(gemm != nullptr));
        std::vector<float> y(m * n, -1.0f);
        gemm(xq.data(), ldq, sx.data(), m, k, wp.data(), sw.data(), n, nullptr, y.data(),
             cpu::GemmEpilogue::kNone);
        int64_t differ = 0;
        for (int64_t e = 0; e < m * n; ++e) differ += y[e] != want[e];
        CHECK(differ == 0);
        CHECK(y[0] == static_cast<float>(k) * cpu::kI16ActMax * cpu::kI16WeightMax);
      }
    }
  }
}

// Scales, bias and the epilogues: y = sum * (sw sx) + bias, GELU of it, or added to y.
TEST_CASE("gemm_panels_i16: scales, bias and epilogues") {
  const int64_t m = 9, n = 21, k = 70, ldq = cpu::I16RowStride(k);
  auto xr = RandomVector(m * k, 21), wr = RandomVector(n * k, 22);
  std::vector<int16_t> xq(m * ldq, 0), wq(n * k);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t c = 0; c < k; ++c)
      xq[i * ldq + c] = static_cast<int16_t>(std::lround(xr[i * k + c] * 8000));
  }
  for (int64_t e = 0; e < n * k; ++e) wq[e] = static_cast<int16_t>(std::lround(wr[e] * 2000));
  const std::vector<int16_t> wp = Panels(wq, n, k);
  auto sx = RandomVector(m, 23, 1e-4f, 2e-4f), sw = RandomVector(32, 24, 1e-4f, 3e-4f);
  auto bias = RandomVector(n, 25), y0 = RandomVector(m * n, 26);
  std::vector<float> plain(m * n);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      plain[i * n + j] = static_cast<float>(
          double{BlockSum(&xq[i * ldq], &wq[j * k], k)} * (sw[j] * sx[i]) + bias[j]);
    }
  }
  std::vector<float> gelu(m * n), acc(m * n);
  REQUIRE(cpu::GeluErf(plain.data(), m * n, gelu.data()).ok());
  for (int64_t e = 0; e < m * n; ++e) acc[e] = y0[e] + plain[e];
  for (const cpu::KernelTable* t : Variants()) {
    CAPTURE(t->name);
    std::vector<float> y(m * n);
    t->gemm_panels_i16(xq.data(), ldq, sx.data(), m, k, wp.data(), sw.data(), n, bias.data(),
                       y.data(), cpu::GemmEpilogue::kNone);
    test::CheckClose(y, plain, 1e-6, "plain");
    // the epilogue's GELU (rows side by side) is the pass's of the same variant (eight vectors
    // side by side, then one at a time) on the variant's own outputs: the same operations per lane
    std::vector<float> own_gelu(m * n);
    if (t == &cpu::Kernels()) REQUIRE(cpu::GeluErf(y.data(), m * n, own_gelu.data()).ok());
    t->gemm_panels_i16(xq.data(), ldq, sx.data(), m, k, wp.data(), sw.data(), n, bias.data(),
                       y.data(), cpu::GemmEpilogue::kGeluErf);
    test::CheckClose(y, gelu, 1e-6, "gelu");
    if (t == &cpu::Kernels()) CHECK(test::MaxAbsDiff(y, own_gelu) == 0.0);
    y = y0;
    t->gemm_panels_i16(xq.data(), ldq, sx.data(), m, k, wp.data(), sw.data(), n, bias.data(),
                       y.data(), cpu::GemmEpilogue::kAccumulate);
    test::CheckClose(y, acc, 1e-6, "accumulate");
  }
}

// Per row: sx = max|x| / 8191, x (8191 / max|x|) rounded to nearest even, zeros past k; a zero
// row gets scale 0, a row holding NaN or infinity zeros and scale NaN. Same bits in every variant.
TEST_CASE("quantize_i16_rows: the per-row definition in every variant") {
  const int64_t m = 7, k = 45, ldq = cpu::I16RowStride(k);
  auto x = RandomVector(m * k, 31, -3.0f, 3.0f);
  for (int64_t c = 0; c < k; ++c) x[2 * k + c] = 0.0f;
  x[3 * k + 40] = std::numeric_limits<float>::quiet_NaN();  // in the tail past the vectors
  x[4 * k + 2] = -std::numeric_limits<float>::infinity();
  x[5 * k + 44] = 1e30f;                      // one huge value: the others round to 0
  x[6 * k + 0] = 0.5f * (8191.0f / 4096.0f);  // ties somewhere in the row
  for (const cpu::KernelTable* t : Variants()) {
    CAPTURE(t->name);
    std::vector<int16_t> q(m * ldq, 77);
    std::vector<float> sx(m, -1.0f);
    t->quantize_i16_rows(x.data(), m, k, q.data(), ldq, sx.data());
    for (int64_t i = 0; i < m; ++i) {
      CAPTURE(i);
      CHECK(q[i * ldq + k] == 0);  // the pad of odd k
      const float* row = &x[i * k];
      if (i == 3 || i == 4) {
        CHECK(std::isnan(sx[i]));
        for (int64_t c = 0; c < k; ++c) CHECK(q[i * ldq + c] == 0);
        continue;
      }
      float amax = 0.0f;
      for (int64_t c = 0; c < k; ++c) amax = std::max(amax, std::fabs(row[c]));
      if (amax == 0.0f) {
        CHECK(sx[i] == 0.0f);
        for (int64_t c = 0; c < k; ++c) CHECK(q[i * ldq + c] == 0);
        continue;
      }
      CHECK(sx[i] == amax / 8191.0f);
      const float inv = 8191.0f / amax;
      int64_t differ = 0, at_max = 0;
      for (int64_t c = 0; c < k; ++c) {
        const float want = std::clamp(std::nearbyint(row[c] * inv), -8191.0f, 8191.0f);
        differ += q[i * ldq + c] != static_cast<int16_t>(want);
        at_max += std::abs(q[i * ldq + c]) == 8191;
      }
      CHECK(differ == 0);
      CHECK(at_max >= 1);
    }
  }
}

// cpu::Linear kInt16 against the f32 product: each output within the bound of its quantization
// (|dx| <= sx / 2 per element, |dW| <= sw / 2), and not exact (the integers are used); every
// variant within 1e-6 of the others; a row's output independent of the rows around it (the
// flow's incremental cache relies on it: the same bits at m = 1 as inside m = 300).
TEST_CASE("Linear int16: within the quantization bound of f32, rows independent") {
  const int64_t n = 70, k = 300, m = 300;
  auto w = RandomVector(n * k, 41, -0.5f, 0.5f), bias = RandomVector(n, 42);
  auto x = RandomVector(m * k, 43, -2.0f, 2.0f);
  for (int64_t c = 0; c < k; ++c) x[5 * k + c] *= 1e-3f;  // a small row: its own scale
  x[7 * k + 3] = 40.0f;                                   // an outlier row
  struct Restore {
    ~Restore() { (void)cpu::UseKernelIsa(SelectedCpuIsa()); }
  } restore;
  std::vector<float> first;
  for (int v = 0; v <= static_cast<int>(DetectedCpuIsa()); ++v) {
    REQUIRE(cpu::UseKernelIsa(CpuIsa(v)).ok());
    CAPTURE(CpuIsaName(CpuIsa(v)));
    auto lin = cpu::Linear::Create(w.data(), bias.data(), n, k, cpu::WeightType::kInt16);
    REQUIRE(lin.ok());
    CHECK((*lin)->gemm_packed());
    CHECK((*lin)->weight_type() == cpu::WeightType::kInt16);
    std::vector<float> y(m * n);
    REQUIRE((*lin)->Forward(x.data(), m, y.data()).ok());
    double worst_ratio = 0.0, max_err = 0.0;
    for (int64_t i = 0; i < m; ++i) {
      double xmax = 0.0, xsum = 0.0;
      for (int64_t c = 0; c < k; ++c) {
        xmax = std::max(xmax, std::fabs(double{x[i * k + c]}));
        xsum += std::fabs(double{x[i * k + c]});
      }
      const double sx = xmax / 8191.0;
      for (int64_t j = 0; j < n; ++j) {
        double wmax = 0.0, wsum = 0.0, exact = bias[j], mag = 0.0;
        for (int64_t c = 0; c < k; ++c) {
          const double wv = w[j * k + c], xv = x[i * k + c];
          wmax = std::max(wmax, std::fabs(wv));
          wsum += std::fabs(wv);
          exact += xv * wv;
          mag += std::fabs(xv * wv);
        }
        const double sw = wmax / 2047.0;
        const double bound = 0.5 * sx * wsum + 0.5 * sw * xsum + 0.25 * k * sx * sw + 1e-6 * mag +
                             1e-6 * std::fabs(exact);
        const double err = std::fabs(y[i * n + j] - exact);
        worst_ratio = std::max(worst_ratio, err / bound);
        max_err = std::max(max_err, err);
      }
    }
    MESSAGE("int16 max abs err " << max_err << ", worst err / bound " << worst_ratio);
    CHECK(worst_ratio <= 1.0);
    CHECK(max_err > 1e-6);
    if (first.empty()) {
      first = y;
    } else {
      test::CheckClose(y, first, 1e-6, "against the scalar variant");
    }
    // rows independent: each of a few rows alone, bit for bit
    for (int64_t i : {int64_t{0}, int64_t{5}, int64_t{7}, m - 1}) {
      std::vector<float> one(n);
      REQUIRE((*lin)->Forward(x.data() + i * k, 1, one.data()).ok());
      int64_t differ = 0;
      for (int64_t j = 0; j < n; ++j) differ += one[j] != y[i * n + j];
      CHECK(differ == 0);
    }
    // the epilogues as the passes after the product
    std::vector<float> g(m * n), want(m * n);
    REQUIRE((*lin)->Forward(x.data(), m, g.data(), cpu::LinearEpilogue::kGeluErf).ok());
    REQUIRE(cpu::GeluErf(y.data(), m * n, want.data()).ok());
    test::CheckClose(g, want, 1e-6, "gelu epilogue");
    std::vector<float> a(m * n, 0.25f);
    REQUIRE((*lin)->Forward(x.data(), m, a.data(), cpu::LinearEpilogue::kAccumulate).ok());
    for (int64_t e = 0; e < m * n; ++e) want[e] = 0.25f + y[e];
    test::CheckClose(a, want, 1e-6, "accumulate epilogue");
  }
}

TEST_CASE("Linear int16: names, row products refused, bad weights refused, NaN rows") {
  cpu::WeightType wt = cpu::WeightType::kF32;
  CHECK(cpu::ParseWeightType("int16", &wt));
  CHECK(wt == cpu::WeightType::kInt16);
  CHECK(std::string(cpu::WeightTypeName(cpu::WeightType::kInt16)) == "int16");
  const int64_t n = 4, k = 8;
  std::vector<float> w(n * k, 0.5f);
  w[3] = 0.0f;
  for (int64_t c = 0; c < k; ++c) w[2 * k + c] = 0.0f;  // an all-zero row: output = bias
  const std::vector<float> bias = {1.0f, 2.0f, 3.0f, 4.0f};
  auto lin = cpu::Linear::Create(w.data(), bias.data(), n, k, cpu::WeightType::kInt16);
  REQUIRE(lin.ok());
  CHECK((*lin)->packed_weight_bytes() == 16 * k * 2 + 16 * 4);
  std::vector<float> x(k, 1.0f), y(n);
  CHECK((*lin)->ForwardRows(x.data(), 0, n, y.data()).code() == StatusCode::kUnsupported);
  REQUIRE((*lin)->Forward(x.data(), 1, y.data()).ok());
  CHECK(y[2] == 3.0f);
  CHECK(y[0] == doctest::Approx(1.0 + 0.5 * 7).epsilon(1e-3));
  x[1] = std::numeric_limits<float>::quiet_NaN();
  REQUIRE((*lin)->Forward(x.data(), 1, y.data()).ok());
  for (float v : y) CHECK(std::isnan(v));  // as the f32 product of a NaN input
  w[5] = std::numeric_limits<float>::infinity();
  auto bad = cpu::Linear::Create(w.data(), bias.data(), n, k, cpu::WeightType::kInt16);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("row 0") != std::string::npos);
}

}  // namespace
}  // namespace cosyflow::kernels
