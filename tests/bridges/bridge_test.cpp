// Bridge tests over inproc:// and tcp://127.0.0.1: split graphs equal in-process graphs,
// handshake mismatches, many isolated clients, cancel, peer loss and recovery.
#include <atomic>
#include <optional>
#include <thread>

#include "tests/bridges/bridge_test_util.h"

namespace cosyflow::bridges {
namespace {
using namespace test;

PipelineOverrides Full() {
  PipelineOverrides o;
  o.registry = &FullNodeRegistry();
  return o;
}

// A fake bridge server on `fake` (a bound ROUTER): answers the client's Hello, heartbeats every
// 100 ms until FallSilent(), then sends nothing more. The silence starts where the test says,
// not when the handshake ends (a loaded machine can take longer than the peer timeout to set
// the session up).
class SilentPeer {
 public:
  explicit SilentPeer(zmq::socket_t& fake) : thread_([this, &fake] { Run(fake); }) {}
  ~SilentPeer() { FallSilent(); }
  void FallSilent() {
    silent_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run(zmq::socket_t& fake) {
    zmq::message_t peer, hello;
    fake.set(zmq::sockopt::rcvtimeo, 100);
    bool got = false;
    for (int i = 0; i < 100 && !silent_ && !got; ++i) got = fake.recv(peer).has_value();
    if (!got || !fake.recv(hello)) return;
    const std::string id = peer.to_string();  // a sent message_t is emptied: resend copies
    HelloAckInfo ack;
    ack.ok = true;
    ack.accepts = ack.produces = PayloadType::kAudio;
    (void)fake.send(zmq::buffer(id), zmq::send_flags::sndmore);
    (void)fake.send(ToFrame(EncodeHelloAck(ack)), zmq::send_flags::none);
    while (!silent_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (silent_) break;
      (void)fake.send(zmq::buffer(id), zmq::send_flags::sndmore);
      (void)fake.send(ToFrame(EncodeHeartbeat(NowMs() * 1000000)), zmq::send_flags::none);
    }
  }

  std::atomic<bool> silent_{false};
  std::thread thread_;
};

}  // namespace

TEST_CASE("Bridge: a ZmqSend split graph gives exactly the in-process output (inproc and tcp)") {
  auto local = Pipeline::FromText(kResampleGraph);
  REQUIRE(local.ok());
  REQUIRE((*local)->Start().ok());
  const std::vector<std::vector<float>> chunks = {Ramp(4800), Ramp(2400, 0.5f), Ramp(777)};
  auto [expected, st] = RunAudio(**local, chunks);
  REQUIRE(st.ok());
  REQUIRE(expected.size() > 4000);
  for (const std::string bind : {"inproc://bridge-test-split", "tcp://127.0.0.1:0"}) {
    Served served = Serve(bind);
    auto front = Pipeline::FromText(SplitGraph(served.endpoint), Full());
    REQUIRE_MESSAGE(front.ok(), front.status().ToString());
    REQUIRE((*front)->Start().ok());
    for (int run = 0; run < 2; ++run) {
      auto [got, status] = RunAudio(**front, chunks);
      CHECK_MESSAGE(status.ok(), status.ToString());
      CHECK(got == expected);
    }
    CHECK(served.server->stats().sessions_opened == 2);
  }
}

TEST_CASE("Bridge: a handshake mismatch fails at connect time naming both sides") {
  Served served = Serve("inproc://bridge-test-mismatch");
  auto front = Pipeline::FromText(SplitGraph(served.endpoint, "Mel"), Full());
  REQUIRE_FALSE(front.ok());
  CHECK_MESSAGE(front.status().message().find(
                    "client sends Mel, server graph input 'audio' takes Audio") !=
                    std::string::npos,
                front.status().message());
  auto o = AudioClient(served.endpoint);
  o.hello.input = "text";
  auto c = BridgeClient::Connect(o);
  REQUIRE_FALSE(c.ok());
  CHECK_MESSAGE(c.status().message().find("client feeds graph input 'text', server graph "
                                          "'resample-stream' has inputs [audio]") !=
                    std::string::npos,
                c.status().message());
  auto none = BridgeClient::Connect([] {
    auto o2 = AudioClient("tcp://127.0.0.1:1");
    o2.connect_timeout_ms = 200;
    return o2;
  }());
  REQUIRE_FALSE(none.ok());
  // Usually kUnavailable (nobody answers); a loaded machine has also seen zmq_connect fail at
  // once (EADDRINUSE). Either way a clear error naming the endpoint, never a hang.
  CHECK_MESSAGE(none.status().message().find("tcp://127.0.0.1:1") != std::string::npos,
                none.status().ToString());
}

TEST_CASE("Bridge: many clients with colliding session ids stay isolated") {
  Served served = Serve("tcp://127.0.0.1:0");
  std::vector<std::shared_ptr<BridgeClient>> clients;
  for (int i = 0; i < 3; ++i) {
    auto c = BridgeClient::Connect(AudioClient(served.endpoint));
    REQUIRE_MESSAGE(c.ok(), c.status().ToString());
    clients.push_back(*c);
  }
  std::vector<uint64_t> ids;
  for (int i = 0; i < 3; ++i) {
    auto id = clients[i]->OpenSession();
    REQUIRE(id.ok());
    CHECK(*id == 1);  // same id on every connection
    ids.push_back(*id);
    auto a = Audio::FromSamples(std::vector<float>(2400 * (i + 1), 0.1f * (i + 1)), 24000);
    REQUIRE(clients[i]->Send(*id, *a).ok());
    REQUIRE(clients[i]->Send(*id, Payload{}, kFlagEndOfStream).ok());
  }
  for (int i = 0; i < 3; ++i) {
    auto [audio, st] = Collect(*clients[i], ids[i]);
    CHECK_MESSAGE(st.ok(), st.ToString());
    CHECK(std::abs(static_cast<int>(audio.size()) - 1600 * (i + 1)) <= 2);
    CHECK(std::abs(audio[audio.size() / 2] - 0.1f * (i + 1)) < 1e-3f);
  }
}

TEST_CASE("Bridge: cancel from the client ends the remote session") {
  Served served = Serve("inproc://bridge-test-cancel");
  auto c = BridgeClient::Connect(AudioClient(served.endpoint));
  REQUIRE(c.ok());
  auto id = (*c)->OpenSession();
  auto a = Audio::FromSamples(Ramp(2400), 24000);
  REQUIRE((*c)->Send(*id, *a).ok());
  for (int i = 0; i < 100 && served.server->open_sessions() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(served.server->open_sessions() == 1);
  REQUIRE((*c)->Send(*id, Payload{}, kFlagCancel).ok());
  for (int i = 0; i < 200 && served.server->open_sessions() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(served.server->open_sessions() == 0);
}

TEST_CASE("Bridge: peer loss fails in-flight sessions within the timeout, then recovers") {
  // A fake server that completes the handshake and then goes silent.
  zmq::socket_t fake(BridgeContext(), zmq::socket_type::router);
  fake.set(zmq::sockopt::linger, 0);
  fake.bind("tcp://127.0.0.1:*");
  const std::string endpoint = fake.get(zmq::sockopt::last_endpoint);
  auto o = AudioClient(endpoint);
  o.peer_timeout_ms = 500;
  SilentPeer answer(fake);  // silent once the session's audio is sent
  auto c = BridgeClient::Connect(o);
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  auto id = (*c)->OpenSession();
  REQUIRE(id.ok());
  auto a = Audio::FromSamples(Ramp(2400), 24000);
  REQUIRE((*c)->Send(*id, *a).ok());
  answer.FallSilent();
  const int64_t start = NowMs();
  auto [audio, st] = Collect(**c, *id);
  const int64_t took = NowMs() - start;
  CHECK(st.code() == StatusCode::kUnavailable);
  CHECK_MESSAGE(st.message().find("sent nothing for") != std::string::npos, st.message());
  CHECK(took < 3000);
  fake.close();
  // The peer comes back on the same endpoint: new sessions succeed.
  Served served = Serve(endpoint);
  bool back = false;
  for (int i = 0; i < 200 && !back; ++i) {
    back = (*c)->connected();
    if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(back);
  auto id2 = (*c)->OpenSession();
  REQUIRE(id2.ok());
  REQUIRE((*c)->Send(*id2, *a).ok());
  REQUIRE((*c)->Send(*id2, Payload{}, kFlagEndOfStream).ok());
  auto [audio2, st2] = Collect(**c, *id2);
  CHECK_MESSAGE(st2.ok(), st2.ToString());
  CHECK(std::abs(static_cast<int>(audio2.size()) - 1600) <= 2);
}

}  // namespace cosyflow::bridges

namespace cosyflow::bridges {

TEST_CASE("Bridge: a ZmqSend session on a vanished peer fails with a clear error, no hang") {
  zmq::socket_t fake(BridgeContext(), zmq::socket_type::router);
  fake.set(zmq::sockopt::linger, 0);
  fake.bind("tcp://127.0.0.1:*");
  const std::string endpoint = fake.get(zmq::sockopt::last_endpoint);
  SilentPeer answer(fake);  // silent once the input is in
  PipelineOverrides o;
  o.registry = &FullNodeRegistry();
  auto front = Pipeline::FromText(test::SplitGraph(endpoint), o);
  REQUIRE_MESSAGE(front.ok(), front.status().ToString());
  REQUIRE((*front)->Start().ok());
  auto id = (*front)->Submit();
  REQUIRE(id.ok());
  auto a = Audio::FromSamples(test::Ramp(2400), 24000);
  REQUIRE((*front)->Push(*id, "audio", *a).ok());
  REQUIRE((*front)->EndInput(*id).ok());
  answer.FallSilent();
  const int64_t start = NowMs();
  auto r = (*front)->Wait(*id);
  REQUIRE(r.ok());
  CHECK(NowMs() - start < 5000);
  CHECK(r->status.code() == StatusCode::kUnavailable);
  CHECK_MESSAGE(r->status.message().find("sent nothing for") != std::string::npos,
                r->status.message());
  CHECK(r->failed_node == "bridge");
}


TEST_CASE("Bridge: a client may reuse a session id as soon as it reads the session's close") {
  // A raw client that, unlike BridgeClient, numbers every request 5: each request must get its
  // whole answer even when it arrives right after the previous one's closing frame. The server's
  // session thread pauses after queueing the close, so the next request arrives while that
  // thread still runs (it used to be dropped then: the old session was still registered).
  Served served = Serve("tcp://127.0.0.1:0", kResampleGraph, 50, [](BridgeServerOptions& o) {
    o.after_close_queued = [] { std::this_thread::sleep_for(std::chrono::milliseconds(100)); };
  });
  zmq::socket_t raw(BridgeContext(), zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.set(zmq::sockopt::rcvtimeo, 5000);
  raw.connect(served.endpoint);
  auto send = [&](const WireBuffer& b) {
    (void)raw.send(zmq::buffer(b.data(), b.size()), zmq::send_flags::none);
  };
  auto next = [&]() -> std::optional<Envelope> {
    zmq::message_t frame;
    if (!raw.recv(frame)) return std::nullopt;
    auto e = DecodeEnvelope(static_cast<const uint8_t*>(frame.data()), frame.size(), WireLimits{});
    REQUIRE_MESSAGE(e.ok(), e.status().ToString());
    return std::move(*e);
  };
  send(EncodeHello(HelloInfo{kWireSchemaVersion, "", PayloadType::kAudio, PayloadType::kAudio,
                             "reuse", 0}));
  std::optional<Envelope> ack;
  while ((ack = next()) && ack->kind != EnvelopeKind::kHelloAck) {
  }
  REQUIRE(ack.has_value());
  REQUIRE_MESSAGE(ack->ack.ok, ack->ack.error);

  for (int request = 0; request < 5; ++request) {
    CAPTURE(request);
    MessageHeader h;
    h.session_id = 5;
    auto data = EncodeMessage(Message{h, *Audio::FromSamples(Ramp(2400), 24000)});
    REQUIRE(data.ok());
    send(*data);
    h.flags = kFlagEndOfStream;
    auto eos = EncodeMessage(Message{h, Payload{}});
    REQUIRE(eos.ok());
    send(*eos);
    size_t samples = 0;
    uint32_t close_flags = 0;
    while (auto e = next()) {
      if (e->kind == EnvelopeKind::kRejected) FAIL("rejected: ", e->rejected.status.ToString());
      if (e->kind != EnvelopeKind::kData) continue;
      REQUIRE(e->message->header.session_id == 5);
      if (const Audio* a = e->message->get<Audio>()) samples += a->view().size();
      if (e->message->header.closes()) {
        close_flags = e->message->header.flags;
        break;
      }
    }
    REQUIRE_MESSAGE(close_flags == kFlagEndOfStream, "no end of stream (lost request?)");
    CHECK(std::abs(static_cast<int>(samples) - 1600) <= 2);
  }
  CHECK(served.server->stats().sessions_opened == 5);
}

}  // namespace cosyflow::bridges
