// The many-row register-tile products (kernel_table.h: pack_gemm_bf16_x + gemm_i8_bf16 on
// vdpbf16ps, pack_gemm_f32_x + gemm_f32) against their definitions, and cpu::Linear's int8 and
// f32 weights on them against the other variants' paths.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <dnnl.hpp>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "runtime/cpu_isa.h"
#include "runtime/dtype.h"
#include "runtime/kernels/cpu/activation.h"
#include "runtime/kernels/cpu/gemv.h"
#include "runtime/kernels/cpu/i8_rows.h"
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

// y[i][j] = scales[j] * sum over 128-channel blocks b of s_ib (q_ib . W[j]) + bias[j], in double:
// x_i's block b as 16-bit integers q_ib = x (32767 / max|x|) rounded to nearest even, s_ib =
// max|x| / 32767 (gemm_i8_i16's definition up to the f32 roundings of its block sums).
std::vector<float> DefinitionI16(const std::vector<float>& x, const Int8Weights& w,
                                 const std::vector<float>& bias, int64_t m, int64_t n, int64_t k) {
  std::vector<float> y(m * n);
  std::vector<float> xr(k);  // x_i as the integers times their scales
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t c0 = 0; c0 < k; c0 += 128) {
      const int64_t c1 = std::min(k, c0 + 128);
      float a = 0.0f;
      for (int64_t c = c0; c < c1; ++c) a = std::max(a, std::fabs(x[i * k + c]));
      const float inv = a > 0.0f ? 32767.0f / a : 0.0f;
      for (int64_t c = c0; c < c1; ++c) {
        xr[c] = static_cast<float>(std::nearbyint(x[i * k + c] * inv) * (double{a} / 32767.0));
      }
    }
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t c = 0; c < k; ++c) s += double{xr[c]} * w.q[j * k + c];
      y[i * n + j] = static_cast<float>(s * w.scales[j] + (bias.empty() ? 0.0 : bias[j]));
    }
  }
  return y;
}

// The tile kernels: x units and the weight type.
enum class TileKind { kI8Bf16, kF32, kI8F32, kBf16F32 };
const char* TileKindName(TileKind t) {
  switch (t) {
    case TileKind::kI8Bf16:
      return "int8 on bf16 pairs";
    case TileKind::kF32:
      return "f32";
    case TileKind::kI8F32:
      return "int8 on f32";
    case TileKind::kBf16F32:
      return "bf16 on f32";
  }
  return "?";
}
constexpr TileKind kTileKinds[] = {TileKind::kI8Bf16, TileKind::kF32, TileKind::kI8F32,
                                   TileKind::kBf16F32};
bool PairUnits(TileKind t) { return t == TileKind::kI8Bf16; }
// x rounded to bf16 before the product (every kind but f32).
bool RoundsX(TileKind t) { return t != TileKind::kF32; }

// The tables of this CPU's variants that have the kind's tile: the int8 pair kernel in the
// AVX-512 variant with AVX512_BF16, f32 and int8 on f32 units in the AVX-512 and AVX2 variants,
// bf16 on f32 units in the AVX2 variant.
std::vector<const cpu::KernelTable*> TablesWithTiles(TileKind kind) {
  std::vector<const cpu::KernelTable*> out;
  size_t expected = 0;
  for (int v = 0; v <= static_cast<int>(DetectedCpuIsa()); ++v) {
    auto t = cpu::KernelsFor(CpuIsa(v));
    REQUIRE(t.ok());
    const cpu::KernelTable& kt = **t;
    bool has = false, want = false;
    switch (kind) {
      case TileKind::kI8Bf16:
        has = kt.gemm_i8_bf16 != nullptr;
        CHECK(has == (kt.pack_gemm_bf16_x != nullptr));
        want = CpuIsa(v) == CpuIsa::kAvx512 && DetectedCpuFeatures().avx512_bf16;
        break;
      case TileKind::kF32:
        has = kt.gemm_f32 != nullptr;
        CHECK(has == (kt.pack_gemm_f32_x != nullptr));
        want = CpuIsa(v) == CpuIsa::kAvx512 || CpuIsa(v) == CpuIsa::kAvx2;
        break;
      case TileKind::kI8F32:
        has = kt.gemm_i8_f32 != nullptr;
        if (has) CHECK((kt.pack_gemm_f32_x != nullptr));
        want = CpuIsa(v) == CpuIsa::kAvx512 || CpuIsa(v) == CpuIsa::kAvx2;
        break;
      case TileKind::kBf16F32:
        has = kt.gemm_bf16_f32 != nullptr;
        if (has) CHECK((kt.pack_gemm_f32_x != nullptr));
        want = CpuIsa(v) == CpuIsa::kAvx2;
        break;
    }
    CHECK(has == want);
    expected += want;
    if (has) out.push_back(&kt);
  }
  CHECK(out.size() == expected);
  if (out.empty()) MESSAGE("this CPU's variants have no ", TileKindName(kind), " gemm tile");
  return out;
}

