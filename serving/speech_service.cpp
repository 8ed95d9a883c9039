// SpeechService: admission, one streamed request with resampling, metrics, drain.
#include "serving/speech_service.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "nodes/resample/resampler.h"
#include "serving/speech_request.h"

namespace cosyflow::serving {

std::string ApiError::Json() const {
  nlohmann::json j;
  j["error"] = {{"message", message},
                {"type", type},
                {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)},
                {"code", status}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ApiError BadRequest(std::string message, std::string param) {
  return {400, std::move(message), "invalid_request_error", std::move(param)};
}

ApiError SynthesisError(const Status& st, const std::string& failed_node) {
  const std::string where = failed_node.empty() ? "" : " in node '" + failed_node + "'";
  const std::string message = fmt::format("synthesis failed{}: {}", where, st.message());
  switch (st.code()) {
    case StatusCode::kInvalidArgument: return BadRequest(message);
    case StatusCode::kNotFound: return {404, message, "invalid_request_error", "voice"};
    case StatusCode::kOutOfRange:
      return {413, message, "invalid_request_error", "input"};
    default: return {500, message, "server_error", ""};
  }
}

ApiError SessionFailure(const SpeechSession& s, const Status& st, const std::string& failed_node) {
  if (s.cancelled_by_drain()) {
    return {503,
            "the server is shutting down: the request was cancelled when the drain timed out; "
            "retry on another instance",
            "server_error", ""};
  }
  if (s.produced_no_audio()) return BadRequest(st.message(), "input");
  return SynthesisError(st, failed_node);
}

int64_t Utf8Length(const std::string& s) {
  int64_t n = 0;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int len = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xE  ? 3
                    : (c >> 3) == 0x1E ? 4
                                       : 0;
    if (len == 0 || i + len > s.size()) return -1;
    for (int k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return -1;
    }
    i += len;
    ++n;
  }
  return n;
}

// --- SpeechSession -------------------------------------------------------------------------

SpeechSession::~SpeechSession() {
  if (stream_ && !finished_) {
    Cancel();
    (void)Finish();
  }
  ReleaseSlot();
  if (service_ != nullptr) --service_->alive_;  // its door has written the reply
}

void SpeechSession::ReleaseSlot() {
  if (service_ == nullptr || released_) return;
  released_ = true;
  service_->Release(this);
}

Status SpeechSession::Push(const std::string& text) {
  const int64_t n = Utf8Length(text);
  if (n < 0) return InvalidArgument("text is not valid UTF-8");
  chars_ += n;
  if (chars_ > service_->max_input_chars()) {
    return OutOfRange("input is longer than {} characters", service_->max_input_chars());
  }
  return stream_->Push(text);
}

Status SpeechSession::End() { return stream_->End(); }

void SpeechSession::Cancel() {
  cancelled_ = true;
  stream_->Cancel();
}

Result<bool> SpeechSession::Next(std::vector<float>* samples, std::chrono::milliseconds timeout) {
  samples->clear();
  while (samples->empty()) {
    if (flushed_) return false;
    int rate = 0;
    COSY_ASSIGN_OR_RETURN(bool more,
                          stream_->Next(resampler_ ? &scratch_ : samples, &rate, timeout));
    if (!resampler_) {
      if (!more) return false;
      if (rate != out_rate_) {
        // The graph's rate differs from the one announced (no warm-up): resample from here on.
        COSY_ASSIGN_OR_RETURN(resampler_,
                              Resampler::Create(rate, out_rate_, ResampleQuality::kHigh));
        scratch_ = std::move(*samples);
        samples->clear();
        COSY_RETURN_IF_ERROR(resampler_->Process(scratch_, samples));
      }
    } else if (more) {
      COSY_RETURN_IF_ERROR(resampler_->Process(scratch_, samples));
    } else if (cancelled_) {
      flushed_ = true;  // a cancelled request ends here: no resampler tail after the cancel
      return false;
    } else {
      COSY_RETURN_IF_ERROR(resampler_->Flush(samples));
      flushed_ = true;
      if (samples->empty()) return false;
    }
  }
  samples_out_ += static_cast<int64_t>(samples->size());
  ++chunks_;
  return true;
}

Result<bool> SpeechSession::NextPcm(std::string* pcm, std::chrono::milliseconds timeout) {
  std::vector<float> samples;
  COSY_ASSIGN_OR_RETURN(bool more, Next(&samples, timeout));
  pcm->resize(samples.size() * 2);
  for (size_t i = 0; i < samples.size(); ++i) {
    const float x = std::clamp(samples[i], -1.0f, 1.0f);
    const auto v = static_cast<int16_t>(std::lrint(x * 32767.0f));
    (*pcm)[2 * i] = static_cast<char>(v & 0xFF);
    (*pcm)[2 * i + 1] = static_cast<char>((v >> 8) & 0xFF);
  }
  return more;
}

Result<SessionResult> SpeechSession::Finish() {
  if (finished_) return InvalidArgument("speech session finished twice");
  finished_ = true;
  Result<SessionResult> done = stream_->Finish();
  if (!done.ok()) {
    ReleaseSlot();
    return done.status();
  }
  SessionResult r = std::move(*done);
  if (r.status.ok() && samples_out_ == 0 && !cancelled_) {
    // (The message `cosyflow synth` gives for the same request.)
    no_audio_ = true;
    r.status = InvalidArgument("the graph produced no audio (empty text?)");
  }
  Metrics& m = service_->metrics();
  const std::string label = fmt::format("door=\"{}\"", door_);
  if (r.status.ok()) {
    const auto& t = r.timing;
    if (t.first_output_ns >= 0) m.Observe("cosyflow_first_audio_seconds", t.first_output_ns / 1e9);
    const double audio_s = audio_seconds();
    if (audio_s > 0) m.Observe("cosyflow_rtf", (t.total_ns / 1e9) / audio_s);
    m.Count("cosyflow_audio_seconds_total", label, audio_s);
  } else if (r.status.code() != StatusCode::kCancelled) {
    m.Count("cosyflow_request_errors_total", label);
  }
  ReleaseSlot();  // the graph session is over; the reply the door writes next no longer needs it
  return r;
}

std::string SpeechSession::TimingJson(const SessionResult& r) const {
  const auto& t = r.timing;
  const double audio_s = audio_seconds();
  nlohmann::json j;
  j["first_audio_ms"] = t.first_output_ns >= 0 ? t.first_output_ns / 1e6 : -1.0;
  j["total_ms"] = t.total_ns / 1e6;
  j["audio_s"] = audio_s;
  j["rtf"] = audio_s > 0 ? (t.total_ns / 1e9) / audio_s : 0.0;
  j["chunks"] = chunks_;
  j["sample_rate"] = out_rate_;
  return j.dump();
}

// --- SpeechService -------------------------------------------------------------------------

Result<std::unique_ptr<SpeechService>> SpeechService::Create(std::unique_ptr<Pipeline> pipeline,
                                                             tts::GraphInfo info,
                                                             ServiceOptions o) {
  if (!pipeline) return InvalidArgument("speech service: no pipeline");
  COSY_RETURN_IF_ERROR(tts::CheckTtsGraph(*pipeline).WithContext("speech service"));
  std::unique_ptr<SpeechService> s(new SpeechService());
  s->pipeline_ = std::move(pipeline);
  s->info_ = std::move(info);
  s->native_rate_ = o.native_sample_rate;
  s->max_chars_ = o.max_input_chars > 0 ? o.max_input_chars : s->info_.max_input_chars;
  s->max_sessions_ =
      o.max_sessions > 0 ? o.max_sessions : s->pipeline_->plan().file.limits.max_sessions;
  if (o.warm_up) {
    COSY_ASSIGN_OR_RETURN(tts::SynthOutput w,
                          tts::Synthesize(*s->pipeline_, {"Hello."}, s->info_.stream_text));
    if (!w.result.status.ok()) {
      return Status(w.result.status.code(),
                    fmt::format("speech service: warm-up synthesis failed in node '{}': {}",
                                w.result.failed_node, w.result.status.message()));
    }
    if (w.sample_rate > 0) s->native_rate_ = w.sample_rate;
  }
  s->metrics_.SetGauge("cosyflow_sessions_in_flight", "", 0);
  return s;
}

SpeechService::~SpeechService() { (void)Drain(std::chrono::milliseconds(0)); }

std::unique_ptr<SpeechSession> SpeechService::Open(const SpeechParams& p, int64_t input_chars,
                                                   ApiError* error) {
  *error = {};
  const Result<bool> known = VoiceKnown(p.fields.voice);
  if (!known.ok()) {  // a truncated or corrupt store: the server's fault, not an unknown voice
    *error = {500, fmt::format("cannot read the voice store: {}", known.status().message()),
              "server_error", ""};
    return nullptr;
  }
  if (!*known) {
    *error = {404, fmt::format("voice '{}' not found", TextExcerpt(p.fields.voice)),
              "invalid_request_error", "voice"};
    return nullptr;
  }
  if (input_chars > max_chars_) {
    *error = {413, fmt::format("input is {} characters; the limit is {}", input_chars, max_chars_),
              "invalid_request_error", "input"};
    return nullptr;
  }
  if (p.sample_rate != 0 && (p.sample_rate < 8000 || p.sample_rate > 192000)) {
    *error = BadRequest(fmt::format("sample_rate must be in [8000, 192000], got {}", p.sample_rate),
                        "sample_rate");
    return nullptr;
  }
  std::unique_ptr<SpeechSession> s(new SpeechSession());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_) {
      *error = {503, "the server is draining; retry on another instance", "server_error", ""};
      return nullptr;
    }
    if (static_cast<int>(open_.size()) >= max_sessions_) {
      *error = {429, fmt::format("too many requests in flight (max_sessions {})", max_sessions_),
                "rate_limit_error", ""};
      return nullptr;
    }
    open_.insert(s.get());
    in_flight_ = static_cast<int>(open_.size());
  }
  s->service_ = this;  // from here the destructor releases the slot
  ++alive_;
  s->door_ = p.door;
  metrics_.SetGauge("cosyflow_sessions_in_flight", "", in_flight_.load());
  TextRequest fields = p.fields;
  fields.text.clear();
  auto stream = tts::SpeechStream::Open(*pipeline_, std::move(fields), info_.stream_text);
  if (!stream.ok()) {
    const bool full = stream.status().code() == StatusCode::kResourceExhausted;
    *error = {full ? 429 : 500, stream.status().message(),
              full ? "rate_limit_error" : "server_error", ""};
    s->finished_ = true;
    return nullptr;
  }
  s->stream_ = std::move(*stream);
  s->out_rate_ = p.sample_rate > 0 ? p.sample_rate : native_rate_;
  if (s->out_rate_ != native_rate_) {
    auto rs = Resampler::Create(native_rate_, s->out_rate_, ResampleQuality::kHigh);
    if (!rs.ok()) {
      *error = BadRequest(rs.status().message(), "sample_rate");
      return nullptr;  // the destructor cancels the opened session
    }
    s->resampler_ = std::move(*rs);
  }
  return s;
}

