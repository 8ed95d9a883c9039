// The arithmetic peak the GEMM and attention figures are read against: independent FMA chains
// (no loads) of the kernel variant in force, on 1 thread and on the team, measured rather than
// computed from a nominal clock (VMs and turbo make that guess unreliable).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <immintrin.h>

#include "bench/kernels/bench_kernels.h"
#include "runtime/cpu_isa.h"
#include "runtime/kernels/cpu/dnnl_context.h"

namespace cosyflow::bench {
namespace {

// 12 accumulators: enough independent chains to cover the FMA latency on current x86 cores.
constexpr int kChains = 12;
constexpr long kIters = 20'000'000;

// The accumulators' lanes summed (the sink that keeps the loops from being optimized away).
__attribute__((target("avx512f"))) float SumLanes(const __m512 (&acc)[kChains]) {
  alignas(64) float t[16];
  float s = 0;
  for (const auto& c : acc) {
    _mm512_store_ps(t, c);
    for (float v : t) s += v;
  }
  return s;
}

// Each returns FLOPs done; the result feeds a sink so the loop is not optimized away.
__attribute__((target("avx512f"))) double FmaAvx512(float* sink) {
  __m512 acc[kChains];
  for (auto& a : acc) a = _mm512_set1_ps(0.0f);
  __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-3f);
  for (long it = 0; it < kIters; ++it) {
    for (auto& c : acc) c = _mm512_fmadd_ps(c, a, b);
    __asm__ volatile("" : "+v"(a));
  }
  *sink = SumLanes(acc);
  return 2.0 * 16 * kChains * static_cast<double>(kIters);
}

__attribute__((target("avx512f,avx512bf16"))) double DotBf16(float* sink) {
  __m512 acc[kChains];
  for (auto& a : acc) a = _mm512_set1_ps(0.0f);
  auto a = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3f80));  // 1.0
  const auto b = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3a83));  // ~1e-3
  for (long it = 0; it < kIters; ++it) {
    for (auto& c : acc) c = _mm512_dpbf16_ps(c, a, b);
    __asm__ volatile("" : "+v"(a));
  }
  *sink = SumLanes(acc);
  return 2.0 * 32 * kChains * static_cast<double>(kIters);
}

__attribute__((target("avx2,fma"))) double FmaAvx2(float* sink) {
  __m256 acc[kChains];
  for (auto& a : acc) a = _mm256_set1_ps(0.0f);
  __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-3f);
  for (long it = 0; it < kIters; ++it) {
    for (auto& c : acc) c = _mm256_fmadd_ps(c, a, b);
    __asm__ volatile("" : "+v"(a));
  }
  alignas(32) float t[8];
  float s = 0;
  for (auto& c : acc) {
    _mm256_store_ps(t, c);
    for (float v : t) s += v;
  }
  *sink = s;
  return 2.0 * 8 * kChains * static_cast<double>(kIters);
}

// GFLOP/s of `fn` run at once on `threads` threads (sum over threads).
double Rate(double (*fn)(float*), int threads) {
  std::vector<double> flops(static_cast<size_t>(threads)), secs(static_cast<size_t>(threads));
  std::vector<float> sinks(static_cast<size_t>(threads));
  std::atomic<int> ready{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < threads) std::this_thread::yield();
      const auto t0 = std::chrono::steady_clock::now();
      flops[static_cast<size_t>(t)] = fn(&sinks[static_cast<size_t>(t)]);
      secs[static_cast<size_t>(t)] =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    });
  }
  for (auto& th : pool) th.join();
  double total = 0;
  for (int t = 0; t < threads; ++t) total += flops[static_cast<size_t>(t)] / secs[static_cast<size_t>(t)];
  return total / 1e9;
}

}  // namespace

nlohmann::json MeasurePeak() {
  const CpuIsa isa = SelectedCpuIsa();
  const int team = std::max(1, kernels::cpu::DnnlNumThreads());
  nlohmann::json j{{"isa", std::string(CpuIsaName(isa))}, {"threads", team}};
  if (isa == CpuIsa::kScalar) {
    j["note"] = "scalar variant: no vector FMA peak measured";
    return j;
  }
  double (*f32)(float*) = isa == CpuIsa::kAvx512 ? FmaAvx512 : FmaAvx2;
  j["f32_fma_gflops_1_thread"] = Rate(f32, 1);
  j["f32_fma_gflops"] = Rate(f32, team);
  if (isa == CpuIsa::kAvx512 && DetectedCpuFeatures().avx512_bf16) {
    j["bf16_dot_gflops_1_thread"] = Rate(DotBf16, 1);
    j["bf16_dot_gflops"] = Rate(DotBf16, team);
  }
  return j;
}

void AddPeakFractions(const nlohmann::json& peak, nlohmann::json& cases) {
  for (auto& c : cases) {
    if (!c.contains("gflops") || !c["gflops"].is_number()) continue;
    const std::string kernel = c.value("kernel", ""), shape = c.value("shape", "");
    const std::string dtype = c.value("dtype", "");
    // Memory-bound cases (GEMV at m = 1, decode attention) are read by their bytes per second.
    if (shape.rfind("M=1 ", 0) == 0 || kernel == "attention_decode") continue;
    // cpu::Attention runs on the calling thread; the oneDNN cases on the team.
    const bool one_thread = kernel.rfind("attention", 0) == 0;
    // bf16 weights (and int8 weights above m = 1: bf16 tiles) and the bf16 attention run on
    // vdpbf16ps where the CPU has it.
    const bool bf16_math = peak.contains("bf16_dot_gflops") &&
                           (dtype == "bf16-weights" || dtype == "int8-weights" ||
                            kernel.find("_bf16") != std::string::npos);
    const char* key = bf16_math ? (one_thread ? "bf16_dot_gflops_1_thread" : "bf16_dot_gflops")
                                : (one_thread ? "f32_fma_gflops_1_thread" : "f32_fma_gflops");
    const double peak_gflops = peak.value(key, 0.0);
    // Masked attention: the keys each row sees, not the dense count.
    const double rate = c.value("gflops_visible", c["gflops"].get<double>());
    if (peak_gflops > 0) c["peak_fraction"] = rate / peak_gflops;
  }
}

}  // namespace cosyflow::bench
