// cosyflow-bench-voice: what a voice costs — adding one from a prompt recording, using a cached
// one per request, and the voice store (spk2info.pt) at 100 voices.
//
//   cosyflow-bench-voice [--fixtures DIR] [--seconds S] [--repeats R] [--store-voices N]
//                        [--tiny-tokenizer] [--tiny-campplus]
//
// (a) Add a voice from an S-second prompt (default 5: the first prompt of DIR/manifest.json,
//     default the frontend-tiny copy in tests/fixtures, tiled at its own rate and written as a
//     PCM16 wav). Both models are built at the official sizes with random weights
//     (bench/onnx_synth.h) and written to temporary files for VoiceFrontend::Load: the speech
//     tokenizer v2 (6 blocks, 1280 wide, 20 heads, FSMN, FSQ; official I/O) and CAM++ (growth 32,
//     bn_size 4, init 128; static shapes for this prompt's fbank frames). --tiny-tokenizer /
//     --tiny-campplus use the fixture's tiny models instead. Also reported: the fixture's tiny
//     CAM++ and the same synthetic builder at the tiny widths (how close the synthetic graph is
//     to an exported one), and a FLOP-ratio estimate of the official CAM++ from the tiny time
//     (labelled an estimate). Stages timed separately: decode, resample to 16 and 24 kHz, whisper
//     log-mel 128, tokenizer run, Kaldi fbank 80, CAM++, Matcha mel; then VoiceFrontend::FromFile
//     end to end and VoiceStore::Add. Tokens are checked to lie in [0, 6561), the embedding to
//     be finite.
// (b) Per request with a cached voice: VoiceFrontendNode::Resolve of a stored voice id, of a
//     repeated prompt_audio_path (cached by path/size/mtime/transcript) and of repeated
//     prompt_samples (cached by SHA-256 of samples/rate/transcript; option inline_cache), in
//     µs; and prompt_samples with inline_cache 0 (a full front-end run each time), in ms.
// (c) A store of N voices (default 100, each an S-second zero-shot voice): Add of each (the
//     file is rewritten each time), List, Get of a voice (first after a write, then cached).
// Prints JSON with "build" info. Threads: OMP_NUM_THREADS (report "omp_max_threads").
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "bench/onnx_synth.h"
#include "nodes/audio_io/audio_file.h"
#include "nodes/prompt_audio/prompt_audio.h"
#include "nodes/voice/voice_frontend.h"
#include "nodes/voice/voice_node.h"
#include "nodes/voice/voice_store.h"
#include "runtime/build_info.h"
#include "runtime/onnx/model.h"

namespace {

using namespace cosyflow;
namespace fs = std::filesystem;
namespace pa = cosyflow::prompt_audio;
using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "cosyflow-bench-voice: %s\n", msg.c_str());
  std::exit(1);
}

template <typename T>
T Must(Result<T> r, const std::string& what) {
  if (!r.ok()) Die(what + ": " + r.status().ToString());
  return std::move(*r);
}

void Must(const Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.ToString());
}

// Best and median wall time of `repeats` runs, in ms.
nlohmann::json Time(int repeats, const std::function<void()>& fn) {
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = Clock::now();
    fn();
    ms.push_back(Ms(t0));
  }
  std::sort(ms.begin(), ms.end());
  return {{"best_ms", ms.front()}, {"median_ms", ms[ms.size() / 2]}};
}

// Mean µs per call over `n` calls (after one warm-up call).
double MicrosPerCall(int n, const std::function<void()>& fn) {
  fn();
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) fn();
  return Ms(t0) * 1e3 / n;
}

