// oneTBB assembly through the Pipeline API: concurrency, order, error isolation, backpressure.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "tests/graph/test_node_options.h"
#include "graph/builtin_nodes.h"
#include "graph/pipeline.h"

namespace cosyflow {
namespace {

// Test node: passes Audio through; throws on a chunk whose first sample is 9 (poison), and
// sleeps `delay_us` per chunk (a deliberately slow consumer).
using PassOptions = test::DelayOptions;

class PassNode : public Node {
 public:
  using Options = PassOptions;
  static NodeSpec Spec() {
    return NodeSpec{"TestPass", {{"in", PayloadType::kAudio}}, {{"out", PayloadType::kAudio}}};
  }
  static Result<std::unique_ptr<Node>> Create(const Options& o, const NodeContext&) {
    auto n = std::make_unique<PassNode>();
    n->delay_us = o.delay_us;
    return std::unique_ptr<Node>(std::move(n));
  }
  struct Session : NodeSession {
    int delay_us;
    Status Process(int, const Message& m, Emitter& out) override {
      const Audio* a = m.get<Audio>();
      if (a->size() > 0 && a->view()[0] == 9.0f) throw std::runtime_error("poison chunk");
      if (delay_us) std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
      out.Emit(0, *a);
      return OkStatus();
    }
    Status Close(CloseReason, Emitter&) override { return OkStatus(); }
  };
  Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo&) override {
    auto s = std::make_unique<Session>();
    s->delay_us = delay_us;
    return std::unique_ptr<NodeSession>(std::move(s));
  }
  int delay_us = 0;
};

const NodeRegistry& TestRegistry() {
  static const NodeRegistry r = [] {
    NodeRegistry reg;
    REQUIRE(RegisterBuiltinNodes(reg).ok());
    REQUIRE(reg.Register(MakeNodeType<PassNode>()).ok());
    return reg;
  }();
  return r;
}

PipelineOverrides TestOverrides() {
  PipelineOverrides o;
  o.registry = &TestRegistry();
  return o;
}

TextRequest Text(const char* s) {
  TextRequest t;
  t.text = s;
  return t;
}

std::string Graph(int in_flight, int delay_us) {
  return fmt::format(R"({{"format": 1, "limits": {{"max_in_flight": {}}},
    "inputs": [{{"name": "audio", "to": "resample.in"}}],
    "outputs": [{{"name": "audio", "from": "pass.out"}}],
    "nodes": [{{"id": "resample", "type": "Resampler", "options": {{"output_rate": 16000}}}},
              {{"id": "pass", "type": "TestPass", "options": {{"delay_us": {}}}}}],
    "edges": [{{"from": "resample.out", "to": "pass.in"}}]}})", in_flight, delay_us);
}

std::vector<float> Signal(int session, int n) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = 0.3f * std::sin(0.001f * (session + 1) * i);
  return v;
}

struct Collected {
  std::mutex mu;
  std::map<std::string, std::vector<float>> samples;  // per session key
  std::map<std::string, int> eos;
};

// Pushes `signal` in chunks of 997 samples on an open session.
void Feed(Pipeline& p, SessionId id, const std::vector<float>& signal) {
  for (size_t pos = 0; pos < signal.size(); pos += 997) {
    size_t n = std::min<size_t>(997, signal.size() - pos);
    auto a = Audio::FromSamples(std::span<const float>(signal).subspan(pos, n), 24000);
    REQUIRE(a.ok());
    REQUIRE(p.Push(id, "audio", *a).ok());
  }
  REQUIRE(p.EndInput(id).ok());
}

std::vector<float> RunAlone(const std::vector<float>& signal) {
  auto p = Pipeline::FromText(Graph(8, 0), TestOverrides());
  REQUIRE(p.ok());
  REQUIRE((*p)->Start().ok());
  auto id = (*p)->Submit();
  REQUIRE(id.ok());
  std::thread feeder([&] { Feed(**p, *id, signal); });
  std::vector<float> out;
  for (;;) {
    auto m = (*p)->Pull(*id);
    REQUIRE(m.ok());
    if (!*m) break;
    if (const Audio* a = (*m)->get<Audio>()) out.insert(out.end(), a->view().begin(), a->view().end());
  }
  feeder.join();
  auto r = (*p)->Wait(*id);
  REQUIRE(r.ok());
  CHECK(r->status.ok());
  return out;
}

