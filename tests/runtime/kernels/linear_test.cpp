// Tests for cpu matmul/linear kernels against the reference loops in ref/linear.h.
#include "runtime/kernels/cpu/linear.h"

#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "runtime/cpu_isa.h"
#include "runtime/kernels/cpu/activation.h"
#include "runtime/kernels/cpu/elementwise.h"
#include "runtime/kernels/ref/linear.h"
#include "tests/runtime/kernels/kernel_test_util.h"

namespace cosyflow::kernels {
namespace {

using test::CheckClose;
using test::RandomVector;

// f32 kernels differ from the double-accumulated reference only by summation order.
constexpr double kF32Tol = 1e-5;
// bf16 weights and bf16-rounded activations (8-bit mantissa each), f32 accumulation.
constexpr double kBF16Tol = 1e-2;

// Storage size of a matrix described by (rows, cols stored, ld) repeated over `count` batches.
size_t Extent(int64_t count, int64_t stride, int64_t rows, int64_t ld) {
  return static_cast<size_t>((count - 1) * stride + rows * ld);
}

void CheckMatMul(const MatMulParams& p, bool with_bias, uint32_t seed) {
  const MatMulStrides s = ResolveMatMulStrides(p);
  const int64_t rows_a = p.trans_a ? p.k : p.m, rows_b = p.trans_b ? p.n : p.k;
  const int64_t na = s.stride_a == 0 ? 1 : p.batch, nb = s.stride_b == 0 ? 1 : p.batch;
  auto a = RandomVector(Extent(na, s.stride_a, rows_a, s.lda), seed);
  auto b = RandomVector(Extent(nb, s.stride_b, rows_b, s.ldb), seed + 1);
  auto bias = RandomVector(p.n, seed + 2);
  auto c_ref = RandomVector(Extent(p.batch, s.stride_c, p.m, s.ldc), seed + 3);
  auto c_fast = c_ref;
  const float* bp = with_bias ? bias.data() : nullptr;
  REQUIRE(ref::MatMul(p, a.data(), b.data(), bp, c_ref.data()).ok());
  Status st = cpu::MatMul(p, a.data(), b.data(), bp, c_fast.data());
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  CheckClose(c_fast, c_ref, kF32Tol,
             fmt::format("matmul batch={} m={} n={} k={} ta={} tb={} lda={} ldb={} ldc={} "
                         "sa={} sb={} alpha={} beta={} bias={}",
                         p.batch, p.m, p.n, p.k, p.trans_a, p.trans_b, p.lda, p.ldb, p.ldc,
                         p.stride_a, p.stride_b, p.alpha, p.beta, with_bias));
}

TEST_CASE("cpu::MatMul: matches reference for odd shapes and transposes") {
  uint32_t seed = 1;
  for (int64_t m : {1, 3, 17}) {
    for (int64_t n : {7, 33, 65}) {
      for (int64_t k : {1, 33, 130}) {
        for (int t = 0; t < 4; ++t) {
          MatMulParams p;
          p.m = m;
          p.n = n;
          p.k = k;
          p.trans_a = (t & 1) != 0;
          p.trans_b = (t & 2) != 0;
          CheckMatMul(p, /*with_bias=*/t == 2, seed++);
        }
      }
    }
  }
}

TEST_CASE("cpu::MatMul: alpha, beta, bias and leading dimensions") {
  MatMulParams p;
  p.m = 5;
  p.n = 19;
  p.k = 23;
  p.lda = 30;
  p.ldb = 21;
  p.ldc = 40;
  p.alpha = 0.125f;
  CheckMatMul(p, true, 100);
  p.beta = 1.0f;
  CheckMatMul(p, true, 101);
  p.beta = 0.5f;
  p.trans_b = true;
  p.ldb = 29;
  CheckMatMul(p, false, 102);
  p.alpha = 0.0f;  // C = bias + beta * C
  CheckMatMul(p, true, 103);
}

TEST_CASE("cpu::MatMul: batched with broadcast and strided batches") {
  uint32_t seed = 200;
  for (bool bcast_a : {false, true}) {
    for (bool bcast_b : {false, true}) {
      for (int t = 0; t < 4; ++t) {
        MatMulParams p;
        p.batch = 6;
        p.m = 3;
        p.n = 17;
        p.k = 9;
        p.trans_a = (t & 1) != 0;
        p.trans_b = (t & 2) != 0;
        p.stride_a = bcast_a ? 0 : -1;
        p.stride_b = bcast_b ? 0 : -1;
        p.alpha = 0.5f;
        CheckMatMul(p, t == 1, seed++);
      }
    }
  }
  // Interleaved heads: q as [T, H, D] viewed per head (batch stride D, row stride H*D).
  MatMulParams p;
  p.batch = 4;
  p.m = 5;
  p.n = 7;
  p.k = 8;
  p.lda = 4 * 8;
  p.stride_a = 8;
  p.trans_b = true;
  p.ldb = 4 * 8;
  p.stride_b = 8;
  p.ldc = 4 * 7;
  p.stride_c = 7;
  CheckMatMul(p, false, 300);
}

TEST_CASE("cpu::BatchedMatMul: attention shapes match reference") {
  // 14 heads: scores [1, L] = q [1, 64] · K^T with K [L, 64] per head, then probs · V.
  const int64_t heads = 14, d = 64, len = 77;
  auto q = RandomVector(heads * d, 1);
  auto kmat = RandomVector(heads * len * d, 2);
  std::vector<float> s_ref(heads * len), s_fast(heads * len);
  REQUIRE(ref::BatchedMatMul(q.data(), kmat.data(), s_ref.data(), heads, 1, len, d, false, true,
                             false, 0.125f)
              .ok());
  REQUIRE(cpu::BatchedMatMul(q.data(), kmat.data(), s_fast.data(), heads, 1, len, d, false, true,
                             false, 0.125f)
              .ok());
  CheckClose(s_fast, s_ref, kF32Tol, "scores [14, 1, 77]");
  // Shared B over the batch.
  auto v = RandomVector(len * d, 3);
  std::vector<float> o_ref(heads * d), o_fast(heads * d);
  REQUIRE(
      ref::BatchedMatMul(s_ref.data(), v.data(), o_ref.data(), heads, 1, d, len, false, false, true)
          .ok());
  REQUIRE(cpu::BatchedMatMul(s_ref.data(), v.data(), o_fast.data(), heads, 1, d, len, false, false,
                             true)
              .ok());
  CheckClose(o_fast, o_ref, kF32Tol, "probs·V [14, 1, 64] with V broadcast");
}

TEST_CASE("cpu::LinearForward: matches reference") {
  for (int64_t m : {1, 3, 17}) {
    const int64_t n = 65, k = 896;
    auto x = RandomVector(m * k, 10 + m), w = RandomVector(n * k, 20), b = RandomVector(n, 30);
    std::vector<float> y_ref(m * n), y_fast(m * n);
    REQUIRE(ref::LinearForward(x.data(), w.data(), b.data(), y_ref.data(), m, n, k).ok());
    REQUIRE(cpu::LinearForward(x.data(), w.data(), b.data(), y_fast.data(), m, n, k).ok());
    CheckClose(y_fast, y_ref, kF32Tol, fmt::format("linear m={} n={} k={}", m, n, k));
  }
}

void CheckLinearLayer(cpu::WeightType wt, double tol,
                      cpu::WeightLayout layout = cpu::WeightLayout::kRowMajor) {
  uint32_t seed = 40;
  for (int64_t n : {7, 33, 896}) {
    for (int64_t k : {33, 65, 896}) {
      auto w = RandomVector(n * k, seed++), b = RandomVector(n, seed++);
      for (bool with_bias : {false, true}) {
        auto layer =
            cpu::Linear::Create(w.data(), with_bias ? b.data() : nullptr, n, k, wt, layout);
        REQUIRE_MESSAGE(layer.ok(), layer.status().ToString());
        CHECK((*layer)->n() == n);
        CHECK((*layer)->k() == k);
        if (layout == cpu::WeightLayout::kRowMajor) CHECK(!(*layer)->gemm_packed());
        for (int64_t m : {1, 3, 17, 64, 101}) {
          auto x = RandomVector(m * k, seed++);
          std::vector<float> y_ref(m * n), y_fast(m * n, 7.0f);
          REQUIRE(ref::LinearForward(x.data(), w.data(), with_bias ? b.data() : nullptr,
                                     y_ref.data(), m, n, k)
                      .ok());
          Status st = (*layer)->Forward(x.data(), m, y_fast.data());
          REQUIRE_MESSAGE(st.ok(), st.ToString());
          CheckClose(y_fast, y_ref, tol,
                     fmt::format("Linear wt={} m={} n={} k={} bias={}", static_cast<int>(wt), m, n,
                                 k, with_bias));
        }
      }
    }
  }
}

TEST_CASE("cpu::Linear: f32 weights match reference for any M") {
  CheckLinearLayer(cpu::WeightType::kF32, kF32Tol);
}

TEST_CASE("cpu::Linear: bf16 weights match f32 reference within bf16 tolerance") {
  CheckLinearLayer(cpu::WeightType::kBF16, kBF16Tol);
}

TEST_CASE("cpu::Linear: blocked GEMM weights (WeightLayout::kGemm) match reference for any M") {
  CheckLinearLayer(cpu::WeightType::kF32, kF32Tol, cpu::WeightLayout::kGemm);
  CheckLinearLayer(cpu::WeightType::kBF16, kBF16Tol, cpu::WeightLayout::kGemm);
}

TEST_CASE("cpu::Linear: WeightLayout::kGemm takes effect with brgemm or the AVX2 panel GEMM") {
  const int64_t n = 256, k = 512;
  auto w = RandomVector(n * k, 21), b = RandomVector(n, 22);
  auto f32 = cpu::Linear::Create(w.data(), b.data(), n, k, cpu::WeightType::kF32,
                                 cpu::WeightLayout::kGemm);
  auto bf16 = cpu::Linear::Create(w.data(), b.data(), n, k, cpu::WeightType::kBF16,
                                  cpu::WeightLayout::kGemm);
  auto i8 = cpu::Linear::Create(w.data(), b.data(), n, k, cpu::WeightType::kInt8,
                                cpu::WeightLayout::kGemm);
  REQUIRE(f32.ok());
  REQUIRE(bf16.ok());
  REQUIRE(i8.ok());
  const bool avx512 = SelectedCpuIsa() == CpuIsa::kAvx512;
  const bool avx2 = SelectedCpuIsa() == CpuIsa::kAvx2;
  MESSAGE("isa ", CpuIsaName(SelectedCpuIsa()), ": f32 packed ", (*f32)->gemm_packed(),
          ", bf16 packed ", (*bf16)->gemm_packed());
  // oneDNN 2.6 has brgemm matmul for f32 on every AVX-512 (avx512_core) CPU and on nothing
  // lower (COSYFLOW_ISA=avx2|scalar cap oneDNN too); with the AVX2 kernels f32 W goes into the
  // panel GEMM's layout instead; bf16 needs brgemm; int8 never packs.
  CHECK((*f32)->gemm_packed() == (avx512 || avx2));
  CHECK((*f32)->packed_weight_bytes() >= static_cast<size_t>(n * k * 4));
  CHECK((!(*bf16)->gemm_packed() || avx512));
  CHECK(!(*i8)->gemm_packed());
  if ((*f32)->gemm_packed()) {
    std::vector<float> x(k, 1.0f), y(n);
    CHECK((*f32)->ForwardRows(x.data(), 0, n, y.data()).code() == StatusCode::kUnsupported);
  }
  // Two layers of one shape share the per-m primitive, not the weights.
  auto w2 = RandomVector(n * k, 23);
  auto other = cpu::Linear::Create(w2.data(), b.data(), n, k, cpu::WeightType::kF32,
                                   cpu::WeightLayout::kGemm);
  REQUIRE(other.ok());
  for (int64_t m : {5, 40}) {
    auto x = RandomVector(m * k, 24 + static_cast<uint32_t>(m));
    std::vector<float> y1(m * n), y2(m * n), r1(m * n), r2(m * n);
    REQUIRE((*f32)->Forward(x.data(), m, y1.data()).ok());
    REQUIRE((*other)->Forward(x.data(), m, y2.data()).ok());
    REQUIRE(ref::LinearForward(x.data(), w.data(), b.data(), r1.data(), m, n, k).ok());
    REQUIRE(ref::LinearForward(x.data(), w2.data(), b.data(), r2.data(), m, n, k).ok());
    CheckClose(y1, r1, kF32Tol, fmt::format("first layer m={}", m));
    CheckClose(y2, r2, kF32Tol, fmt::format("second layer m={}", m));
  }
}

// Epilogues against the plain call: GELU (oneDNN's erf inside a blocked GEMM: A-S 7.1.26, within
// 1e-6 absolute of cpu::GeluErf) and accumulation into y (the same additions: bit for bit).
TEST_CASE("cpu::Linear: epilogues (GELU, accumulate) equal the plain call plus the pass") {
  uint32_t seed = 90;
  for (auto layout : {cpu::WeightLayout::kRowMajor, cpu::WeightLayout::kGemm}) {
    for (auto wt : {cpu::WeightType::kF32, cpu::WeightType::kBF16, cpu::WeightType::kInt8}) {
      for (const auto& [n, k] : {std::pair<int64_t, int64_t>{1024, 256}, {256, 1024}, {33, 65}}) {
        auto w = RandomVector(n * k, seed++), b = RandomVector(n, seed++);
        auto layer = cpu::Linear::Create(w.data(), b.data(), n, k, wt, layout);
        REQUIRE_MESSAGE(layer.ok(), layer.status().ToString());
        for (int64_t m : {1, 5, 40, 130}) {
          const std::string what =
              fmt::format("wt {} packed {} m {} n {} k {}", cpu::WeightTypeName(wt),
                          (*layer)->gemm_packed(), m, n, k);
          CAPTURE(what);
          auto x = RandomVector(m * k, seed++, -2.0f, 2.0f);
          std::vector<float> plain(m * n), gelu(m * n, 5.0f), expect(m * n);
          REQUIRE((*layer)->Forward(x.data(), m, plain.data()).ok());
          REQUIRE((*layer)->Forward(x.data(), m, gelu.data(), cpu::LinearEpilogue::kGeluErf).ok());
          REQUIRE(cpu::GeluErf(plain.data(), m * n, expect.data()).ok());
          CHECK(test::MaxRelDiff(gelu, expect) <= 1e-6);
          // the AVX2 panel GEMM (f32 kGemm without brgemm) computes the pass's own GELU
          if (SelectedCpuIsa() == CpuIsa::kAvx2 && wt == cpu::WeightType::kF32 &&
              layout == cpu::WeightLayout::kGemm) {
            CHECK(test::MaxAbsDiff(gelu, expect) == 0.0);
          }
          CHECK(test::MaxAbsDiff(gelu, plain) > 1e-3);  // the epilogue ran
          auto acc = RandomVector(m * n, seed++);
          std::vector<float> sum(m * n);
          for (size_t i = 0; i < sum.size(); ++i) sum[i] = acc[i] + plain[i];
          REQUIRE((*layer)->Forward(x.data(), m, acc.data(), cpu::LinearEpilogue::kAccumulate).ok());
          CHECK(test::MaxAbsDiff(acc, sum) == 0.0);
        }
      }
    }
  }
}

namespace {
float WidenBf16(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}
}  // namespace

// bf16 activations between two bf16 layers (the flow's feed-forward): ForwardToBf16 gives
// Forward's output rounded to bf16, ForwardFromBf16 Forward's result on the widened input, bit
// for bit; only bf16 weights in the blocked layout offer them (brgemm: AVX-512 in oneDNN 2.6).
TEST_CASE("cpu::Linear: bf16 activations in and out equal Forward and its rounding") {
  uint32_t seed = 300;
  for (auto layout : {cpu::WeightLayout::kRowMajor, cpu::WeightLayout::kGemm}) {
    for (auto wt : {cpu::WeightType::kF32, cpu::WeightType::kBF16, cpu::WeightType::kInt8}) {
      for (const auto& [n, k] : {std::pair<int64_t, int64_t>{1024, 256}, {256, 1024}, {40, 72}}) {
        auto w = RandomVector(n * k, seed++), b = RandomVector(n, seed++);
        auto layer = cpu::Linear::Create(w.data(), b.data(), n, k, wt, layout);
        REQUIRE_MESSAGE(layer.ok(), layer.status().ToString());
        const cpu::Linear& lin = **layer;
        const bool offered = wt == cpu::WeightType::kBF16 &&
                             layout == cpu::WeightLayout::kGemm && lin.gemm_packed();
        CAPTURE(cpu::WeightTypeName(wt));
        CAPTURE(n);
        CHECK(lin.bf16_activations() == offered);
        std::vector<uint16_t> yb(static_cast<size_t>(3 * n)), xb(static_cast<size_t>(3 * k));
        std::vector<float> yf(static_cast<size_t>(3 * n));
        if (!offered) {
          auto x = RandomVector(3 * k, seed++);
          CHECK(lin.ForwardToBf16(x.data(), 3, yb.data()).code() == StatusCode::kUnsupported);
          CHECK(lin.ForwardFromBf16(xb.data(), 3, yf.data()).code() == StatusCode::kUnsupported);
          continue;
        }
        for (int64_t m : {1, 7, 100, 130}) {
          CAPTURE(m);
          auto x = RandomVector(m * k, seed++, -2.0f, 2.0f);
          std::vector<float> plain(m * n), gelu(m * n);
          std::vector<uint16_t> want(m * n), got(m * n), got_gelu(m * n);
          REQUIRE(lin.Forward(x.data(), m, plain.data()).ok());
          REQUIRE(lin.Forward(x.data(), m, gelu.data(), cpu::LinearEpilogue::kGeluErf).ok());
          REQUIRE(lin.ForwardToBf16(x.data(), m, got.data()).ok());
          REQUIRE(lin.ForwardToBf16(x.data(), m, got_gelu.data(), cpu::LinearEpilogue::kGeluErf).ok());
          int64_t differ = 0;
          for (auto [f, out] : {std::pair{&plain, &got}, std::pair{&gelu, &got_gelu}}) {
            REQUIRE(cpu::NarrowBf16(f->data(), m * n, want.data()).ok());
            for (int64_t i = 0; i < m * n; ++i) {
              // Denormals may flush to zero on either side (vcvtneps2bf16); nothing else differs.
              const float a = WidenBf16(want[i]), c = WidenBf16((*out)[i]);
              if (a != c && !(std::fabs(a) < 1.18e-38f && std::fabs(c) < 1.18e-38f)) ++differ;
            }
          }
          CHECK(differ == 0);
          CHECK(lin.ForwardToBf16(x.data(), m, got.data(), cpu::LinearEpilogue::kAccumulate).code() ==
                StatusCode::kInvalidArgument);

          // bf16 input: the same as Forward on its widened values, with every epilogue.
          std::vector<uint16_t> in(m * k);
          REQUIRE(cpu::NarrowBf16(x.data(), m * k, in.data()).ok());
          std::vector<float> widened(m * k);
          for (int64_t i = 0; i < m * k; ++i) widened[i] = WidenBf16(in[i]);
          for (auto e : {cpu::LinearEpilogue::kNone, cpu::LinearEpilogue::kGeluErf,
                         cpu::LinearEpilogue::kAccumulate}) {
            auto y1 = RandomVector(m * n, seed++);
            auto y2 = y1;
            REQUIRE(lin.Forward(widened.data(), m, y1.data(), e).ok());
            REQUIRE(lin.ForwardFromBf16(in.data(), m, y2.data(), e).ok());
            CHECK(test::MaxAbsDiff(y1, y2) == 0.0);
          }
        }
      }
    }
  }
}

TEST_CASE("cpu::Linear: bf16 weights really are lower precision than f32") {
  // Guards against the bf16 option silently computing in f32 (the tolerance test alone would
  // not notice).
  const int64_t n = 64, k = 256, m = 4;
  auto w = RandomVector(n * k, 5), x = RandomVector(m * k, 6);
  std::vector<float> y_ref(m * n), y_bf16(m * n);
  REQUIRE(ref::LinearForward(x.data(), w.data(), nullptr, y_ref.data(), m, n, k).ok());
  auto layer = cpu::Linear::Create(w.data(), nullptr, n, k, cpu::WeightType::kBF16);
  REQUIRE(layer.ok());
  CHECK((*layer)->packed_weight_bytes() <= static_cast<size_t>(n * k * 2 + 4096));
  REQUIRE((*layer)->Forward(x.data(), m, y_bf16.data()).ok());
  CHECK(test::MaxRelDiff(y_bf16, y_ref) > 1e-5);
}

TEST_CASE("cpu::Linear: concurrent Forward from many threads is consistent") {
  const int64_t n = 129, k = 200;
  auto w = RandomVector(n * k, 7), b = RandomVector(n, 8);
  for (auto [wt, layout] : {std::pair{cpu::WeightType::kF32, cpu::WeightLayout::kRowMajor},
                            std::pair{cpu::WeightType::kBF16, cpu::WeightLayout::kRowMajor},
                            std::pair{cpu::WeightType::kF32, cpu::WeightLayout::kGemm},
                            std::pair{cpu::WeightType::kBF16, cpu::WeightLayout::kGemm}}) {
    auto layer = cpu::Linear::Create(w.data(), b.data(), n, k, wt, layout);
    REQUIRE(layer.ok());
    const cpu::Linear& lin = **layer;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int it = 0; it < 20; ++it) {
          const int64_t m = 1 + (t * 7 + it) % 37;
          auto x = RandomVector(m * k, 1000 + t * 100 + it);
          std::vector<float> y(m * n), y_ref(m * n);
          if (!lin.Forward(x.data(), m, y.data()).ok()) ++failures;
          (void)ref::LinearForward(x.data(), w.data(), b.data(), y_ref.data(), m, n, k);
          const double tol = wt == cpu::WeightType::kF32 ? kF32Tol : kBF16Tol;
          if (!(test::MaxRelDiff(y, y_ref) <= tol)) ++failures;
        }
      });
    }
    for (auto& th : threads) th.join();
    CHECK(failures.load() == 0);
  }
}