// CAM++ (3D-Speaker CAMPPlus, feat_dim 80) FLOPs per input fbank frame (multiply-add = 2).
// FCM head (m = 32 channels, identical at every width): conv 3x3 1->32 at 80 bins; two
// BasicResBlocks at 40 bins (first with a 1x1 shortcut) and two at 20; conv 3x3 stride (2,1) to
// 10 bins -> 320 channels. TDNN 320 -> init, K 5, stride 2. Then at half rate: D-TDNN blocks of
// 12/24/16 layers (each: 1x1 in -> bn = bn_size*growth, CAM layer: local conv K 3 bn -> growth,
// context 1x1 bn -> bn/2 -> growth) with a transit 1x1 ch -> ch/2 after each block.
double CamppFlopsPerFrame(int64_t growth, int64_t bn_size, int64_t init) {
  const double m = 32;
  double fcm = 2 * 9 * m * 80;                   // conv1
  fcm += 2 * (4 * 9 * m * m * 40 + m * m * 40);  // layer1
  fcm += 2 * (4 * 9 * m * m * 20 + m * m * 20);  // layer2
  fcm += 2 * 9 * m * m * 10;                     // conv2
  const double tdnn = 2.0 * 320 * init * 5 / 2;  // per input frame (stride 2)
  const double bn = static_cast<double>(bn_size * growth);
  double half = 0, ch = static_cast<double>(init);
  for (int layers : {12, 24, 16}) {
    for (int l = 0; l < layers; ++l) {
      half += 2 * (ch * bn + 3 * bn * growth + bn * (bn / 2) + (bn / 2) * growth);
      ch += static_cast<double>(growth);
    }
    half += 2 * ch * std::floor(ch / 2);
    ch = std::floor(ch / 2);
  }
  return fcm + tdnn + half / 2;
}

std::vector<float> Tile(const std::vector<float>& x, size_t n) {
  std::vector<float> y(n);
  for (size_t i = 0; i < n; ++i) y[i] = x[i % x.size()];
  return y;
}

void WriteWav(const std::string& path, std::span<const float> x, int rate) {
  auto w = Must(AudioFileWriter::Open(path, rate, AudioFileFormat::kWav, AudioSampleFormat::kInt16),
                "open " + path);
  Must(w->Write(x), "write " + path);
  Must(w->Close(), "close " + path);
}

