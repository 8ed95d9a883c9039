// HttpServer: routes, the OpenAI speech endpoint (whole, chunked audio, SSE) and the upgrade to
// the WebSocket door (serving/websocket_session.cpp).
#include "serving/http_server.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "serving/audio_encoding.h"
#include "serving/deadline_stream.h"
#include "serving/speech_request.h"
#include "serving/voice_api.h"
#include "serving/web_page.h"
#include "serving/websocket_session.h"

namespace cosyflow::serving {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Request = http::request<http::string_body>;
constexpr std::string_view kVoicePrefix = "/v1/voices/";

// RFC 6455 section 4.2.1: the key is the base64 of 16 bytes: 22 characters of the standard
// alphabet and "==". (Beast checks only that it is present and at most 24 characters.)
bool IsWebSocketKey(beast::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (const char c : key.substr(0, 22)) {
    const bool base64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (!base64) return false;
  }
  return true;
}

// The request target without its query string: what routes (and route limits) are chosen by.
beast::string_view Path(beast::string_view target) { return target.substr(0, target.find('?')); }

class Connection {
 public:
  Connection(SpeechService* service, const HttpServerOptions& o, tcp::socket& socket)
      : service_(service), options_(o), socket_(socket), stream_(socket, o.write_timeout) {}

  // Serves requests until the peer closes, an error, or a response that closes.
  void Serve(net::io_context& ioc) {
    while (true) {
      http::request_parser<http::string_body> parser;
      // The larger limit while the header is read (Beast checks Content-Length against it
      // there), then the route's own.
      parser.body_limit(std::max(options_.max_body_bytes, options_.max_voice_body_bytes));
      parser.header_limit(16 * 1024);
      beast::error_code ec;
      // A client that sends nothing (connected, or idle between keep-alive requests) is closed
      // after idle_timeout instead of holding this thread for good.
      if (buffer_.size() == 0 && !WaitReadable(socket_, options_.idle_timeout)) return;
      // From its first byte the request, header and body, must arrive within request_timeout:
      // a client sending a partial header or a short body is answered 408 and closed.
      stream_.ReadWithin(options_.request_timeout);
      http::read_header(stream_, buffer_, parser, ec);
      size_t limit = options_.max_body_bytes;
      // (Beast refuses a Content-Length over the larger limit itself: the header is read then.)
      if ((!ec || ec == http::error::body_limit) && parser.get().method() == http::verb::post &&
          Path(parser.get().target()) == "/v1/voices") {
        limit = options_.max_voice_body_bytes;
      }
      if (!ec && parser.content_length() && *parser.content_length() > limit) {
        ec = http::error::body_limit;
      }
      if (!ec) parser.body_limit(limit);
      if (!ec && beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        // curl asks before sending bodies over 1 KiB; without the answer it waits a second.
        http::response<http::empty_body> go_on{http::status::continue_, 11};
        http::write(stream_, go_on, ec);
      }
      if (!ec && !parser.is_done()) http::read(stream_, buffer_, parser, ec);
      if (ec == net::error::timed_out) {
        Reply(Error({408,
                     fmt::format("the request was not complete within {} ms (request timeout)",
                                 options_.request_timeout.count()),
                     "invalid_request_error", ""}),
              false, "other");
        return;
      }
      if (ec == http::error::body_limit) {
        Reply(Error({413, fmt::format("request body is larger than {} bytes", limit),
                     "invalid_request_error", ""}),
              false, "other");
        DiscardInput();
        return;
      }
      if (ec == http::error::end_of_stream || ec) {
        if (ec && ec != http::error::end_of_stream && ec != net::error::eof &&
            ec != net::error::connection_reset && ec != net::error::operation_aborted) {
          Reply(Error(BadRequest(fmt::format("malformed HTTP request: {}", ec.message()))), false,
                "other");
        }
        return;
      }
      Request req = parser.release();
      if (beast::websocket::is_upgrade(req)) {
        const beast::string_view key = req[http::field::sec_websocket_key];
        if (Path(req.target()) == "/v1/audio/speech/stream" && !IsWebSocketKey(key)) {
          Reply(Error(BadRequest(fmt::format("Sec-WebSocket-Key must be the base64 encoding of 16 "
                                             "bytes (RFC 6455 section 4.2.1), got '{}'",
                                             std::string(key.substr(0, 64))))),
                false, "/v1/audio/speech/stream");
        } else if (Path(req.target()) == "/v1/audio/speech/stream") {
          service_->metrics().Count("cosyflow_http_requests_total",
                                    "route=\"/v1/audio/speech/stream\",code=\"101\"");
          RunWebSocketSession(ioc, socket_, std::move(req), service_, options_.max_ws_message_bytes,
                              options_.write_timeout);
        } else {
          Reply(Error({404, "no WebSocket at this path; use /v1/audio/speech/stream",
                       "invalid_request_error", ""}),
                false, "other");
        }
        return;
      }
      if (!Handle(req) || !req.keep_alive()) return;
    }
  }

