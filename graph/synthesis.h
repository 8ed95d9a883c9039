// The synthesis facade: text-to-speech through a graph file (configs/tts*.json) with the
// Pipeline API: loading with per-run overrides, and one synthesis request (whole text or
// bi-stream chunks) that collects the audio and its timing. Every door (`cosyflow synth`, the C
// API, the servers, the e2e tests and benches) goes through it.
//
// Overrides are applied to the graph JSON before it is loaded, by node type:
//   mode        "no_prompt"/"sft" drops Flow.prompt_tokens/prompt_feat (the reference's sft
//               front end gives the flow no prompt, only the x-vector)
//   seed        HiftVocoder.seed (NSF noise; session s uses seed + s)
//   lm_precision SpeechLM.precision; lm_device: the SpeechLM node's device; threads: limits.threads
//   flow_precision Flow.precision (f32, bf16, int16, auto)
//   flow_device the Flow node's device (cuda: also Flow.precision = f32)
//   stream_text TextNormalizer.input = "bistream" and SpeechLM.bistream = true
//   speed != 1  Flow.stream = false
//   voice_store VoiceFrontend.voices
//   max_sessions limits.max_sessions
// The LM's mode and sampling seed travel per request instead (RequestFields: TextRequest.mode
// and .seed, carried by TextNormalizer and Qwen2Tokenizer to the SpeechLM); the graph's
// SpeechLM options `mode` / `seed` stay the defaults for requests that leave them empty / 0.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "graph/pipeline.h"

namespace cosyflow::tts {

class GraphVoices;  // graph/voices.h

struct GraphOverrides {
  std::string model_dir;  // "" = the file's model_dir (relative to the graph file)
  std::string mode;       // "" = the graph's SpeechLM mode
  std::optional<int64_t> seed;
  bool stream_text = false;
  bool zero_noise = false;  // HiftVocoder.noise = "zero" (deterministic output)
  bool greedy = false;      // SpeechLM.greedy (deterministic tokens)
  int threads = 0;          // > 0: limits.threads (compute thread budget)
  std::string lm_precision;  // "" = the graph's; else SpeechLM.precision (f32, bf16, int8)
  std::string lm_device;     // "" = the graph's; else the SpeechLM node's device (cpu, cuda)
  // "" = the graph's; else Flow.precision (f32, bf16, int16: int16 for CPUs without bf16
  // arithmetic, docs/kernels.md)
  std::string flow_precision;
  // "" = the graph's; else the Flow node's device (cpu, cuda; cuda also sets Flow.precision f32,
  // the only precision of the device sampler)
  std::string flow_device;
  std::string bridge_endpoint;  // ZmqSend.endpoint of every ZmqSend node ("" = the file's)
  std::string bridge_bind;      // ZmqReceive.bind of every ZmqReceive node ("" = the file's)
  // The voice of the requests (TextRequest fields, resolved by the graph's VoiceFrontend node).
  std::string voice_store;  // VoiceFrontend.voices of every VoiceFrontend node ("" = the file's)
  std::string voice;        // a voice id of the store ("" = the graph's default voice)
  std::string prompt_wav;   // a prompt recording (zero-shot / cross-lingual / instruct2 / vc)
  std::string prompt_text;  // its transcript (zero_shot)
  std::string instruct;     // instruct2 instruction
  std::string source_wav;   // vc: the recording to convert
  float speed = 1.0f;       // != 1: also Flow.stream = false (the reference's speed change
                            // works on the whole mel)
  const NodeRegistry* registry = nullptr;  // node types (nullptr = the built-in ones)

  // > 0: limits.max_sessions (sessions open at once; the servers' --max-sessions)
  int max_sessions = 0;
};

struct GraphInfo {
  std::string model_dir;    // resolved
  bool test_model = false;  // SpeechLM.text_id_policy is "modulo": a test model, not speech

