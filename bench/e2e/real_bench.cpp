// cosyflow-bench-e2e --real: streaming text-to-speech at the CosyVoice2-0.5B shapes (random
// weights written in the official formats), through configs/tts.json, with a cached 3 s voice;
// JSON out.
//
//   cosyflow-bench-e2e --real [--quick] [--tokens 250] [--requests 3] [--precisions f32,bf16,int8]
//                      (or LM/FLOW pairs: --precisions int8/f32, or LM/FLOW/VOCODER triples:
//                      --precisions int8/bf16/bf16)
//                      [--model-dir DIR] [--keep-model] [--graph FILE] [--keys FILE]
//                      [--threads N] [--no-incremental-off] [--stream-final] [--flow-steps N]
//                      [--max-token-hop N] [--text T]
//                      [--prompt-text T] [--lm-device cpu|cuda] [--flow-device cpu|cuda]
//
// Model: without --model-dir, llm.pt / flow.pt / hift.pt with random weights at the key names and
// shapes of the official checkpoints (bench/data/real-0.5B-state-dict-keys.json) go into a
// temporary directory (removed at the end unless --keep-model), with the real CosyVoice-BlankEN
// tokenizer files of tests/fixtures/qwen2-tokenizer. --model-dir runs on any release-layout
// directory instead (real weights too). The graph is --graph (configs/tts.json) without its
// VoiceFrontend node: each request carries the resolved voice (VoicePrompt: 75 prompt speech
// tokens, [150, 80] prompt mel, 192-d x-vector, the tokenized prompt text), the same voice every
// time, so the LM's prompt-prefix cache and the flow's per-voice prompt cache are warm after the
// warm-up request. The SpeechLM is bounded to exactly --tokens speech tokens (min_tokens =
// max_tokens: random weights emit stop ids at random steps), 250 = 10 s of audio.
//
// Configurations (one pipeline at a time, freed before the next): "f32" (LM f32, flow f32),
// "bf16" (LM bf16, flow bf16), "int8" (LM int8, flow bf16), the vocoder f32 in all three unless a
// triple names its precision (HiftVocoder.precision); then the last of them again with
// Flow.incremental = false (prefix recompute per chunk) for the same request; with --stream-final
// also the last precision with Flow.stream_final = true (the last chunk chunk-causal, not the
// reference's full-attention pass). --flow-steps N sets Flow.n_timesteps (the ODE steps; 10 as
// the reference by default) in every configuration; --max-token-hop N sets Flow.max_token_hop
// (the hop grows 25, 50, 100 up to it; 100 as the reference by default; 25 keeps every chunk at
// 25 tokens: the same mel up to the last call, or all of it with --stream-final; the vocoder's
// chunk seams elsewhere). Per configuration:
// one warm-up request, then --requests requests; reported: the best request (least total
// time) with its time to first audio, RTF, per-node time and share of the summed node time, and
// each node's first output; the minimum of each figure; all requests' totals; peak RSS of the
// configuration (VmHWM, reset before its load where the kernel allows).
// Checks first, per request: status ok, 24 kHz, exactly tokens x 960 finite samples.
// --quick: 50 tokens, 1 request, int8 only, no incremental-off run (a smoke test).
// --lm-device cuda: the SpeechLM node runs on CUDA device 0 (f32 or bf16 LM precisions).
// --flow-device cuda: the Flow node's sampler runs there (f32, prefix recompute per chunk; the
// precision list's flow part is ignored). The other nodes stay on the CPU.
#include "bench/e2e/real_bench.h"

#include <fmt/format.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "bench/e2e/real_model.h"
#include "bench/read_bandwidth.h"
#include "graph/synthesis.h"
#include "nodes/tokenizer/qwen2_tokenizer.h"
#include "runtime/build_info.h"
#include "runtime/kernels/cpu/dnnl_context.h"
#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/cpu/linear.h"

