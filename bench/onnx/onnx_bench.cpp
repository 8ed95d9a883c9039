// cosyflow-bench-onnx: speed of the native ONNX executor (runtime/onnx) on any model, or on a
// synthetic graph with the official speech tokenizer's heavy layers (random weights).
//
//   cosyflow-bench-onnx --model M.onnx --input NAME=FILE.npy... [--expect OUT0.npy] [--repeats R]
//   cosyflow-bench-onnx --synthetic-tokenizer [--frames T_mel] [--repeats R]
//
// The first form checks output 0 against --expect when given (exact for integer outputs, max abs
// error printed for float ones), then times R warm runs. An input file with fewer dims than the
// model input gets leading 1s (fbank80.npy [T, 80] feeds CAM++'s [1, T, 80]). The second builds,
// with the protobuf API, the official S3Tokenizer v2 encoder at full size without its cheap parts:
// conv1/conv2 (128->1280->1280, K 3, stride 2), 6 blocks of pre-LN attention (20 heads x 64,
// q/v/out with bias, key without) with the FSMN depthwise conv (K 31) on v, exact-GELU MLP
// 1280->5120->1280, and the FSQ projection 1280->8 (rotary, masks and the FSQ rounding are left
// out: <1% of the FLOPs). Prints JSON: load, first and best/median warm run times, GFLOP/s where
// known, and the per-op profile of the best run. Threads: OMP_NUM_THREADS.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "bench/onnx_synth.h"
#include "runtime/io/npy.h"
#include "runtime/onnx/model.h"

namespace {

using cosyflow::Dims;
using cosyflow::DType;
using cosyflow::Tensor;
using cosyflow::bench::SyntheticTokenizer;
using cosyflow::onnx::Model;

double Ms(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "cosyflow-bench-onnx: %s\n", msg.c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, expect;
  std::vector<std::pair<std::string, std::string>> inputs;
  bool synthetic = false;
  int64_t frames = 340;  // the 3.4 s en prompt of tests/fixtures/frontend-tiny
  int repeats = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model")
      model_path = value();
    else if (a == "--input") {
      const std::string v = value();
      const size_t eq = v.find('=');
      if (eq == std::string::npos) Die("--input wants NAME=FILE.npy");
      inputs.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (a == "--expect")
      expect = value();
    else if (a == "--synthetic-tokenizer")
      synthetic = true;
    else if (a == "--frames")
      frames = std::stoll(value());
    else if (a == "--repeats")
      repeats = std::max(1, std::stoi(value()));
    else
      Die("unknown argument " + a);
  }
  if (!synthetic && model_path.empty()) Die("give --model M.onnx or --synthetic-tokenizer");

  nlohmann::json report;
  double flops = 0;
  auto t0 = std::chrono::steady_clock::now();
  cosyflow::Result<std::shared_ptr<const Model>> model = cosyflow::Internal("not loaded");
  std::vector<Tensor> in;
  if (synthetic) {
    const std::string bytes = SyntheticTokenizer(frames, &flops);
    report["model"] = "synthetic full-size tokenizer (random weights)";
    report["model_bytes"] = bytes.size();
    t0 = std::chrono::steady_clock::now();
    model = Model::LoadFromBytes({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                                 "synthetic_tokenizer.onnx");
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> feats(static_cast<size_t>(128 * frames));
    for (float& f : feats) f = nd(rng);
    in.push_back(*Tensor::FromVector<float>(Dims{1, 128, frames}, feats));
  } else {
    report["model"] = model_path;
    model = Model::Load(model_path);
  }
  if (!model.ok()) Die(model.status().ToString());
  report["load_ms"] = Ms(t0);
  if (!synthetic) {
    for (const auto& vi : (*model)->inputs()) {
      auto it =
          std::find_if(inputs.begin(), inputs.end(), [&](auto& p) { return p.first == vi.name; });
      if (it == inputs.end()) Die("no --input for model input '" + vi.name + "'");
      auto t = cosyflow::ReadNpy(it->second);
      if (!t.ok()) Die(t.status().ToString());
      Tensor x = *t;
      while (x.dim() < static_cast<int>(vi.dims.size())) x = *x.Unsqueeze(0);  // [T,80] -> [1,T,80]
      in.push_back(x);
    }
  }

  t0 = std::chrono::steady_clock::now();
  auto first = (*model)->Run(in);
  if (!first.ok()) Die(first.status().ToString());
  report["first_run_ms"] = Ms(t0);
  const Tensor& out0 = (*first)[0];
  report["output0"] = out0.ToString();
  for (int64_t i = 0; i < out0.numel() && out0.dtype() == DType::kF32; ++i) {
    if (!std::isfinite(out0.data<float>()[i])) Die("output 0 is not finite");
  }
  if (!expect.empty()) {
    auto want = cosyflow::ReadNpy(expect);
    if (!want.ok()) Die(want.status().ToString());
    if (want->shape() != out0.shape()) Die("output 0 shape differs from --expect");
    auto a = out0.To(DType::kF32), b = want->To(DType::kF32);
    double max_abs = 0;
    for (int64_t i = 0; i < a->numel(); ++i) {
      max_abs = std::max<double>(max_abs, std::fabs(a->data<float>()[i] - b->data<float>()[i]));
    }
    report["expect_max_abs"] = max_abs;
    if (out0.dtype() != DType::kF32 && max_abs != 0) Die("integer output 0 differs from --expect");
  }

  std::vector<double> times;
  cosyflow::onnx::RunProfile best_profile;
  for (int r = 0; r < repeats; ++r) {
    cosyflow::onnx::RunProfile prof;
    auto out = (*model)->Run(in, &prof);
    if (!out.ok()) Die(out.status().ToString());
    times.push_back(prof.total_ms);
    if (prof.total_ms <= *std::min_element(times.begin(), times.end())) best_profile = prof;
  }
  std::sort(times.begin(), times.end());
  report["warm_best_ms"] = times.front();
  report["warm_median_ms"] = times[times.size() / 2];
  if (flops > 0) {
    report["gflop_per_call"] = flops * 1e-9;
    report["gflops_best"] = flops * 1e-9 / (times.front() * 1e-3);
  }
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& e : best_profile.by_op) {
    ops.push_back({{"op", e.op_type}, {"calls", e.calls}, {"ms", e.ms}});
  }
  report["profile_best"] = ops;
  report["omp_num_threads"] = std::getenv("OMP_NUM_THREADS") ? std::getenv("OMP_NUM_THREADS") : "";
  std::printf("%s\n", report.dump(1).c_str());
  return 0;
}
