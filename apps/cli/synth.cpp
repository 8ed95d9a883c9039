// `cosyflow synth`: text -> audio through a TTS graph file (configs/tts.json,
// configs/tts_tiny.json) with the Pipeline API, streamed: audio is written as chunks arrive (a
// file under a temporary name renamed at the end, or raw s16le on stdout with --raw), with a
// progress line per second on stderr unless --quiet. Prints one JSON line (stdout; stderr with
// --raw): audio length, time to first audio, total time, real-time factor, time per node.
//
//   cosyflow synth --graph configs/tts_tiny.json --text "Hello." --out out.wav
//   printf 'Hello\nthere.\n' | cosyflow synth --graph configs/tts_tiny.json --stream-text
//   cosyflow synth --graph configs/tts.json --prompt-wav p.wav --prompt-text "..." --text "..."
//   cosyflow synth --graph configs/tts.json --voice alice --mode cross_lingual --text "..."
//   cosyflow synth --graph configs/tts_tiny.json --text "Hello." --raw | aplay -f S16_LE -r 24000
#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "apps/cli/commands.h"
#include "bridges/zmq_send_node.h"
#include "graph/synthesis.h"
#include "nodes/audio_io/audio_file.h"
#include "nodes/resample/resampler.h"
#include "runtime/small_file.h"

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
  std::string lm_device;  // "" = the graph's
  std::string flow_precision;  // "" = the graph's
  std::string flow_device;  // "" = the graph's
  int threads = 0;
  std::string bridge;
  std::string voice, voice_store, prompt_wav, prompt_text, instruct, source_wav;
  float speed = 1.0f;
  bool raw = false, quiet = false;
};

// Where the audio goes, chunk by chunk as the graph makes it: raw s16le on stdout (--raw), or a
// file written progressively under a temporary name and renamed into place at the end (no
// partial file is left on an error). Resamples on the way when --sample-rate asks.
class AudioSink {
 public:
  AudioSink(const SynthArgs& a) : a_(a) {}
  ~AudioSink() {
    if (!committed_ && !tmp_.empty()) {
      writer_.reset();
      std::remove(tmp_.c_str());
    }
  }

  // False when stdout was closed by the reader (a clean end: SIGPIPE is ignored, EPIPE ends).
  Result<bool> Write(const std::vector<float>& chunk, int rate) {
    if (rate_ == 0) COSY_RETURN_IF_ERROR(Start(rate));
    const std::vector<float>* out = &chunk;
    if (rs_ != nullptr) {
      conv_.clear();
      COSY_RETURN_IF_ERROR(rs_->Process(chunk, &conv_));
      out = &conv_;
    }
    return Emit(*out);
  }

  Result<bool> Finish() {
    if (rate_ == 0) return InvalidArgument("synth: the graph produced no audio (empty text?)");
    if (rs_ != nullptr) {
      conv_.clear();
      COSY_RETURN_IF_ERROR(rs_->Flush(&conv_));
      COSY_ASSIGN_OR_RETURN(bool open, Emit(conv_));
      if (!open) return false;
    }
    if (a_.raw) return std::fflush(stdout) == 0;
    COSY_RETURN_IF_ERROR(writer_->Close());
    writer_.reset();
    if (std::rename(tmp_.c_str(), a_.out.c_str()) != 0) {
      return DataLoss("synth: cannot rename {} to {}: {}", tmp_, a_.out, std::strerror(errno));
    }
    committed_ = true;
    return true;
  }

  int rate() const { return out_rate_; }
  int64_t samples() const { return samples_; }

 private:
  Status Start(int rate) {
    rate_ = rate;
    out_rate_ = a_.sample_rate > 0 ? a_.sample_rate : rate;
    if (out_rate_ != rate) {
      COSY_ASSIGN_OR_RETURN(rs_, Resampler::Create(rate, out_rate_, ResampleQuality::kHigh));
    }
    if (a_.raw) return OkStatus();
    COSY_ASSIGN_OR_RETURN(AudioFileFormat format, ParseAudioFileFormat("auto", a_.out));
    tmp_ = fmt::format("{}.part-{}", a_.out, static_cast<long>(getpid()));
    COSY_ASSIGN_OR_RETURN(writer_, AudioFileWriter::Open(tmp_, out_rate_, format, AudioSampleFormat::kInt16));
    return OkStatus();
  }

