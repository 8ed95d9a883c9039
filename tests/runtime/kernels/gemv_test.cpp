// Tests for the small-m GEMV kernels (cpu/gemv.h) against the reference linear loops, and for
// cpu::Linear agreeing with itself across the GEMV / oneDNN switch.
#include "runtime/kernels/cpu/gemv.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "runtime/dtype.h"
#include "runtime/kernels/cpu/i8_rows.h"
#include "runtime/kernels/cpu/kernel_table.h"
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


namespace {
// Per-row symmetric int8 quantization as cpu::Linear does it: w ~ scale[j] * q[j, c].
void QuantizeRows(const std::vector<float>& w, int64_t n, int64_t k, std::vector<int8_t>* q,
                  std::vector<float>* scales) {
  q->resize(w.size());
  scales->resize(n);
  for (int64_t j = 0; j < n; ++j) {
    float amax = 0.0f;
    for (int64_t c = 0; c < k; ++c) amax = std::max(amax, std::fabs(w[j * k + c]));
    const float s = amax > 0.0f ? amax / 127.0f : 1.0f;
    (*scales)[j] = s;
    for (int64_t c = 0; c < k; ++c) {
      (*q)[j * k + c] = static_cast<int8_t>(std::nearbyint(w[j * k + c] / s));
    }
  }
}

// Row-major int8 rows in the kernels' layout (i8_rows.h).
std::vector<int8_t> Blocked(const std::vector<int8_t>& q, int64_t n, int64_t k) {
  std::vector<int8_t> out(static_cast<size_t>(cpu::I8RowsBytes(n, k)));
  cpu::PackI8Rows(q.data(), n, k, out.data());
  return out;
}
}  // namespace

TEST_CASE("GemvI8: equals the reference on dequantized weights up to f32 summation order") {
  uint32_t seed = 300;
  for (const Shape& s : kShapes) {
    CAPTURE(s.m);
    CAPTURE(s.n);
    CAPTURE(s.k);
    auto x = RandomVector(s.m * s.k, seed++), w = RandomVector(s.n * s.k, seed++);
    auto bias = RandomVector(s.n, seed++);
    std::vector<int8_t> q;
    std::vector<float> scales;
    QuantizeRows(w, s.n, s.k, &q, &scales);
    const std::vector<int8_t> qb = Blocked(q, s.n, s.k);
    std::vector<float> wd(w.size());
    for (int64_t j = 0; j < s.n; ++j) {
      for (int64_t c = 0; c < s.k; ++c) wd[j * s.k + c] = scales[j] * q[j * s.k + c];
    }
    std::vector<float> y(s.m * s.n), y_ref(s.m * s.n);
    REQUIRE(ref::LinearForward(x.data(), wd.data(), bias.data(), y_ref.data(), s.m, s.n, s.k).ok());
    REQUIRE(
        cpu::GemvI8(x.data(), qb.data(), scales.data(), bias.data(), y.data(), s.m, s.n, s.k).ok());
    CheckClose(y, y_ref, 1e-5, "gemv int8");
  }
  std::vector<float> x(4), y(4);
  std::vector<int8_t> w(4);
  CHECK(!cpu::GemvI8(x.data(), w.data(), nullptr, nullptr, y.data(), 1, 2, 2).ok());
}

// One case of the fixed-point tests: x [m, k] with every 97th value times `outlier` (LLM
// activations), W quantized per row with some -128 (the full s8 range), a bias; seeds from *seed.
struct FixedInputs {
  std::vector<float> x;
  std::vector<int8_t> q;
  std::vector<float> scales, bias;
};
FixedInputs FixedCase(const Shape& s, float outlier, uint32_t* seed) {
  FixedInputs f;
  f.x = RandomVector(s.m * s.k, (*seed)++);
  auto w = RandomVector(s.n * s.k, (*seed)++);
  for (int64_t i = 0; i < s.m * s.k; i += 97) f.x[i] *= outlier;
  f.bias = RandomVector(s.n, (*seed)++);
  QuantizeRows(w, s.n, s.k, &f.q, &f.scales);
  for (int64_t j = 0; j < s.n; j += 5) f.q[j * s.k] = -128;
  return f;
}

