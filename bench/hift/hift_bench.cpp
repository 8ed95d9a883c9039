// cosyflow-bench-hift: HiFT vocoder speed at the real CosyVoice2 shapes (random weights).
//
//   cosyflow-bench-hift [--frames N] [--repeats R]
//
// Builds the release-shape HiftVocoder (20.8 M parameters) from random weights, checks the
// output (finite, within +-audio_limit, right length), then times non-streaming synthesis of N
// mel frames (default 100 = 2 s) and token2wav streaming chunks, and prints JSON (best and
// median of the repeats, process CPU time of the best, 1-minute load average at start).
//
// Threads: OMP_NUM_THREADS (default: all cores). The vocoder splits convolutions by output
// columns and runs a stage's resblocks side by side, so a 2-thread run meets at ~80 barriers
// per call instead of one per kernel tap. On a machine shared with other busy processes,
// libgomp's default spin-waiting at those barriers burns time slices the other thread needs;
// OMP_WAIT_POLICY=passive (or a small GOMP_SPINCOUNT) then gives a better median, the same best
// (measured with this bench, see the hift closing note). The library sets no environment
// variables: the launcher chooses.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "nodes/hift/hift_config.h"
#include "nodes/hift/hift_session.h"
#include "nodes/hift/hift_vocoder.h"
#include "runtime/build_info.h"
#include "runtime/kernels/cpu/dnnl_context.h"
#include "runtime/kernels/cpu/kernel_table.h"

