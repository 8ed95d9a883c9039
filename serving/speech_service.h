// SpeechService: what every network door (HTTP, WebSocket, Wyoming) shares on top of the
// synthesis facade (graph/synthesis.h): admission (max_sessions, draining, input length,
// voice lookup), one streamed request with optional resampling to s16le PCM, the request's
// metrics, and the drain that cancels what is left.
//
//   auto svc = SpeechService::Create(std::move(pipeline), info, {});
//   SpeechParams p; p.fields.text = ...;
//   auto s = (*svc)->Open(p);            // ApiError on refusal (status 404/413/429/503)
//   s->Push("Hello."); s->End();
//   std::string pcm; while (*s->NextPcm(&pcm)) send(pcm);
//   auto r = s->Finish();                // status + timing, recorded in the metrics
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "graph/synthesis.h"
#include "serving/metrics.h"

namespace cosyflow {
class Resampler;
}

namespace cosyflow::serving {

// A refusal or failure as the doors report it: HTTP status, OpenAI error type, the field.
struct ApiError {
  int status = 0;  // 0 = no error
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;

  bool ok() const { return status == 0; }
  std::string Json() const;  // {"error":{"message","type","param","code"}}
};

ApiError BadRequest(std::string message, std::string param = "");
// A failed synthesis as the doors report it: a node that rejected the request's fields
// (InvalidArgument, e.g. a speed the streaming flow cannot do) is 400, a voice gone from the
// store since the request opened (NotFound) 404, anything else 500; names the node.
ApiError SynthesisError(const Status& st, const std::string& failed_node);

struct ServiceOptions {
  int max_sessions = 0;         // requests in flight at once; 0 = the graph's limits.max_sessions
  int64_t max_input_chars = 0;  // code points per request; 0 = the graph's TextNormalizer.max_chars
  bool warm_up = true;          // one short synthesis at Create: learns the output rate
  int native_sample_rate = 24000;  // the graph's output rate when not warmed up
};

// One request's parameters, validated by the door.
struct SpeechParams {
  TextRequest fields;         // mode, seed, voice, instruct_text, speed (text: ignored)
  int sample_rate = 0;        // output rate; 0 = the graph's
  std::string door = "http";  // metrics label
};

class SpeechService;

// One admitted request: holds a slot until Finish() (or the destructor, which cancels an
// unfinished one) gives it back.
class SpeechSession {
 public:
  ~SpeechSession();
  Status Push(const std::string& text);  // counts against max_input_chars
  Status End();
  void Cancel();  // the client's (or its door's) cancel
  bool cancelled() const { return cancelled_.load(); }
  // Cancelled by the server's drain (SpeechService::Drain's timeout), not by its client: the
  // doors report it as an error (SessionFailure: 503), never as the client's own cancel.
  bool cancelled_by_drain() const { return drained_.load(); }
  // The next audio as s16le PCM at sample_rate(): true; false at the end; kUnavailable when
  // nothing came within `timeout` (call again: nothing is lost).
  Result<bool> NextPcm(std::string* pcm,
                       std::chrono::milliseconds timeout = std::chrono::hours(24));
  // Float samples at sample_rate() (resampled when asked); the same timeout rule.
  Result<bool> Next(std::vector<float>* samples,
                    std::chrono::milliseconds timeout = std::chrono::hours(24));
  // Waits for the end; records first-audio time, RTF and errors in the metrics and gives the
  // slot back, so a client that has its reply sees cosyflow_sessions_in_flight without it.
  // A request that ended well (not cancelled) without a sample of audio (no text, or nothing
  // speakable in it: "...", an emoji) fails with InvalidArgument "the graph produced no audio
  // (empty text?)", as `cosyflow synth` says it; produced_no_audio() then tells.
  Result<SessionResult> Finish();
  bool produced_no_audio() const { return no_audio_; }
  int sample_rate() const { return out_rate_; }
  double audio_seconds() const { return static_cast<double>(samples_out_) / out_rate_; }
  int64_t chunks() const { return chunks_; }
  // The JSON timing the doors send at the end: first_audio_ms, total_ms, audio_s, rtf, chunks.
  std::string TimingJson(const SessionResult& r) const;

 private:
  friend class SpeechService;
  SpeechSession() = default;
  SpeechService* service_ = nullptr;
  std::unique_ptr<tts::SpeechStream> stream_;
  std::unique_ptr<Resampler> resampler_;
  std::string door_;
  int out_rate_ = 0;
  int64_t chars_ = 0, samples_out_ = 0, chunks_ = 0;
  bool flushed_ = false, finished_ = false, released_ = false, no_audio_ = false;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> drained_{false};
  std::vector<float> scratch_;

  void ReleaseSlot();
};

class SpeechService {
 public:
  static Result<std::unique_ptr<SpeechService>> Create(std::unique_ptr<Pipeline> pipeline,
                                                       tts::GraphInfo info, ServiceOptions o);
  ~SpeechService();

  // Validates voice (404), admission (429 over max_sessions, 503 draining) and opens the
  // request. `input_chars` > max_input_chars gives 413.
  std::unique_ptr<SpeechSession> Open(const SpeechParams& p, int64_t input_chars, ApiError* error);
  Result<bool> VoiceKnown(const std::string& voice) const { return tts::VoiceKnown(info_, voice); }
  std::vector<std::string> Voices() const { return tts::VoiceIds(info_); }

  // Refuse new requests (503); wait up to `timeout` for the open ones, cancel the rest and
  // wait for them, then (within `timeout`, at least 2 s) for the doors to finish writing the
  // replies of finished ones (their sessions destroyed). Returns how many were cancelled.
  int Drain(std::chrono::milliseconds timeout);
  bool draining() const { return draining_.load(); }
  int in_flight() const { return in_flight_.load(); }

  Metrics& metrics() { return metrics_; }
  std::string MetricsText();  // Prometheus text, with the pipeline's queue depths
  const tts::GraphInfo& info() const { return info_; }
  int native_sample_rate() const { return native_rate_; }
  int64_t max_input_chars() const { return max_chars_; }
  int max_sessions() const { return max_sessions_; }
  Pipeline& pipeline() { return *pipeline_; }

 private:
  friend class SpeechSession;
  SpeechService() = default;
  void Release(SpeechSession* s);

  std::unique_ptr<Pipeline> pipeline_;
  tts::GraphInfo info_;
  int native_rate_ = 24000;
  int64_t max_chars_ = 0;
  int max_sessions_ = 0;
  std::atomic<bool> draining_{false};
  std::atomic<int> in_flight_{0};
  std::atomic<int> alive_{0};  // admitted sessions not yet destroyed (replies being written)
  std::mutex mu_;
  std::set<SpeechSession*> open_;
  Metrics metrics_;
};

// How the doors report a request of `s` that ended with `st` (a pull's error, or Finish's status
// and failed node; not OK): one the drain cancelled is 503 ("the server is shutting down"), one
// that produced no audio 400 (param "input", as an empty input), anything else SynthesisError.
// (A client's own cancel is the door's to report.)
ApiError SessionFailure(const SpeechSession& s, const Status& st, const std::string& failed_node);

// Code points in UTF-8 `s`; -1 when `s` is not valid UTF-8.
int64_t Utf8Length(const std::string& s);

}  // namespace cosyflow::serving
