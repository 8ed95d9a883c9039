// cosyflow-bench-llm: the speech LM at the real CosyVoice2-0.5B shapes with random weights built
// in memory (f32 and bf16 weights): prefill time, decode ms/token, the memory-bandwidth floor
// and RSS, printed as JSON. Checks first: finite logits, KV-cached decode == full recompute,
// bf16 close to f32.
//
//   cosyflow-bench-llm [--quick] [--decode-steps N] [--context N] [--precisions f32,bf16,int8]
//                      [--prefill 127,200]   (prefill lengths timed; small ones for emulated CPUs)
//                      [--device cpu|cuda]   (cuda: f32/bf16 on device 0, checked against the
//                                             CPU f32 logits; the floor uses the device's
//                                             copy bandwidth)
//
// The bf16 / int8 comparisons with f32 logits need f32 in --precisions (it always runs first).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench/read_bandwidth.h"
#include "nodes/llm/speech_lm.h"
#include "runtime/build_info.h"
#include "runtime/kernels/cpu/dnnl_context.h"
#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/cpu/softmax.h"
#ifdef COSYFLOW_WITH_CUDA
#include "runtime/kernels/cuda/llm_ops.h"
#endif

namespace {

using cosyflow::Dims;
using cosyflow::DType;
using cosyflow::Result;
using cosyflow::SpeechLm;
using cosyflow::SpeechLmConfig;
using cosyflow::Tensor;
using cosyflow::kernels::cpu::WeightType;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Resident set size and its peak, MiB (from /proc/self/status).
std::pair<double, double> RssMiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  double rss = 0, hwm = 0;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) rss = std::stod(line.substr(6)) / 1024;
    if (line.rfind("VmHWM:", 0) == 0) hwm = std::stod(line.substr(6)) / 1024;
  }
  return {rss, hwm};
}

// Deterministic weights: norms 1, biases and matrices uniform in ±scale (per-name stream).
Result<Tensor> RandomWeight(const std::string& name, const Dims& shape) {
  auto t = Tensor::Empty(shape, DType::kF32);
  if (!t.ok()) return t;
  float* p = t->data<float>();
  const int64_t n = t->numel();
  if (name.find("norm") != std::string::npos) {
    std::fill(p, p + n, 1.0f);
    return t;
  }
  uint64_t s = std::hash<std::string>{}(name) | 1;
  const float scale = shape.size() == 2 ? 1.0f / std::sqrt(static_cast<float>(shape[1])) : 0.02f;
  for (int64_t i = 0; i < n; ++i) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    p[i] = scale * (static_cast<float>(s >> 40) * 0x1.0p-23f - 1.0f);
  }
  return t;
}

struct RunResult {
  nlohmann::json json;
  std::vector<float> step0_logits;
};

// Fills x [n, H] with embeddings of text/speech rows (a realistic mix of table rows).
void FillInputs(const SpeechLm& lm, int64_t n, std::vector<float>* x) {
  std::vector<cosyflow::SpeechLmRow> rows;
  for (int64_t i = 0; i < n; ++i) {
    rows.push_back(i % 3 == 0 ? cosyflow::SpeechLmRow{cosyflow::SpeechLmTable::kSpeech,
                                                      static_cast<int32_t>((i * 97) % 6561)}
                              : cosyflow::SpeechLmRow{cosyflow::SpeechLmTable::kText,
                                                      static_cast<int32_t>((i * 7919) % 151936)});
  }
  x->resize(static_cast<size_t>(n * lm.config().qwen.hidden_size));
  (void)lm.Embed(rows, x->data());
}

