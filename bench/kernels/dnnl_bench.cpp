// Kernel bench section for the oneDNN kernels: linear (f32/bf16 weights), batched matmul,
// conv1d, conv_transpose1d, plus memory-bandwidth probes. Each case is checked first.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/kernels/bench_kernels.h"
#include "runtime/dtype.h"
#include "runtime/kernels/cpu/conv.h"
#include "runtime/kernels/cpu/dnnl_context.h"
#include "runtime/kernels/cpu/linear.h"
#include "runtime/kernels/ref/activation.h"
#include "runtime/kernels/ref/conv.h"
#include "runtime/kernels/ref/linear.h"
#include "runtime/storage.h"

namespace cosyflow::bench {
namespace {

namespace kc = cosyflow::kernels;
using Json = nlohmann::json;

constexpr double kF32Tol = 1e-5;   // max |fast - ref| / max |ref|
constexpr double kBF16Tol = 1e-2;  // bf16 weights and activations, f32 accumulation
constexpr double kInt8Tol = 2e-2;  // int8 weights (per-row scale, 8 bits), f32 activations
constexpr double kInt16Tol = 2e-3;  // int16: 12-bit weights and 14-bit activations per row
// Linear weights are rotated over enough copies to exceed the 32 MiB L3 several times, so the
// M=1 numbers show the DRAM-bound decode case rather than cache-resident weights.
constexpr size_t kRotateBytes = size_t{96} << 20;

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

struct Errors {
  double max_abs = 0.0, max_ref = 0.0;
  void Add(const float* got, const float* ref, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      max_abs = std::max(max_abs, static_cast<double>(std::fabs(got[i] - ref[i])));
      max_ref = std::max(max_ref, static_cast<double>(std::fabs(ref[i])));
      if (std::isnan(got[i])) max_abs = INFINITY;
    }
  }
  double Rel() const { return max_ref > 0 ? max_abs / max_ref : max_abs; }
};

// Runs `fn` once to warm up, then repeatedly for at least min_seconds; returns ms per call.
double TimeMs(const std::function<void(int)>& fn, double min_seconds) {
  fn(0);
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  int iters = 0;
  double elapsed = 0.0;
  do {
    fn(++iters);
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < min_seconds || iters < 3);
  return elapsed * 1e3 / iters;
}

Json Case(const std::string& kernel, const std::string& shape, const std::string& dtype,
          const Errors& err, double tol, double ms, double flops) {
  Json j;
  j["kernel"] = kernel;
  j["shape"] = shape;
  j["dtype"] = dtype;
  j["max_abs_err"] = err.max_abs;
  j["max_rel_err"] = err.Rel();
  j["tolerance_rel"] = tol;
  j["ok"] = err.Rel() <= tol;
  j["ms"] = ms;
  j["gflops"] = flops / (ms * 1e6);
  return j;
}

Json Failed(const std::string& kernel, const std::string& shape, const Status& st) {
  return Json{{"kernel", kernel}, {"shape", shape}, {"ok", false}, {"error", st.ToString()}};
}

Json BenchLinear(int64_t m, int64_t n, int64_t k, kc::cpu::WeightType wt, double min_s,
                 kc::cpu::WeightLayout layout = kc::cpu::WeightLayout::kRowMajor) {
  const bool bf16 = wt == kc::cpu::WeightType::kBF16;
  const bool int8 = wt == kc::cpu::WeightType::kInt8;
  const bool int16 = wt == kc::cpu::WeightType::kInt16;
  const std::string shape = fmt::format("M={} N={} K={}", m, n, k);
  const std::string kernel = "linear";
  auto w = Random(n * k, 1), bias = Random(n, 2), x = Random(m * k, 3);
  const size_t wbytes = n * k * (int8 ? 1 : bf16 || int16 ? 2 : 4);
  const int copies = static_cast<int>(std::clamp<size_t>(kRotateBytes / wbytes + 1, 1, 32));
  std::vector<std::unique_ptr<kc::cpu::Linear>> layers;
  for (int c = 0; c < copies; ++c) {
    auto layer = kc::cpu::Linear::Create(w.data(), bias.data(), n, k, wt, layout);
    if (!layer.ok()) return Failed(kernel, shape, layer.status());
    layers.push_back(std::move(*layer));
  }
  std::vector<float> y(m * n), y_ref(n);
  if (Status st = layers[0]->Forward(x.data(), m, y.data()); !st.ok()) {
    return Failed(kernel, shape, st);
  }
  // Check rows 0, m/2 and m-1 against the reference (the full reference is slow).
  Errors err;
  for (int64_t row : {int64_t{0}, m / 2, m - 1}) {
    (void)kc::ref::LinearForward(x.data() + row * k, w.data(), bias.data(), y_ref.data(), 1, n, k);
    err.Add(y.data() + row * n, y_ref.data(), n);
  }
  const double ms =
      TimeMs([&](int i) { (void)layers[i % copies]->Forward(x.data(), m, y.data()); }, min_s);
  Json j = Case(kernel, shape,
                int8    ? "int8-weights"
                : bf16  ? "bf16-weights"
                : int16 ? "int16"
                        : "f32",
                err,
                int8    ? kInt8Tol
                : bf16  ? kBF16Tol
                : int16 ? kInt16Tol
                        : kF32Tol,
                ms, 2.0 * m * n * k);
  j["weight_gbps"] = wbytes / (ms * 1e6);
  j["rotated_weight_copies"] = copies;
  // "gemm" when WeightLayout::kGemm took effect (blocked weights, fixed-shape primitives).
  j["weight_layout"] = layers[0]->gemm_packed() ? "gemm" : "row_major";
  return j;
}

// The flow's feed-forward input product as the estimator runs it (f32 or bf16 weights): blocked
// layout, GELU (erf) applied as each output is stored, bf16 output bits (the next product's
// input) where the layer takes bf16 activations, else f32 output (the estimator's other branch);
// "ms_without_epilogue" times the same product without the GELU, so the epilogue's share shows.
// Checked against ref GELU(ref linear).
Json BenchLinearGelu(int64_t m, int64_t n, int64_t k, kc::cpu::WeightType wt, double min_s) {
  const std::string shape = fmt::format("M={} N={} K={}", m, n, k);
  const std::string kernel = "linear_gelu";
  using kc::cpu::LinearEpilogue;
  auto w = Random(n * k, 1), bias = Random(n, 2), x = Random(m * k, 3);
  const bool bf16 = wt == kc::cpu::WeightType::kBF16;
  auto created =
      kc::cpu::Linear::Create(w.data(), bias.data(), n, k, wt, kc::cpu::WeightLayout::kGemm);
  if (!created.ok()) return Failed(kernel, shape, created.status());
  const kc::cpu::Linear& layer = **created;
  const bool to_bf16 = layer.bf16_activations();
  std::vector<uint16_t> y16(to_bf16 ? m * n : 0);
  std::vector<float> y(to_bf16 ? 0 : m * n);
  auto run = [&](LinearEpilogue e) {
    return to_bf16 ? layer.ForwardToBf16(x.data(), m, y16.data(), e)
                   : layer.Forward(x.data(), m, y.data(), e);
  };
  if (Status st = run(LinearEpilogue::kGeluErf); !st.ok()) return Failed(kernel, shape, st);
  Errors err;
  std::vector<float> y_ref(n), got(n);
  for (int64_t row : {int64_t{0}, m / 2, m - 1}) {
    (void)kc::ref::LinearForward(x.data() + row * k, w.data(), bias.data(), y_ref.data(), 1, n, k);
    (void)kc::ref::GeluErf(y_ref.data(), n, y_ref.data());
    for (int64_t j = 0; j < n; ++j) {
      got[j] = to_bf16 ? BF16ToF32(y16[row * n + j]) : y[row * n + j];
    }
    err.Add(got.data(), y_ref.data(), n);
  }
  const double ms = TimeMs([&](int) { (void)run(LinearEpilogue::kGeluErf); }, min_s);
  const double ms_plain = TimeMs([&](int) { (void)run(LinearEpilogue::kNone); }, min_s);
  const bool int16 = wt == kc::cpu::WeightType::kInt16;
  Json j = Case(kernel, shape,
                bf16    ? "bf16-weights"
                : int16 ? "int16"
                        : "f32",
                err,
                bf16    ? kBF16Tol
                : int16 ? kInt16Tol
                        : kF32Tol,
                ms, 2.0 * m * n * k);
  j["output"] = to_bf16 ? "bf16" : "f32";
  j["ms_without_epilogue"] = ms_plain;
  j["weight_layout"] = layer.gemm_packed() ? "gemm" : "row_major";
  return j;
}

// Attention-like batched product: scores = alpha * q · K^T, then out = probs · V, per head.
Json BenchAttentionMatMul(int64_t heads, int64_t m, int64_t d, int64_t len, bool scores,
                          double min_s) {
  const std::string kernel = "batched_matmul";
  const std::string shape = scores ? fmt::format("{}x[{},{}]x[{},{}]^T", heads, m, d, len, d)
                                   : fmt::format("{}x[{},{}]x[{},{}]", heads, m, len, len, d);
  kc::MatMulParams p;
  p.batch = heads;
  p.m = m;
  p.n = scores ? len : d;
  p.k = scores ? d : len;
  p.trans_b = scores;
  p.alpha = scores ? 0.125f : 1.0f;
  auto a = Random(heads * p.m * p.k, 4), b = Random(heads * p.k * p.n, 5);
  std::vector<float> c(heads * p.m * p.n), c_ref(c.size());
  (void)kc::ref::MatMul(p, a.data(), b.data(), nullptr, c_ref.data());
  if (Status st = kc::cpu::MatMul(p, a.data(), b.data(), nullptr, c.data()); !st.ok()) {
    return Failed(kernel, shape, st);
  }
  Errors err;
  err.Add(c.data(), c_ref.data(), c.size());
  const double ms =
      TimeMs([&](int) { (void)kc::cpu::MatMul(p, a.data(), b.data(), nullptr, c.data()); }, min_s);
  return Case(kernel, shape, "f32", err, kF32Tol, ms, 2.0 * heads * p.m * p.n * p.k);
}

// Checks the first `check_oc` output channels against the reference (a full reference is slow).
Json BenchConv(const kc::Conv1dParams& p, int64_t t, const std::string& label, double min_s) {
  const std::string kernel = "conv1d";
  const std::string shape = fmt::format("{}: {}->{} k{} d{} s{} T={}", label, p.in_channels,
                                        p.out_channels, p.kernel_size, p.dilation, p.stride, t);
  auto layer_w = Random(p.out_channels * p.in_channels * p.kernel_size, 6);
  auto bias = Random(p.out_channels, 7), x = Random(p.in_channels * t, 8);
  auto layer = kc::cpu::Conv1d::Create(p, layer_w.data(), bias.data());
  if (!layer.ok()) return Failed(kernel, shape, layer.status());
  const int64_t t_out = *(*layer)->OutputLength(t);
  std::vector<float> y(p.out_channels * t_out);
  if (Status st = (*layer)->Forward(x.data(), 1, t, y.data()); !st.ok()) {
    return Failed(kernel, shape, st);
  }
  kc::Conv1dParams sub = p;
  sub.out_channels = std::min<int64_t>(8, p.out_channels);
  std::vector<float> y_ref(sub.out_channels * t_out);
  (void)kc::ref::Conv1dForward(sub, x.data(), 1, t, layer_w.data(), bias.data(), y_ref.data());
  Errors err;
  err.Add(y.data(), y_ref.data(), y_ref.size());
  const double ms = TimeMs([&](int) { (void)(*layer)->Forward(x.data(), 1, t, y.data()); }, min_s);
  return Case(kernel, shape, "f32", err, kF32Tol, ms,
              2.0 * p.out_channels * p.in_channels / p.groups * p.kernel_size * t_out);
}

Json BenchConvT(const kc::ConvTranspose1dParams& p, int64_t t, double min_s) {
  const std::string kernel = "conv_transpose1d";
  const std::string shape = fmt::format("{}->{} k{} s{} p{} T={}", p.in_channels, p.out_channels,
                                        p.kernel_size, p.stride, p.padding, t);
  auto w = Random(p.in_channels * p.out_channels * p.kernel_size, 9);
  auto bias = Random(p.out_channels, 10), x = Random(p.in_channels * t, 11);
  auto layer = kc::cpu::ConvTranspose1d::Create(p, w.data(), bias.data());
  if (!layer.ok()) return Failed(kernel, shape, layer.status());
  const int64_t t_out = *(*layer)->OutputLength(t);
  std::vector<float> y(p.out_channels * t_out);
  if (Status st = (*layer)->Forward(x.data(), 1, t, y.data()); !st.ok()) {
    return Failed(kernel, shape, st);
  }
  // Reference for the first 8 output channels: gather their weights from [C_in, C_out, K].
  kc::ConvTranspose1dParams sub = p;
  sub.out_channels = std::min<int64_t>(8, p.out_channels);
  std::vector<float> w_sub(p.in_channels * sub.out_channels * p.kernel_size);
  for (int64_t ic = 0; ic < p.in_channels; ++ic) {
    std::copy_n(w.data() + ic * p.out_channels * p.kernel_size, sub.out_channels * p.kernel_size,
                w_sub.data() + ic * sub.out_channels * p.kernel_size);
  }
  std::vector<float> y_ref(sub.out_channels * t_out);
  (void)kc::ref::ConvTranspose1dForward(sub, x.data(), 1, t, w_sub.data(), bias.data(),
                                        y_ref.data());
  Errors err;
  err.Add(y.data(), y_ref.data(), y_ref.size());
  const double ms = TimeMs([&](int) { (void)(*layer)->Forward(x.data(), 1, t, y.data()); }, min_s);
  return Case(kernel, shape, "f32", err, kF32Tol, ms,
              2.0 * p.in_channels * p.out_channels * p.kernel_size * t);
}

// Splits [0, n) over `threads` std::threads running fn(begin, end).
void Parallel(size_t n, int threads, const std::function<void(size_t, size_t)>& fn) {
  std::vector<std::thread> pool;
  const size_t chunk = (n / threads + 63) / 64 * 64;
  for (int t = 0; t < threads; ++t) {
    const size_t b = std::min(n, t * chunk), e = std::min(n, b + chunk);
    pool.emplace_back(fn, b, e);
  }
  for (auto& th : pool) th.join();
}

// Bandwidth floor probes: memcpy (read + write) and a streaming read (sum), on all threads.
std::vector<Json> BenchMemory(double min_s) {
  const size_t bytes = size_t{256} << 20, n = bytes / sizeof(float);
  const int threads = std::max(1, kc::cpu::DnnlNumThreads());
  std::unique_ptr<float, void (*)(void*)> src(static_cast<float*>(AlignedAlloc(bytes)),
                                              AlignedFree);
  std::unique_ptr<float, void (*)(void*)> dst(static_cast<float*>(AlignedAlloc(bytes)),
                                              AlignedFree);
  if (src == nullptr || dst == nullptr) {
    return {Json{{"kernel", "memcpy"}, {"ok", false}, {"error", "cannot allocate 2x256 MiB"}}};
  }
  Parallel(n, threads, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) src.get()[i] = static_cast<float>(i & 1023);
    std::memset(dst.get() + b, 0, (e - b) * sizeof(float));
  });
  const double copy_ms = TimeMs(
      [&](int) {
        Parallel(n, threads, [&](size_t b, size_t e) {
          std::memcpy(dst.get() + b, src.get() + b, (e - b) * sizeof(float));
        });
      },
      min_s);
  const bool copy_ok = std::memcmp(dst.get(), src.get(), bytes) == 0;
  std::vector<double> partial(threads);
  const double read_ms = TimeMs(
      [&](int) {
        Parallel(n, threads, [&](size_t b, size_t e) {
          float acc[16] = {};
          for (size_t i = b; i < e; i += 16) {
            for (int l = 0; l < 16; ++l) acc[l] += src.get()[i + l];
          }
          double s = 0;
          for (float a : acc) s += a;
          partial[b / std::max<size_t>(1, (n / threads + 63) / 64 * 64)] = s;
        });
      },
      min_s);
  double total = 0;
  for (double s : partial) total += s;
  Json copy{{"kernel", "memcpy"},
            {"bytes", bytes},
            {"threads", threads},
            {"ok", copy_ok},
            {"ms", copy_ms},
            {"gbps", bytes / (copy_ms * 1e6)},
            {"gbps_read_plus_write", 2.0 * bytes / (copy_ms * 1e6)}};
  Json read{{"kernel", "memread"}, {"bytes", bytes}, {"threads", threads},
            {"ok", total > 0},     {"ms", read_ms},  {"gbps", bytes / (read_ms * 1e6)}};
  return {copy, read};
}

}  // namespace

