// `cosyflow say --connect ENDPOINT`: text to a served TTS graph (`cosyflow serve`), audio back
// as it is made: to --out FILE (wav/flac by extension) or raw s16le PCM on stdout (--raw),
// written chunk by chunk. Text from --text, --text-file or stdin (lines; with --stream-text each
// line is sent as a bi-stream chunk as soon as it is read). Prints one JSON line (stderr with
// --raw): time to first audio, total time, audio length, real-time factor.
#include <fmt/format.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "apps/cli/commands.h"
#include "bridges/bridge_client.h"
#include "nodes/audio_io/audio_file.h"
#include "runtime/small_file.h"

namespace cosyflow::cli {
namespace {

struct SayArgs {
  std::string connect;
  std::string input;
  std::string text, text_file, out = "out.wav";
  bool stream_text = false, raw = false;
  std::string mode;
  std::string voice, prompt_text, instruct;
  float speed = 1.0f;
  int64_t seed = 0;
  int timeout_ms = 120000;
  int window = 32;
  std::string curve_server_public_key, curve_public_key, curve_secret_key;
};

// Reads the request text: one chunk for --text/--text-file, stdin lines otherwise.
void SendText(bridges::BridgeClient& c, uint64_t id, const SayArgs& a, const std::string& file_text,
              std::atomic<bool>* failed) {
  TextRequest fields;
  fields.mode = a.mode;
  if (fields.mode.empty() && !a.instruct.empty()) fields.mode = "instruct2";
  fields.seed = static_cast<uint64_t>(a.seed);
  fields.voice = a.voice == "default" ? "" : a.voice;  // "default": the graph's own voice
  fields.prompt_text = a.prompt_text;
  fields.instruct_text = a.instruct;
  fields.speed = a.speed;
  auto send = [&](std::string text) {
    TextRequest r = fields;
    r.text = std::move(text);
    if (!c.Send(id, std::move(r)).ok()) *failed = true;
  };
  if (!a.text.empty()) {
    send(a.text);
  } else if (!a.text_file.empty()) {
    send(file_text);
  } else {
    std::string line, all;
    while (std::getline(std::cin, line)) {
      if (a.stream_text) {
        send(line + "\n");
      } else {
        all += line + "\n";
      }
    }
    if (!a.stream_text) send(all);
  }
  if (!c.Send(id, Payload{}, kFlagEndOfStream).ok()) *failed = true;
}

Status RunSay(const SayArgs& a) {
  std::string file_text;
  if (!a.text_file.empty()) {
    COSY_ASSIGN_OR_RETURN(file_text, ReadSmallFile(a.text_file, kMaxTextFileBytes, "--text-file"));
  }
  if (const std::string problem = bridges::EndpointProblem(a.connect); !problem.empty()) {
    return InvalidArgument("say: --connect {}, got '{}'", problem, a.connect);
  }
  bridges::BridgeClientOptions o;
  o.endpoint = a.connect;
  o.hello.input = a.input;
  o.hello.sends = PayloadType::kTextRequest;
  o.hello.receives = PayloadType::kAudio;
  o.hello.peer = "cosyflow say";
  o.window = a.window;
  o.curve = {a.curve_server_public_key, a.curve_public_key, a.curve_secret_key};
  const int64_t start_ns = NowNs();
  COSY_ASSIGN_OR_RETURN(auto client, bridges::BridgeClient::Connect(o));
  COSY_ASSIGN_OR_RETURN(uint64_t id, client->OpenSession());
  std::atomic<bool> send_failed{false};
  std::thread sender([&] { SendText(*client, id, a, file_text, &send_failed); });

  std::unique_ptr<AudioFileWriter> writer;
  int64_t first_audio_ns = -1, samples = 0, chunks = 0, idle_ms = 0;
  int rate = 0;
  Status status = OkStatus();
  std::vector<int16_t> pcm;
  while (status.ok()) {
    auto m = client->Next(id, std::chrono::milliseconds(50));
    if (!m.ok()) {
      status = m.status();
      break;
    }
    if (!*m) {
      if ((idle_ms += 50) > a.timeout_ms) {
        status = MakeError(StatusCode::kUnavailable, "say: no message from {} for {} ms",
                           a.connect, a.timeout_ms);
      }
      continue;
    }
    idle_ms = 0;
    const Message& msg = **m;
    if (const Audio* au = msg.get<Audio>(); au && au->size() > 0) {
      if (first_audio_ns < 0) first_audio_ns = NowNs() - start_ns;
      rate = au->sample_rate;
      auto v = au->view();
      if (a.raw) {
        pcm.resize(v.size());
        for (size_t i = 0; i < v.size(); ++i) {
          pcm[i] = static_cast<int16_t>(std::lround(std::clamp(v[i], -1.0f, 1.0f) * 32767.0f));
        }
        std::fwrite(pcm.data(), sizeof(int16_t), pcm.size(), stdout);
        std::fflush(stdout);
      } else {
        if (!writer) {
          COSY_ASSIGN_OR_RETURN(AudioFileFormat f, ParseAudioFileFormat("auto", a.out));
          COSY_ASSIGN_OR_RETURN(writer, AudioFileWriter::Open(a.out, rate, f,
                                                              AudioSampleFormat::kInt16));
        }
        COSY_RETURN_IF_ERROR(writer->Write(v));
      }
      samples += au->size();
      ++chunks;
    }
    if (msg.header.error()) {
      const ErrorInfo* e = msg.get<ErrorInfo>();
      status = e ? Status(e->status.code(), fmt::format("server node '{}' failed: {}", e->node,
                                                        e->status.message()))
                 : Internal("say: the server failed the session");
    } else if (msg.header.cancel()) {
      status = MakeError(StatusCode::kCancelled, "say: the server cancelled the session");
    }
    if (msg.header.closes()) break;
  }
  sender.join();
  client->CloseSession(id);
  if (writer) COSY_RETURN_IF_ERROR(writer->Close());
  COSY_RETURN_IF_ERROR(status);
  if (send_failed) return Internal("say: sending the text to {} failed", a.connect);
  if (samples == 0) {  // as synth and every other door: no audio is a failed request
    return InvalidArgument("say: the server produced no audio (empty text?)");
  }
  const double total_s = (NowNs() - start_ns) / 1e9;
  const double audio_s = rate > 0 ? static_cast<double>(samples) / rate : 0.0;
  nlohmann::json j;
  j["connect"] = a.connect;
  j["out"] = a.raw ? "-" : a.out;
  j["sample_rate"] = rate;
  j["samples"] = samples;
  j["chunks"] = chunks;
  j["audio_s"] = audio_s;
  j["first_audio_ms"] = first_audio_ns / 1e6;
  j["total_ms"] = total_s * 1e3;
  j["rtf"] = audio_s > 0 ? total_s / audio_s : 0.0;
  fmt::print(a.raw ? stderr : stdout, "{}\n", j.dump());
  return OkStatus();
}

}  // namespace

void RegisterSay(CLI::App& app) {
  auto a = std::make_shared<SayArgs>();
  CLI::App* cmd = app.add_subcommand(
      "say", "Speak text through a served graph (cosyflow serve); audio streams back");
  cmd->add_option("--connect", a->connect, "Server endpoint (the ready line's ingress)")
      ->required();
  cmd->add_option("--input", a->input, "Graph input to feed (default: the only one)");
  auto* text = cmd->add_option("--text", a->text, "Text to speak");
  auto* file = cmd->add_option("--text-file", a->text_file, "Read the text from a file");
  text->excludes(file);
  cmd->add_flag("--stream-text", a->stream_text,
                "Send each stdin line as a bi-stream chunk as soon as it is read");
  auto* out = cmd->add_option("--out", a->out, "Audio file (wav/flac by extension)")
                  ->capture_default_str();
  cmd->add_flag("--raw", a->raw, "Raw s16le PCM on stdout as chunks arrive")->excludes(out);
  cmd->add_option("--mode", a->mode, "LM input layout of this request");
  cmd->add_option("--seed", a->seed, "Sampling seed of this request (0 = the graph's)");
  cmd->add_option("--voice", a->voice,
                  "Voice id from the served graph's voice store (its VoiceFrontend; \"\" = default)");
  cmd->add_option("--prompt-text", a->prompt_text, "Transcript overriding the voice's own");
  cmd->add_option("--instruct", a->instruct, "instruct2: the instruction (implies --mode instruct2)");
  cmd->add_option("--speed", a->speed, "Speaking rate (the flow runs that request non-streaming)")
      ->check(CLI::Range(0.25f, 4.0f));
  cmd->add_option("--timeout-ms", a->timeout_ms, "Give up after this long without a message");
  cmd->add_option("--window", a->window,
                  "Flow-control credit: audio chunks the server may send ahead of this client")
      ->check(CLI::Range(1, 65536));
  cmd->add_option("--curve-server-public-key", a->curve_server_public_key, "CURVE: server key");
  cmd->add_option("--curve-public-key", a->curve_public_key, "CURVE: own public key");
  cmd->add_option("--curve-secret-key", a->curve_secret_key, "CURVE: own secret key");
  cmd->callback([a] {
    Status s = RunSay(*a);
    if (!s.ok()) {
      fmt::print(stderr, "cosyflow say: {}\n", s.ToString());
      SetExitCode(1);
    }
  });
}

}  // namespace cosyflow::cli
