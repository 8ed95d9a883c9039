// A frame the server cannot take fails its session on both sides, never silently: rejections
// name the session (oversized, non-finite, data after end of stream, file paths), a client
// refuses to send past the server's limit, a restarted server fails the sessions it forgot, and
// a client that floods without reading gets a bounded number of replies queued.
#include <cmath>
#include <limits>
#include <optional>
#include <thread>

#include "tests/bridges/bridge_test_util.h"

namespace cosyflow::bridges {
using namespace test;

namespace {

// A raw DEALER that has shaken hands as an Audio client.
struct RawClient {
  zmq::socket_t socket{BridgeContext(), zmq::socket_type::dealer};
  explicit RawClient(const std::string& endpoint, int rcvhwm = 1000, uint32_t window = 0) {
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::rcvhwm, rcvhwm);
    socket.connect(endpoint);
    HelloInfo hello{kWireSchemaVersion,  "",    PayloadType::kAudio,
                    PayloadType::kAudio, "raw", window};
    Send(EncodeHello(hello));
  }
  void Send(const WireBuffer& b) {
    (void)socket.send(zmq::buffer(b.data(), b.size()), zmq::send_flags::none);
  }
  void SendData(uint64_t session, Payload p, uint32_t flags = 0) {
    MessageHeader h;
    h.session_id = session;
    h.flags = flags;
    auto b = EncodeMessage(Message{h, std::move(p)});
    REQUIRE(b.ok());
    Send(*b);
  }
  // The first Rejected envelope within 5 s (other envelopes are skipped).
  std::optional<RejectedInfo> NextRejected() {
    for (int i = 0; i < 500; ++i) {
      zmq::message_t f;
      if (!socket.recv(f, zmq::recv_flags::dontwait)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      auto e = DecodeFrame(std::move(f), WireLimits{});
      if (e.ok() && e->kind == EnvelopeKind::kRejected) return e->rejected;
    }
    return std::nullopt;
  }
};

Payload NanAudio() {
  std::vector<float> v = Ramp(480);
  v[17] = std::numeric_limits<float>::quiet_NaN();
  return *Audio::FromSamples(v, 24000);
}

}  // namespace

TEST_CASE("Bridge: a rejected frame names its session; the client fails that session") {
  Served served = Serve("tcp://127.0.0.1:0", kResampleGraph, 50,
                        [](BridgeServerOptions& o) { o.limits.max_message_bytes = 4096; });
  SUBCASE("over the server's limit: a raw frame's rejection names its session") {
    RawClient raw(served.endpoint);
    raw.SendData(9, *Audio::FromSamples(Ramp(2000), 24000));  // ~8 KB > 4096
    auto r = raw.NextRejected();
    REQUIRE(r.has_value());
    CHECK(r->session_id == 9);
    CHECK(r->status.message().find("max_message_bytes") != std::string::npos);
  }
  SUBCASE("a BridgeClient refuses to send past the limit the server announced") {
    auto c = BridgeClient::Connect(AudioClient(served.endpoint));
    REQUIRE(c.ok());
    CHECK((*c)->ack().max_message_bytes == 4096);
    auto id = (*c)->OpenSession();
    REQUIRE(id.ok());
    const Status st = (*c)->Send(*id, *Audio::FromSamples(Ramp(2000), 24000));
    CHECK(st.code() == StatusCode::kInvalidArgument);
    CHECK(st.message().find("max_message_bytes 4096") != std::string::npos);
    auto [audio, st2] = Collect(**c, *id);  // the session stays failed, nothing arrives
    CHECK(st2.code() == StatusCode::kInvalidArgument);
    CHECK(audio.empty());
    // the connection is still good for the next session
    auto id2 = (*c)->OpenSession();
    REQUIRE((*c)->Send(*id2, *Audio::FromSamples(Ramp(480), 24000)).ok());
    REQUIRE((*c)->Send(*id2, Payload{}, kFlagEndOfStream).ok());
    auto [audio3, st3] = Collect(**c, *id2);
    CHECK_MESSAGE(st3.ok(), st3.ToString());
    CHECK(audio3.size() == 320);
  }
  SUBCASE(
      "non-finite samples: the session fails on both sides, its later frames are not a result") {
    auto c = BridgeClient::Connect(AudioClient(served.endpoint));
    REQUIRE(c.ok());
    auto id = (*c)->OpenSession();
    REQUIRE((*c)->Post(*id, NanAudio()).ok());
    // sent before the rejection can arrive: the server runs them as a new session, whose
    // output must not be handed out as this session's
    // (when the rejection is back already, these fail at once with the same status)
    (void)(*c)->Post(*id, *Audio::FromSamples(Ramp(480), 24000));
    (void)(*c)->Post(*id, Payload{}, kFlagEndOfStream);
    auto [audio, st] = Collect(**c, *id);
    CHECK(st.code() == StatusCode::kInvalidArgument);
    CHECK(st.message().find("non-finite") != std::string::npos);
  }
}

TEST_CASE("Bridge server: data after a session's end of stream and file paths are rejected") {
  Served served = Serve("tcp://127.0.0.1:0");
  // window 1 and no credit granted back: the server sends one output and then holds the
  // session open, so the late frame meets it (not a new session of the same id)
  RawClient raw(served.endpoint, 1000, /*window=*/1);
  SUBCASE("data after end of stream") {
    raw.SendData(5, *Audio::FromSamples(Ramp(480), 24000));
    raw.SendData(5, *Audio::FromSamples(Ramp(480), 24000));
    raw.SendData(5, *Audio::FromSamples(Ramp(480), 24000));
    raw.SendData(5, Payload{}, kFlagEndOfStream);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    raw.SendData(5, *Audio::FromSamples(Ramp(480), 24000));
    auto r = raw.NextRejected();
    REQUIRE(r.has_value());
    CHECK(r->session_id == 5);
    CHECK(r->status.message().find("after its end of stream") != std::string::npos);
  }
  SUBCASE("a TextRequest naming a file on the server") {
    TextRequest t;
    t.text = "hello";
    t.prompt_audio_path = "/etc/passwd";
    raw.SendData(6, t);
    auto r = raw.NextRejected();
    REQUIRE(r.has_value());
    CHECK(r->session_id == 6);
    CHECK(r->status.message().find("prompt_audio_path names a file") != std::string::npos);
  }
}

TEST_CASE("Bridge: a restarted server fails the sessions it forgot, at once") {
  Served first = Serve("tcp://127.0.0.1:0");
  const std::string endpoint = first.endpoint;
  auto options = AudioClient(endpoint);
  options.peer_timeout_ms = 20000;  // the loss must be seen from the rejection, not the timeout
  auto c = BridgeClient::Connect(options);
  REQUIRE(c.ok());
  first.server.reset();
  first.pipeline.reset();
  Served second = Serve(endpoint);  // same port; the client's DEALER reconnects to it
  // The client cannot know yet: its next session's frames reach a server that never saw this
  // connection. That session fails at once (it used to wait for answers that never came).
  const auto t0 = std::chrono::steady_clock::now();
  auto id = (*c)->OpenSession();
  REQUIRE(id.ok());
  (void)(*c)->Post(*id, *Audio::FromSamples(Ramp(480), 24000));
  (void)(*c)->Post(*id, Payload{}, kFlagEndOfStream);
  auto [lost_audio, st] = Collect(**c, *id);
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(st.code() == StatusCode::kUnavailable);
  CHECK(st.message().find("lost this connection's sessions") != std::string::npos);
  CHECK(waited < 10.0);  // well before peer_timeout_ms
  // then it shakes hands again and the next session is served
  for (int i = 0; i < 100 && !(*c)->connected(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE((*c)->connected());
  auto id2 = (*c)->OpenSession();
  REQUIRE(id2.ok());
  REQUIRE((*c)->Send(*id2, *Audio::FromSamples(Ramp(480), 24000)).ok());
  REQUIRE((*c)->Send(*id2, Payload{}, kFlagEndOfStream).ok());
  auto [audio, st2] = Collect(**c, *id2);
  CHECK_MESSAGE(st2.ok(), st2.ToString());
  CHECK(audio.size() == 320);
}

TEST_CASE("Bridge server: a client that floods without reading gets bounded replies") {
  Served served = Serve("tcp://127.0.0.1:0");
  RawClient raw(served.endpoint, /*rcvhwm=*/1);
  const std::vector<uint8_t> junk(32, 0x5a);
  for (int i = 0; i < 6000; ++i) (void)raw.socket.send(zmq::buffer(junk), zmq::send_flags::none);
  for (int i = 0; i < 500 && served.server->stats().frames_received < 6000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto stats = served.server->stats();
  MESSAGE("flood: frames ", stats.frames_received, " rejected ", stats.rejected, " unsent ",
          stats.rejections_unsent);
  CHECK(stats.frames_received >= 6000);
  CHECK(stats.rejections_unsent > 0);  // at most 64 queued beyond what the pipe holds
  // a well-behaved client is served meanwhile
  auto c = BridgeClient::Connect(AudioClient(served.endpoint));
  REQUIRE(c.ok());
  auto id = (*c)->OpenSession();
  REQUIRE((*c)->Send(*id, *Audio::FromSamples(Ramp(480), 24000)).ok());
  REQUIRE((*c)->Send(*id, Payload{}, kFlagEndOfStream).ok());
  auto [audio, st] = Collect(**c, *id);
  CHECK_MESSAGE(st.ok(), st.ToString());
}

TEST_CASE("EndpointProblem: schemes, hosts and ports in range") {
  CHECK(EndpointProblem("tcp://127.0.0.1:0").empty());
  CHECK(EndpointProblem("tcp://127.0.0.1:65535").empty());
  CHECK(EndpointProblem("tcp://*:5701").empty());
  CHECK(EndpointProblem("tcp://127.0.0.1:*").empty());
  CHECK(EndpointProblem("ipc:///tmp/x").empty());
  CHECK(EndpointProblem("inproc://x").empty());
  CHECK(EndpointProblem("tcp://127.0.0.1:65536").find("[0, 65535]") != std::string::npos);
  CHECK(EndpointProblem("tcp://127.0.0.1:99999").find("99999") != std::string::npos);
  CHECK_FALSE(EndpointProblem("tcp://127.0.0.1:-5").empty());
  CHECK_FALSE(EndpointProblem("tcp://127.0.0.1").empty());
  CHECK_FALSE(EndpointProblem("tcp://").empty());
  CHECK_FALSE(EndpointProblem("udp://x:1").empty());
  CHECK_FALSE(EndpointProblem("ipc://").empty());
}

}  // namespace cosyflow::bridges
