// `cosyflow synth`: text -> wav through a TTS graph file (configs/tts.json, configs/tts_tiny.json)
// with the Pipeline API. Prints one JSON line on stdout: audio length, time to first audio,
// total time, real-time factor and the time spent in each node.
//
//   cosyflow synth --graph configs/tts_tiny.json --text "Hello." --out out.wav
//   printf 'Hello\nthere.\n' | cosyflow synth --graph configs/tts_tiny.json --stream-text
//   cosyflow synth --graph configs/tts.json --prompt-wav p.wav --prompt-text "..." --text "..."
//   cosyflow synth --graph configs/tts.json --voice alice --mode cross_lingual --text "..."
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "apps/cli/commands.h"
#include "bridges/zmq_send_node.h"
#include "graph/synthesis.h"
#include "nodes/audio_io/audio_file.h"
#include "nodes/resample/resampler.h"

namespace cosyflow::cli {
namespace {

struct SynthArgs {
  std::string graph;
  std::string model_dir;
  std::string text;
  std::string text_file;
  bool stream_text = false;
  std::string out = "out.wav";
  int sample_rate = 0;
  int64_t seed = -1;
  std::string mode;
  bool greedy = false;
  bool zero_noise = false;
  std::string precision;  // "" = the graph's
  int threads = 0;
  std::string bridge;
  std::string voice, voice_store, prompt_wav, prompt_text, instruct, source_wav;
  float speed = 1.0f;
};

Status WriteWav(const std::string& path, const std::vector<float>& audio, int rate) {
  COSY_ASSIGN_OR_RETURN(AudioFileFormat format, ParseAudioFileFormat("auto", path));
  COSY_ASSIGN_OR_RETURN(auto w,
                        AudioFileWriter::Open(path, rate, format, AudioSampleFormat::kInt16));
  COSY_RETURN_IF_ERROR(w->Write(audio));
  return w->Close();
}

Status RunSynth(const SynthArgs& a) {
  tts::GraphOverrides o;
  o.model_dir = a.model_dir;
  o.mode = a.mode;
  if (a.seed >= 0) o.seed = a.seed;
  o.stream_text = a.stream_text;
  o.greedy = a.greedy;
  o.zero_noise = a.zero_noise;
  o.lm_precision = a.precision;
  o.threads = a.threads;
  o.bridge_endpoint = a.bridge;
  o.voice = a.voice;
  o.voice_store = a.voice_store;
  o.prompt_wav = a.prompt_wav;
  o.prompt_text = a.prompt_text;
  o.instruct = a.instruct;
  o.source_wav = a.source_wav;
  o.speed = a.speed;
  if (o.mode.empty() && !a.source_wav.empty()) o.mode = "vc";
  if (o.mode.empty() && !a.instruct.empty()) o.mode = "instruct2";
  if (o.mode == "vc" && a.source_wav.empty()) {
    return InvalidArgument("synth: --mode vc needs --source-wav (the speech to convert)");
  }
  o.registry = &bridges::FullNodeRegistry();
  tts::GraphInfo info;
  COSY_ASSIGN_OR_RETURN(auto pipeline, tts::LoadPipeline(a.graph, o, &info));
  if (info.test_model) {
    fmt::print(stderr,
               "cosyflow synth: note: {} maps text ids modulo the LM vocabulary "
               "(text_id_policy \"modulo\"): this is a tiny random-weight TEST model, so the "
               "output is noise-like audio, not speech\n",
               a.graph);
  }
  COSY_RETURN_IF_ERROR(pipeline->Start());

  std::vector<std::string> chunks;
  std::function<bool(std::string*)> next;
  if (o.mode == "vc") {
    if (!a.text.empty() || !a.text_file.empty() || a.stream_text) {
      return InvalidArgument("synth: --mode vc converts --source-wav and takes no text");
    }
    chunks.push_back("");
  } else if (!a.text.empty()) {
    chunks.push_back(a.text);
  } else if (!a.text_file.empty()) {
    std::ifstream in(a.text_file);
    if (!in) return NotFound("synth: cannot open --text-file {}", a.text_file);
    std::stringstream s;
    s << in.rdbuf();
    chunks.push_back(s.str());
  } else {
    // stdin: one chunk per line (bi-stream chunks as they arrive with --stream-text).
    next = [](std::string* line) {
      if (!std::getline(std::cin, *line)) return false;
      *line += "\n";
      return true;
    };
  }
  COSY_ASSIGN_OR_RETURN(tts::SynthOutput r,
                        tts::Synthesize(*pipeline, chunks, a.stream_text, next, {},
                                        tts::RequestFields(o)));
  if (!r.result.status.ok()) {
    return Status(r.result.status.code(),
                  fmt::format("synth: node '{}' failed: {}", r.result.failed_node,
                              r.result.status.message()));
  }
  if (r.audio.empty()) return InvalidArgument("synth: the graph produced no audio (empty text?)");
  std::vector<float> audio = std::move(r.audio);
  int rate = r.sample_rate;
  if (a.sample_rate > 0 && a.sample_rate != rate) {
    COSY_ASSIGN_OR_RETURN(auto rs, Resampler::Create(rate, a.sample_rate, ResampleQuality::kHigh));
    std::vector<float> converted;
    COSY_RETURN_IF_ERROR(rs->Process(audio, &converted));
    COSY_RETURN_IF_ERROR(rs->Flush(&converted));
    audio = std::move(converted);
    rate = a.sample_rate;
  }
  COSY_RETURN_IF_ERROR(WriteWav(a.out, audio, rate));

  const auto& t = r.result.timing;
  const double seconds = static_cast<double>(audio.size()) / rate;
  nlohmann::json j;
  j["graph"] = a.graph;
  j["model_dir"] = info.model_dir;
  j["test_model"] = info.test_model;
  j["out"] = a.out;
  j["sample_rate"] = rate;
  j["samples"] = audio.size();
  j["audio_s"] = seconds;
  j["chunks"] = r.chunks;
  j["first_audio_ms"] = t.first_output_ns / 1e6;
  j["total_ms"] = t.total_ns / 1e6;
  j["rtf"] = seconds > 0 ? (t.total_ns / 1e9) / seconds : 0.0;
  nlohmann::json nodes = nlohmann::json::object();
  for (const auto& [node, ns] : t.node_ns) nodes[node] = ns / 1e6;
  j["node_ms"] = nodes;
  fmt::print("{}\n", j.dump());
  return OkStatus();
}

}  // namespace

void RegisterSynth(CLI::App& app) {
  auto a = std::make_shared<SynthArgs>();
  CLI::App* cmd = app.add_subcommand(
      "synth", "Text to speech through a graph file; prints timing as one JSON line");
  cmd->add_option("--graph", a->graph, "TTS graph file (configs/tts.json, configs/tts_tiny.json)")
      ->required();
  cmd->add_option("--model-dir", a->model_dir, "Override the graph's model_dir");
  auto* text = cmd->add_option("--text", a->text, "Text to speak");
  auto* file = cmd->add_option("--text-file", a->text_file, "Read the text from a file");
  auto* stream = cmd->add_flag("--stream-text", a->stream_text,
                               "Bi-stream text: stdin lines are pushed as text chunks while "
                               "synthesis runs");
  text->excludes(file)->excludes(stream);
  file->excludes(stream);
  cmd->add_option("--out", a->out, "Output audio file (wav/flac/ogg by extension)")
      ->capture_default_str();
  cmd->add_option("--sample-rate", a->sample_rate, "Resample the output to this rate (Hz)")
      ->check(CLI::Range(1000, 384000));
  cmd->add_option("--seed", a->seed,
                  "Sampling seed of this request (0 = the graph's); vocoder noise seed")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 62));
  cmd->add_option("--mode", a->mode, "LM input layout of this request (default: the graph's)")
      ->check(CLI::IsMember({"zero_shot", "cross_lingual", "instruct2", "no_prompt", "sft", "vc"}));
  cmd->add_option("--voice", a->voice, "Voice id from the graph's voice store (cosyflow voice list)");
  cmd->add_option("--voices", a->voice_store,
                  "Voice store file (default: the graph's VoiceFrontend.voices, spk2info.pt)");
  cmd->add_option("--prompt-wav", a->prompt_wav,
                  "Prompt recording to clone (any libsndfile format, >= 16 kHz, <= 30 s)");
  cmd->add_option("--prompt-text", a->prompt_text, "Transcript of --prompt-wav (zero_shot)");
  cmd->add_option("--instruct", a->instruct,
                  "instruct2: the instruction (implies --mode instruct2; <|endofprompt|> is "
                  "appended when missing)");
  cmd->add_option("--source-wav", a->source_wav,
                  "vc: the recording whose speech is converted to the voice (implies --mode vc)");
  cmd->add_option("--speed", a->speed, "Speaking rate (non-streaming flow, as the reference)")
      ->check(CLI::Range(0.25f, 4.0f));
  cmd->add_flag("--greedy", a->greedy, "Greedy speech-token decoding (deterministic)");
  cmd->add_flag("--zero-noise", a->zero_noise, "Zero NSF noise in the vocoder (deterministic)");
  cmd->add_option("--precision", a->precision,
                  "SpeechLM linear weights: f32, bf16 or int8 (default: the graph's)")
      ->check(CLI::IsMember({"f32", "bf16", "int8"}));
  cmd->add_option("--threads", a->threads, "Compute threads (default: the graph's / all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--bridge", a->bridge,
                  "Endpoint of the served back half for every ZmqSend node (split graphs)");
  cmd->callback([a] {
    Status s = RunSynth(*a);
    if (!s.ok()) {
      fmt::print(stderr, "cosyflow synth: {}\n", s.ToString());
      SetExitCode(1);
    }
  });
}

}  // namespace cosyflow::cli