namespace cosyflow::bench {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

struct RealArgs {
  std::string graph = COSYFLOW_SOURCE_DIR "/configs/tts.json";
  std::string keys = COSYFLOW_SOURCE_DIR "/bench/data/real-0.5B-state-dict-keys.json";
  std::string tokenizer = COSYFLOW_SOURCE_DIR "/tests/fixtures/qwen2-tokenizer";
  std::string model_dir;  // "" = a temporary random-weight directory
  bool keep_model = false, quick = false, incremental_off = true, stream_final = false;
  int64_t tokens = 250;
  int requests = 3, threads = 0, flow_steps = 0;  // 0: the Flow node's default (10)
  int max_token_hop = 0;                          // 0: the Flow node's default (100)
  std::string lm_device = "cpu";
  std::string flow_device = "cpu";  // cuda: the Flow node's sampler on the GPU (f32)
  std::vector<std::string> precisions = {"f32", "bf16", "int8"};
  // CosyVoice's own zero-shot example: about 10 s when spoken, one text segment.
  std::string text =
      "收到好友从远方寄来的生日礼物，那份意外的惊喜与深深的祝福让我心中充满了甜蜜的快乐，"
      "笑容如花儿般绽放。";
  std::string prompt_text = "希望你以后能够做的比我还好呦。";
};

struct Config {
  std::string name, lm, flow, vocoder = "f32";
  bool incremental = true;
  bool stream_final = false;
};

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double load = -1;
  in >> load;
  return load;
}

// VmHWM (peak resident set) of this process, MiB.
double PeakRssMib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

// CPU seconds (user + system) of every thread of the process so far.
double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

// Resets VmHWM to the current RSS (Linux clear_refs 5); false when the kernel refuses.
bool ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

// configs/tts.json for requests that carry their voice: VoiceFrontend dropped (graph inputs that
// fed it go where it sent the request), SpeechLM bounded to exactly `tokens`, precisions set.
Result<Json> RealGraph(const RealArgs& a, const Config& c) {
  std::ifstream in(a.graph);
  if (!in) return NotFound("{}: cannot open", a.graph);
  Json g;
  try {
    g = Json::parse(in);
    std::set<std::string> dropped;
    Json nodes = Json::array();
    for (Json n : g.at("nodes")) {
      const std::string type = n.at("type").get<std::string>();
      if (type == "VoiceFrontend") {
        dropped.insert(n.at("id").get<std::string>());
        continue;
      }
      Json& o = n["options"];
      if (type == "SpeechLM") {
        n["device"] = a.lm_device;
        o["precision"] = c.lm;
        o["min_tokens"] = a.tokens;
        o["max_tokens"] = a.tokens;
        o["max_token_text_ratio"] = 1000;  // the bound is max_tokens, whatever the text length
      } else if (type == "Flow") {
        n["device"] = a.flow_device;
        o["precision"] = a.flow_device == "cuda" ? std::string("f32") : c.flow;
        o["incremental"] = c.incremental;
        o["stream_final"] = c.stream_final;
        if (a.flow_steps > 0) o["n_timesteps"] = a.flow_steps;
        if (a.max_token_hop > 0) o["max_token_hop"] = a.max_token_hop;
      } else if (type == "HiftVocoder") {
        o["precision"] = c.vocoder;
      }
      nodes.push_back(n);
    }
    g["nodes"] = nodes;
    const auto node_of = [](const std::string& port) { return port.substr(0, port.find('.')); };
    std::map<std::string, std::string> redirect;  // "voice.request" -> "normalize.text"
    Json edges = Json::array();
    for (const Json& e : g.at("edges")) {
      const std::string from = e.at("from").get<std::string>(), to = e.at("to").get<std::string>();
      if (dropped.count(node_of(to))) return InvalidArgument("{}: an edge feeds {}", a.graph, to);
      if (dropped.count(node_of(from))) {
        redirect[node_of(from)] = to;
        continue;
      }
      edges.push_back(e);
    }
    g["edges"] = edges;
    for (Json& input : g.at("inputs")) {
      const std::string to = input.at("to").get<std::string>();
      if (redirect.count(node_of(to))) input["to"] = redirect[node_of(to)];
    }
  } catch (const Json::exception& e) {
    return DataLoss("{}: {}", a.graph, e.what());
  }
  return g;
}