TEST_CASE("Pipeline: 32 concurrent sessions equal their single-session runs") {
  constexpr int kSessions = 32;
  auto p = Pipeline::FromText(Graph(4, 0), TestOverrides());
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  REQUIRE((*p)->Start().ok());
  Collected got;
  std::vector<SessionId> ids;
  for (int s = 0; s < kSessions; ++s) {
    auto id = (*p)->Submit({.on_output = [&got, s](const std::string&, const MessagePtr& m) {
      std::lock_guard<std::mutex> lock(got.mu);
      if (const Audio* a = m->get<Audio>()) {
        auto& v = got.samples[std::to_string(s)];
        v.insert(v.end(), a->view().begin(), a->view().end());
      }
      if (m->header.end_of_stream()) got.eos[std::to_string(s)]++;
    }});
    REQUIRE(id.ok());
    ids.push_back(*id);
  }
  std::vector<std::thread> feeders;
  for (int s = 0; s < kSessions; ++s) {
    feeders.emplace_back([&, s] { Feed(**p, ids[s], Signal(s, 24000)); });
  }
  for (auto& t : feeders) t.join();
  for (int s = 0; s < kSessions; ++s) {
    auto r = (*p)->Wait(ids[s]);
    REQUIRE(r.ok());
    CHECK(r->status.ok());
    CHECK(r->timing.first_output_ns > 0);
    CHECK(r->timing.total_ns >= r->timing.first_output_ns);
  }
  for (int s : {0, 7, 31}) {
    CAPTURE(s);
    std::vector<float> alone = RunAlone(Signal(s, 24000));
    CHECK(got.samples[std::to_string(s)] == alone);
  }
  for (int s = 0; s < kSessions; ++s) CHECK(got.eos[std::to_string(s)] == 1);
}

TEST_CASE("Pipeline: one failing session leaves the others complete") {
  auto p = Pipeline::FromText(Graph(4, 0), TestOverrides());
  REQUIRE(p.ok());
  REQUIRE((*p)->Start().ok());
  std::vector<SessionId> ids;
  for (int s = 0; s < 6; ++s) ids.push_back(*(*p)->Submit({.on_output = [](auto&, auto&) {}}));
  for (int s = 0; s < 6; ++s) {
    if (s == 2) {  // identity-rate poison: the resampler passes 9.0 through unchanged
      auto a = Audio::FromSamples(std::vector<float>(100, 9.0f), 16000);
      REQUIRE((*p)->Push(ids[s], "audio", *a).ok());
      REQUIRE((*p)->EndInput(ids[s]).ok());
    } else {
      Feed(**p, ids[s], Signal(s, 4800));
    }
  }
  for (int s = 0; s < 6; ++s) {
    auto r = (*p)->Wait(ids[s]);
    REQUIRE(r.ok());
    if (s == 2) {
      CHECK(!r->status.ok());
      CHECK(r->failed_node == "pass");
      CHECK(r->status.message().find("poison chunk") != std::string::npos);
    } else {
      CHECK(r->status.ok());
    }
  }
}

TEST_CASE("Pipeline: a slow consumer keeps every queue within max_in_flight") {
  constexpr int kLimit = 3;
  auto p = Pipeline::FromText(Graph(kLimit, 2000), TestOverrides());
  REQUIRE(p.ok());
  REQUIRE((*p)->Start().ok());
  auto id = (*p)->Submit({.on_output = [](auto&, auto&) {}});
  REQUIRE(id.ok());
  Feed(**p, *id, Signal(0, 997 * 60));  // 60 chunks, pushed as fast as allowed
  auto r = (*p)->Wait(*id);
  REQUIRE(r.ok());
  CHECK(r->status.ok());
  std::vector<int> depth = (*p)->MaxQueueDepths();
  // Control messages (end of stream) are never held back, so one may sit on top of the limit.
  for (int d : depth) CHECK(d <= kLimit + 1);
  CHECK(depth[1] >= kLimit);  // the slow node's queue really filled up
  MESSAGE("max queue depth per node with max_in_flight=3: ", depth[0], ", ", depth[1]);
}

TEST_CASE("Pipeline: cancel ends the session promptly and emits nothing after") {
  auto p = Pipeline::FromText(Graph(2, 1000), TestOverrides());
  REQUIRE(p.ok());
  REQUIRE((*p)->Start().ok());
  auto id = (*p)->Submit();  // pull mode, nobody pulls: the graph fills up and waits
  REQUIRE(id.ok());
  std::thread feeder([&] {
    std::vector<float> sig = Signal(0, 997 * 40);
    for (size_t pos = 0; pos < sig.size(); pos += 997) {
      auto a = Audio::FromSamples(std::span<const float>(sig).subspan(pos, 997), 24000);
      if (!(*p)->Push(*id, "audio", *a).ok()) return;  // cancelled while waiting for room
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE((*p)->Cancel(*id).ok());
  feeder.join();
  auto r = (*p)->Wait(*id);
  REQUIRE(r.ok());
  CHECK(r->status.code() == StatusCode::kCancelled);
}

TEST_CASE("Pipeline: wrong input payload and unknown input are errors, not crashes") {
  auto p = Pipeline::FromText(Graph(4, 0), TestOverrides());
  REQUIRE(p.ok());
  REQUIRE((*p)->Start().ok());
  auto id = (*p)->Submit();
  REQUIRE(id.ok());
  CHECK(!(*p)->Push(*id, "audio", Text("hi")).ok());
  CHECK(!(*p)->Push(*id, "nope", Text("hi")).ok());
  CHECK(!(*p)->PushText(*id, Text("hi")).ok());
  CHECK(!Pipeline::FromText("{\"format\": 1}").ok());
}

}  // namespace
}  // namespace cosyflow