// The fixed-point int8 GEMV (kernel_table.h gemv_i8_fixed, AVX512_VNNI) to its contract, bit
// for bit: x_int = round(x 2^e) with 2^29 <= max|x| 2^e < 2^30, the exact integer dot against
// the int8 row, y = f32(double(dot) (double(scale) 2^-e)) + bias. The oracle is plain int64
// arithmetic; the kernel splits x_int into byte planes, offsets the top one and sums in int32
// lanes, so a wrong plane, offset, tail mask or reduction shows as a different value.
std::vector<float> FixedPointOracle(const std::vector<float>& x, const std::vector<int8_t>& q,
                                    const std::vector<float>& scales, const float* bias,
                                    int64_t m, int64_t n, int64_t k) {
  std::vector<float> y(m * n);
  for (int64_t i = 0; i < m; ++i) {
    float amax = 0.0f;
    for (int64_t c = 0; c < k; ++c) amax = std::max(amax, std::fabs(x[i * k + c]));
    const int e = 29 - std::ilogb(amax);
    std::vector<int64_t> xi(k);
    for (int64_t c = 0; c < k; ++c) {
      xi[c] = static_cast<int64_t>(std::nearbyint(std::ldexp(double{x[i * k + c]}, e)));
    }
    for (int64_t j = 0; j < n; ++j) {
      int64_t dot = 0;
      for (int64_t c = 0; c < k; ++c) dot += int64_t{q[j * k + c]} * xi[c];
      float v = static_cast<float>(static_cast<double>(dot) *
                                   (static_cast<double>(scales[j]) * std::ldexp(1.0, -e)));
      if (bias != nullptr) v += bias[j];
      y[i * n + j] = v;
    }
  }
  return y;
}

TEST_CASE("GemvI8: the fixed-point kernel is bit for bit its integer definition") {
  const auto fixed = cpu::Kernels().gemv_i8_fixed;
  if (fixed == nullptr) {
    MESSAGE("no fixed-point int8 GEMV in the selected variant (needs AVX512_VNNI): skipped");
    return;
  }
  uint32_t seed = 700;
  // k: below one 64-column step, a partial last step, exact steps, the Qwen2 shapes.
  const Shape shapes[] = {{1, 5, 1},  {1, 4, 63},   {2, 9, 64},     {3, 6, 65},
                          {1, 7, 130}, {8, 13, 200}, {1, 1152, 896}, {1, 37, 4864}};
  for (const Shape& s : shapes) {
    // Spread: a uniform row, and one with a few outliers 1e4 x the rest (LLM activations).
    for (float outlier : {1.0f, 1e4f}) {
      CAPTURE(s.m);
      CAPTURE(s.n);
      CAPTURE(s.k);
      CAPTURE(outlier);
      auto [x, q, scales, bias] = FixedCase(s, outlier, &seed);
      const std::vector<int8_t> qb = Blocked(q, s.n, s.k);
      const float* no_bias = nullptr;
      const float* with_bias = bias.data();
      for (const float* b : {no_bias, with_bias}) {
        std::vector<float> y(s.m * s.n, -7.0f);
        std::vector<uint8_t> scratch(cpu::GemvI8FixedScratchBytes(s.m, s.k) + 64);
        void* aligned = scratch.data() + (64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64);
        REQUIRE(fixed(x.data(), qb.data(), scales.data(), b, y.data(), s.m, s.n, s.k, aligned));
        CHECK(y == FixedPointOracle(x, q, scales, b, s.m, s.n, s.k));
        // And the public entry point takes this kernel.
        std::vector<float> y2(s.m * s.n);
        REQUIRE(cpu::GemvI8(x.data(), qb.data(), scales.data(), b, y2.data(), s.m, s.n, s.k).ok());
        CHECK(y2 == y);
      }
    }
  }
}

