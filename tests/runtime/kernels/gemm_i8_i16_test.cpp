// int8 weights at many rows on int16 products (kernel_table.h: pack_i8_i16_x, gemm_i8_i16, the
// AVX-512 and AVX2 variants) against their definition, bit for bit, and their error against the
// f32 product within the bound the 16-bit blocks of x allow.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "runtime/cpu_isa.h"
#include "runtime/kernels/cpu/i8_rows.h"
#include "runtime/kernels/cpu/kernel_table.h"
#include "tests/runtime/kernels/kernel_test_util.h"

namespace cosyflow::kernels {
namespace {

using test::RandomVector;

// The variants of this CPU that have the kernels (every vector variant), each with its kernel
// and its vpmaddwd one (the same where the CPU has no AVX512_VNNI).
struct Variant {
  const cpu::KernelTable* t;
  decltype(cpu::KernelTable::gemm_i8_i16) gemm;
  bool madd;
};
std::vector<Variant> Variants() {
  std::vector<Variant> out;
  for (int v = 0; v <= static_cast<int>(DetectedCpuIsa()); ++v) {
    auto t = cpu::KernelsFor(CpuIsa(v));
    REQUIRE(t.ok());
    const cpu::KernelTable& kt = **t;
    const bool want = CpuIsa(v) != CpuIsa::kScalar;
    CHECK((kt.gemm_i8_i16 != nullptr) == want);
    CHECK((kt.pack_i8_i16_x != nullptr) == want);
    CHECK((kt.gemm_i8_i16_madd != nullptr) == want);
    if (!want) continue;
    out.push_back({&kt, kt.gemm_i8_i16, false});
    if (kt.gemm_i8_i16_madd != kt.gemm_i8_i16) out.push_back({&kt, kt.gemm_i8_i16_madd, true});
  }
  return out;
}

// x's blocks as the definition quantizes them: s = max|x| / 32767 over kI16Block channels,
// q = x (32767 / max|x|) rounded to nearest even; zero block: s 0; NaN or infinity: s NaN, q 0.
struct QuantizedX {
  std::vector<int16_t> q;  // [m, k]
  std::vector<float> s;    // [m, blocks]
  int64_t blocks = 0;
};
QuantizedX Quantize(const std::vector<float>& x, int64_t m, int64_t k) {
  QuantizedX out;
  out.blocks = (k + cpu::kI16Block - 1) / cpu::kI16Block;
  out.q.assign(static_cast<size_t>(m * k), 0);
  out.s.assign(static_cast<size_t>(m * out.blocks), 0.0f);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t b = 0; b < out.blocks; ++b) {
      const int64_t c0 = b * cpu::kI16Block, c1 = std::min(k, c0 + cpu::kI16Block);
      float a = 0.0f;
      bool finite = true;
      for (int64_t c = c0; c < c1; ++c) {
        finite = finite && std::isfinite(x[i * k + c]);
        a = std::max(a, std::fabs(x[i * k + c]));
      }
      float& s = out.s[i * out.blocks + b];
      if (!finite) {
        s = std::numeric_limits<float>::quiet_NaN();
        continue;
      }
      if (a == 0.0f) continue;
      const float pre = a < 0x1p-64f ? 0x1p64f : 1.0f;
      const float inv = 32767.0f / (a * pre);
      for (int64_t c = c0; c < c1; ++c) {
        out.q[i * k + c] = static_cast<int16_t>(
            std::clamp(std::nearbyint(x[i * k + c] * pre * inv), -32767.0f, 32767.0f));
      }
      s = a / 32767.0f;
    }
  }
  return out;
}

// y[i][j] = fma(acc, scale[j], bias[j]), acc over the blocks in order: s_0 d_0, then
// fma(d_b, s_b, acc), d_b the exact block sum (checked to fit int32) converted to f32.
std::vector<float> Definition(const QuantizedX& xq, const std::vector<int8_t>& w,
                              const std::vector<float>& scales, const std::vector<float>& bias,
                              int64_t m, int64_t n, int64_t k) {
  std::vector<float> y(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0.0f;
      for (int64_t b = 0; b < xq.blocks; ++b) {
        int64_t sum = 0;
        for (int64_t c = b * cpu::kI16Block; c < std::min(k, (b + 1) * cpu::kI16Block); ++c) {
          sum += int64_t{xq.q[i * k + c]} * w[j * k + c];
        }
        REQUIRE(std::llabs(sum) <= std::numeric_limits<int32_t>::max());
        const float d = static_cast<float>(sum), s = xq.s[i * xq.blocks + b];
        acc = b == 0 ? s * d : std::fma(d, s, acc);
      }
      y[i * n + j] = std::fma(acc, scales[j], bias.empty() ? 0.0f : bias[j]);
    }
  }
  return y;
}