// The 1-minute load average: other processes on the 2 cores make OpenMP teams wait.
double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double load = -1;
  in >> load;
  return load;
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "cosyflow-bench-llm: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  int decode_steps = 20;
  int64_t context = 300;
  std::string precisions = "f32,bf16,int8";
  std::vector<int64_t> prefill = {127, 200};
  std::string device_name = "cpu";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true, decode_steps = 5;
    else if (a == "--decode-steps" && i + 1 < argc) decode_steps = std::stoi(argv[++i]);
    else if (a == "--context" && i + 1 < argc) context = std::stoll(argv[++i]);
    else if (a == "--precisions" && i + 1 < argc) precisions = argv[++i];
    else if (a == "--device" && i + 1 < argc) device_name = argv[++i];
    else if (a == "--prefill" && i + 1 < argc) {
      prefill.clear();
      std::string list = argv[++i];
      for (size_t at = 0; at <= list.size();) {
        const size_t comma = std::min(list.find(',', at), list.size());
        const std::string item = list.substr(at, comma - at);
        char* end = nullptr;
        const long long n = std::strtoll(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || n < 1 || n > 4096) {
          return Fail("--prefill takes lengths 1..4096 separated by commas, got '" + list + "'");
        }
        prefill.push_back(n);
        at = comma + 1;
      }
    } else return Fail("unknown argument " + a);
  }
  if (context < 1 || decode_steps < 1) return Fail("--context and --decode-steps must be >= 1");
  if (device_name != "cpu" && device_name != "cuda") return Fail("--device is cpu or cuda");
  const cosyflow::Device device =
      device_name == "cuda" ? cosyflow::Device::kCuda : cosyflow::Device::kCpu;
  const SpeechLmConfig config;  // release shapes (spec §5.1)
  const int64_t v = config.speech_vocab();
  nlohmann::json out;
  out["bench"] = "llm";
  out["build"] = cosyflow::BuildInfo();
  out["config"] = config.qwen.ToString();
  out["threads"] = cosyflow::kernels::cpu::DnnlNumThreads();
  out["load_average_1min_start"] = LoadAverage();
  out["device"] = device_name;
  double bw1 = 0, bw2 = 0;  // host read rates; on cuda bw2 is the device's copy rate
  if (device == cosyflow::Device::kCuda) {
#ifdef COSYFLOW_WITH_CUDA
    out["cuda_device"] = cosyflow::cuda::DeviceName();
    bw2 = cosyflow::cuda::CopyBandwidthGBps(size_t{1} << 30);
    out["device_copy_bandwidth_gbps"] = bw2;
#else
    return Fail("--device cuda: this build has no CUDA backend");
#endif
  } else {
    bw1 = cosyflow::bench::ReadBandwidth(1), bw2 = cosyflow::bench::ReadBandwidth(2);
    out["read_bandwidth_gbps"] = {{"1_thread", bw1}, {"2_threads", bw2}};
  }
  out["reference_pytorch_f32_2threads"] = {{"prefill_127_s", 2.37}, {"decode_ms_per_token", 325}};
  std::vector<float> f32_logits, cpu_f32_logits;

  std::vector<WeightType> types;
  for (WeightType wt : {WeightType::kF32, WeightType::kBF16, WeightType::kInt8}) {
    const std::string name = cosyflow::kernels::cpu::WeightTypeName(wt);
    if (("," + precisions + ",").find("," + name + ",") != std::string::npos) types.push_back(wt);
  }
  if (types.empty()) return Fail("--precisions names none of f32, bf16, int8: " + precisions);
  for (WeightType wt : types) {
    const char* wname = cosyflow::kernels::cpu::WeightTypeName(wt);
    const auto rss0 = RssMiB();
    auto t0 = Clock::now();
    auto created = SpeechLm::Create(config, RandomWeight, {wt, device});
    if (!created.ok()) return Fail(created.status().ToString());
    std::unique_ptr<SpeechLm> lm = std::move(created).value();
    const double create_s = Seconds(t0, Clock::now());
    nlohmann::json j;
    j["create_s"] = create_s;
    j["decode_weight_bytes"] = lm->decode_weight_bytes();

    std::vector<float> x, logits(static_cast<size_t>(v)), ref(static_cast<size_t>(v));
    // --- check: a KV-cached decode step equals the full recompute of the same 128 rows ---
    FillInputs(*lm, 128, &x);
    auto full = lm->NewState(128);
    auto inc = lm->NewState(128);
    if (!full.ok() || !inc.ok()) return Fail("state allocation failed");
    if (!lm->Forward(full->get(), x.data(), 128, ref.data()).ok()) return Fail("forward failed");
    if (!lm->Forward(inc->get(), x.data(), 127, logits.data()).ok()) return Fail("forward failed");
    if (!lm->Forward(inc->get(), x.data() + 127 * config.qwen.hidden_size, 1, logits.data()).ok())
      return Fail("forward failed");
    float kv_diff = 0, scale = 0;
    bool finite = true;
    for (int64_t i = 0; i < v; ++i) {
      finite = finite && std::isfinite(logits[i]);
      kv_diff = std::max(kv_diff, std::fabs(logits[i] - ref[i]));
      scale = std::max(scale, std::fabs(ref[i]));
    }
    if (!finite) return Fail("non-finite logits");
    j["check_kv_vs_full_max_abs"] = kv_diff;
    j["check_logit_scale"] = scale;
    // bf16 rounds every linear's input to bf16: the cached and the full forward differ by f32
    // summation order (~1e-7), which can flip a bf16 rounding (2^-8 relative) and grows to
    // ~2e-3 of the logit scale. cpu::Linear itself gives one row the same result alone or in
    // a batch (gemv_test.cpp).
    // int8 keeps x in f32 for m <= 16 rows (the decode step) but rounds it to bf16 in the
    // larger-m tiles of the full recompute: the same bound as bf16.
    const float tol = (wt == WeightType::kF32 ? 1e-3f : 3e-2f) * std::max(1.0f, scale);
    if (kv_diff > tol) {
      return Fail(fmt::format("{}: KV-cached decode differs from the full recompute by {} (> {})",
                              wname, kv_diff, tol));
    }
    if (device == cosyflow::Device::kCuda && cpu_f32_logits.empty()) {
      // The CPU f32 model's logits for the same 128 rows: the device path's cross-check.
      auto cpu = SpeechLm::Create(config, RandomWeight, {WeightType::kF32});
      if (!cpu.ok()) return Fail(cpu.status().ToString());
      auto cs = (*cpu)->NewState(128);
      if (!cs.ok()) return Fail("state allocation failed");
      cpu_f32_logits.resize(static_cast<size_t>(v));
      if (!(*cpu)->Forward(cs->get(), x.data(), 128, cpu_f32_logits.data()).ok())
        return Fail("cpu forward failed");
    }
    if (!cpu_f32_logits.empty()) {
      float d = 0;
      for (int64_t i = 0; i < v; ++i) d = std::max(d, std::fabs(ref[i] - cpu_f32_logits[i]));
      j["check_vs_cpu_f32_max_abs_logit"] = d;
      if (wt == WeightType::kF32 && d > 1e-3f * std::max(1.0f, scale)) {
        return Fail(fmt::format("cuda f32 logits differ from the cpu's by {}", d));
      }
    }
    if (wt == WeightType::kF32) {
      f32_logits = ref;
    } else if (!f32_logits.empty()) {
      float d = 0;
      for (int64_t i = 0; i < v; ++i) d = std::max(d, std::fabs(ref[i] - f32_logits[i]));
      const auto am = [&](const std::vector<float>& z) {
        return std::max_element(z.begin(), z.end()) - z.begin();
      };
      j["check_vs_f32_max_abs_logit"] = d;
      j["check_vs_f32_same_argmax"] = am(ref) == am(f32_logits);
    }

    // --- prefill: 127 positions (reference layout size) and 200 positions, or --prefill ---
    for (int64_t n : prefill) {
      FillInputs(*lm, n, &x);
      auto st = lm->NewState(n);
      if (!st.ok()) return Fail("state allocation failed");
      std::vector<double> times;
      for (int rep = 0; rep < (quick ? 1 : 3); ++rep) {
        (*st)->Reset();
        auto a = Clock::now();
        if (!lm->Forward(st->get(), x.data(), n, logits.data()).ok()) return Fail("prefill");
        times.push_back(Seconds(a, Clock::now()));
      }
      const double s = Median(times);
      j[fmt::format("prefill_{}_s", n)] = s;
      j[fmt::format("prefill_{}_s_min", n)] = *std::min_element(times.begin(), times.end());
      j[fmt::format("prefill_{}_tokens_per_s", n)] = n / s;
    }

    // --- decode: one position at context `context`, + log-softmax + greedy pick ---
    FillInputs(*lm, context, &x);
    auto st = lm->NewState(context + decode_steps + 1);
    if (!st.ok()) return Fail("state allocation failed");
    if (!lm->Forward(st->get(), x.data(), context, logits.data()).ok()) return Fail("prefill");
    std::vector<float> row(static_cast<size_t>(config.qwen.hidden_size)), logp(logits.size());
    std::vector<double> step_ms;
    int32_t token = 0;
    for (int i = 0; i < decode_steps + 1; ++i) {
      const cosyflow::SpeechLmRow r{cosyflow::SpeechLmTable::kSpeech, token};
      auto a = Clock::now();
      (void)lm->Embed({&r, 1}, row.data());
      if (!lm->Forward(st->get(), row.data(), 1, logits.data()).ok()) return Fail("decode");
      (void)cosyflow::kernels::cpu::LogSoftmax(logits.data(), 1, v, logp.data());
      token = static_cast<int32_t>(std::max_element(logp.begin(), logp.begin() + 6561) -
                                   logp.begin());
      if (i > 0) step_ms.push_back(Seconds(a, Clock::now()) * 1e3);  // first step = warm-up
    }
    const double decode_ms = Median(step_ms);
    j["decode_context"] = context;
    j["decode_ms_per_token_median"] = decode_ms;
    j["decode_ms_per_token_min"] = *std::min_element(step_ms.begin(), step_ms.end());
    const double floor_ms = lm->decode_weight_bytes() / (bw2 * 1e9) * 1e3;
    j["bandwidth_floor_ms"] = floor_ms;
    j["decode_over_floor"] = decode_ms / floor_ms;
    j["decode_min_over_floor"] = j["decode_ms_per_token_min"].get<double>() / floor_ms;
    if (device == cosyflow::Device::kCpu) {  // the GEMV variant the decode step ran on
      const auto& kt = cosyflow::kernels::cpu::Kernels();
      j["decode_gemv_kernel"] = wt == WeightType::kInt8   ? kt.gemv_i8_name
                                : wt == WeightType::kBF16 ? kt.gemv_bf16_name
                                                          : "f32 fma";
      j["decode_gemv_prefetch"] = kt.gemv_prefetch;
      // and the product behind the prefill's linears (m > 8)
      if (wt == WeightType::kInt8) {
        j["prefill_gemm_kernel"] = cosyflow::kernels::cpu::Int8ManyRowsKernel();
      } else if (wt == WeightType::kF32) {
        j["prefill_gemm_kernel"] = kt.gemm_f32 != nullptr
                                       ? fmt::format("{} f32 tile (gemm_f32)", kt.name)
                                       : std::string("oneDNN f32 matmul");
      } else {
        j["prefill_gemm_kernel"] = kt.gemm_bf16_f32 != nullptr
                                       ? "avx2 f32 tile on widened rows (gemm_bf16_f32)"
                                       : "oneDNN matmul (bf16 where the CPU has one)";
      }
    }
    // The recorded reference figures are PyTorch on 2 CPU threads: a ratio only for the CPU
    // path (on cuda, bench/llm/torch_qwen2_timing.py times PyTorch on the same GPU).
    if (device == cosyflow::Device::kCpu) j["speedup_vs_reference_decode"] = 325.0 / decode_ms;
    if (device == cosyflow::Device::kCpu && j.contains("prefill_127_s")) {
      j["speedup_vs_reference_prefill_127"] = 2.37 / j["prefill_127_s"].get<double>();
    }
    const auto rss1 = RssMiB();
    j["rss_mib_model_and_states"] = rss1.first - rss0.first;
    j["rss_mib_process"] = rss1.first;
    j["rss_peak_mib_process"] = rss1.second;
    out[wname] = j;
    lm.reset();  // free ~2 GB before the next variant
  }
  out["load_average_1min_end"] = LoadAverage();
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
