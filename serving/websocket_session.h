// The WebSocket bi-stream door (/v1/audio/speech/stream): text deltas in, audio out while the
// text is still arriving, cancel for barge-in. One request per connection.
//
//   client -> {"type":"start", "voice", "seed", "instructions", "speed", "sample_rate"}
//   server <- {"type":"started","sample_rate":24000,"text_streaming":true}
//   client -> {"type":"text","text":"Hello "} ...  {"type":"end"}
//   server <- binary frames: s16le mono PCM at sample_rate, as the graph makes them
//   server <- {"type":"done","timing":{first_audio_ms,total_ms,audio_s,rtf,chunks,sample_rate}}
//   client -> {"type":"cancel"} at any time -> server <- {"type":"cancelled"}
//   errors  <- {"type":"error","error":{"message","type","param","code"}}, then the close
//              (a message over max_message_bytes: a 413 error, then the close with 1009)
//
// Runs on the connection's thread: reads and writes are async on `ioc`; a pump thread pulls
// audio from the session and posts frames to it. A frame the client accepts nothing of for
// `write_timeout` (a client that stopped reading) ends the connection and cancels the request:
// the pump would otherwise wait, holding its slot, for as long as the client stays connected.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

#include "serving/speech_service.h"

namespace cosyflow::serving {

void RunWebSocketSession(boost::asio::io_context& ioc, boost::asio::ip::tcp::socket& socket,
                         boost::beast::http::request<boost::beast::http::string_body> upgrade,
                         SpeechService* service, size_t max_message_bytes,
                         std::chrono::milliseconds write_timeout);

}  // namespace cosyflow::serving