// Inputs the fixed-point kernel does not take (non-finite, all zero, below 2^-64) and x far
// from 1: GemvI8 gives what the f32 definition gives — NaN / inf where it does, the bias for
// x = 0, the reference within its tolerance at any scale.
TEST_CASE("GemvI8: non-finite, zero, tiny and huge x") {
  const int64_t m = 2, n = 9, k = 70;
  auto w = RandomVector(n * k, 801), bias = RandomVector(n, 802);
  std::vector<int8_t> q;
  std::vector<float> scales;
  QuantizeRows(w, n, k, &q, &scales);
  const std::vector<int8_t> qb = Blocked(q, n, k);
  std::vector<float> wd(n * k);
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t c = 0; c < k; ++c) wd[j * k + c] = scales[j] * q[j * k + c];
  }
  auto run = [&](const std::vector<float>& x) {
    std::vector<float> y(m * n, -7.0f), y_ref(m * n);
    REQUIRE(cpu::GemvI8(x.data(), qb.data(), scales.data(), bias.data(), y.data(), m, n, k).ok());
    REQUIRE(ref::LinearForward(x.data(), wd.data(), bias.data(), y_ref.data(), m, n, k).ok());
    return std::pair{y, y_ref};
  };
  for (float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    CAPTURE(bad);
    auto x = RandomVector(m * k, 803);
    x[k + 11] = bad;  // second row only
    auto [y, y_ref] = run(x);
    CheckClose(std::span<const float>(y.data(), n), std::span<const float>(y_ref.data(), n),
               1e-5, "finite row beside a non-finite one");
    for (int64_t j = 0; j < n; ++j) {
      CAPTURE(j);
      CHECK(std::isnan(y[n + j]) == std::isnan(y_ref[n + j]));
      CHECK(std::isinf(y[n + j]) == std::isinf(y_ref[n + j]));
      CHECK(!std::isfinite(y[n + j]));
    }
  }
  {
    auto [y, y_ref] = run(std::vector<float>(m * k, 0.0f));
    for (int64_t j = 0; j < n; ++j) CHECK(y[j] == bias[j]);
  }
  for (float scale : {1e-30f, 1e-12f, 1e12f, 1e30f}) {
    CAPTURE(scale);
    auto x = RandomVector(m * k, 804);
    for (float& v : x) v *= scale;
    std::vector<float> y(m * n), y_ref(m * n);
    REQUIRE(cpu::GemvI8(x.data(), qb.data(), scales.data(), nullptr, y.data(), m, n, k).ok());
    REQUIRE(ref::LinearForward(x.data(), wd.data(), nullptr, y_ref.data(), m, n, k).ok());
    CheckClose(y, y_ref, 1e-5, "scaled x");
  }
}