// Ragged: m not a multiple of 16 (zero rows), odd k, the last tile 16 / 32 / 48 wide, units not a
// multiple of 16, rows packed in two calls; every word against its definition (the f32 pack
// with and without the bf16 rounding).
TEST_CASE("KernelTable gemm tiles: packed x follows GemmXIndex") {
  for (TileKind kind : {TileKind::kI8Bf16, TileKind::kF32}) {
    for (const cpu::KernelTable* kt : TablesWithTiles(kind)) {
      for (bool round : {false, true}) {
        if (PairUnits(kind) && round) continue;
        for (auto [m, k] : {std::pair<int64_t, int64_t>{5, 33},
                            {37, 64},
                            {126, 896},
                            {130, 71},
                            {48, 2},
                            {96, 1}}) {
          const std::string what =
              fmt::format("{}{} m {} k {}", PairUnits(kind) ? "bf16 pairs" : "f32",
                          round ? " rounded to bf16" : "", m, k);
          CAPTURE(what);
          const int64_t units = PairUnits(kind) ? (k + 1) / 2 : k, mpad = (m + 15) / 16 * 16;
          auto x = RandomVector(m * (k + 3), static_cast<uint32_t>(m * 7 + k));
          x[0] = -0.0f;
          x[1] = 1.00390625f;  // a bf16 tie (rounds to even: 1.0)
          std::vector<uint32_t> xv(cpu::GemmXWords(m, units), 0xdeadbeefu);
          const int64_t split = mpad > 16 ? 16 : mpad;
          for (auto [i0, i1] : {std::pair<int64_t, int64_t>{0, split}, {split, mpad}}) {
            if (PairUnits(kind)) {
              kt->pack_gemm_bf16_x(x.data(), k + 3, m, k, i0, i1, xv.data());
            } else {
              kt->pack_gemm_f32_x(x.data(), k + 3, m, k, i0, i1, round,
                                  reinterpret_cast<float*>(xv.data()));
            }
          }
          int64_t wrong = 0;
          for (int64_t i = 0; i < mpad; ++i) {
            auto at = [&](int64_t c) { return i < m && c < k ? x[i * (k + 3) + c] : 0.0f; };
            for (int64_t u = 0; u < units; ++u) {
              uint32_t want;
              if (PairUnits(kind)) {
                want = uint32_t{F32ToBF16(at(2 * u))} | uint32_t{F32ToBF16(at(2 * u + 1))} << 16;
              } else {
                const float f = round ? BF16ToF32(F32ToBF16(at(u))) : at(u);
                std::memcpy(&want, &f, 4);
              }
              wrong += xv[cpu::GemmXIndex(i, u, mpad, units)] != want;
            }
          }
          CHECK(wrong == 0);
        }
      }
    }
  }
}

// y = x W^T + bias in double, f32 x against f32 W (the callers round x and W as the kind does).
std::vector<float> DefinitionF32(const std::vector<float>& x, const std::vector<float>& w,
                                 const std::vector<float>& bias, int64_t m, int64_t n, int64_t k) {
  std::vector<float> y(m * n);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t c = 0; c < k; ++c) s += static_cast<double>(x[i * k + c]) * w[j * k + c];
      y[i * n + j] = static_cast<float>(s + (bias.empty() ? 0.0 : bias[j]));
    }
  }
  return y;
}