  Result<bool> Emit(const std::vector<float>& x) {
    samples_ += static_cast<int64_t>(x.size());
    if (!a_.raw) {
      COSY_RETURN_IF_ERROR(writer_->Write(x));
      return true;
    }
    pcm_.resize(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      const float v = std::clamp(x[i], -1.0f, 1.0f) * 32767.0f;
      pcm_[i] = static_cast<int16_t>(std::lrint(v));  // little-endian hosts (x86-64, arm64)
    }
    if (std::fwrite(pcm_.data(), sizeof(int16_t), pcm_.size(), stdout) != pcm_.size() ||
        std::fflush(stdout) != 0) {
      if (errno == EPIPE) return false;
      return DataLoss("synth: writing PCM to stdout: {}", std::strerror(errno));
    }
    return true;
  }

  const SynthArgs& a_;
  int rate_ = 0, out_rate_ = 0;
  int64_t samples_ = 0;
  std::unique_ptr<Resampler> rs_;
  std::unique_ptr<AudioFileWriter> writer_;
  std::string tmp_;
  bool committed_ = false;
  std::vector<float> conv_;
  std::vector<int16_t> pcm_;
};

// stdin lines for the feeder thread; gives up (false) when `stop` is set while waiting.
bool ReadLine(std::string* line, const std::atomic<bool>& stop) {
  static std::string pending;
  line->clear();
  while (true) {
    const size_t nl = pending.find('\n');
    if (nl != std::string::npos) {
      *line = pending.substr(0, nl + 1);
      pending.erase(0, nl + 1);
      return true;
    }
    pollfd pfd{0, POLLIN, 0};
    const int ready = poll(&pfd, 1, 100);
    if (stop.load()) return false;
    if (ready <= 0) continue;
    char buf[4096];
    const ssize_t n = read(0, buf, sizeof(buf));
    if (n <= 0) {  // end of input: the last line without its newline
      if (pending.empty()) return false;
      *line = std::move(pending);
      pending.clear();
      return true;
    }
    pending.append(buf, static_cast<size_t>(n));
  }
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
  o.flow_precision = a.flow_precision;
  o.lm_device = a.lm_device;
  o.flow_device = a.flow_device;
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
  bool from_stdin = false;
  if (o.mode == "vc") {
    if (!a.text.empty() || !a.text_file.empty() || a.stream_text) {
      return InvalidArgument("synth: --mode vc converts --source-wav and takes no text");
    }
    chunks.push_back("");
  } else if (!a.text.empty()) {
    chunks.push_back(a.text);
  } else if (!a.text_file.empty()) {
    COSY_ASSIGN_OR_RETURN(std::string text,
                          ReadSmallFile(a.text_file, kMaxTextFileBytes, "--text-file"));
    chunks.push_back(std::move(text));
  } else {
    from_stdin = true;  // one chunk per line (bi-stream chunks as they arrive with --stream-text)
  }
  // Text goes in (stdin from a feeder thread) while audio comes out chunk by chunk.
  COSY_ASSIGN_OR_RETURN(auto stream, tts::SpeechStream::Open(*pipeline, tts::RequestFields(o),
                                                              a.stream_text));
  std::atomic<bool> stop{false};
  Status fed = OkStatus();
  auto feed = [&] {
    for (const auto& c : chunks) {
      if (fed.ok()) fed = stream->Push(c);
    }
    std::string line;
    while (fed.ok() && from_stdin && ReadLine(&line, stop)) fed = stream->Push(line);
    if (fed.ok()) fed = stream->End();
    if (!fed.ok()) stream->Cancel();
  };
  std::thread feeder;
  if (from_stdin) feeder = std::thread(feed);
  else feed();
  struct Joiner {
    std::thread& t;
    std::atomic<bool>& stop;
    ~Joiner() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } joiner{feeder, stop};

  AudioSink sink(a);
  const auto t0 = std::chrono::steady_clock::now();
  auto last_progress = t0;
  std::vector<float> chunk;
  int chunk_rate = 0, chunks_out = 0;
  bool open = true;
  while (open) {
    COSY_ASSIGN_OR_RETURN(bool more, stream->Next(&chunk, &chunk_rate));
    if (!more) break;
    COSY_ASSIGN_OR_RETURN(open, sink.Write(chunk, chunk_rate));
    ++chunks_out;
    const auto now = std::chrono::steady_clock::now();
    if (!a.quiet && now - last_progress >= std::chrono::seconds(1)) {
      const double audio_s = static_cast<double>(sink.samples()) / sink.rate();
      const double wall = std::chrono::duration<double>(now - t0).count();
      fmt::print(stderr, "synth: {:.1f} s of audio in {:.1f} s (RTF {:.2f}), {} chunks\n", audio_s,
                 wall, audio_s > 0 ? wall / audio_s : 0.0, chunks_out);
      last_progress = now;
    }
  }
  if (!open) {  // the reader closed stdout (e.g. `| head -c`): stop synthesis, a clean end
    stream->Cancel();
    (void)stream->Finish();
    return OkStatus();
  }
  stop = true;
  if (feeder.joinable()) feeder.join();
  COSY_ASSIGN_OR_RETURN(SessionResult result, stream->Finish());
  if (!result.status.ok()) {
    return Status(result.status.code(), fmt::format("synth: node '{}' failed: {}", result.failed_node,
                                                    result.status.message()));
  }
  if (!fed.ok()) return fed;
  COSY_ASSIGN_OR_RETURN(open, sink.Finish());
  if (!open) return OkStatus();
  const int rate = sink.rate();
  const auto& t = result.timing;
  const double seconds = static_cast<double>(sink.samples()) / rate;
  nlohmann::json j;
  j["graph"] = a.graph;
  j["model_dir"] = info.model_dir;
  j["test_model"] = info.test_model;
  j["out"] = a.raw ? "-" : a.out;
  j["sample_rate"] = rate;
  j["samples"] = sink.samples();
  j["audio_s"] = seconds;
  j["chunks"] = chunks_out;
  j["first_audio_ms"] = t.first_output_ns / 1e6;
  j["total_ms"] = t.total_ns / 1e6;
  j["rtf"] = seconds > 0 ? (t.total_ns / 1e9) / seconds : 0.0;
  nlohmann::json nodes = nlohmann::json::object();
  for (const auto& [node, ns] : t.node_ns) nodes[node] = ns / 1e6;
  j["node_ms"] = nodes;
  fmt::print(a.raw ? stderr : stdout, "{}\n", j.dump());
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
  cmd->add_flag("--raw", a->raw,
                "Write s16le PCM to stdout as chunks arrive (pipe into aplay/ffplay); the JSON "
                "line goes to stderr");
  cmd->add_flag("--quiet", a->quiet, "No progress lines on stderr");
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
                  "Prompt recording to clone (any libsndfile format, 16-768 kHz, <= 30 s)");
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
  cmd->add_option("--flow-precision", a->flow_precision,
                  "Flow GEMM weights: f32, bf16, int16 or auto (int16: for CPUs without bf16 "
                  "arithmetic; auto: bf16 where the CPU multiplies bf16 in hardware, else "
                  "int16; default: the graph's; docs/kernels.md)")
      ->check(CLI::IsMember({"f32", "bf16", "int16", "auto"}));
  cmd->add_option("--lm-device", a->lm_device,
                  "Device of the SpeechLM node: cpu or cuda (default: the graph's; docs/cuda.md)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--flow-device", a->flow_device,
                  "Device of the Flow node's sampler: cpu or cuda (cuda runs it in f32; default: "
                  "the graph's; docs/cuda.md)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--threads", a->threads, "Compute threads (default: the graph's / all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--bridge", a->bridge,
                  "Endpoint of the served back half for every ZmqSend node (split graphs)");
  cmd->callback([a] {
    std::signal(SIGPIPE, SIG_IGN);  // a closed stdout is EPIPE on write: a clean end
    Status s = RunSynth(*a);
    if (!s.ok()) {
      fmt::print(stderr, "cosyflow synth: {}\n", s.ToString());
      SetExitCode(1);
    }
  });
}

}  // namespace cosyflow::cli