// int8 and bf16 Linear: the small-m GEMV and the large-m path (oneDNN bf16, or f32 on converted
// weight tiles where the CPU/ISA has no bf16 primitive; always tiles for int8: bf16 matmul on
// the exact int8 values where there is one, else f32) agree row by row on bf16-exact rows,
// and the quantization error against f32 stays within the bound of the weight type.
TEST_CASE("Linear: int8 and bf16 weights agree across GEMV and batch paths, error bounded") {
  const int64_t n = 2500, k = 601, m = 40;  // n spans two conversion tiles (TileRows), odd k
  auto w = RandomVector(n * k, 21, -0.1f, 0.1f), bias = RandomVector(n, 22);
  auto x = RandomVector(m * k, 23);
  std::vector<float> y_ref(m * n);
  REQUIRE(ref::LinearForward(x.data(), w.data(), bias.data(), y_ref.data(), m, n, k).ok());
  for (cpu::WeightType wt : {cpu::WeightType::kBF16, cpu::WeightType::kInt8}) {
    const std::string type = cpu::WeightTypeName(wt);
    CAPTURE(type);
    auto lin = cpu::Linear::Create(w.data(), bias.data(), n, k, wt);
    REQUIRE(lin.ok());
    // int8: the rows padded to 64 columns and to a whole 4-row block (i8_rows.h), or to a
    // 16-row block in the AMX-INT8 layout; one copy either way.
    const int64_t i8_bytes = std::max(cpu::I8RowsBytes(n, k), cpu::I8AmxBytes(n, k));
    CHECK(
        (*lin)->packed_weight_bytes() <=
        static_cast<size_t>((wt == cpu::WeightType::kInt8 ? i8_bytes : n * k * 2) + n * 4 + 4096));
    std::vector<float> batch(m * n), one(n);
    REQUIRE((*lin)->Forward(x.data(), m, batch.data()).ok());
    // Weight rounding: bf16 ~2^-9 relative per weight, int8 ~1/254 of the row's max.
    const double bound = wt == cpu::WeightType::kInt8 ? 1e-2 : 5e-3;
    const double err = test::MaxRelDiff(batch, y_ref);
    CHECK(err < bound);
    CHECK(err > 1e-6);  // really computed in the reduced type
    // Row alone (the GEMV: bf16 weights round x to bf16, int8 keeps it f32) vs the batch path
    // (bf16 rounds x to bf16; int8 too, or on int16 products takes x as 16-bit integers per 128
    // channels): equal for the same bf16-exact row up to summation order, or within the 16-bit
    // blocks' rounding (|x error| <= max|x| / 65534 per block) of the f32 row.
    const bool i16 = wt == cpu::WeightType::kInt8 &&
                     cpu::Int8ManyRowsKernel().find("gemm_i8_i16") != std::string::npos;
    for (int64_t r : {int64_t{0}, int64_t{17}, m - 1}) {
      std::vector<float> xr(x.begin() + r * k, x.begin() + (r + 1) * k);
      if (!i16) {
        for (float& v : xr) v = BF16ToF32(F32ToBF16(v));
      }
      REQUIRE((*lin)->Forward(xr.data(), 1, one.data()).ok());
      if (!i16) {
        CheckClose(one, std::span<const float>(batch.data() + r * n, n), 1e-5,
                   "row alone vs batch");
        continue;
      }
      int64_t over = 0;
      for (int64_t j = 0; j < n; ++j) {
        double bound = 0.0, mag = 0.0;
        for (int64_t c0 = 0; c0 < k; c0 += 128) {
          double amax = 0.0, wsum = 0.0;
          for (int64_t c = c0; c < std::min(k, c0 + 128); ++c) {
            amax = std::max(amax, std::fabs(double{xr[c]}));
            wsum += std::fabs(double{w[j * k + c]});
            mag += std::fabs(double{xr[c]} * w[j * k + c]);
          }
          bound += amax / 65534.0 * wsum * 1.01;  // the int8 W within 1 % of W
        }
        over += std::fabs(one[j] - batch[r * n + j]) > bound + 1e-6 * (mag + std::fabs(bias[j]));
      }
      CHECK(over == 0);
    }
  }
  cpu::WeightType parsed;
  CHECK(cpu::ParseWeightType("int8", &parsed));
  CHECK(parsed == cpu::WeightType::kInt8);
  CHECK(!cpu::ParseWeightType("fp8", &parsed));
}
// ForwardRows (one x row, W rows [j0, j1) on the calling thread): equal to Forward's m = 1 GEMV
// on those rows for every weight type, nothing written outside them, bad ranges rejected.
TEST_CASE("Linear: ForwardRows computes exactly the GEMV's rows j0 .. j1") {
  const int64_t n = 103, k = 77;  // n not a multiple of the GEMV's 4-row block
  auto w = RandomVector(n * k, 31, -0.2f, 0.2f), bias = RandomVector(n, 32), x = RandomVector(k, 33);
  for (cpu::WeightType wt : {cpu::WeightType::kF32, cpu::WeightType::kBF16, cpu::WeightType::kInt8}) {
    CAPTURE(cpu::WeightTypeName(wt));
    auto lin = cpu::Linear::Create(w.data(), bias.data(), n, k, wt);
    REQUIRE(lin.ok());
    std::vector<float> full(n), part(n, -7.0f);
    REQUIRE((*lin)->Forward(x.data(), 1, full.data()).ok());
    const int64_t cuts[] = {0, 8, 52, 100, n};
    for (size_t c = 0; c + 1 < std::size(cuts); ++c) {
      REQUIRE((*lin)->ForwardRows(x.data(), cuts[c], cuts[c + 1], part.data()).ok());
    }
    CHECK(part == full);  // block-aligned cuts: the same bits
    std::vector<float> mid(n, -7.0f);
    REQUIRE((*lin)->ForwardRows(x.data(), 20, 40, mid.data()).ok());
    int64_t outside = 0;
    for (int64_t j = 0; j < n; ++j) outside += (j < 20 || j >= 40) && mid[j] != -7.0f;
    CHECK(outside == 0);
    CHECK((*lin)->ForwardRows(x.data(), 5, 5, mid.data()).ok());  // empty range
    CHECK_FALSE((*lin)->ForwardRows(x.data(), 10, n + 1, mid.data()).ok());
    CHECK_FALSE((*lin)->ForwardRows(x.data(), -1, 4, mid.data()).ok());
    CHECK_FALSE((*lin)->ForwardRows(x.data(), 9, 8, mid.data()).ok());
  }
}