std::vector<float> RoundedBf16(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = BF16ToF32(F32ToBF16(v[i]));
  return out;
}

// k past one 512-unit chunk (partial sums), odd k, n not a multiple of the 8-row block, m ending
// in 16-, 32- and 48-wide tiles, one column; W rows in three ranges, the middle one not
// block-aligned at either end (7 rows: a partial row mask); scratch starts as 0xff bytes (NaN
// as bf16 and f32): nothing may read it unwritten.
TEST_CASE("KernelTable gemm tiles: equal the definition on ragged shapes and row ranges") {
  struct Shape {
    int64_t m, n, k;
  };
  for (TileKind kind : kTileKinds) {
    for (const cpu::KernelTable* kt : TablesWithTiles(kind)) {
      for (const Shape s :
           {Shape{126, 136, 896}, Shape{130, 40, 4864}, Shape{5, 13, 33}, Shape{1, 9, 1025},
            Shape{96, 24, 1026}, Shape{200, 17, 7}, Shape{64, 16, 513}, Shape{48, 3, 70}}) {
        const std::string what =
            fmt::format("{} m {} n {} k {}", TileKindName(kind), s.m, s.n, s.k);
        CAPTURE(what);
        const bool int8 = kind == TileKind::kI8Bf16 || kind == TileKind::kI8F32;
        const int64_t units = PairUnits(kind) ? (s.k + 1) / 2 : s.k, mpad = (s.m + 15) / 16 * 16;
        auto wi = RandomInt8(s.n, s.k, static_cast<uint32_t>(s.n + s.k));
        std::vector<int8_t> wq(static_cast<size_t>(cpu::I8RowsBytes(s.n, s.k)));
        cpu::PackI8Rows(wi.q.data(), s.n, s.k, wq.data());  // the kernel's layout
        auto wf = RandomVector(s.n * s.k, static_cast<uint32_t>(s.n + s.k), -0.5f, 0.5f);
        std::vector<uint16_t> wb(wf.size());
        for (size_t i = 0; i < wf.size(); ++i) wb[i] = F32ToBF16(wf[i]);
        auto x = RandomVector(s.m * s.k, static_cast<uint32_t>(s.m), -2.0f, 2.0f);
        auto bias = RandomVector(s.n, 5);
        std::vector<uint32_t> xv(cpu::GemmXWords(s.m, units));
        if (PairUnits(kind)) {
          kt->pack_gemm_bf16_x(x.data(), s.k, s.m, s.k, 0, mpad, xv.data());
        } else {
          kt->pack_gemm_f32_x(x.data(), s.k, s.m, s.k, 0, mpad, RoundsX(kind),
                              reinterpret_cast<float*>(xv.data()));
        }
        const auto* xf = reinterpret_cast<const float*>(xv.data());
        auto run = [&](const float* b, int64_t j0, int64_t j1, float* y) {
          std::vector<char> scratch(cpu::GemmScratchBytes(s.m, units, j1 - j0), char(0xff));
          switch (kind) {
            case TileKind::kI8Bf16:
              kt->gemm_i8_bf16(xv.data(), s.m, s.k, wq.data(), wi.scales.data(), b, j0, j1, y, s.n,
                               scratch.data());
              break;
            case TileKind::kF32:
              kt->gemm_f32(xf, s.m, s.k, wf.data(), b, j0, j1, y, s.n, scratch.data());
              break;
            case TileKind::kI8F32:
              kt->gemm_i8_f32(xf, s.m, s.k, wq.data(), wi.scales.data(), b, j0, j1, y, s.n,
                              scratch.data());
              break;
            case TileKind::kBf16F32:
              kt->gemm_bf16_f32(xf, s.m, s.k, wb.data(), b, j0, j1, y, s.n, scratch.data());
              break;
          }
        };
        auto definition = [&](const std::vector<float>& b) {
          if (int8) return Definition(x, wi, b, s.m, s.n, s.k);
          if (kind == TileKind::kBf16F32) {
            return DefinitionF32(RoundedBf16(x), RoundedBf16(wf), b, s.m, s.n, s.k);
          }
          return DefinitionF32(x, wf, b, s.m, s.n, s.k);
        };
        const int64_t cuts[] = {0, std::min<int64_t>(3, s.n), std::min<int64_t>(10, s.n), s.n};
        std::vector<float> y(s.m * s.n, 1e30f);
        for (int c = 0; c < 3; ++c) {
          const int64_t j0 = cuts[c], j1 = cuts[c + 1];
          if (j0 == j1) continue;
          run(bias.data(), j0, j1, y.data());
          if (c == 1) {  // nothing outside the range written
            int64_t outside = 0;
            for (int64_t i = 0; i < s.m; ++i) {
              for (int64_t j = j1; j < s.n; ++j) outside += y[i * s.n + j] != 1e30f;
            }
            CHECK(outside == 0);
          }
        }
        CheckClose(y, definition(bias), kF32Tol, what);
        std::vector<float> y0(s.m * s.n);
        run(nullptr, 0, s.n, y0.data());
        CheckClose(y0, definition({}), kF32Tol, what + ", no bias");
      }
    }
  }
}