// The cached 3 s voice: 75 speech tokens, [150, 80] mel, 192-d x-vector (fixed random values),
// the prompt text tokenized with the real tokenizer.
Result<VoicePromptPtr> MakeVoice(const RealArgs& a, const std::string& tokenizer_dir) {
  auto v = std::make_shared<VoicePrompt>();
  v->id = "bench-3s";
  COSY_ASSIGN_OR_RETURN(auto tok, tokenizer::Qwen2Tokenizer::Load(tokenizer_dir));
  COSY_ASSIGN_OR_RETURN(v->prompt_text_ids, tok->Encode(a.prompt_text));
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> id(0, 6560);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int i = 0; i < 75; ++i) v->speech_tokens.push_back(id(rng));
  v->feat.resize(150 * VoicePrompt::kMelBins);
  for (float& x : v->feat) x = nd(rng) - 5.0f;
  v->embedding.resize(VoicePrompt::kEmbeddingDim);
  for (float& x : v->embedding) x = nd(rng);
  return VoicePromptPtr(std::move(v));
}

// One streamed request, pulled as a client would; checked, then timed.
Result<Json> RunRequest(Pipeline& p, const RealArgs& a, const VoicePromptPtr& voice) {
  TextRequest fields;
  fields.mode = "zero_shot";
  fields.seed = 1;
  fields.prompt = voice;
  const auto t0 = Clock::now();
  const double cpu0 = ProcessCpuSeconds();
  COSY_ASSIGN_OR_RETURN(auto s, tts::SpeechStream::Open(p, fields, /*stream_text=*/false));
  COSY_RETURN_IF_ERROR(s->Push(a.text));
  COSY_RETURN_IF_ERROR(s->End());
  std::vector<float> chunk;
  int rate = 0;
  int64_t samples = 0, chunks = 0;
  double first = -1;
  // A player that starts at the first audio and plays each chunk as soon as it has it: where
  // its buffer runs dry (play_end), and the gaps it hears after the start.
  double play_end = 0, stall_s = 0, max_stall_s = 0;
  int stalls = 0;
  while (true) {
    COSY_ASSIGN_OR_RETURN(bool more, s->Next(&chunk, &rate));
    if (!more) break;
    if (chunk.empty()) continue;
    const double at = Since(t0);
    if (first < 0) {
      first = at;
      play_end = at;
    } else if (at > play_end) {
      stall_s += at - play_end;
      max_stall_s = std::max(max_stall_s, at - play_end);
      ++stalls;
      play_end = at;
    }
    play_end += static_cast<double>(chunk.size()) / std::max(rate, 1);
    for (float x : chunk) {
      if (!std::isfinite(x)) return DataLoss("check: non-finite audio sample");
    }
    samples += static_cast<int64_t>(chunk.size());
    ++chunks;
  }
  COSY_ASSIGN_OR_RETURN(SessionResult r, s->Finish());
  if (!r.status.ok()) return r.status;
  const double total = Since(t0);
  const double cpu_s = ProcessCpuSeconds() - cpu0;
  if (rate != 24000 || samples != a.tokens * 960) {
    return DataLoss("check: {} samples at {} Hz, want {} x 960 at 24000", samples, rate, a.tokens);
  }
  const double audio_s = static_cast<double>(samples) / rate;
  Json nodes = Json::object();
  double sum_ns = 0;
  for (const auto& [node, ns] : r.timing.node_ns) sum_ns += static_cast<double>(ns);
  for (const auto& [node, ns] : r.timing.node_ns) {
    nodes[node] = {{"ms", ns / 1e6}, {"share", sum_ns > 0 ? ns / sum_ns : 0.0}};
  }
  for (const NodeSessionTiming& n : r.timing.nodes) {
    if (!nodes.contains(n.node)) continue;
    Json& j = nodes[n.node];
    j["first_output_ms"] = n.first_output_ns / 1e6;
    // The call behind the first output: when it started and how long it took (the LM: its
    // prefill and first token; the flow: its first chunk), and the node's call count.
    j["first_output_call_start_ms"] = n.first_output_call_ns / 1e6;
    j["first_output_call_ms"] =
        n.first_output_call_ns >= 0 ? (n.first_output_ns - n.first_output_call_ns) / 1e6 : -1.0;
    j["calls"] = n.calls;
  }
  double lm_ms = nodes.contains("lm") ? nodes["lm"]["ms"].get<double>() : 0;
  return Json{{"first_audio_s", first},  {"total_s", total},   {"audio_s", audio_s},
              {"rtf", total / audio_s}, {"audio_chunks", chunks}, {"nodes", nodes},
              // Played from the first audio on: silence heard while waiting for the next
              // chunk (sum, longest gap, count); 0 = continuous speech after the first audio.
              {"playback_stall_s", stall_s}, {"playback_max_stall_s", max_stall_s},
              {"playback_stalls", stalls},
              {"lm_ms_per_token", lm_ms / static_cast<double>(a.tokens)},
              // Process CPU time during the request and its share of the cores the compute
              // may use (limits.threads, else oneDNN's team): below 1, cores sat idle (or
              // waited on memory stalls, which count as busy).
              {"cpu_s", cpu_s},
              {"cpu_busy", cpu_s / (total * std::max(1, a.threads > 0 ? a.threads : kernels::cpu::DnnlNumThreads()))}};
}

