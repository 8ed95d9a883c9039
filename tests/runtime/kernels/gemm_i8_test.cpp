// The many-row int8 product on vdpbf16ps (kernel_table.h: pack_gemm_bf16_x, gemm_i8_bf16) against
// its definition, and cpu::Linear's int8 weights on it against the other variants' paths.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/cpu_isa.h"
#include "runtime/dtype.h"
#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/cpu/linear.h"
#include "tests/runtime/kernels/kernel_test_util.h"

namespace cosyflow::kernels {
namespace {

using test::CheckClose;
using test::RandomVector;

constexpr double kF32Tol = 1e-5;

struct Int8Weights {
  std::vector<int8_t> q;
  std::vector<float> scales;
};

// Symmetric per-row int8 of random weights (the values the kernel sees; any int8 works).
Int8Weights RandomInt8(int64_t n, int64_t k, uint32_t seed) {
  auto w = RandomVector(n * k, seed, -1.0f, 1.0f);
  auto s = RandomVector(n, seed + 1, 0.001f, 0.02f);
  Int8Weights out{std::vector<int8_t>(n * k), s};
  for (int64_t i = 0; i < n * k; ++i) {
    out.q[i] = static_cast<int8_t>(std::lround(w[i] * 127.0f));
  }
  out.q[0] = -128;  // the one value without a positive twin
  return out;
}

// y[i][j] = scales[j] * sum_c bf16(x[i][c]) * q[j][c] + bias[j], in double.
std::vector<float> Definition(const std::vector<float>& x, const Int8Weights& w,
                              const std::vector<float>& bias, int64_t m, int64_t n, int64_t k) {
  std::vector<float> y(m * n);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t c = 0; c < k; ++c) {
        s += static_cast<double>(BF16ToF32(F32ToBF16(x[i * k + c]))) * w.q[j * k + c];
      }
      y[i * n + j] = static_cast<float>(s * w.scales[j] + (bias.empty() ? 0.0 : bias[j]));
    }
  }
  return y;
}

// The variants of this CPU whose table has the kernel (none without AVX512_BF16).
std::vector<const cpu::KernelTable*> TablesWithGemm() {
  std::vector<const cpu::KernelTable*> out;
  for (int v = 0; v <= static_cast<int>(DetectedCpuIsa()); ++v) {
    auto t = cpu::KernelsFor(CpuIsa(v));
    REQUIRE(t.ok());
    if ((*t)->gemm_i8_bf16 != nullptr) out.push_back(*t);
  }
  const bool expected = DetectedCpuIsa() == CpuIsa::kAvx512 && DetectedCpuFeatures().avx512_bf16;
  CHECK(out.size() == (expected ? 1u : 0u));
  if (out.empty()) MESSAGE("no AVX512_BF16 on this CPU: gemm_i8_bf16 is not built into any table");
  return out;
}

TEST_CASE("KernelTable gemm_i8_bf16: packed x follows GemmBf16XIndex") {
  for (const cpu::KernelTable* kt : TablesWithGemm()) {
    // Ragged: m not a multiple of 16 (zero rows), odd k (the last pair's high half is +0), the
    // last tile 16 / 32 / 48 wide, pairs not a multiple of 16, rows packed in two calls.
    for (auto [m, k] :
         {std::pair<int64_t, int64_t>{5, 33}, {37, 64}, {126, 896}, {130, 71}, {48, 2}, {96, 1}}) {
      CAPTURE(m);
      CAPTURE(k);
      const int64_t pairs = (k + 1) / 2, mpad = (m + 15) / 16 * 16;
      auto x = RandomVector(m * (k + 3), static_cast<uint32_t>(m * 7 + k));
      x[0] = -0.0f;
      std::vector<uint32_t> xv(cpu::GemmBf16XWords(m, k), 0xdeadbeefu);
      const int64_t split = mpad > 16 ? 16 : mpad;
      kt->pack_gemm_bf16_x(x.data(), k + 3, m, k, 0, split, xv.data());
      kt->pack_gemm_bf16_x(x.data(), k + 3, m, k, split, mpad, xv.data());
      int64_t wrong = 0;
      for (int64_t i = 0; i < mpad; ++i) {
        for (int64_t p = 0; p < pairs; ++p) {
          auto half = [&](int64_t c) -> uint32_t {
            return i < m && c < k ? F32ToBF16(x[i * (k + 3) + c]) : 0u;
          };
          const uint32_t want = half(2 * p) | half(2 * p + 1) << 16;
          wrong += xv[cpu::GemmBf16XIndex(i, p, mpad, pairs)] != want;
        }
      }
      CHECK(wrong == 0);
    }
  }
}

