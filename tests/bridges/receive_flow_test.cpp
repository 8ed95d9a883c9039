// ZmqReceive (a graph file's receiving half) and per-session credit flow control: a split graph
// whose back half starts with ZmqReceive equals the in-process graph; a slow consumer gets all
// its audio while the server never has more than the credit window outstanding.
#include <oneapi/tbb/global_control.h>

#include <mutex>
#include <thread>

#include "bridges/zmq_receive_node.h"
#include "graph/session_source.h"
#include "tests/bridges/bridge_test_util.h"

namespace cosyflow::bridges {
namespace {
using namespace test;

PipelineOverrides Full() {
  PipelineOverrides o;
  o.registry = &FullNodeRegistry();
  return o;
}

// The resampler graph's back half as a graph file: ZmqReceive -> Resampler.
std::string ReceiveGraph(const std::string& bind, int window = 32) {
  return fmt::format(R"({{
  "format": 1, "name": "resample-back", "limits": {{"max_in_flight": 4}},
  "outputs": [{{"name": "audio", "from": "resample.out"}}],
  "nodes": [
    {{"id": "audio", "type": "ZmqReceive",
      "options": {{"bind": "{}", "receive": "Audio", "reply": "audio", "window": {},
                   "heartbeat_ms": 50, "peer_timeout_ms": 2000}}}},
    {{"id": "resample", "type": "Resampler", "options": {{"output_rate": 16000}}}}],
  "edges": [{{"from": "audio.out", "to": "resample.in"}}]}})",
                     bind, window);
}

std::unique_ptr<Pipeline> StartBack(const std::string& graph) {
  auto p = Pipeline::FromText(graph, Full());
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  Status st = (*p)->Start();
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  REQUIRE((*p)->sources().size() == 1);
  return std::move(*p);
}

ZmqReceiveNode& Receiver(Pipeline& p) {
  auto* r = dynamic_cast<ZmqReceiveNode*>(p.sources().at(0).second);
  REQUIRE(r != nullptr);
  return *r;
}

std::vector<std::vector<float>> ManyChunks(int n) {
  std::vector<std::vector<float>> chunks;
  for (int i = 0; i < n; ++i) chunks.push_back(Ramp(480 + 24 * (i % 7), 0.5f + 0.01f * (i % 9)));
  return chunks;
}

// The in-process output for many chunks (outputs taken by callback while pushing).
std::vector<float> InProcess(const std::vector<std::vector<float>>& chunks) {
  auto local = Pipeline::FromText(kResampleGraph);
  REQUIRE(local.ok());
  REQUIRE((*local)->Start().ok());
  std::vector<float> out;
  std::mutex mu;
  SubmitOptions so;
  so.on_output = [&](const std::string&, const MessagePtr& m) {
    if (const Audio* a = m->get<Audio>()) {
      std::lock_guard<std::mutex> lock(mu);
      auto v = a->view();
      out.insert(out.end(), v.begin(), v.end());
    }
  };
  auto id = (*local)->Submit(so);
  REQUIRE(id.ok());
  for (const auto& c : chunks)
    REQUIRE((*local)->Push(*id, "audio", *Audio::FromSamples(c, 24000)).ok());
  REQUIRE((*local)->EndInput(*id).ok());
  auto r = (*local)->Wait(*id);
  REQUIRE(r.ok());
  REQUIRE(r->status.ok());
  return out;
}

}  // namespace