// PrepareRow + ForwardPreparedRows (x rounded / quantized once, then any row ranges): the bits
// of Forward's m = 1 GEMV for every weight type, from one prepared row; x the fixed-point kernel
// does not take (a NaN) gives Forward's NaN rows; a row prepared by another Linear is refused.
TEST_CASE("Linear: one prepared row serves every row range with Forward's bits") {
  const int64_t n = 103, k = 77;
  auto w = RandomVector(n * k, 41, -0.2f, 0.2f), bias = RandomVector(n, 42),
       x = RandomVector(k, 43);
  for (cpu::WeightType wt :
       {cpu::WeightType::kF32, cpu::WeightType::kBF16, cpu::WeightType::kInt8}) {
    CAPTURE(cpu::WeightTypeName(wt));
    auto lin = cpu::Linear::Create(w.data(), bias.data(), n, k, wt);
    auto other = cpu::Linear::Create(w.data(), bias.data(), n, k, wt);
    REQUIRE((lin.ok() && other.ok()));
    std::vector<float> full(n), part(n, -7.0f);
    REQUIRE((*lin)->Forward(x.data(), 1, full.data()).ok());
    auto row = (*lin)->PrepareRow(x.data());
    REQUIRE(row.ok());
    // Out of order, as threads taking chunks from both ends do.
    const int64_t cuts[][2] = {{100, n}, {0, 8}, {52, 100}, {8, 12}, {12, 52}};
    for (const auto& c : cuts)
      REQUIRE((*lin)->ForwardPreparedRows(*row, c[0], c[1], part.data()).ok());
    CHECK(part == full);
    // Ranges starting inside a 4-row block (int8: inside a block of the weights' layout), one
    // of them ending in the same block.
    std::fill(part.begin(), part.end(), -7.0f);
    const int64_t ragged[][2] = {{0, 5}, {5, 6}, {6, 51}, {51, 102}, {102, n}};
    for (const auto& c : ragged)
      REQUIRE((*lin)->ForwardPreparedRows(*row, c[0], c[1], part.data()).ok());
    CHECK(part == full);
    CHECK((*lin)->ForwardPreparedRows(*row, 4, 4, part.data()).ok());
    CHECK_FALSE((*lin)->ForwardPreparedRows(*row, 0, n + 1, part.data()).ok());
    CHECK_FALSE((*other)->ForwardPreparedRows(*row, 0, 4, part.data()).ok());
    CHECK_FALSE((*lin)->ForwardPreparedRows(cpu::Linear::PreparedRow{}, 0, 4, part.data()).ok());
    CHECK_FALSE((*lin)->PrepareRow(nullptr).ok());

    auto bad = x;
    bad[5] = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> bad_full(n), bad_part(n);
    REQUIRE((*lin)->Forward(bad.data(), 1, bad_full.data()).ok());
    auto bad_row = (*lin)->PrepareRow(bad.data());
    REQUIRE(bad_row.ok());
    REQUIRE((*lin)->ForwardPreparedRows(*bad_row, 0, n, bad_part.data()).ok());
    int64_t nan_rows = 0;
    for (int64_t j = 0; j < n; ++j) nan_rows += std::isnan(bad_part[j]) && std::isnan(bad_full[j]);
    CHECK(nan_rows == n);
  }
}

// kernel_table.h gemv_i8_fixed in two steps (quantize once, rows per range): the bits of the
// one-call kernel on every range, for m = 1 and m = 3.
TEST_CASE("GemvI8: the fixed-point kernel's quantize + rows equal the one-call kernel") {
  const auto& t = cpu::Kernels();
  if (t.gemv_i8_fixed == nullptr) {
    MESSAGE("no fixed-point int8 GEMV in the selected variant (needs AVX512_VNNI): skipped");
    return;
  }
  REQUIRE((t.gemv_i8_fixed_quantize != nullptr && t.gemv_i8_fixed_rows != nullptr));
  for (const int64_t m : {1, 3}) {
    const int64_t n = 57, k = 130;
    CAPTURE(m);
    auto x = RandomVector(m * k, 51), w = RandomVector(n * k, 52), bias = RandomVector(n, 53);
    std::vector<int8_t> q;
    std::vector<float> scales;
    QuantizeRows(w, n, k, &q, &scales);
    const std::vector<int8_t> qb = Blocked(q, n, k);
    std::vector<uint8_t> buf(cpu::GemvI8FixedScratchBytes(m, k) + 64);
    void* scratch = buf.data() + (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64);
    std::vector<float> one(m * n);
    REQUIRE(t.gemv_i8_fixed(x.data(), qb.data(), scales.data(), bias.data(), one.data(), m, n, k,
                            scratch));
    std::vector<uint8_t> buf2(buf.size());
    void* prepared = buf2.data() + (64 - reinterpret_cast<uintptr_t>(buf2.data()) % 64);
    REQUIRE(t.gemv_i8_fixed_quantize(x.data(), m, k, prepared));
    // Per range: y rows of width (j1 - j0), then compared with the one-call columns.
    const int64_t cuts[] = {0, 4, 20, 24, 56, n};  // ranges start at a row block (4 rows)
    for (size_t c = 0; c + 1 < std::size(cuts); ++c) {
      const int64_t j0 = cuts[c], j1 = cuts[c + 1], r = j1 - j0;
      std::vector<float> y(m * r, -7.0f);
      t.gemv_i8_fixed_rows(prepared, qb.data() + cpu::I8RowOffset(j0, k), scales.data() + j0,
                           bias.data() + j0, y.data(), m, r, k);
      int64_t differing = 0;
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < r; ++j) differing += y[i * r + j] != one[i * n + j0 + j];
      }
      CHECK(differing == 0);
    }
    std::vector<float> bad(x);
    bad[3] = std::numeric_limits<float>::infinity();
    CHECK_FALSE(t.gemv_i8_fixed_quantize(bad.data(), m, k, prepared));
  }
}