namespace {

using cosyflow::Checkpoint;
using cosyflow::CheckpointEntry;
using cosyflow::Dims;
using cosyflow::Tensor;
using cosyflow::hift::HiftConfig;

struct RandomCkpt {
  std::mt19937 rng{1234};
  std::vector<CheckpointEntry> entries;
  void Add(const std::string& name, const Dims& shape, float scale, float offset = 0.0f) {
    std::uniform_real_distribution<float> u(-scale, scale);
    std::vector<float> v(static_cast<size_t>(shape.Product()));
    for (float& x : v) x = offset + u(rng);
    entries.push_back({name, *Tensor::FromVector<float>(shape, std::span<const float>(v))});
  }
  void Conv(const std::string& name, int cout, int cin, int k) {
    Add(name + ".weight", Dims{cout, cin, k}, 1.0f / std::sqrt(float(cin * k)));
    Add(name + ".bias", Dims{cout}, 0.01f);
  }
  void ResBlock(const std::string& name, int c, int k, size_t n) {
    for (size_t j = 0; j < n; ++j) {
      const std::string js = std::to_string(j);
      Conv(name + ".convs1." + js, c, c, k);
      Conv(name + ".convs2." + js, c, c, k);
      Add(name + ".activations1." + js + ".alpha", Dims{c}, 0.1f, 1.0f);
      Add(name + ".activations2." + js + ".alpha", Dims{c}, 0.1f, 1.0f);
    }
  }
};

Checkpoint MakeCheckpoint(const HiftConfig& c) {
  RandomCkpt r;
  for (int i = 0; i < 5; ++i) {
    r.Conv("f0_predictor.condnet." + std::to_string(2 * i), c.f0_cond_channels,
           i == 0 ? c.in_channels : c.f0_cond_channels, 3);
  }
  r.Add("f0_predictor.classifier.weight", Dims{1, c.f0_cond_channels}, 0.05f);
  r.Add("f0_predictor.classifier.bias", Dims{1}, 0.0f, 5.0f);
  r.Add("m_source.l_linear.weight", Dims{1, c.nb_harmonics + 1}, 0.3f);
  r.Add("m_source.l_linear.bias", Dims{1}, 0.01f);
  r.Conv("conv_pre", c.base_channels, c.in_channels, 7);
  int down = 1;
  for (int s = 1; s < c.num_stages(); ++s) down *= c.upsample_rates[static_cast<size_t>(s)];
  for (int i = 0; i < c.num_stages(); ++i) {
    const int k = c.upsample_kernel_sizes[static_cast<size_t>(i)];
    const int cin = c.base_channels >> i, cout = c.StageChannels(i);
    const std::string is = std::to_string(i);
    r.Add("ups." + is + ".weight", Dims{cin, cout, k}, 1.0f / std::sqrt(float(cin * k)));
    r.Add("ups." + is + ".bias", Dims{cout}, 0.01f);
    r.Conv("source_downs." + is, cout, c.n_fft + 2, down == 1 ? 1 : 2 * down);
    if (i + 1 < c.num_stages()) down /= c.upsample_rates[static_cast<size_t>(i + 1)];
    r.ResBlock("source_resblocks." + is, cout,
               c.source_resblock_kernel_sizes[static_cast<size_t>(i)],
               c.source_resblock_dilation_sizes[static_cast<size_t>(i)].size());
    const size_t nk = c.resblock_kernel_sizes.size();
    for (size_t m = 0; m < nk; ++m) {
      r.ResBlock("resblocks." + std::to_string(i * nk + m), cout, c.resblock_kernel_sizes[m],
                 c.resblock_dilation_sizes[m].size());
    }
  }
  r.Conv("conv_post", c.n_fft + 2, c.StageChannels(c.num_stages() - 1), 7);
  return *Checkpoint::FromEntries("random-hift", std::move(r.entries));
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// CPU time of the whole process (all threads): on a shared machine it shows the work done
// independent of how much of the wall time the scheduler gave to this process.
double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  int frames = 100, repeats = 5;
  auto precision = cosyflow::hift::HiftPrecision::kF32;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--frames")) frames = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--repeats")) repeats = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--precision")) {
      if (std::strcmp(argv[i + 1], "f32") != 0 && std::strcmp(argv[i + 1], "bf16") != 0) {
        std::fprintf(stderr, "hift bench: --precision takes f32 or bf16, got '%s'\n", argv[i + 1]);
        return 2;
      }
      if (!std::strcmp(argv[i + 1], "bf16")) precision = cosyflow::hift::HiftPrecision::kBF16;
    }
  }
  const HiftConfig cfg = HiftConfig::Release();
  auto vocoder = cosyflow::hift::HiftVocoder::FromCheckpoint(MakeCheckpoint(cfg), cfg, precision);
  if (!vocoder.ok()) {
    std::fprintf(stderr, "hift bench: %s\n", vocoder.status().ToString().c_str());
    return 1;
  }
  const int spf = cfg.SamplesPerFrame();
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(-5.0f, 2.0f);
  const int max_frames = std::max(frames, 208);
  std::vector<float> mel(static_cast<size_t>(cfg.in_channels) * max_frames);
  for (float& x : mel) x = nd(rng);

  cosyflow::hift::HiftSessionOptions opt;  // random noise, as in production
  cosyflow::hift::HiftSession session(*vocoder, opt);
  std::vector<float> speech;
  // Check first: right length, finite, within the clamp.
  if (auto st = session.Synthesize(mel.data(), max_frames, frames, &speech); !st.ok()) {
    std::fprintf(stderr, "hift bench: %s\n", st.ToString().c_str());
    return 1;
  }
  bool ok = speech.size() == static_cast<size_t>(frames) * spf;
  double peak = 0;
  for (float x : speech) {
    ok = ok && std::isfinite(x) && std::fabs(x) <= cfg.audio_limit;
    peak = std::max(peak, double(std::fabs(x)));
  }
  if (!ok) {
    std::fprintf(stderr, "hift bench: output check failed\n");
    return 1;
  }
  double last_cpu = 0;     // process CPU seconds of the best repeat
  double last_median = 0;  // median wall seconds of the repeats
  auto time_best = [&](auto&& fn) {
    double best = 1e30;
    std::vector<double> walls;
    for (int r = 0; r < repeats; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      const double c0 = ProcessCpuSeconds();
      fn();
      const double wall = Seconds(std::chrono::steady_clock::now() - t0);
      walls.push_back(wall);
      if (wall < best) {
        best = wall;
        last_cpu = ProcessCpuSeconds() - c0;
      }
    }
    std::sort(walls.begin(), walls.end());
    last_median = walls[walls.size() / 2];
    return best;
  };
  double load[3] = {0, 0, 0};
  (void)getloadavg(load, 3);
  const double nonstream = time_best([&] {
    (void)session.Synthesize(mel.data(), max_frames, frames, &speech);
  });
  nlohmann::json out;
  out["bench"] = "hift";
  out["params"] = (*vocoder)->num_params();
  out["config"] = cfg.ToString();
  out["build"] = cosyflow::BuildInfo();
  const char* omp = std::getenv("OMP_NUM_THREADS");
  out["omp_num_threads"] = omp != nullptr ? omp : "default";
  out["threads"] = cosyflow::kernels::cpu::DnnlNumThreads();
  out["loadavg_1min_at_start"] = load[0];
  out["check"] = {{"samples", speech.size()}, {"peak", peak}};
  out["precision"] = cosyflow::hift::HiftPrecisionName(precision);
  const char* products = cosyflow::kernels::cpu::Kernels().bf16_products_name;
  out["bf16_products"] = products[0] != '\0' ? products : "emulated";
  if (precision != cosyflow::hift::HiftPrecision::kF32) {
    // The same random weights and noise in f32: how far the reduced precision moves the audio.
    auto ref = cosyflow::hift::HiftVocoder::FromCheckpoint(MakeCheckpoint(cfg), cfg);
    if (!ref.ok()) {
      std::fprintf(stderr, "hift bench: %s\n", ref.status().ToString().c_str());
      return 1;
    }
    std::vector<float> ref_speech;
    cosyflow::hift::HiftSession rs(*ref, opt), bs(*vocoder, opt);
    if (!rs.Synthesize(mel.data(), max_frames, frames, &ref_speech).ok() ||
        !bs.Synthesize(mel.data(), max_frames, frames, &speech).ok() ||
        ref_speech.size() != speech.size()) {
      std::fprintf(stderr, "hift bench: the f32 comparison run failed\n");
      return 1;
    }
    double max_abs = 0, err2 = 0, sig2 = 0, ref_peak = 0;
    for (size_t i = 0; i < speech.size(); ++i) {
      const double d = double(speech[i]) - double(ref_speech[i]);
      max_abs = std::max(max_abs, std::fabs(d));
      err2 += d * d;
      sig2 += double(ref_speech[i]) * double(ref_speech[i]);
      ref_peak = std::max(ref_peak, double(std::fabs(ref_speech[i])));
    }
    out["vs_f32"] = {{"max_abs", max_abs},
                     {"f32_peak", ref_peak},
                     {"snr_db", 10.0 * std::log10(sig2 / std::max(err2, 1e-300))}};
  }
  const double audio_s = double(frames) * spf / cfg.sampling_rate;
  out["nonstream"] = {{"frames", frames},
                      {"audio_s", audio_s},
                      {"best_s", nonstream},
                      {"median_s", last_median},
                      {"cpu_s", last_cpu},
                      {"s_per_audio_s", nonstream / audio_s},
                      {"reference_pytorch_2s", 0.39},
                      {"target_2s", 0.15}};
  // Streaming: per-chunk time of token2wav calls (8 cached frames + new frames).
  nlohmann::json chunks = nlohmann::json::array();
  for (int fresh : {50, 100, 200}) {
    cosyflow::hift::HiftSession s(*vocoder, opt);
    std::vector<float> out_audio;
    (void)s.Push(mel.data(), max_frames, 8, false, &out_audio);  // prime the caches
    // Every later non-final Push runs the vocoder on 8 cached + `fresh` frames.
    const double chunk_s = time_best([&] {
      out_audio.clear();
      (void)s.Push(mel.data() + 8, max_frames, fresh, false, &out_audio);
    });
    const double chunk_audio = double(fresh) * spf / cfg.sampling_rate;
    chunks.push_back({{"new_frames", fresh}, {"vocoder_frames", fresh + 8},
                      {"best_s", chunk_s}, {"median_s", last_median}, {"cpu_s", last_cpu},
                      {"audio_s", chunk_audio}, {"s_per_audio_s", chunk_s / chunk_audio}});
  }
  out["stream_chunks"] = chunks;
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