TEST_CASE("ZmqReceive: a back-half graph file (ZmqReceive -> Resampler) equals in-process") {
  auto local = Pipeline::FromText(kResampleGraph);
  REQUIRE(local.ok());
  REQUIRE((*local)->Start().ok());
  const std::vector<std::vector<float>> chunks = {Ramp(4800), Ramp(2400, 0.5f), Ramp(777)};
  auto [expected, st] = RunAudio(**local, chunks);
  REQUIRE(st.ok());
  for (const std::string bind : {"inproc://zmq-receive-test", "tcp://127.0.0.1:0"}) {
    auto back = StartBack(ReceiveGraph(bind));
    const auto endpoints = back->sources()[0].second->SourceEndpoints();
    REQUIRE(endpoints.size() == 1);
    CHECK(endpoints[0].find(":0") == std::string::npos);  // port 0 resolved
    // The implicit input is named after the node and typed as its output.
    REQUIRE(back->plan().inputs.size() == 1);
    CHECK(back->plan().inputs[0].name == "audio");
    CHECK(back->plan().inputs[0].source);
    auto front = Pipeline::FromText(SplitGraph(endpoints[0]), Full());
    REQUIRE_MESSAGE(front.ok(), front.status().ToString());
    REQUIRE((*front)->Start().ok());
    for (int run = 0; run < 2; ++run) {
      auto [got, status] = RunAudio(**front, chunks);
      CHECK_MESSAGE(status.ok(), status.ToString());
      CHECK(got == expected);
    }
    CHECK(Receiver(*back).stats().sessions_opened == 2);
    // A plain client (what `cosyflow say` uses) is served by the node too.
    auto c = BridgeClient::Connect(AudioClient(endpoints[0]));
    REQUIRE_MESSAGE(c.ok(), c.status().ToString());
    CHECK((*c)->ack().input == "audio");
    auto id = (*c)->OpenSession();
    REQUIRE(id.ok());
    for (const auto& ch : chunks) REQUIRE((*c)->Send(*id, *Audio::FromSamples(ch, 24000)).ok());
    REQUIRE((*c)->Send(*id, Payload{}, kFlagEndOfStream).ok());
    auto [direct, dst] = Collect(**c, *id);
    CHECK_MESSAGE(dst.ok(), dst.ToString());
    CHECK(direct == expected);
    (void)(*front)->Stop();
    (void)back->Stop();  // stops the source before the graph goes away
  }
}

TEST_CASE("ZmqReceive: graph file errors name the node; a wrong input name is refused") {
  auto bad = Pipeline::FromText(R"({"format": 1, "name": "x",
    "outputs": [{"name": "audio", "from": "r.out"}],
    "nodes": [{"id": "r", "type": "ZmqReceive", "options": {"receive": "Bogus", "window": 0}}]})",
                                Full());
  REQUIRE_FALSE(bad.ok());
  CHECK_MESSAGE(bad.status().message().find("nodes[0](r).options.receive") != std::string::npos,
                bad.status().message());
  auto none = Pipeline::FromText(R"({"format": 1, "name": "y", "nodes": []})", Full());
  REQUIRE_FALSE(none.ok());
  CHECK(none.status().message().find("at least one input") != std::string::npos);
  auto back = StartBack(ReceiveGraph("inproc://zmq-receive-names"));
  auto o = AudioClient("inproc://zmq-receive-names");
  o.hello.input = "tokens";
  auto c = BridgeClient::Connect(o);
  REQUIRE_FALSE(c.ok());
  CHECK_MESSAGE(
      c.status().message().find("client feeds graph input 'tokens', server graph "
                                "'resample-back' has inputs [audio]") != std::string::npos,
      c.status().message());
}

