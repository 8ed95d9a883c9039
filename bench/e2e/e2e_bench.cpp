// End-to-end benchmark: text -> 24 kHz audio through configs/tts_tiny.json (TextNormalizer ->
// Qwen2Tokenizer -> SpeechLM -> Flow -> HiftVocoder) on the tiny random-weight test model;
// JSON out.
//
// Result check first (exit 1 on failure): a greedy, zero-noise token graph on the fixture's text
// ids must reproduce pipeline_text2wav_nonstream (SNR >= 40 dB), and every benchmark request
// must succeed with 960 output samples per speech token.
// Then `--requests` sequential requests (whole text, then bi-stream text) report time to first
// audio, total time and RTF (p50/p95/p99), per-node time per request (p50/p95/p99), and peak RSS;
// and a scaling section: cost per audio second for 1..50 segments in one session, aggregate
// throughput for 1, 2 and 4 concurrent sessions.
//
//   cosyflow-bench-e2e [--fixtures DIR] [--graph configs/tts_tiny.json] [--requests N]
//   cosyflow-bench-e2e --real ...   (CosyVoice2-0.5B shapes, streaming, cached voice: real_bench.cpp)
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <utility>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/e2e/real_bench.h"
#include "graph/synthesis.h"
#include "runtime/build_info.h"
#include "runtime/io/npy.h"