// The AMX tile GEMM (kernel_table.h: pack_gemm_amx_w, pack_gemm_amx_x(_bf16), gemm_amx_bf16;
// AVX-512 variant on CPUs with AMX-BF16) against bf16(x) bf16(W)^T + bias on ragged shapes
// (m, n, k not multiples of the 16 x 16 x 32 tiles; more rows than one 256-row chunk), with each
// epilogue and bf16 output; nothing written outside [m, n]; a row's outputs the same bits
// whatever m and the row's position, on one thread and on the team.
TEST_CASE("KernelTable gemm_amx_bf16: equals the bf16 definition on ragged shapes, every output") {
  const cpu::KernelTable& kt = cpu::Kernels();
  if (kt.gemm_amx_bf16 == nullptr) {
    MESSAGE("no AMX-BF16 (or a lower variant in force): gemm_amx_bf16 not set, nothing to test");
    CHECK(!kt.pack_gemm_amx_w);
    return;
  }
  struct Shape {
    int64_t m, n, k;
  };
  uint32_t seed = 300;
  for (const Shape sh : {Shape{1, 16, 32}, Shape{5, 17, 33}, Shape{100, 80, 256},
                         Shape{37, 1536, 256}, Shape{300, 100, 1101}, Shape{650, 48, 64}}) {
    const int64_t m = sh.m, n = sh.n, k = sh.k;
    INFO("m ", m, " n ", n, " k ", k);
    auto w = RandomVector(n * k, seed++, -0.3f, 0.3f), bias = RandomVector(n, seed++);
    auto x = RandomVector(m * k, seed++);
    std::vector<uint16_t> wt(cpu::GemmAmxWeightElems(n, k)), xt(cpu::GemmAmxXElems(m, k));
    kt.pack_gemm_amx_w(w.data(), n, k, wt.data());
    // the documented layouts
    CHECK(wt[((n - 1) / 16 * cpu::GemmAmxChunks(k) + (k - 1) / 32) * 512 + ((k - 1) % 32) / 2 * 32 +
             (n - 1) % 16 * 2 + (k - 1) % 2] == F32ToBF16(w[(n - 1) * k + k - 1]));
    kt.pack_gemm_amx_x(x.data(), m, k, xt.data());
    CHECK(xt[((m - 1) / 16 * cpu::GemmAmxChunks(k) + (k - 1) / 32) * 512 + (m - 1) % 16 * 32 +
             (k - 1) % 32] == F32ToBF16(x[(m - 1) * k + k - 1]));
    std::vector<uint16_t> x16(m * k), xt16(xt.size(), 0xffff);
    for (int64_t i = 0; i < m * k; ++i) x16[i] = F32ToBF16(x[i]);
    kt.pack_gemm_amx_x_bf16(x16.data(), m, k, xt16.data());
    CHECK(xt16 == xt);

    const auto def = DefinitionF32(RoundedBf16(x), RoundedBf16(w), bias, m, n, k);
    const auto def_nobias = DefinitionF32(RoundedBf16(x), RoundedBf16(w), {}, m, n, k);
    const float kSentinel = 12345.0f;
    // y with one sentinel row after it: [m + 1, n]
    auto run = [&](const float* b, cpu::GemmEpilogue ep, const std::vector<float>& y0) {
      std::vector<float> y = y0;
      y.resize((m + 1) * n, kSentinel);
      kt.gemm_amx_bf16(xt.data(), m, k, wt.data(), n, b, y.data(), nullptr, ep);
      for (int64_t j = 0; j < n; ++j) CHECK(y[m * n + j] == kSentinel);
      y.resize(m * n);
      return y;
    };
    const std::vector<float> zeros(m * n, 0.0f);
    CheckClose(run(bias.data(), cpu::GemmEpilogue::kNone, zeros), def, kF32Tol, "bias");
    CheckClose(run(nullptr, cpu::GemmEpilogue::kNone, zeros), def_nobias, kF32Tol, "no bias");
    std::vector<float> gelu = def;
    REQUIRE(cpu::GeluErf(gelu.data(), m * n, gelu.data()).ok());
    CheckClose(run(bias.data(), cpu::GemmEpilogue::kGeluErf, zeros), gelu, kF32Tol, "gelu");
    const auto y0 = RandomVector(m * n, seed++);
    std::vector<float> acc(m * n);
    for (int64_t i = 0; i < m * n; ++i) acc[i] = y0[i] + def[i];
    CheckClose(run(bias.data(), cpu::GemmEpilogue::kAccumulate, y0), acc, kF32Tol, "accumulate");
    // bf16 output: the f32 output rounded (same bits), nothing past the last row
    const auto yf = run(bias.data(), cpu::GemmEpilogue::kGeluErf, zeros);
    std::vector<uint16_t> y16((m + 1) * n, 0x1234);
    kt.gemm_amx_bf16(xt.data(), m, k, wt.data(), n, bias.data(), nullptr, y16.data(),
                     cpu::GemmEpilogue::kGeluErf);
    int64_t bf16_mismatch = 0;
    for (int64_t i = 0; i < m * n; ++i) bf16_mismatch += y16[i] != F32ToBF16(yf[i]);
    CHECK(bf16_mismatch == 0);
    for (int64_t j = 0; j < n; ++j) CHECK(y16[m * n + j] == 0x1234);
    // row independence: rows 0 and m - 1 alone give the same bits; one thread the same as the team
    const auto full = run(bias.data(), cpu::GemmEpilogue::kNone, zeros);
    for (int64_t i : {int64_t{0}, m - 1}) {
      std::vector<uint16_t> xt1(cpu::GemmAmxXElems(1, k));
      kt.pack_gemm_amx_x(x.data() + i * k, 1, k, xt1.data());
      std::vector<float> y1(n);
      kt.gemm_amx_bf16(xt1.data(), 1, k, wt.data(), n, bias.data(), y1.data(), nullptr,
                       cpu::GemmEpilogue::kNone);
      CHECK(std::memcmp(y1.data(), full.data() + i * n, n * sizeof(float)) == 0);
    }
    std::vector<float> one(m * n);
#pragma omp parallel num_threads(2)
    {
#pragma omp single
      kt.gemm_amx_bf16(xt.data(), m, k, wt.data(), n, bias.data(), one.data(), nullptr,
                       cpu::GemmEpilogue::kNone);
    }
    CHECK(std::memcmp(one.data(), full.data(), m * n * sizeof(float)) == 0);
  }
}