// One configuration: load, warm-up request, `requests` timed requests; the pipeline is freed on
// return.
Result<Json> RunConfig(const RealArgs& a, const std::string& model_dir, const Config& c,
                       const VoicePromptPtr& voice) {
  // The LM's decode is bound by it (docs/benchmarks.md: it drifts on shared VMs); its 1 GiB
  // buffer is gone before the peak RSS is reset.
  const double bandwidth = ReadBandwidth(2);
  const bool reset = ResetPeakRss();
  COSY_ASSIGN_OR_RETURN(Json graph, RealGraph(a, c));
  PipelineOverrides o;
  o.model_dir = model_dir;
  o.threads = a.threads;
  auto t0 = Clock::now();
  COSY_ASSIGN_OR_RETURN(auto p, Pipeline::FromText(graph.dump(), o));
  COSY_RETURN_IF_ERROR(p->Start());
  Json out{{"lm_precision", c.lm},
           {"lm_device", a.lm_device},
           {"flow_precision", a.flow_device == "cuda" ? std::string("f32") : c.flow},
           {"flow_device", a.flow_device},
           {"vocoder_precision", c.vocoder},
           {"flow_incremental", c.incremental},
           {"flow_stream_final", c.stream_final},
           {"flow_n_timesteps", a.flow_steps},       // 0: the graph's (10, as the reference)
           {"flow_max_token_hop", a.max_token_hop},  // 0: the graph's (100, as the reference)
           {"load_s", Since(t0)},
           {"load_average_1min_start", LoadAverage()},
           {"read_bandwidth_gbps_2_threads", bandwidth}};
  t0 = Clock::now();
  COSY_ASSIGN_OR_RETURN(Json warm, RunRequest(*p, a, voice));
  out["warmup"] = {{"first_audio_s", warm["first_audio_s"]}, {"total_s", warm["total_s"]}};
  Json best, all = Json::array();
  double min_first = 1e30, min_rtf = 1e30;
  for (int i = 0; i < a.requests; ++i) {
    COSY_ASSIGN_OR_RETURN(Json r, RunRequest(*p, a, voice));
    all.push_back({{"first_audio_s", r["first_audio_s"]}, {"total_s", r["total_s"]},
                   {"playback_stall_s", r["playback_stall_s"]}});
    min_first = std::min(min_first, r["first_audio_s"].get<double>());
    min_rtf = std::min(min_rtf, r["rtf"].get<double>());
    if (best.is_null() || r["total_s"].get<double>() < best["total_s"].get<double>()) best = r;
  }
  out["best"] = best;
  out["first_audio_s_min"] = min_first;
  out["rtf_min"] = min_rtf;
  out["requests"] = all;
  out["load_average_1min_end"] = LoadAverage();
  out[reset ? "peak_rss_mib" : "peak_rss_mib_process_so_far"] = PeakRssMib();
  // One line per configuration as it completes, so a cut-short run still leaves its figures.
  fmt::print(stderr, "real bench: {} done (best RTF {:.3f}, first audio {:.3f} s): {}\n", c.name,
             min_rtf, min_first, out.dump());
  return out;
}

