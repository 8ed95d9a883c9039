// Bad input to a served graph: thousands of malformed, truncated, oversized, wrong-identifier
// and wrong-version frames are rejected and counted, and a normal request still succeeds.
#include <cstring>
#include <random>
#include <thread>

#include "bridges/cosyflow_wire_generated.h"
#include "tests/bridges/bridge_test_util.h"

namespace cosyflow::bridges {
using namespace test;

TEST_CASE("Bridge server: a storm of mutated messages is rejected; other sessions unaffected") {
  Served served = Serve("tcp://127.0.0.1:0");
  // A well-behaved client with a session open during the storm.
  auto good_options = AudioClient(served.endpoint);
  good_options.peer_timeout_ms = 5000;  // the storm may delay the server's heartbeats
  auto good = BridgeClient::Connect(good_options);
  REQUIRE(good.ok());
  auto id = (*good)->OpenSession();
  auto chunk = Audio::FromSamples(Ramp(2400), 24000);
  REQUIRE((*good)->Send(*id, *chunk).ok());

  zmq::socket_t raw(BridgeContext(), zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(served.endpoint);
  auto send = [&](const std::vector<uint8_t>& bytes) {
    (void)raw.send(zmq::buffer(bytes), zmq::send_flags::none);
  };
  HelloInfo hello{kWireSchemaVersion, "", PayloadType::kAudio, PayloadType::kAudio, "storm"};
  auto hb = EncodeHello(hello);
  send({hb.data(), hb.data() + hb.size()});

  std::vector<std::vector<uint8_t>> seeds;
  auto add = [&](const Payload& p, uint32_t flags) {
    MessageHeader h;
    h.session_id = 7;
    h.flags = flags;
    auto b = EncodeMessage(Message{h, p});
    REQUIRE(b.ok());
    seeds.emplace_back(b->data(), b->data() + b->size());
  };
  add(*Audio::FromSamples(Ramp(64), 24000), 0);
  add(Payload{}, kFlagEndOfStream);
  add(SpeechTokens{{1, 2, 3}}, 0);  // wrong payload type for this graph
  seeds.emplace_back(hb.data(), hb.data() + hb.size());
  std::mt19937 rng(12);
  int sent = 0;
  for (int i = 0; i < 3000; ++i, ++sent) {
    if (i % 6 == 2 && i > 12) continue;  // a few oversized frames are enough
    auto bytes = seeds[i % seeds.size()];
    switch (i % 6) {
      case 0: bytes.resize(rng() % bytes.size()); break;               // truncated
      case 1: std::memcpy(bytes.data() + 4, "NOPE", 4); break;          // wrong identifier
      case 2: bytes.assign((size_t{64} << 20) + 16, 0x41); break;       // oversized
      default:
        for (int f = 0; f < 3; ++f) bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    }
    send(bytes);
  }
  // A wrong-version envelope.
  flatbuffers::FlatBufferBuilder b;
  b.Finish(wire::CreateEnvelope(b, 2, wire::Body::Heartbeat, wire::CreateHeartbeat(b, 1).Union()),
           wire::EnvelopeIdentifier());
  send({b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()});

  for (int i = 0; i < 300 && served.server->stats().frames_received < 2000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto stats = served.server->stats();
  MESSAGE("storm: frames ", stats.frames_received, " rejected ", stats.rejected);
  CHECK(stats.rejected >= 1500);

  // The session opened before the storm completes normally.
  REQUIRE((*good)->Send(*id, Payload{}, kFlagEndOfStream).ok());
  auto [audio, st] = Collect(**good, *id);
  CHECK_MESSAGE(st.ok(), st.ToString());
  CHECK(std::abs(static_cast<int>(audio.size()) - 1600) <= 2);
  // And a new request afterwards succeeds too.
  auto c = BridgeClient::Connect(AudioClient(served.endpoint));
  REQUIRE(c.ok());
  auto id2 = (*c)->OpenSession();
  REQUIRE((*c)->Send(*id2, *chunk).ok());
  REQUIRE((*c)->Send(*id2, Payload{}, kFlagEndOfStream).ok());
  auto [audio2, st2] = Collect(**c, *id2);
  CHECK_MESSAGE(st2.ok(), st2.ToString());
  CHECK(audio2.size() > 1500);
}

}  // namespace cosyflow::bridges