struct Layer {
  std::vector<int8_t> q;     // [n, k] row-major
  std::vector<int8_t> rows;  // the i8_rows.h layout
  std::vector<float> scales;
};
Layer RandomLayer(int64_t n, int64_t k, uint32_t seed) {
  auto w = RandomVector(n * k, seed, -1.0f, 1.0f);
  Layer l{std::vector<int8_t>(n * k), {}, RandomVector(n, seed + 1, 0.001f, 0.02f)};
  for (int64_t e = 0; e < n * k; ++e) {
    // every 9th at an extreme (-128 once: the int8 value without a positive twin)
    l.q[e] = static_cast<int8_t>(e == 0 ? -128 : e % 9 == 0 ? 127 : std::lround(w[e] * 127.0f));
  }
  l.rows.assign(static_cast<size_t>(cpu::I8RowsBytes(n, k)), 0);
  cpu::PackI8Rows(l.q.data(), n, k, l.rows.data());
  return l;
}

// Runs one variant over W rows [j0, j1) (the rest of y stays at its sentinel), x packed in
// pieces as the Linear's team packs it.
std::vector<float> Run(const Variant& v, const std::vector<float>& x, const Layer& l,
                       const std::vector<float>& bias, int64_t m, int64_t n, int64_t k, int64_t j0,
                       int64_t j1) {
  const cpu::GemmI8I16X lay = cpu::GemmI8I16XLayout(m, k);
  std::vector<char> xv(static_cast<size_t>(lay.bytes), 0x5a);
  const int64_t cut = std::min<int64_t>(m, 16);
  v.t->pack_i8_i16_x(x.data(), k, m, k, 0, cut, xv.data());
  v.t->pack_i8_i16_x(x.data(), k, m, k, cut, (m + 15) / 16 * 16, xv.data());  // past m: ignored
  std::vector<char> scratch(static_cast<size_t>(cpu::GemmI8I16ScratchBytes(k)), 0x33);
  std::vector<float> y(static_cast<size_t>(m * n), -7.0f);
  v.gemm(xv.data(), m, k, l.rows.data(), l.scales.data(), bias.empty() ? nullptr : bias.data(), j0,
         j1, y.data(), n, scratch.data());
  return y;
}

// Ragged m (6-row blocks and every remainder), n not a multiple of the 16-row panels, odd k, k
// inside one block and across several, W row ranges starting at any multiple of 4: the
// definition bit for bit, columns outside the range untouched.
TEST_CASE("gemm_i8_i16: every vector variant equals the definition bit for bit") {
  for (const auto& [m, n, k, j0, j1] :
       {std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>{13, 37, 301, 0, 37},
        {6, 16, 896, 0, 16},
        {1, 5, 1, 0, 5},
        {11, 48, 255, 4, 44},
        {23, 40, 1101, 8, 40},
        {9, 20, 130, 12, 20},
        {100, 70, 4864, 16, 70},
        {2, 17, 64, 0, 17}}) {
    CAPTURE(fmt::format("m {} n {} k {} rows [{}, {})", m, n, k, j0, j1));
    const Layer l = RandomLayer(n, k, 41);
    auto x = RandomVector(m * k, 42, -2.0f, 2.0f);
    // a block at the same magnitude throughout, one tiny block, one zero block
    for (int64_t c = 0; c < std::min<int64_t>(k, cpu::kI16Block); ++c) x[c] = c % 2 ? 1.5f : -1.5f;
    if (m > 1) {
      for (int64_t c = 0; c < std::min<int64_t>(k, cpu::kI16Block); ++c) x[k + c] *= 1e-30f;
    }
    if (m > 2 && k > cpu::kI16Block) {
      for (int64_t c = cpu::kI16Block; c < std::min<int64_t>(k, 2 * cpu::kI16Block); ++c) {
        x[2 * k + c] = 0.0f;
      }
    }
    const auto bias = RandomVector(n, 43);
    const std::vector<float> want = Definition(Quantize(x, m, k), l.q, l.scales, bias, m, n, k);
    for (const Variant& v : Variants()) {
      const std::string name = v.t->name;
      CAPTURE(name);
      CAPTURE(v.madd);
      const std::vector<float> y = Run(v, x, l, bias, m, n, k, j0, j1);
      int64_t differ = 0, touched = 0;
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          if (j >= j0 && j < j1) {
            differ += y[i * n + j] != want[i * n + j];
          } else {
            touched += y[i * n + j] != -7.0f;
          }
        }
      }
      CHECK(differ == 0);
      CHECK(touched == 0);
    }
  }
}