// The AMX-INT8 layout's kernels (kernel_table.h pack_i8_amx, gemv_i8_amx_quantize,
// gemv_i8_amx_rows, widen_i8_amx_bf16) to their contracts: the rows bit for bit the integer
// oracle (so the vpdpbusd kernel's bits) on every 16-row range, with row strides, x rows with
// outliers and the full s8 range, k up to the speech LM's 4864 (lane sums near their bound);
// the widened B tiles equal widen_i8_rows_amx's from the i8_rows.h layout of the same W.
TEST_CASE("GemvI8: the AMX-INT8 layout's rows are the fixed-point integer definition") {
  const auto& t = cpu::Kernels();
  if (t.pack_i8_amx == nullptr) {
    MESSAGE("no AMX-INT8 kernels in the selected variant (needs AMX-INT8 and AMX-BF16): skipped");
    return;
  }
  uint32_t seed = 900;
  const Shape shapes[] = {{1, 5, 1},     {1, 16, 63},   {2, 17, 64},  {3, 57, 130},
                          {1, 100, 896}, {2, 33, 4864}, {1, 40, 5000}};
  for (const Shape& s : shapes) {
    for (float outlier : {1.0f, 1e4f}) {
      INFO("m ", s.m, ", n ", s.n, ", k ", s.k, ", outlier ", outlier);
      auto [x, q, scales, bias] = FixedCase(s, outlier, &seed);
      if (outlier > 1.0f) {  // whole rows at the extremes: the lane sums' worst case
        for (int64_t c = 0; c < s.k; ++c) q[c] = -128;
        for (int64_t c = 0; c < s.k && s.n > 1; ++c) q[s.k + c] = 127;
      }
      const std::vector<int8_t> qb = Blocked(q, s.n, s.k);
      std::vector<int8_t> wa(static_cast<size_t>(cpu::I8AmxBytes(s.n, s.k)), 7);
      t.pack_i8_amx(qb.data(), s.n, s.k, wa.data());
      std::vector<uint8_t> buf(cpu::GemvI8FixedScratchBytes(s.m, s.k) + 64);
      void* scratch = buf.data() + (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64);
      REQUIRE(t.gemv_i8_amx_quantize(x.data(), s.m, s.k, scratch));
      const std::vector<float> want = FixedPointOracle(x, q, scales, bias.data(), s.m, s.n, s.k);
      // Ranges from every 16-row block start to the end and to the next block, y with a stride.
      const int64_t block_bytes = 16 * cpu::GemvI8FixedStride(s.k);
      for (int64_t j0 = 0; j0 < s.n; j0 += 16) {
        for (const int64_t j1 : {std::min(s.n, j0 + 16), s.n}) {
          const int64_t r = j1 - j0, ldy = r + 3;
          std::vector<float> y(s.m * ldy, -7.0f);
          t.gemv_i8_amx_rows(scratch, wa.data() + j0 / 16 * block_bytes, scales.data() + j0,
                             bias.data() + j0, y.data(), ldy, s.m, r, s.k);
          int64_t differing = 0, touched = 0;
          for (int64_t i = 0; i < s.m; ++i) {
            for (int64_t j = 0; j < r; ++j) differing += y[i * ldy + j] != want[i * s.n + j0 + j];
            for (int64_t j = r; j < ldy; ++j) touched += y[i * ldy + j] != -7.0f;
          }
          CHECK(differing == 0);
          CHECK(touched == 0);
        }
      }
      // The tile GEMM's B tiles from either layout, on a 32-row multiple.
      const int64_t rows = std::min<int64_t>(s.n, 32);
      std::vector<uint16_t> from_rows(static_cast<size_t>(cpu::GemmAmxWeightElems(rows, s.k)), 1),
          from_amx(from_rows.size(), 2);
      t.widen_i8_rows_amx(qb.data(), s.k, 0, rows, from_rows.data());
      t.widen_i8_amx_bf16(wa.data(), s.k, 0, rows, from_amx.data());
      CHECK(from_rows == from_amx);
      std::vector<float> bad(x);
      bad[s.k / 2] = std::numeric_limits<float>::quiet_NaN();
      CHECK_FALSE(t.gemv_i8_amx_quantize(bad.data(), s.m, s.k, scratch));
    }
  }
}