// int8 W on the AMX tile GEMM (kernel_table.h: widen_i8_rows_amx, gemm_amx_bf16_scaled): the
// widened B tiles of any row range equal pack_gemm_amx_w of the same int8 values, the rows past
// the range zero; the scaled product equals the int8 definition and leaves the columns between
// the output rows (ldy > n) alone.
TEST_CASE("KernelTable widen_i8_rows_amx + gemm_amx_bf16_scaled: the int8 definition") {
  const cpu::KernelTable& kt = cpu::Kernels();
  if (kt.widen_i8_rows_amx == nullptr) {
    MESSAGE("no AMX-BF16 (or a lower variant in force): widen_i8_rows_amx not set");
    CHECK(!kt.gemm_amx_bf16_scaled);
    return;
  }
  uint32_t seed = 500;
  for (const auto& [n, k] :
       {std::pair<int64_t, int64_t>{40, 96}, {100, 1101}, {16, 32}, {33, 65}}) {
    const Int8Weights w = RandomInt8(n, k, seed++);
    std::vector<int8_t> rows_layout(cpu::I8RowsBytes(n, k));
    cpu::PackI8Rows(w.q.data(), n, k, rows_layout.data());
    std::vector<float> qf(w.q.begin(), w.q.end());
    for (const auto& [j0, rows] : {std::pair<int64_t, int64_t>{0, n}, {16, n - 16}, {0, 16}}) {
      if (rows <= 0 || j0 + rows > n) continue;
      INFO("n ", n, " k ", k, " rows ", j0, " + ", rows);
      std::vector<uint16_t> got(cpu::GemmAmxWeightElems(rows, k), 0x7777),
          want(cpu::GemmAmxWeightElems(rows, k));
      kt.widen_i8_rows_amx(rows_layout.data(), k, j0, rows, got.data());
      kt.pack_gemm_amx_w(qf.data() + j0 * k, rows, k, want.data());
      int64_t differ = 0;
      for (size_t i = 0; i < got.size(); ++i) differ += got[i] != want[i];
      CHECK(differ == 0);
    }
    for (int64_t m : {1, 9, 100}) {
      INFO("n ", n, " k ", k, " m ", m);
      auto x = RandomVector(m * k, seed++);
      auto bias = RandomVector(n, seed++);
      std::vector<uint16_t> xt(cpu::GemmAmxXElems(m, k)), wt(cpu::GemmAmxWeightElems(n, k));
      kt.pack_gemm_amx_x(x.data(), m, k, xt.data());
      kt.widen_i8_rows_amx(rows_layout.data(), k, 0, n, wt.data());
      const int64_t ldy = n + 5;
      const float kSentinel = -777.0f;
      std::vector<float> y(m * ldy, kSentinel);
      kt.gemm_amx_bf16_scaled(xt.data(), m, k, wt.data(), n, w.scales.data(), bias.data(), y.data(),
                              ldy);
      std::vector<float> got(m * n);
      int64_t touched = 0;
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < ldy; ++j) {
          if (j < n)
            got[i * n + j] = y[i * ldy + j];
          else
            touched += y[i * ldy + j] != kSentinel;
        }
      }
      CHECK(touched == 0);
      CheckClose(got, Definition(x, w, bias, m, n, k), kF32Tol, "scaled int8 product");
    }
  }
}

