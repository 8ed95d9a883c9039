// HttpServer: the OpenAI-compatible HTTP door and the WebSocket bi-stream door of a
// SpeechService, on Boost.Beast (docs/serving.md).
//
//   POST /v1/audio/speech          OpenAI speech: whole body, or stream_format audio (chunked
//                                  transfer of audio bytes as made) / sse (speech.audio.delta
//                                  events, then speech.audio.done)
//   GET  /v1/audio/speech/stream   WebSocket: start, text deltas, end / cancel -> started,
//                                  binary s16le PCM frames, done / cancelled
//   GET/POST /v1/voices, DELETE /v1/voices/{id}: the graph's voices (serving/voice_api.h)
//   GET  /healthz, /metrics (Prometheus text), / (the web page)
//
// One thread per connection (TcpListener); its reads and writes are bounded in time
// (DeadlineStream: request_timeout, write_timeout). Errors are JSON {"error": {...}} with 400
// (bad field, or no audio in the input), 404 (unknown voice or route), 405, 408 (request not
// complete within request_timeout), 413 (input or body too long), 429 (over max_sessions), 500
// (synthesis failed), 503 (draining, or cancelled by the drain).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "serving/speech_service.h"
#include "serving/tcp_listener.h"

namespace cosyflow::serving {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                  // 0 = a free port
  size_t max_body_bytes = 1 << 20;  // larger request bodies get 413
  size_t max_voice_body_bytes = 8 << 20;  // POST /v1/voices (a base64 recording)
  size_t max_ws_message_bytes = 1 << 20;
  // A connection that sends no request for this long is closed (also between keep-alive
  // requests); beyond max_connections open connections new ones are closed at once.
  std::chrono::milliseconds idle_timeout{60000};
  int max_connections = 512;
  // A request (header and body) must arrive whole within this long of its first byte, else
  // 408 and the connection closes: a client trickling bytes cannot hold a thread for good.
  std::chrono::milliseconds request_timeout{60000};
  // A reply (or WebSocket frame) of which the client accepts no byte for this long is given
  // up: the request is cancelled (its slot freed) and the connection closed.
  std::chrono::milliseconds write_timeout{60000};
};

class HttpServer {
 public:
  // `service` must outlive the server.
  static Result<std::unique_ptr<HttpServer>> Start(SpeechService* service, HttpServerOptions o);
  ~HttpServer();
  // Closes the listener and every connection (after SpeechService::Drain for a graceful stop).
  void Stop();
  int port() const { return listener_->port(); }
  // Connections whose thread still runs (a closed one may count for a moment after its peer
  // saw the close: the thread ends just after).
  int open_connections() const { return listener_->open_connections(); }
  std::string url() const;  // http://HOST:PORT

 private:
  HttpServer() = default;
  SpeechService* service_ = nullptr;
  HttpServerOptions options_;
  std::unique_ptr<TcpListener> listener_;
};

}  // namespace cosyflow::serving
