// Embedding example: load a graph, run sessions concurrently, receive audio by callback and by
// pull, print per-session timing. Usage: cosyflow-embed-example [GRAPH] (default
// configs/resample_stream.json: audio in, 16 kHz audio out).
#include <fmt/format.h>

#include <cmath>
#include <mutex>
#include <thread>
#include <vector>

#include "graph/pipeline.h"

using namespace cosyflow;  // NOLINT: example brevity

static Audio Tone(int n, int rate) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = 0.3f * std::sin(2 * 3.14159265f * 440.0f * i / rate);
  return *Audio::FromSamples(v, rate);
}

int main(int argc, char** argv) {
  std::string graph = argc > 1 ? argv[1] : "configs/resample_stream.json";
  auto loaded = Pipeline::Load(graph);  // all three validation passes; every error listed
  if (!loaded.ok()) {
    fmt::print(stderr, "{}\n", loaded.status().ToString());
    return 1;
  }
  Pipeline& p = **loaded;
  if (Status s = p.Start(); !s.ok()) return 1;

  // Session 1: callback delivery (runs on a worker thread; keep it short).
  std::mutex mu;
  size_t cb_samples = 0;
  auto a = p.Submit({.on_output = [&](const std::string& output, const MessagePtr& m) {
    std::lock_guard<std::mutex> lock(mu);
    if (const Audio* au = m->get<Audio>()) cb_samples += au->size();
    if (const ErrorInfo* e = m->get<ErrorInfo>()) {
      fmt::print(stderr, "{} failed in {}: {}\n", output, e->node, e->status.ToString());
    }
  }});
  // Session 2: blocking pull.
  auto b = p.Submit();
  if (!a.ok() || !b.ok()) return 1;

  // Feed both from a producer thread, 100 ms chunks; Push waits when the graph is full.
  std::thread producer([&] {
    for (int i = 0; i < 10; ++i) {
      (void)p.Push(*a, "audio", Tone(2400, 24000));
      (void)p.Push(*b, "audio", Tone(2400, 24000));
    }
    (void)p.EndInput(*a);
    (void)p.EndInput(*b);
  });
  size_t pulled = 0;
  for (;;) {
    auto m = p.Pull(*b);
    if (!m.ok() || !*m) break;  // nullptr: every output of the session has ended
    if (const Audio* au = (*m)->get<Audio>()) pulled += au->size();
  }
  producer.join();

  for (SessionId id : {*a, *b}) {
    auto r = p.Wait(id);
    if (!r.ok()) return 1;
    fmt::print("session {}: {} first output {:.2f} ms, total {:.2f} ms\n", id,
               r->status.ok() ? "ok" : r->status.ToString(), r->timing.first_output_ns / 1e6,
               r->timing.total_ns / 1e6);
    for (const auto& [node, ns] : r->timing.node_ns) fmt::print("  {}: {:.2f} ms\n", node, ns / 1e6);
  }
  fmt::print("callback session: {} samples, pulled session: {} samples\n", cb_samples, pulled);
  return p.Stop(StopMode::kDrain).ok() ? 0 : 1;
}