Result<std::string> PrepareModelDir(const RealArgs& a, bool* temporary) {
  *temporary = a.model_dir.empty();
  if (!*temporary) return a.model_dir;
  std::string pattern = (fs::temp_directory_path() / "cosyflow-real-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) return Internal("mkdtemp {}: {}", pattern, strerror(errno));
  const auto t0 = Clock::now();
  COSY_RETURN_IF_ERROR(WriteRandomModelDirInChild(a.keys, pattern));
  std::error_code ec;
  fs::create_directories(pattern + "/CosyVoice-BlankEN", ec);
  for (const char* f : {"vocab.json", "merges.txt"}) {
    fs::copy_file(a.tokenizer + "/" + f, pattern + "/CosyVoice-BlankEN/" + f, ec);
    if (ec) return NotFound("{}/{}: {}", a.tokenizer, f, ec.message());
  }
  fmt::print(stderr, "real bench: random model written to {} in {:.1f} s\n", pattern, Since(t0));
  return pattern;
}

bool ParseArgs(int argc, char** argv, RealArgs* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    const bool has = i + 1 < argc;
    if (s == "--real") continue;
    if (s == "--quick") a->quick = true;
    else if (s == "--keep-model") a->keep_model = true;
    else if (s == "--no-incremental-off") a->incremental_off = false;
    else if (s == "--stream-final") a->stream_final = true;
    else if (s == "--tokens" && has) a->tokens = std::max(1, std::atoi(argv[++i]));
    else if (s == "--requests" && has) a->requests = std::max(1, std::atoi(argv[++i]));
    else if (s == "--threads" && has) a->threads = std::max(0, std::atoi(argv[++i]));
    else if (s == "--flow-steps" && has) a->flow_steps = std::max(1, std::atoi(argv[++i]));
    else if (s == "--max-token-hop" && has) a->max_token_hop = std::max(25, std::atoi(argv[++i]));
    else if (s == "--model-dir" && has) a->model_dir = argv[++i];
    else if (s == "--graph" && has) a->graph = argv[++i];
    else if (s == "--keys" && has) a->keys = argv[++i];
    else if (s == "--text" && has) a->text = argv[++i];
    else if (s == "--prompt-text" && has) a->prompt_text = argv[++i];
    else if (s == "--lm-device" && has) a->lm_device = argv[++i];
    else if (s == "--flow-device" && has) a->flow_device = argv[++i];
    else if (s == "--precisions" && has) {
      a->precisions.clear();
      std::string list = argv[++i];
      for (size_t at = 0; at <= list.size();) {
        const size_t comma = std::min(list.find(',', at), list.size());
        const std::string p = list.substr(at, comma - at);
        // "f32" | "bf16" | "int8" (LM int8, flow bf16), or "LM/FLOW" (e.g. "int8/f32" or
        // "int8/int16": the AVX2 choices, where bf16 flow weights are widened per tile), or
        // "LM/FLOW/VOCODER".
        const size_t slash = p.find('/');
        const size_t slash2 = slash == std::string::npos ? slash : p.find('/', slash + 1);
        const std::string lm = p.substr(0, slash);
        const std::string flow =
            slash == std::string::npos ? "" : p.substr(slash + 1, slash2 - slash - 1);
        const std::string vocoder = slash2 == std::string::npos ? "" : p.substr(slash2 + 1);
        if (lm != "f32" && lm != "bf16" && lm != "int8") return false;
        if (slash != std::string::npos && flow != "f32" && flow != "bf16" && flow != "int16") {
          return false;
        }
        if (slash2 != std::string::npos && vocoder != "f32" && vocoder != "bf16") return false;
        a->precisions.push_back(p);
        at = comma + 1;
      }
    } else {
      return false;
    }
  }
  if (a->quick) a->tokens = 50, a->requests = 1, a->precisions = {"int8"}, a->incremental_off = false;
  return (a->lm_device == "cpu" || a->lm_device == "cuda") &&
         (a->flow_device == "cpu" || a->flow_device == "cuda");
}

}  // namespace

