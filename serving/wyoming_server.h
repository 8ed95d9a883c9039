// WyomingServer: the Wyoming protocol door (Home Assistant, Rhasspy) of a SpeechService, from
// the public protocol description (github.com/rhasspy/wyoming). An event is one JSON header
// line {"type", "data"?, "data_length"?, "payload_length"?, "version"?}, then data_length bytes
// of JSON merged into "data", then payload_length bytes of payload.
//
//   describe                      -> info (one TTS program "cosyflow", its voices,
//                                    supports_synthesize_streaming)
//   synthesize {text, voice?}     -> audio-start {rate,width:2,channels:1} (with the first
//                                    audio), audio-chunk {rate,width,channels} + s16le payload
//                                    as made, audio-stop
//   synthesize-start {voice?}, synthesize-chunk {text}..., synthesize-stop
//                                 -> audio-start, audio-chunk... (while text still arrives when
//                                    the graph is loaded for bi-stream text), audio-stop,
//                                    synthesize-stopped; a synthesize event sent alongside the
//                                    stream (for older servers) is ignored
//   ping                          -> pong
//   failures                      -> error {text, code}: the request's last event (no-audio for
//                                    text with nothing speakable, http-503 for the drain's cancel)
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "serving/speech_service.h"
#include "serving/tcp_listener.h"

namespace cosyflow::serving {

struct WyomingServerOptions {
  std::string host = "127.0.0.1";
  int port = 10200;                  // 0 = a free port
  size_t max_event_bytes = 1 << 20;  // header line, data and payload of one incoming event
  std::vector<std::string> languages = {"zh", "en", "ja", "ko", "yue"};
  // A connection with no request running that sends no event for this long is closed; beyond
  // max_connections open connections new ones are closed at once.
  std::chrono::milliseconds idle_timeout{300000};
  int max_connections = 512;
  // An event (header line, data, payload) must arrive whole within this long of its first
  // byte, else `error` (code "timeout") and the connection closes.
  std::chrono::milliseconds request_timeout{60000};
  // An event of which the client accepts no byte for this long is given up: the request is
  // cancelled (its slot freed) and the connection closed.
  std::chrono::milliseconds write_timeout{60000};
};

class WyomingServer {
 public:
  // `service` must outlive the server.
  static Result<std::unique_ptr<WyomingServer>> Start(SpeechService* service,
                                                      WyomingServerOptions o);
  ~WyomingServer();
  void Stop();
  int port() const { return listener_->port(); }
  // Connections whose thread still runs (a closed one may count for a moment after its peer
  // saw the close: the thread ends just after).
  int open_connections() const { return listener_->open_connections(); }
  std::string uri() const;  // tcp://HOST:PORT

 private:
  WyomingServer() = default;
  SpeechService* service_ = nullptr;
  WyomingServerOptions options_;
  std::unique_ptr<TcpListener> listener_;
};

}  // namespace cosyflow::serving
