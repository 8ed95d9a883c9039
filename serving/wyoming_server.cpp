// WyomingServer: event framing over blocking TCP, one thread per connection plus a pump thread
// while a streamed synthesis runs (writes are serialised by a mutex, which also orders a
// request's error before anything else of it: after `error` nothing of that request is sent).
#include "serving/wyoming_server.h"

#include <fmt/format.h>

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "runtime/build_info.h"
#include "serving/deadline_stream.h"
#include "serving/speech_request.h"

namespace cosyflow::serving {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;

constexpr const char* kProtocolVersion = "1.7.2";

struct Event {
  std::string type;
  json data = json::object();
  std::string payload;
};

class WyomingConnection {
 public:
  WyomingConnection(SpeechService* service, const WyomingServerOptions& o, tcp::socket& socket)
      : service_(service),
        options_(o),
        socket_(socket),
        stream_(socket, o.write_timeout),
        buffer_(o.max_event_bytes) {}

  ~WyomingConnection() {
    if (session_) session_->Cancel();
    JoinPump();
  }

  void Serve() {
    Event e;
    while (Read(&e)) {
      if (e.type == "describe") {
        Write("info", Info());
      } else if (e.type == "ping") {
        Write("pong", json::object());
      } else if (e.type == "synthesize") {
        // (while a stream is open: its compatibility copy, ignored). A failed one-shot request
        // ends the connection after its error, as the wyoming Python servers do (they re-raise):
        // Home Assistant's one-shot client waits for audio-stop and ignores error.
        if (!streaming_ && !Synthesize(e.data)) {
          boost::system::error_code ec;
          socket_.shutdown(tcp::socket::shutdown_send, ec);
          return;
        }
      } else if (e.type == "synthesize-start") {
        StreamStart(e.data);
      } else if (e.type == "synthesize-chunk") {
        StreamChunk(e.data);
      } else if (e.type == "synthesize-stop") {
        StreamStop();
      }  // other events are not for a TTS service: ignored, as Wyoming services do
    }
  }

 private:
  // False at the end of the connection, on a malformed event or one that did not arrive within
  // request_timeout (both answered with an error).
  bool Read(Event* e) {
    if (buffer_.size() == 0) {
      // Idle (no request running, nothing sent for idle_timeout): closed, freeing the thread.
      // A connection with a request running is never idle.
      stream_.ReadBy(session_ ? DeadlineStream::kNever
                              : DeadlineStream::Clock::now() + options_.idle_timeout);
      boost::system::error_code ec;
      const size_t n =
          stream_.read_some(buffer_.prepare(std::min<size_t>(4096, buffer_.max_size())), ec);
      buffer_.commit(n);
      if (ec) return false;  // idle, or closed: nothing to answer
    }
    // From its first byte the event (header line, data, payload) must arrive within
    // request_timeout: a client trickling bytes cannot hold the thread for good.
    stream_.ReadWithin(options_.request_timeout);
    boost::system::error_code ec;
    const size_t line = net::read_until(stream_, buffer_, '\n', ec);
    if (ec) {
      if (ec == net::error::not_found) Fail("event header line is too long", "bad-event");
      if (ec == net::error::timed_out) FailTimedOut();
      return false;
    }
    std::string header(static_cast<const char*>(buffer_.data().data()), line);
    buffer_.consume(line);
    json h = json::parse(header, nullptr, /*allow_exceptions=*/false);
    if (h.is_discarded() || !h.is_object() || !h.contains("type") || !h["type"].is_string()) {
      Fail("event header is not a JSON object with a string \"type\"", "bad-event");
      return false;
    }
    // Before the data is copied or anything of it echoed (both recurse once per level).
    if (ApiError deep = CheckClientJsonDepth(h, "the event header"); !deep.ok()) {
      Fail(deep.message, "bad-event");
      return false;
    }
    e->type = h["type"].get<std::string>();
    e->data = h.contains("data") && h["data"].is_object() ? h["data"] : json::object();
    e->payload.clear();
    auto length = [&](const char* key, size_t* n) {
      if (!h.contains(key) || h[key].is_null()) return true;
      if (!h[key].is_number_unsigned() || h[key].get<uint64_t>() > options_.max_event_bytes) {
        Fail(fmt::format("{} must be an integer <= {}", key, options_.max_event_bytes),
             "bad-event");
        return false;
      }
      *n = h[key].get<size_t>();
      return true;
    };
    size_t data_length = 0, payload_length = 0;
    if (!length("data_length", &data_length) || !length("payload_length", &payload_length)) {
      return false;
    }
    std::string data;
    ec = ReadExactly(data_length, &data);
    if (!ec) ec = ReadExactly(payload_length, &e->payload);
    if (ec) {
      if (ec == net::error::timed_out) FailTimedOut();
      return false;
    }
    if (!data.empty()) {
      json extra = json::parse(data, nullptr, /*allow_exceptions=*/false);
      if (extra.is_discarded() || !extra.is_object()) {
        Fail("event data is not a JSON object", "bad-event");
        return false;
      }
      if (ApiError deep = CheckClientJsonDepth(extra, "the event data"); !deep.ok()) {
        Fail(deep.message, "bad-event");
        return false;
      }
      e->data.update(extra);
    }
    return true;
  }

