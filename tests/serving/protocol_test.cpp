// Protocol edges of the serving doors on the tiny test model: a WebSocket message over the
// limit.
#include <doctest/doctest.h>

#include "tests/serving/serving_harness.h"

namespace cosyflow::serving {
namespace {

using namespace testing;  // NOLINT

// --- WebSocket -----------------------------------------------------------------------------

TEST_CASE("serving/ws: a message over the limit gets a JSON error, then close 1009") {
  Harness h;
  const size_t limit = HttpServerOptions{}.max_ws_message_bytes;
  for (const bool started : {false, true}) {
    INFO("after start: ", started);
    net::io_context ioc;
    websocket::stream<tcp::socket> ws(Connect(ioc, h.http_server->port()));
    ws.handshake("127.0.0.1", "/v1/audio/speech/stream");
    beast::flat_buffer buf;
    if (started) {
      ws.write(net::buffer(json{{"type", "start"}}.dump()));
      ws.read(buf);
      REQUIRE(json::parse(beast::buffers_to_string(buf.data()))["type"] == "started");
      buf.consume(buf.size());
    }
    beast::error_code ec;
    ws.write(net::buffer(std::string(limit + 1, ' ')), ec);
    ws.read(buf, ec);
    REQUIRE_MESSAGE(!ec, "the connection closed without the error message: ", ec.message());
    REQUIRE(ws.got_text());
    const json j = json::parse(beast::buffers_to_string(buf.data()), nullptr, false);
    REQUIRE(j.is_object());
    CHECK(j["type"] == "error");
    CHECK(j["error"]["code"] == 413);
    const std::string message = j["error"]["message"];
    CHECK(message.find(std::to_string(limit)) != std::string::npos);
    buf.consume(buf.size());
    ws.read(buf, ec);
    CHECK(ec == websocket::error::closed);
    CHECK(ws.reason().code == websocket::close_code::too_big);
  }
  CHECK(h.WaitIdle());
  // Still serving.
  CHECK(RunWs(h.http_server->port(), {{"type", "start"}}, {"Hi."}).last["type"] == "done");
}

}  // namespace
}  // namespace cosyflow::serving