namespace cosyflow {
namespace {

struct Args {
  std::string fixtures = "tests/fixtures/tiny-seed0";
  std::string graph = "configs/tts_tiny.json";
  int requests = 20;
  std::string text =
      "The quick brown fox jumps over the lazy dog. Streaming speech synthesis, chunk by chunk.";
};

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

nlohmann::json Stats(const std::vector<double>& v) {
  return {{"p50", Percentile(v, 0.5)}, {"p95", Percentile(v, 0.95)}, {"p99", Percentile(v, 0.99)}};
}

double PeakRssMb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

// Greedy SpeechLM -> Flow -> HiftVocoder (zero noise) on the fixture's voice, fed TokenIds.
nlohmann::json TokenGraph(bool stream) {
  return {
      {"format", 1},
      {"inputs", {{{"name", "ids"}, {"to", "lm.text"}}}},
      {"outputs", {{{"name", "audio"}, {"from", "vocoder.audio"}}}},
      {"nodes",
       {{{"id", "lm"},
         {"type", "SpeechLM"},
         {"options",
          {{"greedy", true},
           {"prompt_text_ids", "golden/input_prompt_text.npy"},
           {"prompt_speech_tokens", "golden/input_llm_prompt_speech_token.npy"}}}},
        {{"id", "flow"},
         {"type", "Flow"},
         {"options",
          {{"config", "config.json"},
           {"stream", stream},
           {"prompt_tokens", "golden/input_flow_prompt_speech_token.npy"},
           {"prompt_feat", "golden/input_prompt_speech_feat.npy"},
           {"embedding", "golden/input_embedding.npy"}}}},
        {{"id", "vocoder"},
         {"type", "HiftVocoder"},
         {"options", {{"noise", "zero"}, {"streaming", stream}}}}}},
      {"edges",
       {{{"from", "lm.tokens"}, {"to", "flow.tokens"}},
        {{"from", "flow.mel"}, {"to", "vocoder.mel"}}}}};
}

// The token graph on the fixture's inputs vs the pipeline golden.
Result<double> CheckPipelineGolden(const Args& a) {
  const nlohmann::json g = TokenGraph(/*stream=*/false);
  PipelineOverrides o;
  o.model_dir = a.fixtures;
  COSY_ASSIGN_OR_RETURN(auto p, Pipeline::FromText(g.dump(), o));
  COSY_RETURN_IF_ERROR(p->Start());
  COSY_ASSIGN_OR_RETURN(Tensor text, ReadNpy(a.fixtures + "/golden/input_text.npy"));
  COSY_ASSIGN_OR_RETURN(Tensor golden,
                        ReadNpy(a.fixtures + "/golden/pipeline_text2wav_nonstream.npy"));
  std::vector<float> audio;
  std::mutex mu;
  SubmitOptions so;
  so.on_output = [&](const std::string&, const MessagePtr& m) {
    std::lock_guard<std::mutex> lock(mu);
    if (const Audio* x = m->get<Audio>())
      audio.insert(audio.end(), x->view().begin(), x->view().end());
  };
  COSY_ASSIGN_OR_RETURN(SessionId id, p->Submit(so));
  const int32_t* ids = text.data<int32_t>();
  COSY_RETURN_IF_ERROR(p->Push(id, "ids", TokenIds(std::vector<int32_t>(ids, ids + text.numel()))));
  COSY_RETURN_IF_ERROR(p->EndInput(id));
  COSY_ASSIGN_OR_RETURN(SessionResult r, p->Wait(id));
  COSY_RETURN_IF_ERROR(r.status);
  if (static_cast<int64_t>(audio.size()) != golden.numel()) {
    return DataLoss("check: {} samples, pipeline_text2wav_nonstream has {}", audio.size(),
                    golden.numel());
  }
  double s = 0, e = 0;
  const float* gv = golden.data<float>();
  for (size_t i = 0; i < audio.size(); ++i) {
    s += double(gv[i]) * gv[i];
    e += (double(audio[i]) - gv[i]) * (double(audio[i]) - gv[i]);
  }
  const double snr = e > 0 ? 10 * std::log10(s / e) : 999.0;
  if (snr < 40) return DataLoss("check: pipeline_text2wav_nonstream SNR {:.1f} dB < 40", snr);
  return snr;
}

// `sessions` concurrent sessions, each `segments` text segments (the fixture's text ids, one
// TokenIds message each) through the streaming token graph. Returns {audio seconds, wall
// seconds} summed over the sessions.
Result<std::pair<double, double>> RunTokenSessions(Pipeline& p, const std::vector<int32_t>& ids,
                                                   int sessions, int segments) {
  std::mutex mu;
  int64_t samples = 0;
  SubmitOptions so;
  so.on_output = [&](const std::string&, const MessagePtr& m) {
    std::lock_guard<std::mutex> lock(mu);
    if (const Audio* x = m->get<Audio>()) samples += x->size();
  };
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<SessionId> open;
  for (int s = 0; s < sessions; ++s) {
    COSY_ASSIGN_OR_RETURN(SessionId id, p.Submit(so));
    open.push_back(id);
  }
  for (int k = 0; k < segments; ++k) {
    for (SessionId id : open) COSY_RETURN_IF_ERROR(p.Push(id, "ids", TokenIds(ids)));
  }
  for (SessionId id : open) {
    COSY_RETURN_IF_ERROR(p.EndInput(id));
    COSY_ASSIGN_OR_RETURN(SessionResult r, p.Wait(id));
    COSY_RETURN_IF_ERROR(r.status);
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return std::make_pair(static_cast<double>(samples) / 24000.0, wall);
}

// Segments (compute per audio second from 1 to 50 segments in one session: flat when each
// segment is its own utterance) and concurrency (aggregate audio seconds per wall second with
// 1, 2 and 4 sessions at once under the graph's thread budget).
Result<nlohmann::json> MeasureScaling(const Args& a) {
  PipelineOverrides o;
  o.model_dir = a.fixtures;
  COSY_ASSIGN_OR_RETURN(auto p, Pipeline::FromText(TokenGraph(/*stream=*/true).dump(), o));
  COSY_RETURN_IF_ERROR(p->Start());
  COSY_ASSIGN_OR_RETURN(Tensor text, ReadNpy(a.fixtures + "/golden/input_text.npy"));
  const int32_t* tp = text.data<int32_t>();
  const std::vector<int32_t> ids(tp, tp + text.numel());
  COSY_RETURN_IF_ERROR(RunTokenSessions(*p, ids, 1, 1).status());  // warm-up
  nlohmann::json seg = nlohmann::json::array();
  for (int n : {1, 5, 20, 50}) {
    COSY_ASSIGN_OR_RETURN(auto r, RunTokenSessions(*p, ids, 1, n));
    seg.push_back({{"segments", n},
                   {"audio_s", r.first},
                   {"wall_s", r.second},
                   {"compute_s_per_audio_s", r.second / r.first}});
  }
  nlohmann::json conc = nlohmann::json::array();
  for (int sessions : {1, 2, 4}) {
    COSY_ASSIGN_OR_RETURN(auto r, RunTokenSessions(*p, ids, sessions, 10));
    conc.push_back({{"sessions", sessions},
                    {"audio_s", r.first},
                    {"wall_s", r.second},
                    {"aggregate_audio_s_per_wall_s", r.first / r.second}});
  }
  return nlohmann::json{{"graph", "token graph (greedy LM, streaming flow + HiFT), fixture text"},
                        {"segments_one_session", seg},
                        {"concurrent_sessions_10_segments_each", conc}};
}

// `requests` requests of `text` (bi-stream: one chunk per word) -> timing section.
Result<nlohmann::json> Measure(const Args& a, bool stream_text) {
  tts::GraphOverrides o;
  o.model_dir = a.fixtures;
  o.stream_text = stream_text;
  tts::GraphInfo info;
  COSY_ASSIGN_OR_RETURN(auto p, tts::LoadPipeline(a.graph, o, &info));
  COSY_RETURN_IF_ERROR(p->Start());
  std::vector<std::string> chunks;
  if (stream_text) {
    size_t at = 0;
    while (at < a.text.size()) {
      size_t next = a.text.find(' ', at);
      next = next == std::string::npos ? a.text.size() : next + 1;
      chunks.push_back(a.text.substr(at, next - at));
      at = next;
    }
  } else {
    chunks.push_back(a.text);
  }
  std::vector<double> ttfa, total, rtf;
  std::map<std::string, std::vector<double>> node_ms;
  double audio_s = 0;
  for (int i = 0; i < a.requests + 1; ++i) {  // request 0 warms up
    COSY_ASSIGN_OR_RETURN(tts::SynthOutput r, tts::Synthesize(*p, chunks, stream_text));
    COSY_RETURN_IF_ERROR(r.result.status);
    if (r.audio.empty() || r.audio.size() % 960 != 0 || r.sample_rate != 24000) {
      return DataLoss("check: request {} gave {} samples at {} Hz (want k x 960 at 24000)", i,
                      r.audio.size(), r.sample_rate);
    }
    if (i == 0) continue;
    const double secs = static_cast<double>(r.audio.size()) / r.sample_rate;
    audio_s = secs;
    ttfa.push_back(r.result.timing.first_output_ns / 1e6);
    total.push_back(r.result.timing.total_ns / 1e6);
    rtf.push_back(r.result.timing.total_ns / 1e9 / secs);
    for (const auto& [node, ns] : r.result.timing.node_ns) node_ms[node].push_back(ns / 1e6);
  }
  nlohmann::json nodes = nlohmann::json::object();
  for (const auto& [node, v] : node_ms) nodes[node] = Stats(v);
  return nlohmann::json{{"text_chars", a.text.size()},
                        {"chunks", chunks.size()},
                        {"audio_s_last", audio_s},
                        {"first_audio_ms", Stats(ttfa)},
                        {"total_ms", Stats(total)},
                        {"rtf", Stats(rtf)},
                        {"node_ms", nodes}};
}

int Main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--real")) return bench::RealMain(argc, argv);
  }
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--fixtures"))
      a.fixtures = argv[i + 1];
    else if (!std::strcmp(argv[i], "--graph"))
      a.graph = argv[i + 1];
    else if (!std::strcmp(argv[i], "--requests"))
      a.requests = std::max(1, std::atoi(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--text"))
      a.text = argv[i + 1];
    else {
      fmt::print(stderr,
                 "usage: cosyflow-bench-e2e [--fixtures DIR] [--graph FILE] "
                 "[--requests N] [--text TEXT]\n");
      return 2;
    }
  }
  auto snr = CheckPipelineGolden(a);
  if (!snr.ok()) {
    fmt::print(stderr, "cosyflow-bench-e2e: result check failed: {}\n", snr.status().ToString());
    return 1;
  }
  nlohmann::json out = {{"bench", "e2e"},
                        {"model", "tiny-seed0 (random weights; output is not speech)"},
                        {"graph", a.graph},
                        {"requests", a.requests},
                        {"check_pipeline_snr_db", *snr}};
  for (bool stream : {false, true}) {
    auto m = Measure(a, stream);
    if (!m.ok()) {
      fmt::print(stderr, "cosyflow-bench-e2e: {}\n", m.status().ToString());
      return 1;
    }
    out[stream ? "bistream_text" : "whole_text"] = *m;
  }
  auto scaling = MeasureScaling(a);
  if (!scaling.ok()) {
    fmt::print(stderr, "cosyflow-bench-e2e: {}\n", scaling.status().ToString());
    return 1;
  }
  out["scaling"] = *scaling;
  out["peak_rss_mb"] = PeakRssMb();
  out["build"] = BuildInfo();
  fmt::print("{}\n", out.dump(2));
  return 0;
}

}  // namespace
}  // namespace cosyflow

int main(int argc, char** argv) { return cosyflow::Main(argc, argv); }