void SpeechService::Release(SpeechSession* s) {
  std::lock_guard<std::mutex> lock(mu_);
  open_.erase(s);
  in_flight_ = static_cast<int>(open_.size());
  metrics_.SetGauge("cosyflow_sessions_in_flight", "", in_flight_.load());
}

int SpeechService::Drain(std::chrono::milliseconds timeout) {
  draining_ = true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int cancelled = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (SpeechSession* s : open_) {
      s->drained_ = true;  // (before the cancel: a door that sees it cancelled sees why)
      if (s->stream_) s->Cancel();
      ++cancelled;
    }
  }
  // Cancelled sessions end within a node step; their owners may still be writing to a client.
  const auto grace = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < grace) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // A finished session's slot is free before its door has written the reply (a whole-body
  // reply of megabytes takes a while): the caller closes every connection next, so wait, within
  // the drain's time (at least the grace), until the doors let go of their sessions.
  const auto replies = std::max(deadline, grace);
  while (alive_.load() > 0 && std::chrono::steady_clock::now() < replies) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cancelled;
}

std::string SpeechService::MetricsText() {
  const auto depths = pipeline_->MaxQueueDepths();
  const auto& nodes = pipeline_->plan().nodes;
  for (size_t i = 0; i < depths.size() && i < nodes.size(); ++i) {
    metrics_.SetGauge("cosyflow_node_max_queue_depth", fmt::format("node=\"{}\"", nodes[i].id),
                      depths[i]);
  }
  return metrics_.Text();
}

}  // namespace cosyflow::serving
