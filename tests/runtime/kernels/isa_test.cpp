// Tests: run-time ISA selection (runtime/cpu_isa.h) and the per-variant kernel tables
// (cpu/kernel_table.h). ctest also runs the whole kernel suite once per variant this CPU has
// (COSYFLOW_ISA=scalar|avx2|avx512), so every variant meets every reference check.
#include "runtime/kernels/cpu/kernel_table.h"

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/dtype.h"
#include "runtime/kernels/cpu/activation.h"
#include "runtime/kernels/cpu/attention.h"
#include "runtime/kernels/cpu/gemv.h"
#include "runtime/kernels/cpu/i8_rows.h"
#include "runtime/kernels/cpu/softmax.h"
#include "runtime/kernels/ref/activation.h"
#include "runtime/kernels/ref/linear.h"
#include "runtime/kernels/ref/softmax.h"
#include "tests/runtime/kernels/kernel_test_util.h"

namespace cosyflow::kernels {
namespace {

using test::CheckClose;
using test::RandomVector;

std::vector<CpuIsa> SupportedIsas() {
  std::vector<CpuIsa> v;
  for (int i = 0; i <= static_cast<int>(DetectedCpuIsa()); ++i) v.push_back(CpuIsa(i));
  return v;
}

// Restores the selected variant when a test switched it.
struct IsaGuard {
  ~IsaGuard() { (void)cpu::UseKernelIsa(SelectedCpuIsa()); }
};

TEST_CASE("CpuIsa: names parse back, the selection honours COSYFLOW_ISA within what the CPU has") {
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    CpuIsa parsed;
    REQUIRE(ParseCpuIsa(CpuIsaName(isa), &parsed));
    CHECK(parsed == isa);
  }
  CpuIsa parsed;
  CHECK(!ParseCpuIsa("sse2", &parsed));
  CHECK(static_cast<int>(SelectedCpuIsa()) <= static_cast<int>(DetectedCpuIsa()));
  CHECK(cpu::Kernels().isa == SelectedCpuIsa());
  const char* env = std::getenv("COSYFLOW_ISA");
  CpuIsa want;
  if (env != nullptr && ParseCpuIsa(env, &want) &&
      static_cast<int>(want) <= static_cast<int>(DetectedCpuIsa())) {
    CHECK(SelectedCpuIsa() == want);
  } else if (env == nullptr) {
    CHECK(SelectedCpuIsa() == DetectedCpuIsa());
  }
  MESSAGE("kernels: ", CpuIsaSummary());
}

TEST_CASE("KernelTable: every supported variant is complete; an unsupported one is refused") {
  for (CpuIsa isa : SupportedIsas()) {
    auto t = cpu::KernelsFor(isa);
    REQUIRE(t.ok());
    const cpu::KernelTable& k = **t;
    CHECK(k.isa == isa);
    for (auto* fn : k.unary) CHECK((fn != nullptr));
    CHECK((k.leaky_relu && k.snake && k.layer_norm && k.rms_norm && k.softmax_masked &&
           k.log_softmax && k.binary4 && k.axpy && k.scale_add && k.clamp && k.rope && k.widen_16 &&
           k.widen_i8 && k.widen_i8_bf16 && k.widen_i8_rows_bf16 && k.narrow_bf16 && k.attention &&
           k.gemv_f32 && k.gemv_bf16 && k.gemv_i8));
  }
  if (DetectedCpuIsa() != CpuIsa::kAvx512) {
    CHECK(!cpu::KernelsFor(CpuIsa::kAvx512).ok());
    CHECK(!cpu::UseKernelIsa(CpuIsa::kAvx512).ok());
  }
}

// The same public kernels, switched between variants in one process, against the references.
TEST_CASE("KernelTable: each supported variant matches the references (gelu, softmax, gemv, attention)") {
  IsaGuard guard;
  const int64_t n = 1000, rows = 5, cols = 77;
  auto x = RandomVector(n, 1, -8.0f, 8.0f);
  std::vector<float> y(n), y_ref(n);
  REQUIRE(ref::GeluTanh(x.data(), n, y_ref.data()).ok());
  auto s = RandomVector(rows * cols, 2, -5.0f, 5.0f);
  std::vector<float> p(rows * cols), p_ref(rows * cols);
  REQUIRE(ref::LogSoftmax(s.data(), rows, cols, p_ref.data()).ok());
  const int64_t m = 3, gn = 37, gk = 45;
  auto gx = RandomVector(m * gk, 3), gw = RandomVector(gn * gk, 4);
  std::vector<float> gy(m * gn), gy_ref(m * gn);
  REQUIRE(ref::LinearForward(gx.data(), gw.data(), nullptr, gy_ref.data(), m, gn, gk).ok());
  cpu::AttentionParams ap;
  ap.q_heads = 4;
  ap.kv_heads = 2;
  ap.q_len = 7;
  ap.kv_len = 19;
  ap.head_dim = 40;  // not a multiple of any vector width
  ap.mask = cpu::AttentionMask::kCausal;
  ap.q_offset = 12;
  auto q = RandomVector(ap.q_heads * ap.q_len * ap.head_dim, 5);
  auto kk = RandomVector(ap.kv_heads * ap.kv_len * ap.head_dim, 6);
  auto v = RandomVector(ap.kv_heads * ap.kv_len * ap.head_dim, 7);
  std::vector<float> o(q.size()), o_ref(q.size());
  REQUIRE(ref::Attention(ap, q.data(), kk.data(), v.data(), o_ref.data(), nullptr, 0).ok());
  std::vector<float> scratch(cpu::AttentionScratchFloats(ap));
  std::vector<uint16_t> kk16(kk.size()), v16(v.size());
  for (size_t i = 0; i < kk.size(); ++i) kk16[i] = F32ToBF16(kk[i]);
  for (size_t i = 0; i < v.size(); ++i) v16[i] = F32ToBF16(v[i]);
  for (CpuIsa isa : SupportedIsas()) {
    CAPTURE(std::string(CpuIsaName(isa)));
    REQUIRE(cpu::UseKernelIsa(isa).ok());
    CHECK(cpu::Kernels().isa == isa);
    REQUIRE(cpu::GeluTanh(x.data(), n, y.data()).ok());
    CheckClose(y, y_ref, 1e-5, "gelu_tanh");
    REQUIRE(cpu::LogSoftmax(s.data(), rows, cols, p.data()).ok());
    CheckClose(p, p_ref, 1e-5, "log_softmax");
    REQUIRE(cpu::GemvF32(gx.data(), gw.data(), nullptr, gy.data(), m, gn, gk).ok());
    CheckClose(gy, gy_ref, 1e-5, "gemv f32");
    REQUIRE(cpu::Attention(ap, q.data(), kk.data(), v.data(), o.data(), scratch.data(),
                           static_cast<int64_t>(scratch.size())).ok());
    CheckClose(o, o_ref, 1e-5, "attention");
    // bf16 products on bf16-stored K/V (the flow's bf16 cache) equal those on f32 K/V.
    cpu::AttentionParams bp = ap;
    bp.bf16 = true;
    std::vector<float> ob32(q.size()), ob16(q.size());
    REQUIRE(cpu::Attention(bp, q.data(), kk.data(), v.data(), ob32.data(), scratch.data(),
                           static_cast<int64_t>(scratch.size())).ok());
    REQUIRE(cpu::Attention(bp, q.data(), kk16.data(), v16.data(), ob16.data(), scratch.data(),
                           static_cast<int64_t>(scratch.size())).ok());
    CHECK(test::MaxAbsDiff(ob16, ob32) == 0.0);
  }
}

TEST_CASE("KernelTable: narrow_bf16 equals F32ToBF16 bit for bit in every variant") {
  IsaGuard guard;
  // Random values of every magnitude, exact ties (round to even both ways), signed zeros,
  // subnormals, infinities, NaNs (quiet and signalling) and values that round up to inf.
  std::vector<float> x = RandomVector(997, 9, -3.0f, 3.0f);
  const uint32_t bits[] = {0x00000000u, 0x80000000u, 0x00000001u, 0x807fffffu, 0x3f808000u,
                           0x3f818000u, 0x3f80ffffu, 0x7f7fffffu, 0xff7fffffu, 0x7f800000u,
                           0xff800000u, 0x7fc00000u, 0x7f800001u, 0xffbfffffu, 0x477fefffu};
  for (uint32_t b : bits) {
    float f;
    std::memcpy(&f, &b, 4);
    x.push_back(f);
  }
  for (int e = -140; e < 128; e += 3) x.push_back(std::ldexp(1.00390625f + e * 1e-4f, e));
  // The same specials without subnormals, each 32-value block of them also free of any (a
  // variant may narrow such blocks another way: AVX512_BF16's vcvtne2ps2bf16).
  for (int rep = 0; rep < 4; ++rep) {
    for (uint32_t b : bits) {
      if ((b & 0x7f800000u) == 0 && (b & 0x007fffffu) != 0) continue;
      float f;
      std::memcpy(&f, &b, 4);
      x.push_back(f);
    }
    for (int e = -126; e < 128; e += 7 + rep) x.push_back(std::ldexp(-1.0078125f - rep * 0.25f, e));
  }
  std::vector<uint16_t> expect(x.size()), got(x.size());
  for (size_t i = 0; i < x.size(); ++i) expect[i] = F32ToBF16(x[i]);
  for (CpuIsa isa : SupportedIsas()) {
    CAPTURE(std::string(CpuIsaName(isa)));
    REQUIRE(cpu::UseKernelIsa(isa).ok());
    for (int64_t n : {int64_t{0}, int64_t{5}, int64_t{16}, int64_t{33}, int64_t{1031},
                      static_cast<int64_t>(x.size())}) {
      std::fill(got.begin(), got.end(), uint16_t{0xdead});
      cpu::Kernels().narrow_bf16(x.data(), n, got.data());
      for (int64_t i = 0; i < n; ++i) {
        if (got[i] != expect[i]) {
          FAIL_CHECK(fmt::format("x[{}] bits {:#010x}: {:#06x} != {:#06x}", i,
                                 std::bit_cast<uint32_t>(x[i]), got[i], expect[i]));
          break;
        }
      }
      if (n < static_cast<int64_t>(got.size())) CHECK(got[n] == 0xdead);  // nothing past n
    }
  }
}

TEST_CASE("KernelTable: widen_i8_bf16 gives every int8 value's exact bf16 in every variant") {
  IsaGuard guard;
  std::vector<int8_t> q;
  for (int r = 0; r < 3; ++r) {
    for (int v = -128; v <= 127; ++v) q.push_back(static_cast<int8_t>(v));  // all values, 3 times
  }
  for (CpuIsa isa : SupportedIsas()) {
    CAPTURE(std::string(CpuIsaName(isa)));
    REQUIRE(cpu::UseKernelIsa(isa).ok());
    for (int64_t n : {int64_t{0}, int64_t{7}, int64_t{16}, static_cast<int64_t>(q.size()) - 3}) {
      std::vector<uint16_t> got(q.size(), 0xdead);
      cpu::Kernels().widen_i8_bf16(q.data(), n, got.data());
      int64_t wrong = 0;
      for (int64_t i = 0; i < n; ++i) {
        wrong += BF16ToF32(got[static_cast<size_t>(i)]) != static_cast<float>(q[static_cast<size_t>(i)]);
      }
      CHECK(wrong == 0);
      CHECK(got[static_cast<size_t>(n)] == 0xdead);  // nothing past n
    }
  }
}

// W rows [j0, j0 + rows) of the i8_rows.h layout (4-row blocks interleaved every 64 columns)
// widened to [rows, k] bf16: starting and ending inside a block, k not a multiple of 64.
TEST_CASE("KernelTable: widen_i8_rows_bf16 widens any row range of the int8 layout") {
  IsaGuard guard;
  const int64_t n = 11, k = 150;
  std::vector<int8_t> q(static_cast<size_t>(n * k));
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<int8_t>((i * 37 + 11) % 256 - 128);
  std::vector<int8_t> packed(static_cast<size_t>(cpu::I8RowsBytes(n, k)));
  cpu::PackI8Rows(q.data(), n, k, packed.data());
  for (CpuIsa isa : SupportedIsas()) {
    CAPTURE(std::string(CpuIsaName(isa)));
    REQUIRE(cpu::UseKernelIsa(isa).ok());
    for (const auto& [j0, rows] : {std::pair<int64_t, int64_t>{0, n}, {1, 2}, {3, 6}, {5, 6}}) {
      CAPTURE(j0);
      CAPTURE(rows);
      std::vector<uint16_t> got(static_cast<size_t>((rows + 1) * k), 0xdead);
      cpu::Kernels().widen_i8_rows_bf16(packed.data(), k, j0, rows, got.data());
      int64_t wrong = 0;
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < k; ++c) {
          wrong += BF16ToF32(got[static_cast<size_t>(r * k + c)]) !=
                   static_cast<float>(q[static_cast<size_t>((j0 + r) * k + c)]);
        }
      }
      CHECK(wrong == 0);
      CHECK(got[static_cast<size_t>(rows * k)] == 0xdead);  // nothing past the range
    }
  }
}

}  // namespace
}  // namespace cosyflow::kernels
