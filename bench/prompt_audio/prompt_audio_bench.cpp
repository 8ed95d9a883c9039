// cosyflow-bench-prompt-audio: prompt-audio front end speed (resampling and the three features).
//
//   cosyflow-bench-prompt-audio [--fixtures DIR] [--seconds S] [--repeats R]
//
// Checks first: the first prompt of DIR/manifest.json (default: the frontend-tiny copy in
// tests/fixtures) is loaded, resampled and featurized and compared with its goldens (1e-4 on
// waveforms, whisper mel and Matcha mel). Then times, single-threaded, on a signal of S seconds
// (default 10) made by repeating that prompt: whisper log-mel 128 (16 kHz), Kaldi fbank 80
// (16 kHz, mean-normalised), Matcha mel 80 (24 kHz); and the resampler on a 30 s 44.1 kHz
// signal to 16 and 24 kHz, plus building each kernel. Prints JSON (best and median in ms).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nodes/prompt_audio/prompt_audio.h"
#include "runtime/io/npy.h"

namespace {

using namespace cosyflow;
using namespace cosyflow::prompt_audio;

double MaxAbs(const float* a, const float* b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::abs(static_cast<double>(a[i]) - b[i]));
  return m;
}

// Best and median wall time of `repeats` runs, in ms.
nlohmann::json Time(int repeats, const std::function<void()>& fn) {
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return {{"best_ms", ms.front()}, {"median_ms", ms[ms.size() / 2]}};
}

bool Check(bool ok, const std::string& what) {
  if (!ok) std::fprintf(stderr, "check failed: %s\n", what.c_str());
  return ok;
}

bool CheckAgainst(const std::vector<float>& got, const std::string& npy, const std::string& what,
                  nlohmann::json* report) {
  auto want = ReadNpy(npy);
  if (!Check(want.ok(), npy)) return false;
  if (!Check(want->numel() == static_cast<int64_t>(got.size()), what + " size")) return false;
  double err = MaxAbs(got.data(), want->data<float>(), want->numel());
  (*report)[what + "_max_abs_error"] = err;
  return Check(err <= 1e-4, what + " within 1e-4");
}

std::vector<float> TensorValues(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = std::string(COSYFLOW_SOURCE_DIR) + "/tests/fixtures/frontend-tiny";
  double seconds = 10.0;
  int repeats = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--fixtures"))
      dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--seconds"))
      seconds = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--repeats"))
      repeats = std::max(1, std::atoi(argv[i + 1]));
  }
  std::ifstream mf(dir + "/manifest.json");
  if (!Check(mf.good(), "open " + dir + "/manifest.json")) return 1;
  const auto manifest = nlohmann::json::parse(mf);
  const std::string name = manifest.at("prompts").at(0).at("name").get<std::string>();
  const std::string p = dir + "/" + name + "/";

  // --- check
  nlohmann::json report;
  auto wav = LoadPromptWaveforms(p + "prompt.wav");
  if (!Check(wav.ok(), wav.ok() ? "" : wav.status().ToString())) return 1;
  auto whisper = WhisperLogMel::Create(128);
  auto fbank = KaldiFbank::Create(80, 16000);
  auto matcha = MatchaMel::Create();
  if (!Check(whisper.ok() && fbank.ok() && matcha.ok(), "create extractors")) return 1;
  bool ok = CheckAgainst(wav->x16k, p + "x16k.npy", "x16k", &report) &&
            CheckAgainst(wav->x24k, p + "x24k.npy", "x24k", &report) &&
            CheckAgainst(TensorValues(*whisper->Compute(wav->x16k)), p + "whisper_mel128.npy",
                         "whisper_mel128", &report) &&
            CheckAgainst(TensorValues(*matcha->Compute(wav->x24k)), p + "prompt_mel24k.npy",
                         "prompt_mel24k", &report);
  if (!ok) return 1;

  // --- time features on S seconds (the prompt repeated)
  auto tile = [](const std::vector<float>& x, size_t n) {
    std::vector<float> y(n);
    for (size_t i = 0; i < n; ++i) y[i] = x[i % x.size()];
    return y;
  };
  const auto x16 = tile(wav->x16k, static_cast<size_t>(seconds * 16000));
  const auto x24 = tile(wav->x24k, static_cast<size_t>(seconds * 24000));
  report["prompt"] = name;
  report["seconds"] = seconds;
  report["repeats"] = repeats;
  report["whisper_logmel128"] = Time(repeats, [&] { (void)whisper->Compute(x16); });
  report["kaldi_fbank80_mean_normalised"] =
      Time(repeats, [&] { (void)fbank->ComputeMeanNormalized(x16); });
  report["matcha_mel80"] = Time(repeats, [&] { (void)matcha->Compute(x24); });

  // --- time the resampler: 30 s at 44.1 kHz (the prompt resampled up, then tiled)
  auto up = SincResampler::Create(24000, 44100);
  std::vector<float> x441_prompt;
  if (!Check(up.ok() && (*up)->Resample(wav->x24k, &x441_prompt).ok(), "24k->44.1k")) return 1;
  const auto x441 = tile(x441_prompt, 30 * 44100);
  for (int target : {16000, 24000}) {
    const std::string key = "resample_30s_44100_to_" + std::to_string(target);
    report[key + "_kernel_build"] =
        Time(std::min(repeats, 5), [&] { (void)SincResampler::Create(44100, target); });
    auto r = SincResampler::Create(44100, target);
    std::vector<float> out;
    report[key] = Time(repeats, [&] { (void)(*r)->Resample(x441, &out); });
  }
  std::printf("%s\n", report.dump(2).c_str());
  return 0;
}
