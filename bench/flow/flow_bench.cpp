// Flow bench: CosyVoice2-0.5B flow shapes with random weights (keys and shapes from the real
// state dict listing), 2 s of audio (50 tokens -> 100 frames), without and with a 3 s prompt
// (75 tokens / 150 frames), non-streaming and streaming per chunk, f32, bf16 and int16 weights.
// Checks the output first (shape, finite), then times, and prints JSON.
//
//   cosyflow-bench-flow [--keys real-0.5B-state-dict-keys.json] [--repeats N] [--quick]
//   cosyflow-bench-flow --long 20 [--long-precision f32|bf16|int16] [--recompute-chunks 10]
//     (per-chunk cost of a long streaming utterance: incremental estimator vs prefix recompute)
//   cosyflow-bench-flow --voice-stream 250 [--stream-final] [--long-precision f32|bf16|int16]
//                       [--max-token-hop N] [--first-chunks N]
//     (one request's flow calls as the streaming graph makes them with a cached voice: cold, warm;
//     --first-chunks N: then N more warm requests' first chunk alone, the first-audio path)
//   --device cuda: the sampler on CUDA device 0 (f32 only; streaming chunks recompute the
//     prefix there, so the incremental/recompute figures of --long are both recompute)
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "nodes/flow/flow_model.h"
#include "nodes/flow/flow_session.h"
#include "runtime/build_info.h"
#include "runtime/kernels/cpu/dnnl_context.h"
#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/cpu/linear.h"
#ifdef COSYFLOW_WITH_CUDA
#include "runtime/kernels/cuda/llm_ops.h"
#endif

namespace {

using namespace cosyflow;
using namespace cosyflow::flow;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Random weights at the listed shapes: uniform(+-1/sqrt(fan_in)); norms 1 / 0.
Result<Checkpoint> RandomFlowCheckpoint(const std::string& keys_path) {
  std::ifstream in(keys_path);
  if (!in) return NotFound("{}: cannot open", keys_path);
  Json j;
  try {
    j = Json::parse(in);
  } catch (const Json::exception& e) {
    return DataLoss("{}: {}", keys_path, e.what());
  }
  if (!j.contains("flow.pt")) return NotFound("{}: no \"flow.pt\" listing", keys_path);
  std::mt19937 rng(1234);
  std::vector<CheckpointEntry> entries;
  for (const auto& e : j["flow.pt"]) {
    const auto shape_v = e.at("shape").get<std::vector<int64_t>>();
    COSY_ASSIGN_OR_RETURN(Dims shape, Dims::From(shape_v));
    COSY_ASSIGN_OR_RETURN(Tensor t, Tensor::Empty(shape, DType::kF32));
    const std::string name = e.at("key").get<std::string>();
    float* p = t.data<float>();
    const bool is_norm = name.find("norm") != std::string::npos ||
                         name.find("block.2") != std::string::npos ||
                         name.find("embed.out.1") != std::string::npos;
    if (shape.size() == 1) {
      const float v = (is_norm && name.ends_with(".weight")) ? 1.0f : 0.0f;
      std::fill(p, p + t.numel(), v);
    } else {
      const int64_t fan_in = t.numel() / shape[0];
      std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
      const float s = 1.0f / std::sqrt(static_cast<float>(std::max<int64_t>(fan_in, 1)));
      for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng) * s;
    }
    entries.push_back({name, std::move(t)});
  }
  return Checkpoint::FromEntries("random-flow(" + keys_path + ")", std::move(entries));
}

FlowPrompt MakePrompt(int64_t prompt_tokens) {
  std::mt19937 rng(7);
  FlowPrompt p;
  std::uniform_int_distribution<int32_t> tok(0, 6560);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int64_t i = 0; i < prompt_tokens; ++i) p.tokens.push_back(tok(rng));
  p.feat.resize(static_cast<size_t>(2 * prompt_tokens * 80));
  for (float& v : p.feat) v = nd(rng) - 5.0f;
  p.embedding.resize(192);
  for (float& v : p.embedding) v = nd(rng);
  return p;
}

std::vector<int32_t> MakeTokens(int64_t n) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int32_t> tok(0, 6560);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& v : t) v = tok(rng);
  return t;
}

Status CheckMel(const FlowMel& mel, int64_t frames, const char* what) {
  if (mel.frames != frames) return Internal("{}: {} frames, expected {}", what, mel.frames, frames);
  for (float v : mel.data) {
    if (!std::isfinite(v)) return Internal("{}: non-finite mel value", what);
  }
  return OkStatus();
}