TEST_CASE("cpu::MatMul: bad arguments return errors") {
  std::vector<float> buf(64, 1.0f);
  MatMulParams p;
  p.m = 2;
  p.n = 2;
  p.k = 0;
  CHECK(cpu::MatMul(p, buf.data(), buf.data(), nullptr, buf.data()).code() ==
        StatusCode::kInvalidArgument);
  CHECK(ref::MatMul(p, buf.data(), buf.data(), nullptr, buf.data()).code() ==
        StatusCode::kInvalidArgument);
  p.k = 2;
  p.lda = 1;  // shorter than a row of A
  CHECK(cpu::MatMul(p, buf.data(), buf.data(), nullptr, buf.data()).code() ==
        StatusCode::kInvalidArgument);
  p.lda = 0;
  p.batch = 2;
  p.stride_c = 0;
  CHECK(cpu::MatMul(p, buf.data(), buf.data(), nullptr, buf.data()).code() ==
        StatusCode::kInvalidArgument);
  p.stride_c = -1;
  CHECK(cpu::MatMul(p, nullptr, buf.data(), nullptr, buf.data()).code() ==
        StatusCode::kInvalidArgument);
  CHECK(cpu::BatchedMatMul(buf.data(), buf.data(), buf.data(), -1, 2, 2, 2, false, false, false)
            .code() == StatusCode::kInvalidArgument);
  CHECK(cpu::LinearForward(buf.data(), buf.data(), nullptr, buf.data(), 1, -3, 2).code() ==
        StatusCode::kInvalidArgument);
  CHECK(!cpu::Linear::Create(buf.data(), nullptr, 0, 4).ok());
  CHECK(!cpu::Linear::Create(nullptr, nullptr, 4, 4).ok());
  auto layer = cpu::Linear::Create(buf.data(), nullptr, 4, 4);
  REQUIRE(layer.ok());
  CHECK((*layer)->Forward(buf.data(), 0, buf.data()).code() == StatusCode::kInvalidArgument);
  CHECK((*layer)->Forward(nullptr, 1, buf.data()).code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cosyflow::kernels