  // Filled for the servers: loaded for bi-stream text (GraphOverrides::stream_text), and the
  // longest request TextNormalizer takes (its max_chars option, code points).
  bool stream_text = false;
  int64_t max_input_chars = 200000;
  // The loaded graph's voices (store, models, default voice; graph/voices.h). Set by
  // LoadPipeline; valid as long as the pipeline.
  std::shared_ptr<const GraphVoices> voices;
};

// Applies `o` to the parsed graph JSON; fills `info`.
void PatchGraph(nlohmann::json* graph, const GraphOverrides& o, GraphInfo* info);

// OK when `p` takes text and gives audio as the doors need: one TextRequest input and at least
// one Audio output; else InvalidArgument naming the graph's inputs and outputs.
Status CheckTtsGraph(const Pipeline& p);

// Reads, patches and loads a graph file (passes 1-3). The file's relative model_dir resolves
// against the graph file's folder, as Pipeline::Load does.
Result<std::unique_ptr<Pipeline>> LoadPipeline(const std::string& graph_file,
                                               const GraphOverrides& o, GraphInfo* info);

struct SynthOutput {
  std::vector<float> audio;  // every Audio chunk of output "audio", in order
  int sample_rate = 0;
  int64_t chunks = 0;
  SessionResult result;  // status, failed node, timing (first output, total, per node)
};

// `fields` (mode, seed, prompt_text, ...) with `text`.
TextRequest Chunk(std::string text, const TextRequest& fields = {});

// The per-request fields for `o`: mode, the LM sampling seed (seed 0 = the graph's seed), the
// voice fields and speed.
TextRequest RequestFields(const GraphOverrides& o);

// One request: `chunks` of text, pushed as one TextRequest (stream = false, chunks joined) or as
// bi-stream chunks (stream = true). `next_chunk`, when set, is polled for more chunks after
// `chunks` (returns false at the end; stdin streaming). `on_submit` sees the session id (cancel).
// Every TextRequest sent is `fields` (mode, seed, prompt_text, ...) with the chunk's text.
Result<SynthOutput> Synthesize(Pipeline& p, const std::vector<std::string>& chunks, bool stream,
                               const std::function<bool(std::string*)>& next_chunk = {},
                               const std::function<void(SessionId)>& on_submit = {},
                               const TextRequest& fields = {});

// Voices. "" and "default" name the graph's own voice (its VoiceFrontend's default_voice, or the
// prompt its nodes are configured with); other ids are the voices of the graph's store
// (info.voices). Every door asks these before it opens a request. VoiceKnown: an error when the
// store cannot be read (a server error, not an unknown voice).
Result<bool> VoiceKnown(const GraphInfo& info, const std::string& voice);
std::vector<std::string> VoiceIds(const GraphInfo& info);  // "default" first

// One streamed request in pull mode: text goes in as it arrives, audio chunks come out as the
// graph makes them (backpressure: a chunk not yet taken holds the vocoder's output queue).
// On a pipeline loaded with stream_text every Push is a bi-stream chunk; otherwise the pushed
// text is joined and sent as one TextRequest at End(). Push/End from one thread, Next/Finish
// from one thread (the same or another), Cancel from any thread. The destructor cancels an
// unfinished request and waits for it.
class SpeechStream {
 public:
  static Result<std::unique_ptr<SpeechStream>> Open(Pipeline& p, TextRequest fields,
                                                    bool stream_text);
  ~SpeechStream();
  SpeechStream(const SpeechStream&) = delete;
  SpeechStream& operator=(const SpeechStream&) = delete;

  Status Push(const std::string& text);
  Status End();
  // Stops the session's work within one node step; Next then reports the end (audio already
  // queued for the puller is dropped, not delivered).
  void Cancel();
  // The next audio chunk into `samples` / `sample_rate`: true; false once the session has
  // ended (then call Finish). kUnavailable when nothing came within `timeout`.
  Result<bool> Next(std::vector<float>* samples, int* sample_rate,
                    std::chrono::milliseconds timeout = std::chrono::hours(24));
  // Waits for the session's end: status (a failed push, the failing node's error, or
  // kCancelled) and timing. Once.
  Result<SessionResult> Finish();
  SessionId id() const { return id_; }

 private:
  SpeechStream(Pipeline& p, SessionId id, TextRequest fields, bool stream_text)
      : pipeline_(p), id_(id), fields_(std::move(fields)), stream_text_(stream_text) {}
  Pipeline& pipeline_;
  SessionId id_;
  TextRequest fields_;
  bool stream_text_;
  std::mutex mu_;       // the push state below, shared by the pushing and the pulling thread
  std::string joined_;  // !stream_text_: the text so far
  Status pushed_;
  bool ended_ = false, finished_ = false;
  std::atomic<bool> cancelled_{false};
};

}  // namespace cosyflow::tts