TEST_CASE("KernelTable gemm_i8_bf16: equals the definition on ragged shapes and row ranges") {
  for (const cpu::KernelTable* kt : TablesWithGemm()) {
    // k past one 512-pair chunk (partial sums), odd k, n not a multiple of the 8-row block,
    // m ending in 16-, 32- and 48-wide tiles, one column.
    struct Shape {
      int64_t m, n, k;
    };
    for (const Shape s : {Shape{126, 136, 896}, Shape{130, 40, 4864}, Shape{5, 13, 33},
                          Shape{1, 9, 1025}, Shape{96, 24, 1026}, Shape{200, 17, 7}}) {
      const std::string what = fmt::format("m {} n {} k {}", s.m, s.n, s.k);
      CAPTURE(what);
      auto w = RandomInt8(s.n, s.k, static_cast<uint32_t>(s.n + s.k));
      auto x = RandomVector(s.m * s.k, static_cast<uint32_t>(s.m), -2.0f, 2.0f);
      auto bias = RandomVector(s.n, 5);
      const auto y_def = Definition(x, w, bias, s.m, s.n, s.k);
      std::vector<uint32_t> xv(cpu::GemmBf16XWords(s.m, s.k));
      kt->pack_gemm_bf16_x(x.data(), s.k, s.m, s.k, 0, (s.m + 15) / 16 * 16, xv.data());
      // W rows in three ranges, the middle one not block-aligned at either end (7 rows: a partial
      // row mask). Scratch starts as 0xff bytes (NaN in bf16): nothing may read it unwritten.
      const int64_t cuts[] = {0, std::min<int64_t>(3, s.n), std::min<int64_t>(10, s.n), s.n};
      std::vector<float> y(s.m * s.n, 1e30f);
      for (int c = 0; c < 3; ++c) {
        const int64_t j0 = cuts[c], j1 = cuts[c + 1];
        if (j0 == j1) continue;
        std::vector<char> scratch(cpu::GemmI8Bf16ScratchBytes(s.m, s.k, j1 - j0), char(0xff));
        kt->gemm_i8_bf16(xv.data(), s.m, s.k, w.q.data(), w.scales.data(), bias.data(), j0, j1,
                         y.data(), s.n, scratch.data());
        if (c == 1) {  // nothing outside the range written
          int64_t outside = 0;
          for (int64_t i = 0; i < s.m; ++i) {
            for (int64_t j = j1; j < s.n; ++j) outside += y[i * s.n + j] != 1e30f;
          }
          CHECK(outside == 0);
        }
      }
      CheckClose(y, y_def, kF32Tol, what);
      // Without bias, the same product minus it.
      std::vector<float> y0(s.m * s.n);
      std::vector<char> scratch(cpu::GemmI8Bf16ScratchBytes(s.m, s.k, s.n), char(0xff));
      kt->gemm_i8_bf16(xv.data(), s.m, s.k, w.q.data(), w.scales.data(), nullptr, 0, s.n, y0.data(),
                       s.n, scratch.data());
      CheckClose(y0, Definition(x, w, {}, s.m, s.n, s.k), kF32Tol, what + ", no bias");
    }
  }
}

// Linear's int8 weights for many rows: the vdpbf16ps tile where this CPU has it, oneDNN's bf16
// or f32 matmul on widened tiles in the other variants. Each equals the definition (x rounded
// to bf16, the exact int8 values, the row scale after the sum), across the 192-row groups of x.
TEST_CASE("Linear int8: every variant's many-row path equals the bf16-x definition") {
  struct Restore {
    ~Restore() { (void)cpu::UseKernelIsa(SelectedCpuIsa()); }
  } restore;
  const int64_t m = 300, n = 100, k = 1101;  // two row groups; odd k
  auto wf = RandomVector(n * k, 71, -0.3f, 0.3f), bias = RandomVector(n, 72);
  auto x = RandomVector(m * k, 73);
  // The layer's own quantization: scale = max|W[j]| / 127, round to nearest.
  Int8Weights w{std::vector<int8_t>(n * k), std::vector<float>(n)};
  for (int64_t j = 0; j < n; ++j) {
    float mx = 0.0f;
    for (int64_t c = 0; c < k; ++c) mx = std::max(mx, std::fabs(wf[j * k + c]));
    w.scales[j] = mx / 127.0f;
    for (int64_t c = 0; c < k; ++c) {
      const float q = std::nearbyint(wf[j * k + c] / w.scales[j]);
      w.q[j * k + c] = static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f));
    }
  }
  const auto y_def = Definition(x, w, bias, m, n, k);
  for (int v = 0; v <= static_cast<int>(DetectedCpuIsa()); ++v) {
    REQUIRE(cpu::UseKernelIsa(CpuIsa(v)).ok());
    auto lin = cpu::Linear::Create(wf.data(), bias.data(), n, k, cpu::WeightType::kInt8);
    REQUIRE(lin.ok());
    std::vector<float> y(m * n);
    REQUIRE((*lin)->Forward(x.data(), m, y.data()).ok());
    CheckClose(y, y_def, kF32Tol, fmt::format("variant {}", CpuIsaName(CpuIsa(v))));
  }
}

}  // namespace
}  // namespace cosyflow::kernels