Json ProfileJson(const FlowProfile& p, double total) {
  const int steps = std::max(p.estimator_calls, 1);
  return Json{{"total_s", total},
              {"encoder_s", p.encoder},
              {"estimator_s", p.estimator},
              {"estimator_calls", p.estimator_calls},
              {"per_ode_step_s", p.estimator / steps},
              {"estimator_breakdown_s",
               {{"attention", p.est_attention},
                {"linear", p.est_linear},
                {"conv_resnet", p.est_conv},
                {"norm_other", p.est_other},
                {"unattributed", p.estimator - p.est_attention - p.est_linear - p.est_conv - p.est_other}}}};
}

// Non-streaming: one finalize call over all tokens. Best of `repeats` after a warm-up.
Result<Json> BenchNonStream(const FlowModel& model, int64_t prompt_tokens, int64_t tokens, int repeats) {
  COSY_ASSIGN_OR_RETURN(auto session, FlowSession::Open(model, MakePrompt(prompt_tokens)));
  COSY_RETURN_IF_ERROR(session->PushTokens(MakeTokens(tokens)));
  COSY_ASSIGN_OR_RETURN(FlowMel warm, session->RunOnce());
  COSY_RETURN_IF_ERROR(CheckMel(warm, 2 * tokens, "non-stream"));
  Json best;
  double best_t = 1e30;
  for (int r = 0; r < repeats; ++r) {
    FlowProfile prof;
    const auto t0 = Clock::now();
    COSY_ASSIGN_OR_RETURN(FlowMel mel, session->RunOnce({}, &prof));
    const double t = Seconds(t0);
    if (t < best_t) {
      best_t = t;
      best = ProfileJson(prof, t);
    }
  }
  best["audio_s"] = static_cast<double>(tokens) / 25.0;
  best["rtf"] = best_t / (static_cast<double>(tokens) / 25.0);
  best["frames_estimated"] = 2 * (prompt_tokens + tokens);
  return best;
}

// Streaming: tokens arrive all at once; every scheduled chunk then the finalize call.
Result<Json> BenchStream(const FlowModel& model, int64_t prompt_tokens, int64_t tokens) {
  Json chunks = Json::array();
  for (int pass = 0; pass < 2; ++pass) {  // pass 0 warms up
    chunks = Json::array();
    COSY_ASSIGN_OR_RETURN(auto session, FlowSession::Open(model, MakePrompt(prompt_tokens)));
    COSY_RETURN_IF_ERROR(session->PushTokens(MakeTokens(tokens)));
    int64_t frames = 0;
    while (true) {
      FlowProfile prof;
      const int64_t offset = session->token_offset(), hop = session->this_hop();
      const bool ready = session->ChunkReady();
      const auto t0 = Clock::now();
      MelChunk chunk;
      if (ready) {
        COSY_ASSIGN_OR_RETURN(chunk, session->NextChunk({}, &prof));
      } else {
        COSY_ASSIGN_OR_RETURN(chunk, session->Finish({}, &prof));
      }
      Json j = ProfileJson(prof, Seconds(t0));
      j["token_offset"] = offset;
      j["tokens_in_call"] = ready ? prompt_tokens + offset + hop + 3 : prompt_tokens + tokens;
      j["new_frames"] = chunk.mel.frames;
      j["finalize"] = !ready;
      chunks.push_back(j);
      frames += chunk.mel.frames;
      if (chunk.last) break;
    }
    if (frames != 2 * tokens) return Internal("stream: {} frames, expected {}", frames, 2 * tokens);
  }
  double total = 0;
  for (const auto& c : chunks) total += c["total_s"].get<double>();
  return Json{{"chunks", chunks}, {"total_s", total}, {"first_chunk_s", chunks[0]["total_s"]}};
}

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// A long streaming utterance (`seconds` of audio after a 3 s prompt) with 1 s chunks (hop 25,
// no growth): per-chunk cost of the incremental estimator vs the reference's prefix recompute
// (the latter only for the first `recompute_chunks` chunks: it grows with the prefix).
Result<Json> BenchLongStream(const FlowModel& model, int64_t seconds, int recompute_chunks) {
  const int64_t prompt_tokens = 75, tokens = 25 * seconds;
  Json out{{"audio_s", seconds}, {"prompt_tokens", prompt_tokens}, {"token_hop", 25}};
  for (bool incremental : {true, false}) {
    FlowStreamOptions so;
    so.max_token_hop = 25;
    so.incremental = incremental;
    so.max_cache_bytes = 0;
    COSY_ASSIGN_OR_RETURN(auto session, FlowSession::Open(model, MakePrompt(prompt_tokens), so));
    COSY_RETURN_IF_ERROR(session->PushTokens(MakeTokens(tokens)));
    Json chunks = Json::array();
    size_t peak_cache = 0;
    double total = 0;
    while (session->ChunkReady() && (incremental || static_cast<int>(chunks.size()) < recompute_chunks)) {
      FlowProfile prof;
      const auto t0 = Clock::now();
      const double c0 = ProcessCpuSeconds();
      COSY_ASSIGN_OR_RETURN(MelChunk chunk, session->NextChunk({}, &prof));
      const double t = Seconds(t0);
      total += t;
      peak_cache = std::max(peak_cache, session->cache_bytes());
      // cpu_s (process CPU time) is steadier than wall time on a shared machine.
      Json cj = ProfileJson(prof, t);
      cj["cpu_s"] = ProcessCpuSeconds() - c0;
      cj["new_frames"] = chunk.mel.frames;
      cj["token_offset"] = session->token_offset();
      chunks.push_back(cj);
    }
    Json r{{"chunks", chunks}, {"chunks_total_s", total}, {"peak_cache_mib", peak_cache >> 20}};
    if (incremental) {
      const auto t0 = Clock::now();
      COSY_ASSIGN_OR_RETURN(MelChunk last, session->Finish());
      r["finalize_s"] = Seconds(t0);
      (void)last;
    }
    if (chunks.size() >= 10) {
      r["chunk1_s"] = chunks[1]["total_s"];
      r["chunk10_s"] = chunks[9]["total_s"];
      r["chunk10_over_chunk1"] = chunks[9]["total_s"].get<double>() / chunks[1]["total_s"].get<double>();
      r["chunk10_over_chunk1_cpu"] = chunks[9]["cpu_s"].get<double>() / chunks[1]["cpu_s"].get<double>();
    }
    out[incremental ? "incremental" : "recompute"] = r;
    fmt::print(stderr, "long stream {} done\n", incremental ? "incremental" : "recompute");
  }
  return out;
}