Json BenchDnnlKernels(const KernelBenchOptions& options) {
  kc::cpu::SetDnnlNumThreads(options.threads);
  const double min_s = options.min_seconds;
  Json cases = Json::array();
  using kc::cpu::WeightType;
  const std::pair<int64_t, int64_t> qwen_nk[] = {{896, 896}, {4864, 896}, {896, 4864}, {6564, 896}};
  for (WeightType wt : {WeightType::kF32, WeightType::kBF16, WeightType::kInt8}) {
    for (int64_t m : {1, 64, 128}) {  // 128: the LM's prefill chunk
      for (auto [n, k] : qwen_nk) cases.push_back(BenchLinear(m, n, k, wt, min_s));
    }
  }
  // The flow estimator's linears (qkv fused, out, ff in, ff out) at a first streaming chunk's
  // rows (56 frames x CFG 2), a 100-frame chunk's and a 650-frame final pass's; row-major
  // weights, then the layout the flow uses (WeightLayout::kGemm: blocked where oneDNN has
  // brgemm for the type, else the same as row-major), case by case.
  const std::pair<int64_t, int64_t> flow_nk[] = {{1536, 256}, {256, 512}, {1024, 256}, {256, 1024}};
  // int16 (the flow's precision "int16") has one layout, its panels.
  for (WeightType wt : {WeightType::kF32, WeightType::kBF16, WeightType::kInt16}) {
    for (int64_t m : {112, 212, 1300}) {
      for (auto [n, k] : flow_nk) {
        if (wt != WeightType::kInt16) cases.push_back(BenchLinear(m, n, k, wt, min_s));
        cases.push_back(BenchLinear(m, n, k, wt, min_s, kc::cpu::WeightLayout::kGemm));
      }
    }
  }
  for (WeightType wt : {WeightType::kF32, WeightType::kBF16, WeightType::kInt16}) {
    for (int64_t m : {100, 1300}) cases.push_back(BenchLinearGelu(m, 1024, 256, wt, min_s));
  }
  cases.push_back(BenchAttentionMatMul(14, 1, 64, 512, true, min_s));
  cases.push_back(BenchAttentionMatMul(14, 1, 64, 512, false, min_s));
  cases.push_back(BenchAttentionMatMul(14, 64, 64, 512, true, min_s));
  cases.push_back(BenchConv(
      {.in_channels = 512, .out_channels = 512, .kernel_size = 3, .pad_left = 1, .pad_right = 1},
      200, "same", min_s));
  cases.push_back(
      BenchConv({.in_channels = 256, .out_channels = 256, .kernel_size = 3, .pad_left = 2}, 200,
                "causal", min_s));
  cases.push_back(BenchConv({.in_channels = 256,
                             .out_channels = 256,
                             .kernel_size = 7,
                             .dilation = 3,
                             .pad_left = 9,
                             .pad_right = 9},
                            1600, "same", min_s));
  cases.push_back(BenchConv(
      {.in_channels = 80, .out_channels = 512, .kernel_size = 7, .pad_left = 3, .pad_right = 3},
      100, "conv_pre", min_s));
  cases.push_back(BenchConvT(
      {.in_channels = 512, .out_channels = 256, .kernel_size = 16, .stride = 8, .padding = 4}, 100,
      min_s));
  for (Json& j : BenchMemory(min_s)) cases.push_back(std::move(j));
  return cases;
}

}  // namespace cosyflow::bench