// A Linear of weight type wt made from w ([n, k] f32), run at m = 300 / 9 / 40 under every
// variant of this CPU, against y_def ([300, n]), or y_def_i16 where the variant runs int8 on
// int16 products (gemm_i8_i16).
void CheckLinearVariants(cpu::WeightType wt, const std::vector<float>& w,
                         const std::vector<float>& bias, const std::vector<float>& x,
                         const std::vector<float>& y_def, int64_t n, int64_t k,
                         const std::vector<float>* y_def_i16 = nullptr) {
  struct Restore {
    ~Restore() { (void)cpu::UseKernelIsa(SelectedCpuIsa()); }
  } restore;
  const int64_t m = static_cast<int64_t>(x.size()) / k;
  for (int v = 0; v <= static_cast<int>(DetectedCpuIsa()); ++v) {
    REQUIRE(cpu::UseKernelIsa(CpuIsa(v)).ok());
    auto lin = cpu::Linear::Create(w.data(), bias.data(), n, k, wt);
    REQUIRE(lin.ok());
    const bool i16 = wt == cpu::WeightType::kInt8 &&
                     cpu::Int8ManyRowsKernel().find("gemm_i8_i16") != std::string::npos;
    REQUIRE((!i16 || y_def_i16 != nullptr));
    const std::vector<float>& def = i16 ? *y_def_i16 : y_def;
    for (int64_t rows : {m, int64_t{9}, int64_t{40}}) {
      std::vector<float> y(rows * n);
      REQUIRE((*lin)->Forward(x.data(), rows, y.data()).ok());
      CheckClose(
          y, std::span<const float>(def.data(), rows * n), kF32Tol,
          fmt::format("{} variant {}, m {}", cpu::WeightTypeName(wt), CpuIsaName(CpuIsa(v)), rows));
    }
  }
}