  boost::system::error_code ReadExactly(size_t n, std::string* out) {
    out->clear();
    const size_t buffered = std::min(n, buffer_.size());
    out->append(static_cast<const char*>(buffer_.data().data()), buffered);
    buffer_.consume(buffered);
    boost::system::error_code ec;
    if (out->size() < n) {
      const size_t have = out->size();
      out->resize(n);
      net::read(stream_, net::buffer(out->data() + have, n - have), ec);
    }
    return ec;
  }

  // A malformed event, after which the connection closes: with a request open, that request's
  // error (nothing of it follows), else a plain error.
  void Fail(const std::string& text, const std::string& code) {
    if (session_) {
      RequestError(text, code);
    } else {
      SendError(text, code);
    }
  }

  void FailTimedOut() {
    Fail(fmt::format("the event was not complete within {} ms (request timeout)",
                     options_.request_timeout.count()),
         "timeout");
  }

  bool Write(const std::string& type, const json& data, const std::string& payload = "") {
    std::lock_guard<std::mutex> lock(write_mu_);
    return WriteLocked(type, data, payload);
  }

  // An event of the open request: dropped (false) once the request's error was sent, so no
  // audio the pump pulled before the cancel, or a node emitted while it took effect, follows it.
  bool WriteOfRequest(const std::string& type, const json& data, const std::string& payload = "") {
    std::lock_guard<std::mutex> lock(write_mu_);
    if (request_failed_) return false;
    return WriteLocked(type, data, payload);
  }

  // The open request's error, once: the last event of that request.
  void RequestError(const std::string& text, const std::string& code) {
    std::lock_guard<std::mutex> lock(write_mu_);
    if (request_failed_) return;
    request_failed_ = true;
    WriteLocked("error", {{"text", text}, {"code", code}});
  }

  // A write that fails (the client gone, or accepting nothing for write_timeout) breaks the
  // connection: later writes fail at once, and the socket is shut down so that the connection
  // thread's read returns too; the request is then cancelled (its slot freed).
  bool WriteLocked(const std::string& type, const json& data, const std::string& payload = "") {
    if (broken_) return false;
    json h{{"type", type}, {"version", kProtocolVersion}};
    std::string data_bytes;
    if (!data.empty()) {
      data_bytes = data.dump(-1, ' ', false, json::error_handler_t::replace);
      h["data_length"] = data_bytes.size();
    }
    if (!payload.empty()) h["payload_length"] = payload.size();
    const std::string head = h.dump() + "\n";
    boost::system::error_code ec;
    const std::array<net::const_buffer, 3> parts{net::buffer(head), net::buffer(data_bytes),
                                                 net::buffer(payload)};
    net::write(stream_, parts, ec);
    if (ec) {
      broken_ = true;
      boost::system::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_both, ignored);
    }
    return !ec;
  }