// A synthetic zero-shot voice of `tokens` prompt tokens (deterministic per seed).
VoicePrompt FakeVoice(const std::string& id, int64_t tokens, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> tok(0, 6560);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  VoicePrompt v;
  v.id = id;
  for (int i = 0; i < 12; ++i) v.prompt_text_ids.push_back(tok(rng));
  for (int64_t i = 0; i < tokens; ++i) v.speech_tokens.push_back(tok(rng));
  v.feat.resize(static_cast<size_t>(2 * tokens * VoicePrompt::kMelBins));
  for (float& f : v.feat) f = nd(rng);
  v.embedding.resize(VoicePrompt::kEmbeddingDim);
  for (float& f : v.embedding) f = nd(rng);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = std::string(COSYFLOW_SOURCE_DIR) + "/tests/fixtures/frontend-tiny";
  double seconds = 5.0;
  int repeats = 3, store_voices = 100;
  bool tiny_tokenizer = false, tiny_campplus = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--fixtures")
      dir = value();
    else if (a == "--seconds")
      seconds = std::atof(value().c_str());
    else if (a == "--repeats")
      repeats = std::max(1, std::atoi(value().c_str()));
    else if (a == "--store-voices")
      store_voices = std::max(1, std::atoi(value().c_str()));
    else if (a == "--tiny-tokenizer")
      tiny_tokenizer = true;
    else if (a == "--tiny-campplus")
      tiny_campplus = true;
    else
      Die("unknown argument " + a);
  }
  std::ifstream mf(dir + "/manifest.json");
  if (!mf.good()) Die("cannot open " + dir + "/manifest.json");
  const auto manifest = nlohmann::json::parse(mf);
  const std::string name = manifest.at("prompts").at(0).at("name").get<std::string>();

  const fs::path tmp = fs::temp_directory_path() /
                       ("cosyflow-bench-voice-" + std::to_string(static_cast<long>(getpid())));
  fs::create_directories(tmp);
  nlohmann::json report;
  report["build"] = BuildInfo();
  report["omp_max_threads"] = omp_get_max_threads();
  report["prompt_seconds"] = seconds;
  report["repeats"] = repeats;

  // --- the prompt: the fixture prompt tiled to S seconds at its own rate, as a PCM16 wav
  const AudioData orig = Must(pa::DecodePromptFile(dir + "/" + name + "/prompt.wav"), "decode");
  const std::string wav = (tmp / "prompt.wav").string();
  WriteWav(wav, Tile(orig.samples, static_cast<size_t>(seconds * orig.sample_rate)),
           orig.sample_rate);
  report["prompt"] = {{"source", name}, {"sample_rate", orig.sample_rate}};

  // --- models
  std::string tokenizer_path = dir + "/speech_tokenizer_v2_tiny.onnx";
  const std::string campplus_tiny_path = dir + "/campplus_tiny.onnx";
  std::string campplus_path = campplus_tiny_path;
  // The synthetic CAM++ has static shapes: the fbank frames of this prompt.
  const auto waves = Must(pa::LoadPromptWaveforms(wav), "load prompt");
  const int64_t t_fbank = 1 + (static_cast<int64_t>(waves.x16k.size()) - 400) / 160;
  if (!tiny_campplus) {
    auto t0 = Clock::now();
    const std::string bytes = bench::SyntheticCampplus(t_fbank, 32, 4, 128);
    report["campplus"] = {{"model", "synthetic CAM++ at official widths (random weights)"},
                          {"bytes", bytes.size()},
                          {"fbank_frames", t_fbank},
                          {"build_ms", Ms(t0)}};
    campplus_path = (tmp / "campplus_full.onnx").string();
    std::ofstream(campplus_path, std::ios::binary) << bytes;
  } else {
    report["campplus"] = {{"model", campplus_path}};
  }
  double tok_flops = 0;
  const int64_t t_mel = static_cast<int64_t>(seconds * 100);
  if (!tiny_tokenizer) {
    auto t0 = Clock::now();
    const std::string bytes = bench::SyntheticTokenizer(t_mel, &tok_flops, /*official_io=*/true);
    report["tokenizer"] = {{"model", "synthetic full-size speech tokenizer v2 (random weights)"},
                           {"bytes", bytes.size()},
                           {"build_ms", Ms(t0)},
                           {"gflop_per_call", tok_flops * 1e-9}};
    tokenizer_path = (tmp / "speech_tokenizer_v2_full.onnx").string();
    std::ofstream(tokenizer_path, std::ios::binary) << bytes;
  } else {
    report["tokenizer"] = {{"model", tokenizer_path}};
  }
  auto t0 = Clock::now();
  auto frontend = Must(voice::VoiceFrontend::Load({tokenizer_path, campplus_path}), "load");
  report["frontend_load_ms"] = Ms(t0);
  auto tokenizer = Must(cosyflow::onnx::Model::Load(tokenizer_path), "load tokenizer");
  auto campplus = Must(cosyflow::onnx::Model::Load(campplus_path), "load campplus");
  auto campplus_tiny = Must(cosyflow::onnx::Model::Load(campplus_tiny_path), "load campplus");
  // The same synthetic builder at the tiny widths: its time next to the real tiny model's shows
  // how close the synthetic graph is to an exported one.
  const std::string tiny_synth = bench::SyntheticCampplus(t_fbank, 8, 2, 32);
  auto campplus_tiny_synth = Must(
      cosyflow::onnx::Model::LoadFromBytes(
          {reinterpret_cast<const uint8_t*>(tiny_synth.data()), tiny_synth.size()}, "tiny.onnx"),
      "load synthetic tiny campplus");

  // --- (a) stages
  nlohmann::json stages;
  AudioData decoded;
  stages["decode"] = Time(repeats, [&] { decoded = Must(pa::DecodePromptFile(wav), "decode"); });
  std::vector<float> x16, x24;
  stages["resample_16k"] = Time(repeats, [&] {
    x16 = Must(pa::PreparePromptAudio(decoded.samples, decoded.sample_rate, 16000), "16k");
  });
  stages["resample_24k"] = Time(repeats, [&] {
    x24 = Must(pa::PreparePromptAudio(decoded.samples, decoded.sample_rate, 24000), "24k");
  });
  auto whisper = Must(pa::WhisperLogMel::Create(128), "whisper");
  auto fbank = Must(pa::KaldiFbank::Create(80, 16000), "fbank");
  auto matcha = Must(pa::MatchaMel::Create(), "matcha");
  Tensor mel, fb;
  stages["whisper_logmel128"] = Time(repeats, [&] { mel = Must(whisper.Compute(x16), "mel"); });
  const Tensor feats = Must(mel.Unsqueeze(0), "feats");
  const std::vector<int32_t> len{static_cast<int32_t>(mel.size(1))};
  const Tensor tok_in[] = {feats, Must(Tensor::FromVector<int32_t>(Dims{1}, len), "len")};
  std::vector<Tensor> tok_out;
  stages["speech_tokenizer"] =
      Time(repeats, [&] { tok_out = Must(tokenizer->Run(tok_in), "tokenizer run"); });
  stages["speech_tokenizer"]["input"] = feats.ToString();
  stages["speech_tokenizer"]["output"] = tok_out[0].ToString();
  if (tok_flops > 0) {
    stages["speech_tokenizer"]["gflops_best"] =
        tok_flops * 1e-9 / (stages["speech_tokenizer"]["best_ms"].get<double>() * 1e-3);
  }
  stages["kaldi_fbank80"] =
      Time(repeats, [&] { fb = Must(fbank.ComputeMeanNormalized(x16), "fbank"); });
  const Tensor cam_in[] = {Must(fb.Unsqueeze(0), "fbank")};
  std::vector<Tensor> cam_out;
  if (fb.size(0) != t_fbank) Die("fbank frames differ from the synthetic CAM++ input");
  stages["campplus"] =
      Time(repeats, [&] { cam_out = Must(campplus->Run(cam_in), "campplus run"); });
  stages["campplus"]["model"] = tiny_campplus ? "tiny fixture" : "synthetic, official widths";
  stages["campplus_tiny"] =
      Time(repeats, [&] { (void)Must(campplus_tiny->Run(cam_in), "campplus tiny run"); });
  stages["campplus_tiny_widths_synthetic"] = Time(
      repeats, [&] { (void)Must(campplus_tiny_synth->Run(cam_in), "campplus synthetic tiny"); });
  stages["matcha_mel80"] = Time(repeats, [&] { (void)Must(matcha.Compute(x24), "matcha"); });
  const double tiny_f = CamppFlopsPerFrame(8, 2, 32), full_f = CamppFlopsPerFrame(32, 4, 128);
  const double cam_tiny_ms = stages["campplus_tiny"]["best_ms"].get<double>();
  stages["campplus_official_estimate_ms"] = {
      {"estimate", true},
      {"how", "tiny CAM++ best time x FLOP ratio (official widths 32/4/128 vs tiny 8/2/32)"},
      {"mflop_per_frame_tiny", tiny_f * 1e-6},
      {"mflop_per_frame_official", full_f * 1e-6},
      {"flop_ratio", full_f / tiny_f},
      {"gflop_official_per_call", full_f * static_cast<double>(fb.size(0)) * 1e-9},
      {"ms", cam_tiny_ms * full_f / tiny_f}};
  report["stages"] = stages;

  // End to end: VoiceFrontend::FromFile (decode once, both resamples, all features, both models,
  // alignment) and storing the voice.
  VoicePrompt added;
  nlohmann::json add;
  add["from_file"] = Time(repeats, [&] { added = Must(frontend->FromFile(wav), "FromFile"); });
  for (int32_t t : added.speech_tokens) {
    if (t < 0 || t >= 6561) Die("token out of range");
  }
  for (float e : added.embedding) {
    if (!std::isfinite(e)) Die("embedding not finite");
  }
  add["speech_tokens"] = added.speech_tokens.size();
  add["feat_frames"] = added.feat_frames();
  added.id = "bench";
  {
    voice::VoiceStore store(tmp / "one.pt");
    add["store_add"] = Time(repeats, [&] { Must(store.Add(added, true), "add"); });
  }
  const double cam_est = stages["campplus_official_estimate_ms"]["ms"].get<double>();
  if (tiny_campplus) {
    add["from_file_with_official_campplus_estimate_ms"] =
        add["from_file"]["best_ms"].get<double>() - cam_tiny_ms + cam_est;
  }
  report["add_voice"] = add;

  // --- (b) per request with a cached voice
  {
    const fs::path store_file = tmp / "node_store.pt";
    Must(voice::VoiceStore(store_file).Add(added), "store add");
    VoiceFrontendNodeOptions opt;
    opt.speech_tokenizer = tokenizer_path;
    opt.campplus = campplus_path;
    opt.voices = store_file.string();
    NodeContext ctx;
    auto node_ptr = Must(VoiceFrontendNode::Create(opt, ctx), "VoiceFrontendNode");
    auto* node = static_cast<VoiceFrontendNode*>(node_ptr.get());
    nlohmann::json cached;
    TextRequest by_id;
    by_id.voice = "bench";
    cached["stored_voice_id_us"] = MicrosPerCall(2000, [&] {
      if (Must(node->Resolve(by_id), "resolve id") == nullptr) Die("no voice");
    });
    TextRequest by_path;
    by_path.mode = "zero_shot";
    by_path.prompt_text = "hello";
    by_path.prompt_audio_path = wav;
    auto t1 = Clock::now();
    (void)Must(node->Resolve(by_path), "resolve path");  // first: computes the voice
    cached["prompt_audio_path_first_ms"] = Ms(t1);
    cached["prompt_audio_path_repeated_us"] =
        MicrosPerCall(2000, [&] { (void)Must(node->Resolve(by_path), "resolve path"); });
    TextRequest by_samples;
    by_samples.mode = "zero_shot";
    by_samples.prompt_text = "hello";
    by_samples.prompt_samples =
        Must(Tensor::FromVector<float>(Dims{static_cast<int64_t>(decoded.samples.size())},
                                       decoded.samples),
             "samples");
    by_samples.prompt_sample_rate = decoded.sample_rate;
    auto t2 = Clock::now();
    (void)Must(node->Resolve(by_samples), "resolve samples");  // first: computes the voice
    cached["prompt_samples_first_ms"] = Ms(t2);
    cached["prompt_samples_repeated_us"] =
        MicrosPerCall(200, [&] { (void)Must(node->Resolve(by_samples), "resolve samples"); });
    const voice::VoiceCacheStats stats = node->inline_cache_stats();
    // 200 timed calls + MicrosPerCall's warm-up call hit; the first call above missed.
    if (stats.hits != 201 || stats.misses != 1) Die("inline prompt cache: expected 201 hits");
    cached["prompt_samples_bytes"] = decoded.samples.size() * sizeof(float);
    // The same request on a node with inline_cache 0: every request recomputes the voice.
    opt.inline_cache = 0;
    auto uncached_ptr = Must(VoiceFrontendNode::Create(opt, ctx), "VoiceFrontendNode");
    auto* uncached = static_cast<VoiceFrontendNode*>(uncached_ptr.get());
    cached["prompt_samples_uncached_ms"] =
        Time(repeats, [&] { (void)Must(uncached->Resolve(by_samples), "resolve samples"); });
    report["per_request"] = cached;
  }

  // --- (c) the voice store at N voices
  {
    const fs::path file = tmp / "store100.pt";
    voice::VoiceStore store(file);
    const int64_t tokens = std::max<int64_t>(1, static_cast<int64_t>(seconds * 25));
    std::vector<VoicePrompt> voices;
    for (int i = 0; i < store_voices; ++i) {
      voices.push_back(FakeVoice("voice_" + std::to_string(i), tokens, static_cast<uint32_t>(i)));
    }
    std::vector<double> add_ms;
    for (const VoicePrompt& v : voices) {
      auto t1 = Clock::now();
      Must(store.Add(v), "add " + v.id);
      add_ms.push_back(Ms(t1));
    }
    nlohmann::json s;
    s["voices"] = store_voices;
    s["tokens_per_voice"] = tokens;
    s["file_bytes"] = fs::file_size(file);
    s["add_first_ms"] = add_ms.front();
    s["add_last_ms"] = add_ms.back();
    double total = 0;
    for (double x : add_ms) total += x;
    s["add_all_ms"] = total;
    std::vector<voice::VoiceInfo> infos;
    s["list"] = Time(repeats, [&] { infos = Must(store.List(), "list"); });
    if (static_cast<int>(infos.size()) != store_voices) Die("list count");
    const std::string mid = "voice_" + std::to_string(store_voices / 2);
    // A fresh store object: the first Get reads and parses the whole file.
    voice::VoiceStore fresh(file);
    auto t1 = Clock::now();
    auto got = Must(fresh.Get(mid), "get");
    s["get_first_ms"] = Ms(t1);
    if (got->speech_tokens != voices[store_voices / 2].speech_tokens) Die("get: tokens differ");
    s["get_cached_us"] = MicrosPerCall(2000, [&] { (void)Must(fresh.Get(mid), "get"); });
    auto t2 = Clock::now();
    Must(store.Remove("voice_0"), "remove");
    s["remove_ms"] = Ms(t2);
    report["store"] = s;
  }
  std::error_code ec;
  fs::remove_all(tmp, ec);
  std::printf("%s\n", report.dump(2).c_str());
  return 0;
}