// The graph's streaming schedule for one request with a known voice: the voice's prompt state
// (FlowModel::PromptState, computed once and timed as prompt_state_s: what the first request of
// a new voice adds in a fresh process; prompt_state_warm_s: the same at the end, in a process
// that has served requests), default hops (25, 50, 100, ...; --max-token-hop N caps them) and
// cache budget, `tokens` speech tokens after a 3 s prompt, every chunk then the finalize call.
// Two requests in one process: the first ("cold") touches fresh memory, the second ("warm")
// runs as a long-lived server's requests do.
Result<Json> BenchVoiceStream(const FlowModel& model, int64_t tokens, bool stream_final,
                              int64_t max_token_hop, int first_chunks) {
  const int64_t prompt_tokens = 75;
  Arena arena;
  FlowStreamOptions so;
  so.stream_final = stream_final;
  if (max_token_hop > 0) so.max_token_hop = std::max(max_token_hop, so.token_hop);
  const auto p0 = Clock::now();
  COSY_ASSIGN_OR_RETURN(auto state, model.PromptState(MakePrompt(prompt_tokens), so.max_cache_bytes, arena));
  const double prompt_state_s = Seconds(p0);
  Json out{{"audio_s", static_cast<double>(tokens) / 25.0}, {"prompt_tokens", prompt_tokens},
           {"max_cache_mib", so.max_cache_bytes >> 20}, {"stream_final", stream_final},
           {"max_token_hop", so.max_token_hop}, {"prompt_state_s", prompt_state_s}};
  for (const char* pass : {"cold", "warm"}) {
    COSY_ASSIGN_OR_RETURN(auto session, FlowSession::Open(model, MakePrompt(prompt_tokens), so, state));
    COSY_RETURN_IF_ERROR(session->PushTokens(MakeTokens(tokens)));
    Json calls = Json::array();
    double total = 0, cpu = 0;
    size_t peak_cache = 0;
    while (true) {
      FlowProfile prof;
      const bool ready = session->ChunkReady();
      const auto t0 = Clock::now();
      const double c0 = ProcessCpuSeconds();
      MelChunk chunk;
      if (ready) {
        COSY_ASSIGN_OR_RETURN(chunk, session->NextChunk({}, &prof));
      } else {
        COSY_ASSIGN_OR_RETURN(chunk, session->Finish({}, &prof));
      }
      const double t = Seconds(t0), c = ProcessCpuSeconds() - c0;
      total += t;
      cpu += c;
      peak_cache = std::max(peak_cache, session->cache_bytes());
      Json j = ProfileJson(prof, t);
      j["cpu_s"] = c;
      j["new_frames"] = chunk.mel.frames;
      j["finalize"] = !ready;
      j["cache_fallback"] = session->cache_fallback();
      calls.push_back(j);
      if (chunk.last) break;
    }
    out[pass] = Json{{"calls", calls}, {"total_s", total}, {"cpu_s", cpu},
                     {"first_chunk_s", calls[0]["total_s"]}, {"rtf", total / (static_cast<double>(tokens) / 25.0)},
                     {"peak_cache_mib", peak_cache >> 20}};
    fmt::print(stderr, "voice stream {} done: {:.2f} s\n", pass, total);
  }
  if (first_chunks > 0) {  // the first-audio path: more warm sessions, first chunk only
    std::vector<double> times;
    Json best;
    for (int r = 0; r < first_chunks; ++r) {
      COSY_ASSIGN_OR_RETURN(auto session,
                            FlowSession::Open(model, MakePrompt(prompt_tokens), so, state));
      COSY_RETURN_IF_ERROR(session->PushTokens(MakeTokens(tokens)));
      FlowProfile prof;
      const auto t0 = Clock::now();
      COSY_ASSIGN_OR_RETURN(MelChunk chunk, session->NextChunk({}, &prof));
      const double t = Seconds(t0);
      if (times.empty() || t < *std::min_element(times.begin(), times.end())) {
        best = ProfileJson(prof, t);
        best["new_frames"] = chunk.mel.frames;
      }
      times.push_back(t);
    }
    std::vector<double> sorted = times;
    std::sort(sorted.begin(), sorted.end());
    out["first_chunks"] = Json{{"count", first_chunks},
                               {"s", times},
                               {"min_s", sorted.front()},
                               {"median_s", sorted[sorted.size() / 2]},
                               {"best", best}};
    fmt::print(stderr, "first chunk: min {:.3f} s, median {:.3f} s over {}\n", sorted.front(),
               sorted[sorted.size() / 2], first_chunks);
  }
  // A new voice in a process that has served requests (the first request of a voice in a
  // running server): its prompt state again, on warm memory.
  const auto p1 = Clock::now();
  COSY_ASSIGN_OR_RETURN(auto again,
                        model.PromptState(MakePrompt(prompt_tokens), so.max_cache_bytes, arena));
  out["prompt_state_warm_s"] = Seconds(p1);
  (void)again;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string keys = COSYFLOW_SOURCE_DIR "/bench/data/real-0.5B-state-dict-keys.json";
  int repeats = 2;
  bool quick = false;
  int64_t long_s = 0, voice_tokens = 0;
  bool stream_final = false;
  int recompute_chunks = 10;
  int64_t max_token_hop = 0;  // 0: FlowStreamOptions' (100, as the reference)
  int first_chunks = 0;
  std::string long_precision = "bf16";
  std::string device = "cpu";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--keys" && i + 1 < argc) keys = argv[++i];
    else if (a == "--repeats" && i + 1 < argc) repeats = std::max(1, std::atoi(argv[++i]));
    else if (a == "--quick") quick = true;
    else if (a == "--long" && i + 1 < argc) long_s = std::max(1, std::atoi(argv[++i]));
    else if (a == "--voice-stream" && i + 1 < argc) voice_tokens = std::max(30, std::atoi(argv[++i]));
    else if (a == "--stream-final") stream_final = true;
    else if (a == "--first-chunks" && i + 1 < argc)
      first_chunks = std::max(1, std::atoi(argv[++i]));
    else if (a == "--max-token-hop" && i + 1 < argc) max_token_hop = std::stoll(argv[++i]);
    else if (a == "--long-precision" && i + 1 < argc) long_precision = argv[++i];
    else if (a == "--device" && i + 1 < argc) device = argv[++i];
    else if (a == "--recompute-chunks" && i + 1 < argc) recompute_chunks = std::max(2, std::atoi(argv[++i]));
    else {
      fmt::print(stderr,
                 "usage: {} [--keys FILE] [--repeats N] [--quick] | --long SECONDS "
                 "[--long-precision f32|bf16|int16] [--recompute-chunks N] | --voice-stream TOKENS "
                 "[--stream-final] [--long-precision f32|bf16|int16] [--max-token-hop N] "
                 "[--first-chunks N] [--device cpu|cuda]\n",
                 argv[0]);
      return 2;
    }
  }
  if (device != "cpu" && device != "cuda") {
    fmt::print(stderr, "flow bench: --device must be cpu or cuda, got {}\n", device);
    return 2;
  }
  const Device dev = device == "cuda" ? Device::kCuda : Device::kCpu;
  if (dev == Device::kCuda) long_precision = "f32";  // the device sampler's only precision
  auto ckpt = RandomFlowCheckpoint(keys);
  if (!ckpt.ok()) {
    fmt::print(stderr, "flow bench: {}\n", ckpt.status().ToString());
    return 1;
  }
  Json out{{"bench", "flow"},
           {"build", BuildInfo()},
           {"config", FlowConfig::Release().ToString()},
           {"threads", kernels::cpu::DnnlNumThreads()},
           {"bf16_products", kernels::cpu::Kernels().bf16_products_name[0] != '\0'
                                 ? kernels::cpu::Kernels().bf16_products_name
                                 : "emulated"},
           {"bf16_gemm", kernels::cpu::Bf16GemmKernel()},
           {"int16_gemm", kernels::cpu::Kernels().gemm_panels_i16_name},
           {"device", device},
           {"reference_pytorch_cpu_2threads_s", {{"no_prompt", 13.2}, {"prompt_3s", "24.5-26.2"}}},
           {"targets_f32_s", {{"no_prompt", 3.0}, {"prompt_3s", 6.0}}}};
