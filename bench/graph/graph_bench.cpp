// Graph runtime micro-benchmark: per-message overhead and resampler-graph throughput; JSON out.
//
// Overhead: a graph of one identity Resampler (24000 -> 24000, chunks pass through without
// copying) measures the runtime's cost per message: routing, queues, oneTBB scheduling.
// Throughput: a 24000 -> 16000 Resampler graph with 1, 8 and 64 concurrent sessions, reported
// as seconds of audio processed per wall second.
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include "graph/pipeline.h"
#include "runtime/build_info.h"

namespace cosyflow {
namespace {

std::string Graph(int out_rate) {
  return fmt::format(R"({{"format": 1, "limits": {{"max_in_flight": 16, "max_sessions": 256}},
    "inputs": [{{"name": "audio", "to": "r.in"}}], "outputs": [{{"name": "audio", "from": "r.out"}}],
    "nodes": [{{"id": "r", "type": "Resampler", "options": {{"output_rate": {}}}}}]}})", out_rate);
}

struct Run {
  double seconds = 0;
  int64_t out_samples = 0;
  bool ok = true;
};

// Runs `sessions` sessions, each pushing `chunks` chunks of `chunk` samples from its own thread.
Run RunSessions(Pipeline& p, int sessions, int chunks, int chunk) {
  std::vector<float> x(chunk);
  for (int i = 0; i < chunk; ++i) x[i] = 0.3f * std::sin(0.01f * i);
  Audio a = *Audio::FromSamples(x, 24000);
  std::atomic<int64_t> out{0};
  std::vector<SessionId> ids;
  for (int s = 0; s < sessions; ++s) {
    ids.push_back(*p.Submit({.on_output = [&out](const std::string&, const MessagePtr& m) {
      if (const Audio* au = m->get<Audio>()) out += au->size();
    }}));
  }
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int s = 0; s < sessions; ++s) {
    threads.emplace_back([&, s] {
      for (int c = 0; c < chunks; ++c) (void)p.Push(ids[s], "audio", a);
      (void)p.EndInput(ids[s]);
    });
  }
  for (auto& t : threads) t.join();
  Run r;
  for (SessionId id : ids) {
    auto res = p.Wait(id);
    r.ok = r.ok && res.ok() && res->status.ok();
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.out_samples = out;
  return r;
}

int Main() {
  auto identity = Pipeline::FromText(Graph(24000));
  auto convert = Pipeline::FromText(Graph(16000));
  if (!identity.ok() || !convert.ok() || !(*identity)->Start().ok() || !(*convert)->Start().ok()) {
    fmt::print(stderr, "graph_bench: cannot build the graphs\n");
    return 1;
  }
  // Check first: identity keeps every sample, conversion yields 2/3 of them.
  Run check = RunSessions(**convert, 1, 10, 2400);
  if (!check.ok || std::abs(check.out_samples - 16000) > 2) {
    fmt::print(stderr, "graph_bench: wrong output: {} samples (want 16000)\n", check.out_samples);
    return 1;
  }
  constexpr int kMessages = 20000;
  Run ov = RunSessions(**identity, 1, kMessages, 64);
  if (!ov.ok || ov.out_samples != int64_t{kMessages} * 64) return 1;
  fmt::print("{{\n  \"bench\": \"graph\",\n  \"build\": \"{}\",\n", BuildInfo());
  fmt::print("  \"overhead_us_per_message\": {:.3f},\n", ov.seconds * 1e6 / kMessages);
  fmt::print("  \"throughput\": [\n");
  const int sessions[] = {1, 8, 64};
  for (int i = 0; i < 3; ++i) {
    int n = sessions[i];
    int chunks = 2400 / n + 10;  // 2400 chunks of 0.1 s overall
    Run r = RunSessions(**convert, n, chunks, 2400);
    double audio_s = double(n) * chunks * 2400 / 24000.0;
    fmt::print("    {{\"sessions\": {}, \"ok\": {}, \"audio_seconds\": {:.1f}, \"wall_seconds\": {:.4f}, "
               "\"audio_seconds_per_second\": {:.1f}, \"messages_per_second\": {:.0f}}}{}\n",
               n, r.ok, audio_s, r.seconds, audio_s / r.seconds, n * chunks / r.seconds,
               i < 2 ? "," : "");
  }
  fmt::print("  ]\n}}\n");
  return 0;
}

}  // namespace
}  // namespace cosyflow

int main() { return cosyflow::Main(); }