TEST_CASE("Flow control: a slow consumer gets all audio; credit bounds the server's queues") {
  const auto chunks = ManyChunks(300);
  const std::vector<float> expected = InProcess(chunks);
  const int kServerWindow = 4, kClientWindow = 3;
  auto back = StartBack(ReceiveGraph("tcp://127.0.0.1:0", kServerWindow));
  auto o = AudioClient(back->sources()[0].second->SourceEndpoints()[0]);
  o.window = kClientWindow;
  auto c = BridgeClient::Connect(o);
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  CHECK((*c)->ack().window == kServerWindow);
  auto id = (*c)->OpenSession();
  REQUIRE(id.ok());
  // A fast producer: Send waits for credit instead of overrunning the server.
  std::thread producer([&] {
    for (const auto& ch : chunks) CHECK((*c)->Send(*id, *Audio::FromSamples(ch, 24000)).ok());
    CHECK((*c)->Send(*id, Payload{}, kFlagEndOfStream).ok());
  });
  // A slow consumer: takes one message per millisecond.
  std::vector<float> got;
  Status status = Internal("no end");
  for (int i = 0; i < 20000; ++i) {
    auto m = (*c)->Next(*id, std::chrono::milliseconds(50));
    if (!m.ok()) {
      status = m.status();
      break;
    }
    if (!*m) continue;
    if (const Audio* a = (*m)->get<Audio>()) {
      auto v = a->view();
      got.insert(got.end(), v.begin(), v.end());
    }
    if ((*m)->header.closes()) {
      status = (*m)->header.error() ? (*m)->get<ErrorInfo>()->status : OkStatus();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  producer.join();
  CHECK_MESSAGE(status.ok(), status.ToString());
  CHECK(got == expected);  // nothing dropped, in order
  const BridgeServerStats s = Receiver(*back).stats();
  CHECK(s.max_unacked >= 1);
  CHECK(s.max_unacked <= static_cast<size_t>(kClientWindow));
  // The end-of-stream marker needs no credit (it queues behind held data), so it may be the
  // window's one extra entry.
  CHECK(s.max_queued <= static_cast<size_t>(kServerWindow) + 1);
  CHECK(s.credits_sent > 0);
  const BridgeClientStats cs = (*c)->stats();
  CHECK(cs.max_inbox <= static_cast<size_t>(kClientWindow) + 1);  // + the closing message
  CHECK(cs.credits_sent > 0);
  CHECK(cs.credits_received > 0);
  CHECK(cs.max_held >= 1);  // the producer did outrun the server and was held back
  for (int depth : back->MaxQueueDepths()) CHECK(depth <= 4 + 2);  // max_in_flight + control
}

TEST_CASE("Flow control: a ZmqSend session stalled on the network holds no worker") {
  // One oneTBB worker thread in all: a ZmqSend session waiting for credit must park, not block
  // it, or the other session could not finish.
  tbb::global_control one_worker(tbb::global_control::max_allowed_parallelism, 2);
  const auto chunks = ManyChunks(120);
  const std::vector<float> expected = InProcess(chunks);
  auto back = StartBack(ReceiveGraph("inproc://zmq-receive-slow", 2));
  std::string graph = SplitGraph("inproc://zmq-receive-slow", "Audio", R"(, "window": 2)");
  graph.replace(graph.find(R"("name": "front",)"), 16,
                R"("name": "front", "limits": {"max_in_flight": 2},)");
  auto front = Pipeline::FromText(graph, Full());
  REQUIRE_MESSAGE(front.ok(), front.status().ToString());
  REQUIRE((*front)->Start().ok());
  auto stalled = (*front)->Submit();  // its output is never read while the other runs
  REQUIRE(stalled.ok());
  std::thread stall_feed([&] {
    for (int i = 0; i < 40; ++i) {
      if (!(*front)->Push(*stalled, "audio", *Audio::FromSamples(Ramp(480), 24000)).ok()) return;
    }
  });
  // Pushes from a thread while this one reads.
  auto id = (*front)->Submit();
  REQUIRE(id.ok());
  std::thread feed([&] {
    for (const auto& c : chunks) {
      if (!(*front)->Push(*id, "audio", *Audio::FromSamples(c, 24000)).ok()) return;
    }
    (void)(*front)->EndInput(*id);
  });
  std::vector<float> got;
  for (;;) {
    auto m = (*front)->Pull(*id, nullptr, std::chrono::seconds(20));
    REQUIRE(m.ok());
    if (!*m) break;
    if (const Audio* a = (*m)->get<Audio>()) {
      auto v = a->view();
      got.insert(got.end(), v.begin(), v.end());
    }
  }
  feed.join();
  auto done = (*front)->Wait(*id);
  REQUIRE(done.ok());
  const Status status = done->status;
  CHECK_MESSAGE(status.ok(), status.ToString());
  CHECK(got == expected);
  CHECK(Receiver(*back).stats().max_unacked <= 2);
  CHECK((*front)->Cancel(*stalled).ok());
  stall_feed.join();
  auto r = (*front)->Wait(*stalled);
  REQUIRE(r.ok());
  CHECK(r->status.code() == StatusCode::kCancelled);
}

}  // namespace cosyflow::bridges