// An int8 Linear's rows that the fixed-point kernels do not take (zero, tiny, huge and
// non-finite x), through Forward (m <= 8) and the prepared-row ranges, in whichever layout this
// CPU keeps (4-row blocks, or the AMX-INT8 tiles with their scalar f32 fallback): the f32
// definition on the dequantized weights within 1e-5, the bias for a zero row, NaN for a NaN row.
// Where the selected kernels run the rows on int16 x blocks (gemv_i8_i16_rows, AVX2), x is
// within max|x_b| / 65534 of itself per 128-channel block: ~1.5e-5 of these outputs' scale, so
// 1e-4 there (the definition itself is checked bit for bit in gemm_i8_i16_test.cpp).
TEST_CASE("Linear: int8 rows outside the fixed-point kernel's range") {
  const double tol = cpu::Kernels().gemv_i8_i16_rows != nullptr ? 1e-4 : 1e-5;
  const int64_t n = 37, k = 200;
  auto w = RandomVector(n * k, 61), bias = RandomVector(n, 62);
  auto lin = cpu::Linear::Create(w.data(), bias.data(), n, k, cpu::WeightType::kInt8);
  REQUIRE(lin.ok());
  std::vector<int8_t> q;
  std::vector<float> scales;
  QuantizeRows(w, n, k, &q, &scales);
  std::vector<float> wd(n * k);
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t c = 0; c < k; ++c) wd[j * k + c] = scales[j] * q[j * k + c];
  }
  for (float scale : {0.0f, 1e-30f, 1e30f, std::numeric_limits<float>::quiet_NaN()}) {
    CAPTURE(scale);
    auto x = RandomVector(2 * k, 63);
    for (int64_t c = 0; c < k; ++c) x[c] *= scale;  // row 0 scaled; row 1 as it is
    if (std::isnan(scale)) x = RandomVector(2 * k, 63), x[5] = scale;
    std::vector<float> y(2 * n, -7.0f), y_ref(2 * n);
    REQUIRE((*lin)->Forward(x.data(), 2, y.data()).ok());
    REQUIRE(ref::LinearForward(x.data(), wd.data(), bias.data(), y_ref.data(), 2, n, k).ok());
    std::vector<float> part(n, -7.0f);
    auto row = (*lin)->PrepareRow(x.data());
    REQUIRE(row.ok());
    REQUIRE((*lin)->ForwardPreparedRows(*row, 0, 5, part.data()).ok());
    REQUIRE((*lin)->ForwardPreparedRows(*row, 5, n, part.data()).ok());
    if (std::isnan(scale)) {
      for (int64_t j = 0; j < n; ++j) {
        CHECK(std::isnan(y[j]));
        CHECK(std::isnan(part[j]));
      }
    } else {
      CheckClose(std::span<const float>(y.data(), n), std::span<const float>(y_ref.data(), n), tol,
                 "row 0 (scaled)");
      CheckClose(std::span<const float>(part.data(), n), std::span<const float>(y_ref.data(), n),
                 tol, "row 0 by ranges");
      if (scale == 0.0f) {
        for (int64_t j = 0; j < n; ++j) CHECK(y[j] == bias[j]);
      }
    }
    CheckClose(std::span<const float>(y.data() + n, n), std::span<const float>(y_ref.data() + n, n),
               tol, "row 1");
  }
}

}  // namespace
}  // namespace cosyflow::kernels