// Linear's int8 weights for many rows: the vdpbf16ps tile where this CPU has it, int16 products
// on widened panels in the other vector variants (AVX2, AVX-512 without AVX512_BF16), oneDNN's
// bf16 or f32 matmul on widened tiles in the scalar one. Each equals its definition (x rounded to
// bf16, or x as 16-bit integers per 128 channels; the exact int8 values, the row scale after the
// sum), across the 192-row groups of x, and across the W rows the team shares out (n = 1000 at k
// = 1101: chunks of 128 rows, the last one partial).
TEST_CASE("Linear int8: every variant's many-row path equals its definition") {
  // The layer's own quantization: scale = max|W[j]| / 127, round to nearest.
  auto quantize = [](const std::vector<float>& wf, int64_t n, int64_t k) {
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
    return w;
  };
  for (const auto [m, n, k] : {std::array<int64_t, 3>{300, 100, 1101},  // two row groups; odd k
                               std::array<int64_t, 3>{48, 1000, 1101}}) {
    INFO("m ", m, " n ", n, " k ", k);
    auto wf = RandomVector(n * k, 71, -0.3f, 0.3f), bias = RandomVector(n, 72);
    auto x = RandomVector(m * k, 73);
    const Int8Weights w = quantize(wf, n, k);
    const std::vector<float> def_i16 = DefinitionI16(x, w, bias, m, n, k);
    CheckLinearVariants(cpu::WeightType::kInt8, wf, bias, x, Definition(x, w, bias, m, n, k), n, k,
                        &def_i16);
  }
  // and which path each variant took: with AMX-BF16 the AVX-512 variant hands the widened tiles
  // to the tile GEMM (its own, or with COSYFLOW_AMX_GEMM=0 oneDNN's bf16 matmul where oneDNN runs
  // at avx512_core_amx) instead of the vdpbf16ps tile
  const char* amx_env = std::getenv("COSYFLOW_AMX_GEMM");
  const bool own_amx = amx_env == nullptr || std::string(amx_env) != "0";
  struct Restore {
    ~Restore() { (void)cpu::UseKernelIsa(SelectedCpuIsa()); }
  } restore;
  const CpuFeatures& f = DetectedCpuFeatures();
  for (int v = 0; v <= static_cast<int>(DetectedCpuIsa()); ++v) {
    REQUIRE(cpu::UseKernelIsa(CpuIsa(v)).ok());
    const std::string path = cpu::Int8ManyRowsKernel();
    INFO("variant ", CpuIsaName(CpuIsa(v)), ": ", path);
    if (CpuIsa(v) == CpuIsa::kAvx512 && f.amx_bf16 && own_amx) {
      CHECK((path.find("AMX tiles") != std::string::npos) ==
            (cpu::Kernels().gemm_amx_bf16_scaled != nullptr));
    } else if (CpuIsa(v) == CpuIsa::kAvx512 && SelectedCpuIsa() == CpuIsa::kAvx512 && f.amx_bf16 &&
               dnnl::get_effective_cpu_isa() == dnnl::cpu_isa::avx512_core_amx) {
      CHECK(path.find("AMX") != std::string::npos);
    } else if (CpuIsa(v) == CpuIsa::kAvx512 && f.avx512_bf16) {
      CHECK(path.find("gemm_i8_bf16") != std::string::npos);
    } else if (CpuIsa(v) != CpuIsa::kScalar) {
      CHECK(path.find("gemm_i8_i16") != std::string::npos);
    } else {
      CHECK(path.find("oneDNN") != std::string::npos);
    }
  }
}