// A block holding NaN or infinity makes its row's outputs NaN (only that row's); the other rows
// are unaffected.
TEST_CASE("gemm_i8_i16: NaN and infinity reach exactly their rows") {
  const int64_t m = 8, n = 20, k = 300;
  const Layer l = RandomLayer(n, k, 51);
  auto x = RandomVector(m * k, 52);
  x[2 * k + 200] = std::numeric_limits<float>::quiet_NaN();
  x[5 * k + 3] = -std::numeric_limits<float>::infinity();
  const std::vector<float> bias;
  const std::vector<float> want = Definition(Quantize(x, m, k), l.q, l.scales, bias, m, n, k);
  for (const Variant& v : Variants()) {
    const std::string name = v.t->name;
    CAPTURE(name);
    CAPTURE(v.madd);
    const std::vector<float> y = Run(v, x, l, bias, m, n, k, 0, n);
    for (int64_t i = 0; i < m; ++i) {
      CAPTURE(i);
      int64_t nan = 0, differ = 0;
      for (int64_t j = 0; j < n; ++j) {
        nan += std::isnan(y[i * n + j]);
        differ += !std::isnan(y[i * n + j]) && y[i * n + j] != want[i * n + j];
      }
      CHECK(nan == (i == 2 || i == 5 ? n : 0));
      CHECK(differ == 0);
    }
  }
}

// Against the f32 product of x and the dequantized W: each x value is off by at most half its
// block's step (max|x| / 65534), so |y - y_f32| <= scale_j sum_b (max_b / 65534) sum |q_j| over
// the block, plus the f32 sums' rounding. Rows whose magnitudes differ by 1000x between blocks
// (outlier channels) keep the small blocks' precision.
TEST_CASE("gemm_i8_i16: error against the f32 product within the quantization bound") {
  const int64_t m = 20, n = 33, k = 896;
  const Layer l = RandomLayer(n, k, 61);
  auto x = RandomVector(m * k, 62);
  for (int64_t i = 0; i < m; i += 3) x[i * k + 5] = 1000.0f;  // an outlier channel in block 0
  const std::vector<float> bias = RandomVector(n, 63);
  for (const Variant& v : Variants()) {
    const std::string name = v.t->name;
    CAPTURE(name);
    const std::vector<float> y = Run(v, x, l, bias, m, n, k, 0, n);
    int64_t over = 0;
    double worst = 0.0;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double exact = 0.0, bound = 0.0, mag = 0.0;
        for (int64_t b = 0; b * cpu::kI16Block < k; ++b) {
          double amax = 0.0, wsum = 0.0;
          for (int64_t c = b * cpu::kI16Block; c < std::min(k, (b + 1) * cpu::kI16Block); ++c) {
            exact += double{x[i * k + c]} * l.q[j * k + c];
            mag += std::fabs(double{x[i * k + c]} * l.q[j * k + c]);
            amax = std::max(amax, std::fabs(double{x[i * k + c]}));
            wsum += std::abs(l.q[j * k + c]);
          }
          bound += amax / 65534.0 * wsum;
        }
        exact = exact * l.scales[j] + bias[j];
        const double err = std::fabs(y[i * n + j] - exact);
        const double allowed = (bound + 1e-6 * mag) * l.scales[j] + 1e-6 * std::fabs(bias[j]);
        over += err > allowed;
        worst = std::max(worst, err / allowed);
      }
    }
    const std::string note =
        fmt::format("{}{}: worst error / bound {:.3f}", name, v.madd ? " (vpmaddwd)" : "", worst);
    MESSAGE(note);
    CHECK(over == 0);
  }
}

