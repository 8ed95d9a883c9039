// HttpServer: routes, the OpenAI speech endpoint (whole, chunked audio, SSE) and the upgrade to
// the WebSocket door (serving/websocket_session.cpp).
#include "serving/http_server.h"

#include <fmt/format.h>

#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>
#include <utility>

#include "serving/audio_encoding.h"
#include "serving/speech_request.h"
#include "serving/web_page.h"
#include "serving/websocket_session.h"

namespace cosyflow::serving {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Request = http::request<http::string_body>;

class Connection {
 public:
  Connection(SpeechService* service, const HttpServerOptions& o, tcp::socket& socket)
      : service_(service), options_(o), socket_(socket) {}

  // Serves requests until the peer closes, an error, or a response that closes.
  void Serve(net::io_context& ioc) {
    while (true) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(options_.max_body_bytes);
      parser.header_limit(16 * 1024);
      beast::error_code ec;
      http::read_header(socket_, buffer_, parser, ec);
      if (!ec && beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        // curl asks before sending bodies over 1 KiB; without the answer it waits a second.
        http::response<http::empty_body> go_on{http::status::continue_, 11};
        http::write(socket_, go_on, ec);
      }
      if (!ec && !parser.is_done()) http::read(socket_, buffer_, parser, ec);
      if (ec == http::error::body_limit) {
        Reply(Error({413,
                     fmt::format("request body is larger than {} bytes", options_.max_body_bytes),
                     "invalid_request_error", ""}),
              false, "other");
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
        if (req.target() == "/v1/audio/speech/stream") {
          service_->metrics().Count("cosyflow_http_requests_total",
                                    "route=\"/v1/audio/speech/stream\",code=\"101\"");
          RunWebSocketSession(ioc, socket_, std::move(req), service_,
                              options_.max_ws_message_bytes);
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

  // Writes a complete response; false if the connection must close.
  bool Reply(const Response& r, bool keep_alive, const std::string& route) {
    http::response<http::string_body> res{r.status, 11};
    res.set(http::field::server, "cosyflow");
    res.set(http::field::content_type, r.content_type);
    if (!r.timing.empty()) res.set("X-Cosyflow-Timing", r.timing);
    res.keep_alive(keep_alive);
    res.body() = r.body;
    res.prepare_payload();
    beast::error_code ec;
    http::write(socket_, res, ec);
    service_->metrics().Count(
        "cosyflow_http_requests_total",
        fmt::format("route=\"{}\",code=\"{}\"", route, static_cast<int>(r.status)));
    return !ec && keep_alive;
  }

  bool Handle(const Request& req) {
    const std::string target(req.target().substr(0, req.target().find('?')));
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
      if (!only(http::verb::get)) return not_allowed(target);
      nlohmann::json voices = nlohmann::json::array();
      for (const auto& v : service_->Voices()) {
        voices.push_back({{"id", v}, {"name", v}, {"object", "voice"}});
      }
      return Reply(Json({{"object", "list"}, {"data", voices}, {"voices", voices}}), keep, target);
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
      if (!st.ok()) e = {500, st.message(), "server_error", ""};
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

  static Response Failure(const Status& st, const SessionResult* r) {
    const std::string where =
        r && !r->failed_node.empty() ? " in node '" + r->failed_node + "'" : "";
    return Error(
        {500, fmt::format("synthesis failed{}: {}", where, st.message()), "server_error", ""});
  }

  bool Whole(std::unique_ptr<SpeechSession> session, const HttpSpeechRequest& r, bool keep) {
    const std::string route = "/v1/audio/speech";
    std::string pcm, chunk;
    Status st = OkStatus();
    while (true) {
      auto more = session->NextPcm(&chunk);
      if (!more.ok()) st = more.status();
      if (!more.ok() || !*more) break;
      pcm += chunk;
    }
    auto fin = session->Finish();
    if (st.ok()) st = fin.ok() ? fin->status : fin.status();
    if (!st.ok()) {
      CountSpeech(500);
      return Reply(Failure(st, fin.ok() ? &*fin : nullptr), keep, route);
    }
    Response res{http::status::ok, ContentType(r), "", session->TimingJson(*fin)};
    if (r.response_format == "wav") {
      res.body = WavHeader(session->sample_rate(), static_cast<uint32_t>(pcm.size())) + pcm;
    } else if (r.response_format == "flac") {
      auto flac = EncodeFlac(pcm, session->sample_rate());
      if (!flac.ok()) {
        CountSpeech(500);
        return Reply(Failure(flac.status(), nullptr), keep, route);
      }
      res.body = std::move(*flac);
    } else {
      res.body = std::move(pcm);
    }
    CountSpeech(200);
    return Reply(res, keep, route);
  }

  bool WriteChunk(const std::string& bytes) {
    beast::error_code ec;
    net::write(socket_, http::make_chunk(net::buffer(bytes)), ec);
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
      auto more = session->NextPcm(&pcm);
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
        http::write_header(socket_, sr, ec);
        if (ec) break;
        started = true;
        if (wav) pcm = WavHeader(session->sample_rate(), 0xFFFFFFFFu) + pcm;
      }
      const std::string bytes =
          sse ? fmt::format(
                    "data: {}\n\n",
                    nlohmann::json{{"type", "speech.audio.delta"}, {"audio", Base64(pcm)}}.dump())
              : pcm;
      if (!WriteChunk(bytes)) {
        session->Cancel();  // the client went away: free the session now
        break;
      }
    }
    auto fin = session->Finish();
    if (st.ok()) st = fin.ok() ? fin->status : fin.status();
    if (!started) {
      if (session->cancelled()) return false;
      CountSpeech(500);
      return Reply(Failure(st.ok() ? Internal("no audio") : st, fin.ok() ? &*fin : nullptr), keep,
                   route);
    }
    if (session->cancelled() && !service_->draining()) {
      CountSpeech(499);  // client closed the request
      return false;
    }
    if (!st.ok()) {
      CountSpeech(500);
      if (sse) {
        ApiError e{500, st.message(), "server_error", ""};
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
    beast::error_code ec;
    net::write(socket_, http::make_chunk_last(), ec);
    CountSpeech(200);
    service_->metrics().Count("cosyflow_http_requests_total",
                              fmt::format("route=\"{}\",code=\"200\"", route));
    return !ec && keep;
  }

  SpeechService* service_;
  const HttpServerOptions& options_;
  tcp::socket& socket_;
  beast::flat_buffer buffer_;
};

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(SpeechService* service, HttpServerOptions o) {
  if (service == nullptr) return InvalidArgument("http server: no speech service");
  std::unique_ptr<HttpServer> s(new HttpServer());
  s->service_ = service;
  s->options_ = std::move(o);
  HttpServer* raw = s.get();
  COSY_ASSIGN_OR_RETURN(
      s->listener_,
      TcpListener::Start(s->options_.host, s->options_.port,
                         [raw](net::io_context& ioc, tcp::socket& socket) {
                           Connection(raw->service_, raw->options_, socket).Serve(ioc);
                         }));
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