// Where a variant runs int8 Linear layers on int16 products at every m (AVX2: gemm_i8_i16 above
// kGemvMaxM rows, gemv_i8_i16_rows at or below it), a row's outputs do not depend on how many
// rows share the call or on the W row ranges: Forward at m = 1, 2, 3, 8 and the prepared-row
// ranges of one row equal the 40-row call bit for bit (the speech LM's decode KV rows then equal
// its prefill's).
TEST_CASE("Linear int8: decode rows equal the many-row path where both run int16 products") {
  struct Restore {
    ~Restore() { (void)cpu::UseKernelIsa(SelectedCpuIsa()); }
  } restore;
  const int64_t n = 301, k = 1101, m = 40;
  auto wf = RandomVector(n * k, 81, -0.3f, 0.3f), bias = RandomVector(n, 82);
  auto x = RandomVector(m * k, 83, -2.0f, 2.0f);
  for (int64_t i = 0; i < m; i += 7) x[i * k + 130] = 300.0f;  // an outlier channel in block 1
  int64_t ran = 0;
  for (int v = 0; v <= static_cast<int>(DetectedCpuIsa()); ++v) {
    REQUIRE(cpu::UseKernelIsa(CpuIsa(v)).ok());
    if (cpu::Kernels().gemv_i8_i16_rows == nullptr) continue;
    INFO("variant ", CpuIsaName(CpuIsa(v)));
    REQUIRE(cpu::Int8ManyRowsKernel().find("gemm_i8_i16") != std::string::npos);
    auto lin = cpu::Linear::Create(wf.data(), bias.data(), n, k, cpu::WeightType::kInt8);
    REQUIRE(lin.ok());
    std::vector<float> all(m * n);
    REQUIRE((*lin)->Forward(x.data(), m, all.data()).ok());
    for (int64_t rows : {int64_t{1}, int64_t{2}, int64_t{3}, cpu::kGemvMaxM}) {
      for (int64_t i0 : {int64_t{0}, int64_t{7}, m - rows}) {
        CAPTURE(rows);
        CAPTURE(i0);
        std::vector<float> y(rows * n);
        REQUIRE((*lin)->Forward(x.data() + i0 * k, rows, y.data()).ok());
        int64_t differ = 0;
        for (int64_t e = 0; e < rows * n; ++e) differ += y[e] != all[i0 * n + e];
        CHECK(differ == 0);
      }
    }
    for (int64_t i : {int64_t{0}, int64_t{21}}) {
      CAPTURE(i);
      auto row = (*lin)->PrepareRow(x.data() + i * k);
      REQUIRE(row.ok());
      std::vector<float> y(n, -7.0f);
      for (const auto& [a, b] : {std::pair<int64_t, int64_t>{100, n}, {0, 6}, {6, 100}}) {
        REQUIRE((*lin)->ForwardPreparedRows(*row, a, b, y.data()).ok());
      }
      int64_t differ = 0;
      for (int64_t j = 0; j < n; ++j) differ += y[j] != all[i * n + j];
      CHECK(differ == 0);
    }
    ++ran;
  }
  if (ran == 0) MESSAGE("no variant with gemv_i8_i16_rows on this CPU (AVX2): nothing to compare");
}

// Linear's f32 row-major weights for many rows: the register tile in the AVX-512 and AVX2
// variants, oneDNN's f32 matmul in the scalar one; each equals the definition, across the
// 192-row groups of x (k across chunks, odd).
TEST_CASE("Linear f32: every variant's many-row path equals the definition") {
  const int64_t m = 300, n = 100, k = 1101;
  auto w = RandomVector(n * k, 81, -0.3f, 0.3f), bias = RandomVector(n, 82);
  auto x = RandomVector(m * k, 83);
  CheckLinearVariants(cpu::WeightType::kF32, w, bias, x, DefinitionF32(x, w, bias, m, n, k), n, k);
}

// Linear's bf16 weights for many rows: oneDNN's bf16 matmul where the CPU has one, else the f32
// tile on widened rows (AVX2 variant) or the f32 matmul on converted tiles; each equals bf16(x)
// bf16(W)^T + bias.
TEST_CASE("Linear bf16: every variant's many-row path equals the bf16 definition") {
  const int64_t m = 300, n = 100, k = 1101;
  auto w = RandomVector(n * k, 91, -0.3f, 0.3f), bias = RandomVector(n, 92);
  auto x = RandomVector(m * k, 93);
  CheckLinearVariants(cpu::WeightType::kBF16, w, bias, x,
                      DefinitionF32(RoundedBf16(x), RoundedBf16(w), bias, m, n, k), n, k);
}

}  // namespace
}  // namespace cosyflow::kernels
