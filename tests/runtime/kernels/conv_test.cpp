// Tests for cpu conv1d / conv_transpose1d kernels against the reference loops in ref/conv.h.
#include "runtime/kernels/cpu/conv.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "runtime/dtype.h"
#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/ref/conv.h"
#include "tests/runtime/kernels/kernel_test_util.h"

namespace cosyflow::kernels {
namespace {

using test::CheckClose;
using test::RandomVector;

// f32 kernels differ from the double-accumulated reference only by summation order.
constexpr double kF32Tol = 1e-5;

std::string Describe(const Conv1dParams& p, int64_t batch, int64_t t) {
  return fmt::format("conv1d B={} Cin={} Cout={} K={} T={} s={} d={} g={} pad=({},{})", batch,
                     p.in_channels, p.out_channels, p.kernel_size, t, p.stride, p.dilation,
                     p.groups, p.pad_left, p.pad_right);
}

std::string Describe(const ConvTranspose1dParams& p, int64_t batch, int64_t t) {
  return fmt::format("conv_transpose1d B={} Cin={} Cout={} K={} T={} s={} p={} op={} d={} g={}",
                     batch, p.in_channels, p.out_channels, p.kernel_size, t, p.stride, p.padding,
                     p.output_padding, p.dilation, p.groups);
}

void CheckConv(const Conv1dParams& p, int64_t batch, int64_t t, bool with_bias, uint32_t seed) {
  auto t_out = Conv1dOutputLength(p, t);
  REQUIRE_MESSAGE(t_out.ok(), t_out.status().ToString());
  auto x = RandomVector(batch * p.in_channels * t, seed);
  auto w = RandomVector(p.out_channels * (p.in_channels / p.groups) * p.kernel_size, seed + 1);
  auto b = RandomVector(p.out_channels, seed + 2);
  const size_t n_out = batch * p.out_channels * *t_out;
  std::vector<float> y_ref(n_out), y_fast(n_out, 1e6f), y_layer(n_out, 1e6f);
  const float* bp = with_bias ? b.data() : nullptr;
  REQUIRE(ref::Conv1dForward(p, x.data(), batch, t, w.data(), bp, y_ref.data()).ok());
  Status st = cpu::Conv1dForward(p, x.data(), batch, t, w.data(), bp, y_fast.data());
  REQUIRE_MESSAGE(st.ok(), Describe(p, batch, t), ": ", st.ToString());
  CheckClose(y_fast, y_ref, kF32Tol, Describe(p, batch, t));
  auto layer = cpu::Conv1d::Create(p, w.data(), bp);
  REQUIRE(layer.ok());
  w.assign(w.size(), 0.0f);  // the layer must hold its own copy
  REQUIRE((*layer)->Forward(x.data(), batch, t, y_layer.data()).ok());
  CheckClose(y_layer, y_ref, kF32Tol, "layer " + Describe(p, batch, t));
}

void CheckConvT(const ConvTranspose1dParams& p, int64_t batch, int64_t t, bool with_bias,
                uint32_t seed) {
  auto t_out = ConvTranspose1dOutputLength(p, t);
  REQUIRE_MESSAGE(t_out.ok(), t_out.status().ToString());
  auto x = RandomVector(batch * p.in_channels * t, seed);
  auto w = RandomVector(p.in_channels * (p.out_channels / p.groups) * p.kernel_size, seed + 1);
  auto b = RandomVector(p.out_channels, seed + 2);
  const size_t n_out = batch * p.out_channels * *t_out;
  std::vector<float> y_ref(n_out), y_fast(n_out, 1e6f), y_layer(n_out, 1e6f);
  const float* bp = with_bias ? b.data() : nullptr;
  REQUIRE(ref::ConvTranspose1dForward(p, x.data(), batch, t, w.data(), bp, y_ref.data()).ok());
  Status st = cpu::ConvTranspose1dForward(p, x.data(), batch, t, w.data(), bp, y_fast.data());
  REQUIRE_MESSAGE(st.ok(), Describe(p, batch, t), ": ", st.ToString());
  CheckClose(y_fast, y_ref, kF32Tol, Describe(p, batch, t));
  auto layer = cpu::ConvTranspose1d::Create(p, w.data(), bp);
  REQUIRE(layer.ok());
  w.assign(w.size(), 0.0f);
  REQUIRE((*layer)->Forward(x.data(), batch, t, y_layer.data()).ok());
  CheckClose(y_layer, y_ref, kF32Tol, "layer " + Describe(p, batch, t));
}

TEST_CASE("ref::Conv1dOutputLength: follows PyTorch formulas") {
  Conv1dParams c{.in_channels = 4,
                 .out_channels = 4,
                 .kernel_size = 7,
                 .stride = 3,
                 .dilation = 2,
                 .groups = 1,
                 .pad_left = 5,
                 .pad_right = 1};
  CHECK(*Conv1dOutputLength(c, 20) == (20 + 6 - 13) / 3 + 1);
  ConvTranspose1dParams t{
      .in_channels = 512, .out_channels = 256, .kernel_size = 16, .stride = 8, .padding = 4};
  CHECK(*ConvTranspose1dOutputLength(t, 100) == 800);  // HiFT ups[0]: x8 upsampling
  t.output_padding = 3;
  t.dilation = 2;
  CHECK(*ConvTranspose1dOutputLength(t, 10) == 9 * 8 - 8 + 2 * 15 + 3 + 1);
}

TEST_CASE("cpu::Conv1dForward: matches reference over stride, dilation, groups, padding") {
  uint32_t seed = 1;
  for (int64_t k : {1, 3, 7}) {
    for (int64_t stride : {1, 2, 3}) {
      for (int64_t dilation : {1, 3}) {
        for (int64_t groups : {1, 3}) {
          Conv1dParams p{.in_channels = groups * 5,
                         .out_channels = 9,
                         .kernel_size = k,
                         .stride = stride,
                         .dilation = dilation,
                         .groups = groups};
          p.pad_left = (k - 1) * dilation;  // causal
          CheckConv(p, 1, 17, seed % 2 == 0, seed);
          ++seed;
          p.pad_left = (k - 1) * dilation / 2;  // "same"
          p.pad_right = (k - 1) * dilation - p.pad_left;
          CheckConv(p, 2, 33, seed % 2 == 0, seed);
          ++seed;
          p.pad_left = 0;  // none
          p.pad_right = 0;
          if (*Conv1dOutputLength(p, 40) > 0) CheckConv(p, 1, 40, true, seed++);
        }
      }
    }
  }
}

TEST_CASE("cpu::Conv1dForward: model-like shapes (HiFT, flow estimator)") {
  // conv_pre 80->512 k7 same; resblock 64 ch k11 d5 same; causal k3; 1x1; strided source down.
  CheckConv(
      {.in_channels = 80, .out_channels = 512, .kernel_size = 7, .pad_left = 3, .pad_right = 3}, 1,
      50, true, 11);
  CheckConv({.in_channels = 64,
             .out_channels = 64,
             .kernel_size = 11,
             .dilation = 5,
             .pad_left = 25,
             .pad_right = 25},
            1, 301, true, 12);
  CheckConv({.in_channels = 96, .out_channels = 65, .kernel_size = 3, .pad_left = 2}, 2, 31, true,
            13);
  CheckConv({.in_channels = 33, .out_channels = 17, .kernel_size = 1}, 3, 7, false, 14);
  CheckConv({.in_channels = 18,
             .out_channels = 128,
             .kernel_size = 30,
             .stride = 15,
             .pad_left = 7,
             .pad_right = 8},
            1, 300, true, 15);
}

TEST_CASE("cpu::ConvTranspose1dForward: matches reference") {
  uint32_t seed = 100;
  for (int64_t k : {1, 4, 7}) {
    for (int64_t stride : {1, 2, 3}) {
      for (int64_t dilation : {1, 2}) {
        for (int64_t groups : {1, 2}) {
          for (int64_t pad : {0, 1, 3}) {
            ConvTranspose1dParams p{.in_channels = 4 * groups,
                                    .out_channels = 3 * groups,
                                    .kernel_size = k,
                                    .stride = stride,
                                    .padding = pad,
                                    .dilation = dilation,
                                    .groups = groups};
            p.output_padding = std::max(stride, dilation) - 1;
            if (!ConvTranspose1dOutputLength(p, 9).ok()) continue;
            CheckConvT(p, 1 + seed % 2, 9, seed % 3 != 0, seed);
            ++seed;
            p.output_padding = 0;
            if (!ConvTranspose1dOutputLength(p, 9).ok()) continue;
            CheckConvT(p, 1, 9, true, seed++);
          }
        }
      }
    }
  }
}

TEST_CASE("cpu::ConvTranspose1dForward: HiFT upsampling shapes") {
  CheckConvT({.in_channels = 64, .out_channels = 32, .kernel_size = 16, .stride = 8, .padding = 4},
             1, 20, true, 201);
  CheckConvT({.in_channels = 32, .out_channels = 16, .kernel_size = 11, .stride = 5, .padding = 3},
             1, 23, true, 202);
  CheckConvT({.in_channels = 16, .out_channels = 8, .kernel_size = 7, .stride = 3, .padding = 2}, 2,
             41, true, 203);
  // output_padding > padding with no input reaching the tail (the output is all bias).
  CheckConvT({.in_channels = 3,
              .out_channels = 2,
              .kernel_size = 1,
              .stride = 3,
              .padding = 1,
              .output_padding = 2},
             2, 1, true, 204);
  CheckConvT({.in_channels = 3,
              .out_channels = 2,
              .kernel_size = 2,
              .stride = 4,
              .padding = 1,
              .output_padding = 3},
             1, 6, true, 205);
}

TEST_CASE("cpu::Conv1d: concurrent Forward with varying T is consistent") {
  const Conv1dParams p{
      .in_channels = 16, .out_channels = 24, .kernel_size = 3, .dilation = 3, .pad_left = 6};
  auto w = RandomVector(24 * 16 * 3, 1), b = RandomVector(24, 2);
  auto layer = cpu::Conv1d::Create(p, w.data(), b.data());
  REQUIRE(layer.ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&, th] {
      for (int it = 0; it < 15; ++it) {
        const int64_t t = 5 + (th * 3 + it) % 9;
        auto x = RandomVector(16 * t, 100 * th + it);
        std::vector<float> y(24 * t), y_ref(24 * t);
        if (!(*layer)->Forward(x.data(), 1, t, y.data()).ok()) ++failures;
        (void)ref::Conv1dForward(p, x.data(), 1, t, w.data(), b.data(), y_ref.data());
        if (!(test::MaxRelDiff(y, y_ref) <= kF32Tol)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
}

TEST_CASE("cpu::Conv1d: bad arguments return errors") {
  std::vector<float> buf(4096, 1.0f);
  const float* w = buf.data();
  float* y = buf.data() + 2048;
  Conv1dParams p{.in_channels = 6, .out_channels = 4, .kernel_size = 3, .groups = 4};
  CHECK(cpu::Conv1dForward(p, buf.data(), 1, 10, w, nullptr, y).code() ==
        StatusCode::kInvalidArgument);  // groups do not divide in_channels
  CHECK(ref::Conv1dForward(p, buf.data(), 1, 10, w, nullptr, y).code() ==
        StatusCode::kInvalidArgument);
  CHECK(!cpu::Conv1d::Create(p, w, nullptr).ok());
  p.groups = 2;
  CHECK(cpu::Conv1dForward(p, buf.data(), 0, 10, w, nullptr, y).code() ==
        StatusCode::kInvalidArgument);  // batch 0
  CHECK(cpu::Conv1dForward(p, buf.data(), 1, -1, w, nullptr, y).code() ==
        StatusCode::kInvalidArgument);  // negative T
  CHECK(cpu::Conv1dForward(p, buf.data(), 1, 2, w, nullptr, y).code() ==
        StatusCode::kInvalidArgument);  // shorter than the kernel
  CHECK(cpu::Conv1dForward(p, nullptr, 1, 10, w, nullptr, y).code() ==
        StatusCode::kInvalidArgument);
  p.stride = 0;
  CHECK(!cpu::Conv1d::Create(p, w, nullptr).ok());
  p.stride = 1;
  p.pad_left = -1;
  CHECK(cpu::Conv1dForward(p, buf.data(), 1, 10, w, nullptr, y).code() ==
        StatusCode::kInvalidArgument);
  ConvTranspose1dParams t{.in_channels = 4,
                          .out_channels = 4,
                          .kernel_size = 3,
                          .stride = 2,
                          .padding = 1,
                          .output_padding = 2};
  CHECK(cpu::ConvTranspose1dForward(t, buf.data(), 1, 5, w, nullptr, y).code() ==
        StatusCode::kInvalidArgument);  // output_padding >= stride
  t.output_padding = 0;
  t.padding = 10;
  CHECK(cpu::ConvTranspose1dForward(t, buf.data(), 1, 2, w, nullptr, y).code() ==
        StatusCode::kInvalidArgument);  // output length < 1
  t.padding = 1;
  t.groups = 3;
  CHECK(!cpu::ConvTranspose1d::Create(t, w, nullptr).ok());
  t.groups = 1;
  CHECK(!cpu::ConvTranspose1d::Create(t, nullptr, nullptr).ok());
  auto layer = cpu::ConvTranspose1d::Create(t, w, nullptr);
  REQUIRE(layer.ok());
  CHECK((*layer)->Forward(buf.data(), -2, 5, y).code() == StatusCode::kInvalidArgument);
}

TEST_CASE("cpu::Conv1d: layers split long outputs across threads and match reference") {
  // Long enough for several column blocks; odd lengths leave a ragged last block.
  CheckConv({.in_channels = 24,
             .out_channels = 40,
             .kernel_size = 5,
             .dilation = 3,
             .pad_left = 9,
             .pad_right = 2},
            2, 517, true, 31);
  CheckConv({.in_channels = 18, .out_channels = 32, .kernel_size = 6, .stride = 3, .pad_left = 1,
             .pad_right = 1},
            2, 701, false, 32);
  // Short outputs with many channels split the output rows instead (ragged last row block).
  CheckConv({.in_channels = 40, .out_channels = 200, .kernel_size = 3, .pad_left = 1,
             .pad_right = 1},
            2, 37, true, 34);
  CheckConv({.in_channels = 18, .out_channels = 150, .kernel_size = 4, .stride = 2, .pad_left = 1,
             .pad_right = 1},
            2, 61, false, 35);
  CheckConvT({.in_channels = 32,
              .out_channels = 16,
              .kernel_size = 7,
              .stride = 3,
              .padding = 2,
              .output_padding = 1},
             2, 251, true, 33);
}

// ConvMath::kBF16 against its definition: the reference loops (double sums) on the bf16-rounded
// weights and inputs. Only the f32 summation differs (vdpbf16ps sums pairs of exact products;
// the emulation runs sgemm), so the f32 tolerance holds.
void CheckBf16Conv(const Conv1dParams& p, int64_t batch, int64_t t, bool with_bias, uint32_t seed,
                   bool in_parallel = false) {
  const std::string what = fmt::format(
      "bf16 {} ({})", Describe(p, batch, t),
      cpu::Kernels().conv1d_bf16 != nullptr ? cpu::Kernels().bf16_products_name : "emulated");
  auto t_out = Conv1dOutputLength(p, t);
  REQUIRE_MESSAGE(t_out.ok(), t_out.status().ToString());
  auto x = RandomVector(batch * p.in_channels * t, seed);
  auto w = RandomVector(p.out_channels * p.in_channels * p.kernel_size, seed + 1, -0.5f, 0.5f);
  auto b = RandomVector(p.out_channels, seed + 2);
  const float* bp = with_bias ? b.data() : nullptr;
  auto round = [](std::vector<float> v) {
    for (float& e : v) e = BF16ToF32(F32ToBF16(e));
    return v;
  };
  const std::vector<float> xr = round(x), wr = round(w);
  const size_t n_out = batch * p.out_channels * *t_out;
  std::vector<float> y_def(n_out), y_f32(n_out), y(n_out, 1e6f);
  REQUIRE(ref::Conv1dForward(p, xr.data(), batch, t, wr.data(), bp, y_def.data()).ok());
  REQUIRE(ref::Conv1dForward(p, x.data(), batch, t, w.data(), bp, y_f32.data()).ok());
  auto layer = cpu::Conv1d::Create(p, w.data(), bp, cpu::ConvMath::kBF16);
  REQUIRE(layer.ok());
  CHECK((*layer)->math() == cpu::ConvMath::kBF16);
  w.assign(w.size(), 0.0f);  // the layer must hold its own copy
  Status st;
  if (in_parallel) {
#pragma omp parallel num_threads(2)
    {
#pragma omp single
      st = (*layer)->Forward(x.data(), batch, t, y.data());
    }
  } else {
    st = (*layer)->Forward(x.data(), batch, t, y.data());
  }
  REQUIRE_MESSAGE(st.ok(), what, ": ", st.ToString());
  CheckClose(y, y_def, kF32Tol, what);
  // The test can tell bf16 from f32: the rounding moves the outputs far beyond the tolerance.
  CHECK_MESSAGE(test::MaxRelDiff(y_f32, y_def) > 100 * kF32Tol, what);
}

TEST_CASE("cpu::Conv1d bf16: equals the bf16-rounded definition in this ISA variant") {
  // Release HiFT shapes (dilated k 3/7/11 resblock convs, conv_pre, conv_post) at short lengths,
  // and ragged ones: odd C_in (a zero partner channel), C_out not a multiple of the 8-row tile,
  // lengths not a multiple of the 48-column tile or shorter than it, asymmetric and oversized
  // padding, batch 2.
  CheckBf16Conv({.in_channels = 256,
                 .out_channels = 256,
                 .kernel_size = 3,
                 .dilation = 5,
                 .pad_left = 5,
                 .pad_right = 5},
                1, 211, true, 41);
  CheckBf16Conv({.in_channels = 64,
                 .out_channels = 64,
                 .kernel_size = 11,
                 .dilation = 3,
                 .pad_left = 15,
                 .pad_right = 15},
                1, 1000, true, 42);
  CheckBf16Conv(
      {.in_channels = 80, .out_channels = 512, .kernel_size = 7, .pad_left = 3, .pad_right = 3}, 1,
      53, true, 43);
  CheckBf16Conv(
      {.in_channels = 64, .out_channels = 18, .kernel_size = 7, .pad_left = 3, .pad_right = 3}, 2,
      301, true, 44);
  CheckBf16Conv({.in_channels = 13,
                 .out_channels = 21,
                 .kernel_size = 4,
                 .dilation = 2,
                 .pad_left = 6,
                 .pad_right = 0},
                2, 97, false, 45);
  CheckBf16Conv(
      {.in_channels = 3, .out_channels = 5, .kernel_size = 5, .pad_left = 9, .pad_right = 7}, 1, 4,
      true, 46);
  CheckBf16Conv({.in_channels = 32,
                 .out_channels = 40,
                 .kernel_size = 3,
                 .dilation = 1,
                 .pad_left = 1,
                 .pad_right = 1},
                1, 1, true, 47);
  // Called from inside a parallel region (HiFT's resblock workers): one thread, same result.
  CheckBf16Conv({.in_channels = 128,
                 .out_channels = 128,
                 .kernel_size = 7,
                 .dilation = 3,
                 .pad_left = 9,
                 .pad_right = 9},
                1, 777, true, 48, /*in_parallel=*/true);
}

TEST_CASE("cpu::Conv1d bf16: a layer made under one variant runs under every other") {
  // Made with the vdpbf16ps kernel at hand, a layer keeps only the packed weights (the
  // emulation widens them per call); made without it, it also keeps the widened copy. Either
  // layer gives the definition's result under every variant this CPU runs.
  struct Restore {
    ~Restore() { (void)cpu::UseKernelIsa(SelectedCpuIsa()); }
  } restore;
  const Conv1dParams p{.in_channels = 33,
                       .out_channels = 20,
                       .kernel_size = 5,
                       .dilation = 2,
                       .pad_left = 4,
                       .pad_right = 4};
  const int64_t t = 150;
  auto x = RandomVector(p.in_channels * t, 61);
  auto w = RandomVector(p.out_channels * p.in_channels * p.kernel_size, 62, -0.5f, 0.5f);
  auto b = RandomVector(p.out_channels, 63);
  std::vector<float> xr = x, wr = w;
  for (float& e : xr) e = BF16ToF32(F32ToBF16(e));
  for (float& e : wr) e = BF16ToF32(F32ToBF16(e));
  std::vector<float> y_def(p.out_channels * t), y(y_def.size());
  REQUIRE(ref::Conv1dForward(p, xr.data(), 1, t, wr.data(), b.data(), y_def.data()).ok());
  for (int made = 0; made <= static_cast<int>(DetectedCpuIsa()); ++made) {
    REQUIRE(cpu::UseKernelIsa(CpuIsa(made)).ok());
    auto layer = cpu::Conv1d::Create(p, w.data(), b.data(), cpu::ConvMath::kBF16);
    REQUIRE(layer.ok());
    for (int run = 0; run <= static_cast<int>(DetectedCpuIsa()); ++run) {
      REQUIRE(cpu::UseKernelIsa(CpuIsa(run)).ok());
      std::fill(y.begin(), y.end(), 1e6f);
      REQUIRE((*layer)->Forward(x.data(), 1, t, y.data()).ok());
      CheckClose(y, y_def, kF32Tol,
                 fmt::format("made under {}, run under {}", CpuIsaName(CpuIsa(made)),
                             CpuIsaName(CpuIsa(run))));
    }
  }
}

TEST_CASE("cpu::Conv1d bf16: strided and grouped layers stay f32") {
  const Conv1dParams strided{.in_channels = 8,
                             .out_channels = 8,
                             .kernel_size = 4,
                             .stride = 2,
                             .pad_left = 1,
                             .pad_right = 1};
  const Conv1dParams grouped{.in_channels = 8,
                             .out_channels = 8,
                             .kernel_size = 3,
                             .groups = 2,
                             .pad_left = 1,
                             .pad_right = 1};
  for (const Conv1dParams& p : {strided, grouped}) {
    auto w = RandomVector(p.out_channels * (p.in_channels / p.groups) * p.kernel_size, 5);
    auto x = RandomVector(p.in_channels * 50, 6);
    auto t_out = Conv1dOutputLength(p, 50);
    REQUIRE(t_out.ok());
    std::vector<float> y_ref(p.out_channels * *t_out), y(y_ref.size());
    REQUIRE(ref::Conv1dForward(p, x.data(), 1, 50, w.data(), nullptr, y_ref.data()).ok());
    auto layer = cpu::Conv1d::Create(p, w.data(), nullptr, cpu::ConvMath::kBF16);
    REQUIRE(layer.ok());
    CHECK((*layer)->math() == cpu::ConvMath::kF32);
    REQUIRE((*layer)->Forward(x.data(), 1, 50, y.data()).ok());
    CheckClose(y, y_ref, kF32Tol, Describe(p, 1, 50));
  }
}

}  // namespace
}  // namespace cosyflow::kernels