// gemv_i8_i16_rows (the decode GEMV on the same definition): set in the AVX2 variant only; on
// x packed for m <= 8 rows, any run of W rows from a 4-row block's start (the last block
// partial), y rows with a stride: the definition bit for bit (so gemm_i8_i16's bits), nothing
// outside its rows and columns written. k from 1 to 4864 (inside one 16-channel step, ragged
// last blocks, the speech LM's shapes), W at the int8 extremes, a constant block, a tiny one, a
// zero one, and a NaN / infinity block whose row alone turns NaN.
TEST_CASE("gemv_i8_i16_rows: the AVX2 variant equals the definition bit for bit") {
  int64_t ran = 0;
  for (int v = 0; v <= static_cast<int>(DetectedCpuIsa()); ++v) {
    auto t = cpu::KernelsFor(CpuIsa(v));
    REQUIRE(t.ok());
    const cpu::KernelTable& kt = **t;
    CHECK((kt.gemv_i8_i16_rows != nullptr) == (CpuIsa(v) == CpuIsa::kAvx2));
    if (kt.gemv_i8_i16_rows == nullptr) continue;
    for (const auto& [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 5, 1},
                                  {2, 9, 15},
                                  {3, 8, 16},
                                  {1, 13, 17},
                                  {4, 12, 130},
                                  {5, 21, 301},
                                  {8, 7, 64},
                                  {1, 40, 896},
                                  {7, 10, 1101},
                                  {2, 19, 4864}}) {
      CAPTURE(fmt::format("m {} n {} k {}", m, n, k));
      const Layer l = RandomLayer(n, k, 71);
      auto x = RandomVector(m * k, 72, -3.0f, 3.0f);
      for (int64_t c = 0; c < std::min<int64_t>(k, cpu::kI16Block); ++c)
        x[c] = c % 2 ? 2.5f : -2.5f;
      if (m > 1) {
        for (int64_t c = 0; c < std::min<int64_t>(k, cpu::kI16Block); ++c) x[k + c] *= 1e-30f;
      }
      if (m > 2 && k > cpu::kI16Block) {
        for (int64_t c = cpu::kI16Block; c < std::min<int64_t>(k, 2 * cpu::kI16Block); ++c) {
          x[2 * k + c] = 0.0f;
        }
      }
      if (m > 3) x[3 * k + k / 2] = std::numeric_limits<float>::quiet_NaN();
      if (m > 4) x[4 * k + k - 1] = std::numeric_limits<float>::infinity();
      const auto bias = RandomVector(n, 73);
      const cpu::GemmI8I16X lay = cpu::GemmI8I16XLayout(m, k);
      std::vector<char> xv(static_cast<size_t>(lay.bytes), 0x5a);
      kt.pack_i8_i16_x(x.data(), k, m, k, 0, m, xv.data());
      for (const bool with_bias : {true, false}) {
        CAPTURE(with_bias);
        const std::vector<float> no_bias;
        const std::vector<float>& b = with_bias ? bias : no_bias;
        const std::vector<float> want = Definition(Quantize(x, m, k), l.q, l.scales, b, m, n, k);
        for (int64_t j0 = 0; j0 < n; j0 += cpu::kI8BlockRows) {
          for (const int64_t j1 : {std::min(n, j0 + cpu::kI8BlockRows), n}) {
            const int64_t r = j1 - j0, ldy = r + 3;
            std::vector<float> y(static_cast<size_t>(m * ldy), -7.0f);
            kt.gemv_i8_i16_rows(xv.data(), m, k, l.rows.data() + cpu::I8RowOffset(j0, k),
                                l.scales.data() + j0, with_bias ? bias.data() + j0 : nullptr,
                                y.data(), ldy, r);
            int64_t differ = 0, touched = 0, nan_rows = 0;
            for (int64_t i = 0; i < m; ++i) {
              const bool bad = (i == 3 || i == 4);
              int64_t nan = 0;
              for (int64_t j = 0; j < r; ++j) {
                const float got = y[i * ldy + j], exp = want[i * n + j0 + j];
                nan += std::isnan(got);
                differ += bad ? !std::isnan(got) : got != exp;
              }
              nan_rows += nan == (bad ? r : 0);
              for (int64_t j = r; j < ldy; ++j) touched += y[i * ldy + j] != -7.0f;
            }
            CHECK(differ == 0);
            CHECK(touched == 0);
            CHECK(nan_rows == m);
            ++ran;
          }
        }
      }
    }
  }
  if (ran == 0) MESSAGE("no AVX2 variant on this CPU: gemv_i8_i16_rows not run");
}

}  // namespace
}  // namespace cosyflow::kernels