  void SendError(const std::string& text, const std::string& code) {
    Write("error", {{"text", text}, {"code", code}});
  }

  json Info() const {
    const json attribution{{"name", "cosyflow (CosyVoice 2)"},
                           {"url", "https://github.com/FunAudioLLM/CosyVoice"}};
    json voices = json::array();
    for (const auto& v : service_->Voices()) {
      voices.push_back({{"name", v},
                        {"description", v == "default" ? "the graph's voice" : v},
                        {"attribution", attribution},
                        {"installed", true},
                        {"version", nullptr},
                        {"languages", options_.languages},
                        {"speakers", nullptr}});
    }
    json tts{{"name", "cosyflow"},
             {"description", "CosyVoice 2 text to speech (cosyflow)"},
             {"attribution", attribution},
             {"installed", true},
             {"version", ProjectVersion()},
             {"voices", voices},
             {"supports_synthesize_streaming", true}};
    return {{"asr", json::array()},
            {"tts", json::array({tts})},
            {"handle", json::array()},
            {"intent", json::array()},
            {"wake", json::array()}};
  }

  // Opens a request for the event's voice; false (error sent) if refused.
  bool Open(const json& data) {
    SpeechParams p;
    p.door = "wyoming";
    if (data.contains("voice") && data["voice"].is_object()) {
      const json& v = data["voice"];
      if (v.contains("name") && v["name"].is_string()) p.fields.voice = v["name"];
      if (p.fields.voice == "default") p.fields.voice.clear();
    }
    ApiError e;
    {
      std::lock_guard<std::mutex> lock(write_mu_);  // (no pump runs between requests)
      request_failed_ = false;
    }
    session_ = service_->Open(p, 0, &e);
    service_->metrics().Count("cosyflow_requests_total",
                              fmt::format("door=\"wyoming\",code=\"{}\"", e.ok() ? 200 : e.status));
    if (!e.ok()) {
      SendError(e.message, e.status == 404 ? "voice-not-found" : fmt::format("http-{}", e.status));
      return false;
    }
    return true;
  }

  json Format() const { return {{"rate", session_->sample_rate()}, {"width", 2}, {"channels", 1}}; }

  // audio-start, the audio of the open session until its end, audio-stop. audio-start goes
  // with the first audio: a request that fails before any (no audio in its text, a node's
  // error, the drain) answers with its error alone. False when the request failed (its error
  // was sent).
  bool PumpAudio() {
    std::string pcm;
    Status st = OkStatus();
    int64_t timestamp_ms = 0;
    bool started = false;
    while (true) {
      auto more = session_->NextPcm(&pcm);
      if (!more.ok()) st = more.status();
      if (!more.ok() || !*more) break;
      json d = Format();
      d["timestamp"] = timestamp_ms;
      timestamp_ms += static_cast<int64_t>(pcm.size() / 2) * 1000 / session_->sample_rate();
      if (!started) started = WriteOfRequest("audio-start", Format());
      if (!started || !WriteOfRequest("audio-chunk", d, pcm)) session_->Cancel();
    }
    auto fin = session_->Finish();
    if (st.ok()) st = fin.ok() ? fin->status : fin.status();
    // A cancel by the door (the client gone, or its error sent) is not reported; one by the
    // drain is (http-503): the client's audio was cut short, not by its doing.
    if (!st.ok() && (!session_->cancelled() || session_->cancelled_by_drain())) {
      const ApiError e = SessionFailure(*session_, st, fin.ok() ? fin->failed_node : "");
      RequestError(e.message, e.status == 503                 ? "http-503"
                              : session_->produced_no_audio() ? "no-audio"
                                                              : "synthesis-failed");
    }
    if (!started) (void)WriteOfRequest("audio-start", Format());  // (never a lone audio-stop)
    return WriteOfRequest("audio-stop", {{"timestamp", timestamp_ms}});
  }