 private:
  struct Response {
    http::status status = http::status::ok;
    std::string content_type;
    std::string body;
    std::string timing;  // X-Cosyflow-Timing
  };

  static Response Error(const ApiError& e) {
    return {static_cast<http::status>(e.status), "application/json", e.Json(), ""};
  }
  static Response Json(const nlohmann::json& j, http::status s = http::status::ok) {
    return {s, "application/json", j.dump(), ""};
  }

  // After a refusal before the body was read: closing at once would reset the connection
  // while the client is still sending, and it would never see the response. So the rest of
  // the body is read and dropped, bounded in bytes and time.
  void DiscardInput() {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    const int fd = socket_.native_handle();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::vector<char> sink(64 * 1024);
    for (size_t total = 0; total < (size_t{256} << 20);) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return;
      const ssize_t n = ::recv(fd, sink.data(), sink.size(), MSG_DONTWAIT);
      if (n <= 0) return;  // the client closed (or an error)
      total += static_cast<size_t>(n);
    }
  }

  // Whether the client has closed its side or the connection broke (no data is consumed).
  bool PeerGone() {
    pollfd p{socket_.native_handle(), POLLRDHUP, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  }

  // The request's next audio, checking before each chunk and every 100 ms while one is computed
  // that the client is still there: one that hung up has its session cancelled at once (within
  // a node step) instead of after its next chunk, or, for a whole-body reply, after all of them
  // (checking only when no chunk came for 100 ms missed it when chunks came faster).
  Result<bool> NextAudio(SpeechSession& session, std::string* pcm) {
    while (true) {
      if (!session.cancelled() && PeerGone()) session.Cancel();
      auto more = session.NextPcm(pcm, std::chrono::milliseconds(100));
      if (more.ok() || more.status().code() != StatusCode::kUnavailable) return more;
    }
  }

  // Whether the request's client abandoned it (cancelled, not by the drain, whose requests get
  // an error reply: SessionFailure). Counted as 499; the connection closes.
  bool Abandoned(const SpeechSession& session) {
    if (!session.cancelled() || session.cancelled_by_drain()) return false;
    CountSpeech(499);
    return true;
  }

  // Writes a complete response; false if the connection must close.
  bool Reply(const Response& r, bool keep_alive, const std::string& route) {
    http::response<http::string_body> res{r.status, 11};
    res.set(http::field::server, "cosyflow");
    res.set(http::field::content_type, r.content_type);
    if (!r.timing.empty()) res.set("X-Cosyflow-Timing", r.timing);
    res.keep_alive(keep_alive);
    res.body() = r.body;
    res.prepare_payload();
    // Counted before the write: a client that has its reply finds it in /metrics.
    service_->metrics().Count(
        "cosyflow_http_requests_total",
        fmt::format("route=\"{}\",code=\"{}\"", route, static_cast<int>(r.status)));
    beast::error_code ec;
    http::write(stream_, res, ec);  // (fails after write_timeout without progress)
    return !ec && keep_alive;
  }

  bool Handle(const Request& req) {
    const std::string target(Path(req.target()));
    const bool keep = req.keep_alive();
    auto only = [&](http::verb v) { return req.method() == v; };
    auto not_allowed = [&](const std::string& route) {
      return Reply(
          Error({405, fmt::format("{} does not take {}", route, std::string(req.method_string())),
                 "invalid_request_error", ""}),
          keep, route);
    };
    if (target == "/v1/audio/speech") {
      if (!only(http::verb::post)) return not_allowed(target);
      return Speech(req);
    }
    if (target == "/healthz") {
      if (!only(http::verb::get)) return not_allowed(target);
      const bool draining = service_->draining();
      return Reply(Json({{"status", draining ? "draining" : "ok"},
                         {"sessions_in_flight", service_->in_flight()},
                         {"max_sessions", service_->max_sessions()},
                         {"sample_rate", service_->native_sample_rate()},
                         {"test_model", service_->info().test_model}},
                        draining ? http::status::service_unavailable : http::status::ok),
                   keep, target);
    }
    if (target == "/v1/voices") {
      VoiceApiReply v;
      if (only(http::verb::get)) {
        v = ListVoices(*service_);
      } else if (only(http::verb::post)) {
        v = AddVoice(*service_, req.body());
      } else {
        return not_allowed(target);
      }
      return Reply({static_cast<http::status>(v.status), "application/json", v.body, ""}, keep,
                   target);
    }
    if (target.rfind(kVoicePrefix, 0) == 0) {
      if (!only(http::verb::delete_)) return not_allowed("/v1/voices/{id}");
      const VoiceApiReply v = DeleteVoice(*service_, target.substr(kVoicePrefix.size()));
      return Reply({static_cast<http::status>(v.status), "application/json", v.body, ""}, keep,
                   "/v1/voices/{id}");
    }
    if (target == "/metrics") {
      if (!only(http::verb::get)) return not_allowed(target);
      return Reply({http::status::ok, "text/plain; version=0.0.4", service_->MetricsText(), ""},
                   keep, target);
    }
    if (target == "/" || target == "/index.html") {
      if (!only(http::verb::get)) return not_allowed("/");
      return Reply({http::status::ok, "text/html; charset=utf-8", std::string(WebPageHtml()), ""},
                   keep, "/");
    }
    return Reply(Error({404, fmt::format("no route {}", target), "invalid_request_error", ""}),
                 keep, "other");
  }

  void CountSpeech(int code) {
    service_->metrics().Count("cosyflow_requests_total",
                              fmt::format("door=\"http\",code=\"{}\"", code));
  }

  bool Speech(const Request& req) {
    const std::string route = "/v1/audio/speech";
    const bool keep = req.keep_alive();
    HttpSpeechRequest r;
    ApiError e = ParseSpeechRequest(req.body(), &r);
    std::unique_ptr<SpeechSession> session;
    if (e.ok()) session = service_->Open(r.params, Utf8Length(r.input), &e);
    if (e.ok()) {
      Status st = session->Push(r.input);
      if (st.ok()) st = session->End();
      // Cancelled: the request failed meanwhile; its reply below names the failure.
      if (!st.ok() && st.code() != StatusCode::kCancelled) e = SynthesisError(st, "");
    }
    if (!e.ok()) {
      CountSpeech(e.status);
      return Reply(Error(e), keep, route);
    }
    if (r.stream_format.empty()) return Whole(std::move(session), r, keep);
    return Streamed(std::move(session), r, keep);
  }

  static std::string ContentType(const HttpSpeechRequest& r) {
    if (r.stream_format == "sse") return "text/event-stream";
    if (r.response_format == "pcm") return "audio/pcm";
    if (r.response_format == "flac") return "audio/flac";
    return "audio/wav";
  }

  static Response Failure(const SpeechSession& s, const Status& st, const SessionResult* r) {
    return Error(SessionFailure(s, st, r ? r->failed_node : ""));
  }

  bool Whole(std::unique_ptr<SpeechSession> session, const HttpSpeechRequest& r, bool keep) {
    const std::string route = "/v1/audio/speech";
    std::string pcm, chunk;
    Status st = OkStatus();
    while (true) {
      auto more = NextAudio(*session, &chunk);
      if (!more.ok()) st = more.status();
      if (!more.ok() || !*more) break;
      pcm += chunk;
    }
    auto fin = session->Finish();
    if (st.ok()) st = fin.ok() ? fin->status : fin.status();
    if (Abandoned(*session)) return false;
    if (!st.ok()) return ReplyFailure(Failure(*session, st, fin.ok() ? &*fin : nullptr), keep);
    Response res{http::status::ok, ContentType(r), "", session->TimingJson(*fin)};
    if (r.response_format == "wav") {
      res.body = WavHeader(session->sample_rate(), static_cast<uint32_t>(pcm.size())) + pcm;
    } else if (r.response_format == "flac") {
      auto flac = EncodeFlac(pcm, session->sample_rate());
      if (!flac.ok()) {
        CountSpeech(500);
        return Reply(Error(SynthesisError(flac.status(), "")), keep, route);
      }
      res.body = std::move(*flac);
    } else {
      res.body = std::move(pcm);
    }
    CountSpeech(200);
    return Reply(res, keep, route);
  }

  bool ReplyFailure(const Response& r, bool keep) {
    CountSpeech(static_cast<int>(r.status));
    return Reply(r, keep, "/v1/audio/speech");
  }

  bool WriteChunk(const std::string& bytes) {
    beast::error_code ec;
    net::write(stream_, http::make_chunk(net::buffer(bytes)), ec);
    return !ec;
  }

  // Chunked transfer: the headers go with the first audio chunk (a failure before it is still
  // a JSON error); each chunk is written as soon as the graph makes it.
  bool Streamed(std::unique_ptr<SpeechSession> session, const HttpSpeechRequest& r, bool keep) {
    const std::string route = "/v1/audio/speech";
    const bool sse = r.stream_format == "sse";
    const bool wav = r.response_format == "wav";
    bool started = false;
    std::string pcm;
    Status st = OkStatus();
    while (true) {
      auto more = NextAudio(*session, &pcm);
      if (!more.ok()) st = more.status();
      if (!more.ok() || !*more) break;
      if (!started) {
        http::response<http::empty_body> res{http::status::ok, 11};
        res.set(http::field::server, "cosyflow");
        res.set(http::field::content_type, ContentType(r));
        res.set(http::field::cache_control, "no-cache");
        res.set("X-Sample-Rate", std::to_string(session->sample_rate()));
        res.keep_alive(keep);
        res.chunked(true);
        http::response_serializer<http::empty_body> sr{res};
        beast::error_code ec;
        http::write_header(stream_, sr, ec);
        if (ec) {
          session->Cancel();  // as below
          break;
        }
        started = true;
        if (wav) pcm = WavHeader(session->sample_rate(), 0xFFFFFFFFu) + pcm;
      }
      const std::string bytes =
          sse ? fmt::format(
                    "data: {}\n\n",
                    nlohmann::json{{"type", "speech.audio.delta"}, {"audio", Base64(pcm)}}.dump())
              : pcm;
      if (!WriteChunk(bytes)) {
        // The client went away, or accepted nothing for write_timeout: free the session now.
        session->Cancel();
        break;
      }
    }
    auto fin = session->Finish();
    if (st.ok()) st = fin.ok() ? fin->status : fin.status();
    if (!started) {
      if (Abandoned(*session)) return false;
      return ReplyFailure(
          Failure(*session, st.ok() ? Internal("no audio") : st, fin.ok() ? &*fin : nullptr), keep);
    }
    if (Abandoned(*session)) return false;
    if (!st.ok()) {
      const ApiError e = SessionFailure(*session, st, fin.ok() ? fin->failed_node : "");
      CountSpeech(e.status);
      if (sse) {
        nlohmann::json ev = nlohmann::json::parse(e.Json());
        ev["type"] = "error";
        (void)WriteChunk(fmt::format("data: {}\n\n", ev.dump()));
      }
      return false;  // no last chunk: the client sees a truncated body
    }
    if (sse) {
      nlohmann::json done{{"type", "speech.audio.done"},
                          {"timing", nlohmann::json::parse(session->TimingJson(*fin))}};
      if (!WriteChunk(fmt::format("data: {}\n\n", done.dump()))) return false;
    }
    CountSpeech(200);  // before the last chunk, which tells the client it has everything
    service_->metrics().Count("cosyflow_http_requests_total",
                              fmt::format("route=\"{}\",code=\"200\"", route));
    beast::error_code ec;
    net::write(stream_, http::make_chunk_last(), ec);
    return !ec && keep;
  }

  SpeechService* service_;
  const HttpServerOptions& options_;
  tcp::socket& socket_;
  DeadlineStream stream_;  // socket_'s reads and writes, bounded in time
  beast::flat_buffer buffer_;
};

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(SpeechService* service, HttpServerOptions o) {
  if (service == nullptr) return InvalidArgument("http server: no speech service");
  std::unique_ptr<HttpServer> s(new HttpServer());
  s->service_ = service;
  s->options_ = std::move(o);
  HttpServer* raw = s.get();
  COSY_ASSIGN_OR_RETURN(s->listener_,
                        TcpListener::Start(
                            s->options_.host, s->options_.port,
                            [raw](net::io_context& ioc, tcp::socket& socket) {
                              Connection(raw->service_, raw->options_, socket).Serve(ioc);
                            },
                            s->options_.max_connections));
  return s;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (listener_) listener_->Stop();
}

std::string HttpServer::url() const {
  return fmt::format("http://{}:{}", listener_->host(), listener_->port());
}

}  // namespace cosyflow::serving