#ifdef COSYFLOW_WITH_CUDA
  if (dev == Device::kCuda) out["cuda_device"] = cuda::DeviceName();
#endif
  if (long_s > 0 || voice_tokens > 0) {  // only the long streaming utterance / voice stream
    WeightType wt = WeightType::kBF16;
    if (!kernels::cpu::ParseWeightType(long_precision, &wt) || wt == WeightType::kInt8) {
      fmt::print(stderr, "flow bench: --long-precision must be f32, bf16 or int16\n");
      return 2;
    }
    auto model = FlowModel::FromCheckpoint(std::move(ckpt).value(), FlowConfig::Release(), {wt, dev});
    if (!model.ok()) {
      fmt::print(stderr, "flow bench: {}\n", model.status().ToString());
      return 1;
    }
    const char* key = long_s > 0 ? "long_stream" : "voice_stream";
    auto r = long_s > 0 ? BenchLongStream(**model, long_s, recompute_chunks)
                        : BenchVoiceStream(**model, voice_tokens, stream_final, max_token_hop,
                                           first_chunks);
    if (!r.ok()) {
      fmt::print(stderr, "flow bench: {}\n", r.status().ToString());
      return 1;
    }
    out[key] = *r;
    out[key]["precision"] = long_precision;
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  for (WeightType wt : {WeightType::kF32, WeightType::kBF16, WeightType::kInt16}) {
    if (dev == Device::kCuda && wt != WeightType::kF32) continue;
    const char* wname = kernels::cpu::WeightTypeName(wt);
    const auto t0 = Clock::now();
    auto copy = Checkpoint::FromEntries("random-flow", ckpt->entries());
    if (!copy.ok()) return 1;
    auto model = FlowModel::FromCheckpoint(std::move(copy).value(), FlowConfig::Release(), {wt, dev});
    if (!model.ok()) {
      fmt::print(stderr, "flow bench: {}\n", model.status().ToString());
      return 1;
    }
    Json r{{"load_s", Seconds(t0)}, {"packed_weight_bytes", (*model)->weights().packed_bytes}};
    for (int64_t prompt : {int64_t{0}, int64_t{75}}) {
      const std::string key = prompt == 0 ? "no_prompt" : "prompt_3s";
      auto ns = BenchNonStream(**model, prompt, 50, repeats);
      if (!ns.ok()) {
        fmt::print(stderr, "flow bench: {}\n", ns.status().ToString());
        return 1;
      }
      r[key]["non_stream"] = *ns;
      if (!quick) {
        auto st = BenchStream(**model, prompt, 50);
        if (!st.ok()) {
          fmt::print(stderr, "flow bench: {}\n", st.status().ToString());
          return 1;
        }
        r[key]["stream"] = *st;
      }
    }
    out[wname] = r;
    fmt::print(stderr, "{} done\n", wname);
  }
  fmt::print("{}\n", out.dump(2));
  return 0;
}