  // A one-shot request; false when it failed (its error was sent).
  bool Synthesize(const json& data) {
    if (!data.contains("text") || !data["text"].is_string()) {
      SendError("synthesize needs a string \"text\"", "bad-event");
      return false;
    }
    const std::string text = data["text"];
    if (!Open(data)) return false;
    Status st = session_->Push(text);
    if (st.ok()) st = session_->End();
    if (!st.ok()) {
      RequestError(st.message(),
                   st.code() == StatusCode::kOutOfRange ? "text-too-long" : "bad-text");
      session_.reset();
      return false;
    }
    const bool ok = PumpAudio();
    session_.reset();
    return ok;
  }

  void StreamStart(const json& data) {
    if (streaming_) return SendError("synthesize-start while a stream is open", "bad-event");
    // The stream is open from here even when its request is refused (error sent): its later
    // chunks are ignored, its stop is still answered with synthesize-stopped (Home Assistant's
    // streaming client waits for it), and a synthesize sent alongside it stays ignored.
    streaming_ = true;
    if (!Open(data)) return;
    pump_ = std::thread([this] { PumpAudio(); });
  }

  void StreamChunk(const json& data) {
    if (!streaming_) return SendError("synthesize-chunk outside a stream", "bad-event");
    if (!session_) return;  // the stream's request was refused: ignored
    if (!data.contains("text") || !data["text"].is_string()) {
      return SendError("synthesize-chunk needs a string \"text\"", "bad-event");
    }
    const Status st = session_->Push(data["text"].get<std::string>());
    // Cancelled: the request ended meanwhile (failed or cancelled); the pump reports why. The
    // error goes out before the cancel: the pump's audio-stop must not precede it.
    if (!st.ok() && st.code() != StatusCode::kCancelled && !session_->cancelled()) {
      RequestError(st.message(),
                   st.code() == StatusCode::kOutOfRange ? "text-too-long" : "bad-text");
      session_->Cancel();
    }
  }

  void StreamStop() {
    if (!streaming_) return SendError("synthesize-stop outside a stream", "bad-event");
    if (session_) {
      (void)session_->End();
      JoinPump();
      session_.reset();
    }
    streaming_ = false;
    Write("synthesize-stopped", json::object());
  }

  void JoinPump() {
    if (pump_.joinable()) pump_.join();
  }

  static std::string ProjectVersion() {
    const std::string b = BuildInfo();
    return b.substr(0, b.find(' '));
  }

  SpeechService* service_;
  const WyomingServerOptions& options_;
  tcp::socket& socket_;
  DeadlineStream stream_;  // socket_'s reads and writes, bounded in time
  net::streambuf buffer_;
  std::mutex write_mu_;
  bool request_failed_ = false;  // (write_mu_) the open request's error was sent
  bool broken_ = false;          // (write_mu_) a write failed: the connection is closing
  std::unique_ptr<SpeechSession> session_;
  bool streaming_ = false;
  std::thread pump_;
};

}  // namespace

Result<std::unique_ptr<WyomingServer>> WyomingServer::Start(SpeechService* service,
                                                            WyomingServerOptions o) {
  if (service == nullptr) return InvalidArgument("wyoming server: no speech service");
  std::unique_ptr<WyomingServer> s(new WyomingServer());
  s->service_ = service;
  s->options_ = std::move(o);
  WyomingServer* raw = s.get();
  COSY_ASSIGN_OR_RETURN(s->listener_,
                        TcpListener::Start(
                            s->options_.host, s->options_.port,
                            [raw](net::io_context&, tcp::socket& socket) {
                              WyomingConnection(raw->service_, raw->options_, socket).Serve();
                            },
                            s->options_.max_connections));
  return s;
}

WyomingServer::~WyomingServer() { Stop(); }

void WyomingServer::Stop() {
  if (listener_) listener_->Stop();
}

std::string WyomingServer::uri() const {
  return fmt::format("tcp://{}:{}", listener_->host(), listener_->port());
}

}  // namespace cosyflow::serving