int RealMain(int argc, char** argv) {
  RealArgs a;
  if (!ParseArgs(argc, argv, &a)) {
    fmt::print(stderr,
               "usage: cosyflow-bench-e2e --real [--quick] [--tokens N] [--requests N] "
               "[--precisions f32,bf16,int8 or LM/FLOW[/VOCODER], FLOW also int16] [--model-dir "
               "DIR] [--keep-model] "
               "[--graph FILE] [--keys FILE] [--threads N] [--no-incremental-off] [--stream-final] "
               "[--flow-steps N] "
               "[--max-token-hop N] [--text T] [--prompt-text T] [--lm-device cpu|cuda] "
               "[--flow-device cpu|cuda]\n");
    return 2;
  }
  const auto fail = [](const std::string& what) {
    fmt::print(stderr, "cosyflow-bench-e2e --real: {}\n", what);
    return 1;
  };
  const double load_start = LoadAverage();
  bool temporary = false;
  auto dir = PrepareModelDir(a, &temporary);  // first: forks before any thread exists
  if (!dir.ok()) return fail(dir.status().ToString());
  auto voice = MakeVoice(a, *dir + "/CosyVoice-BlankEN");
  Json out{{"bench", "e2e_real"},
           {"model", temporary ? "CosyVoice2-0.5B shapes, random weights (official formats)"
                               : "model dir " + *dir},
           {"graph", a.graph + " without VoiceFrontend (requests carry the voice)"},
           {"tokenizer", "CosyVoice-BlankEN (real vocab.json / merges.txt)"},
           {"text", a.text},
           {"prompt_text", a.prompt_text},
           {"voice", "cached: 75 prompt speech tokens, [150, 80] prompt mel, 192-d x-vector"},
           {"target_tokens", a.tokens},
           {"target_audio_s", static_cast<double>(a.tokens) / 25.0},
           {"requests_per_config", a.requests},
           {"threads_limit", a.threads},
           {"dnnl_threads", kernels::cpu::DnnlNumThreads()},
           {"bf16_gemm", kernels::cpu::Bf16GemmKernel()},
           {"int16_gemm", kernels::cpu::Kernels().gemm_panels_i16_name},
           {"load_average_1min_start", load_start},
           {"build", BuildInfo()}};
  int rc = 0;
  if (!voice.ok()) {
    rc = fail(voice.status().ToString());
  } else {
    out["voice_prompt_text_tokens"] = (*voice)->prompt_text_ids.size();
    std::vector<Config> configs;
    for (const std::string& p : a.precisions) {
      const size_t slash = p.find('/');
      const size_t slash2 = slash == std::string::npos ? slash : p.find('/', slash + 1);
      if (slash2 != std::string::npos) {
        const std::string lm = p.substr(0, slash), flow = p.substr(slash + 1, slash2 - slash - 1);
        const std::string vocoder = p.substr(slash2 + 1);
        configs.push_back({lm + "_flow_" + flow + "_vocoder_" + vocoder, lm, flow, vocoder, true});
      } else if (slash != std::string::npos) {
        configs.push_back({p.substr(0, slash) + "_flow_" + p.substr(slash + 1), p.substr(0, slash),
                           p.substr(slash + 1), "f32", true});
      } else {
        configs.push_back({p, p, p == "f32" ? "f32" : "bf16", "f32", true});
      }
    }
    if (a.stream_final && !configs.empty()) {
      Config sf = configs.back();
      sf.name += "_stream_final";
      sf.stream_final = true;
      configs.push_back(sf);
    }
    if (a.incremental_off && !configs.empty()) {
      Config off = configs[a.precisions.size() - 1];
      off.name += "_flow_recompute";
      off.incremental = false;
      configs.push_back(off);
    }
    for (const Config& c : configs) {
      auto r = RunConfig(a, *dir, c, *voice);
      if (!r.ok()) {
        rc = fail(c.name + ": " + r.status().ToString());
        break;
      }
      out["configs"][c.name] = *r;
    }
  }
  out["load_average_1min_end"] = LoadAverage();
  if (temporary && !a.keep_model) {
    std::error_code ec;
    fs::remove_all(*dir, ec);
  } else if (temporary) {
    out["model_dir_kept"] = *dir;
  }
  if (rc == 0) fmt::print("{}\n", out.dump(2));
  return rc;
}

}  // namespace cosyflow::bench
