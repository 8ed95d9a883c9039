// Pending work (NodeSession::HasMoreWork / Continue) in the graph runner: messages of one long
// request reach downstream before the request ends, with order, backpressure, cancel, errors
// and flush kept.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tests/graph/test_node_options.h"
#include "graph/builtin_nodes.h"
#include "graph/pipeline.h"

namespace cosyflow {
namespace {

// Shared between the test nodes and the test body (tests run one at a time).
struct Probe {
  std::atomic<int> seen{0};  // data messages TestSink processed
};
Probe g_probe;

// TestBurst: an Audio input [n, tag] makes the node emit n Audio messages {tag * 1000 + i},
// one per Process/Continue call. Options: handshake (after #0, produce nothing more until the
// sink has processed a message, giving up after 30 s with an error), throw_at (Continue that
// emits message i emits it and then throws), on_close (messages emitted by the end-of-stream
// flush, also one per call).
struct BurstOptions {
  bool handshake = false;
  int throw_at = -1;
  int on_close = 0;
  void Parse(const nlohmann::json& j, const std::string& p, ErrorList* e) {
    JsonObjectReader r(j, p, e);
    r.Read("handshake", &handshake);
    r.Read("throw_at", &throw_at);
    r.Read("on_close", &on_close);
    r.Finish();
  }
  void Validate(const std::string&, ErrorList*) const {}
  std::string ToString() const { return "{}"; }
};

Audio Value(float v) { return *Audio::FromSamples(std::vector<float>{v}, 24000); }

class BurstNode : public Node {
 public:
  using Options = BurstOptions;
  static NodeSpec Spec() {
    return NodeSpec{"TestBurst", {{"in", PayloadType::kAudio}}, {{"out", PayloadType::kAudio}}};
  }
  static Result<std::unique_ptr<Node>> Create(const Options& o, const NodeContext&) {
    auto n = std::make_unique<BurstNode>();
    n->options = o;
    return std::unique_ptr<Node>(std::move(n));
  }
  struct Session : NodeSession {
    BurstOptions o;
    int next = 0, total = 0, tag = 0;
    std::chrono::steady_clock::time_point deadline;
    Status Process(int, const Message& m, Emitter& out) override {
      const Audio* a = m.get<Audio>();
      total = static_cast<int>(a->view()[0]);
      tag = static_cast<int>(a->view()[1]);
      next = 0;
      deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      return Continue(out);
    }
    Status Continue(Emitter& out) override {
      if (o.handshake && next == 1 && g_probe.seen.load() == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          return Internal("the sink never saw message #0 while the burst was running");
        }
        return OkStatus();  // nothing yet: poll again on the next call
      }
      out.Emit(0, Value(static_cast<float>(tag * 1000 + next)));
      if (next++ == o.throw_at) throw std::runtime_error("burst failed");
      return OkStatus();
    }
    bool HasMoreWork() const override { return next < total; }
    Status Close(CloseReason reason, Emitter& out) override {
      if (reason != CloseReason::kEndOfStream || o.on_close == 0) {
        total = next;
        return OkStatus();
      }
      tag = 7;
      next = 0;
      total = o.on_close;
      return Continue(out);
    }
  };
  Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo&) override {
    auto s = std::make_unique<Session>();
    s->o = options;
    return std::unique_ptr<NodeSession>(std::move(s));
  }
  Options options;
};

// TestSink: passes Audio through, counting into g_probe; sleeps delay_us per message.
using SinkOptions = test::DelayOptions;

class SinkNode : public Node {
 public:
  using Options = SinkOptions;
  static NodeSpec Spec() {
    return NodeSpec{"TestSink", {{"in", PayloadType::kAudio}}, {{"out", PayloadType::kAudio}}};
  }
  static Result<std::unique_ptr<Node>> Create(const Options& o, const NodeContext&) {
    auto n = std::make_unique<SinkNode>();
    n->delay_us = o.delay_us;
    return std::unique_ptr<Node>(std::move(n));
  }
  struct Session : NodeSession {
    int delay_us = 0;
    Status Process(int, const Message& m, Emitter& out) override {
      if (delay_us) std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
      g_probe.seen.fetch_add(1);
      out.Emit(0, *m.get<Audio>());
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

const NodeRegistry& Registry() {
  static const NodeRegistry r = [] {
    NodeRegistry reg;
    REQUIRE(reg.Register(MakeNodeType<BurstNode>()).ok());
    REQUIRE(reg.Register(MakeNodeType<SinkNode>()).ok());
    return reg;
  }();
  return r;
}

std::unique_ptr<Pipeline> Load(int in_flight, const std::string& burst_options, int delay_us) {
  g_probe.seen = 0;
  const std::string text = fmt::format(R"({{"format": 1, "limits": {{"max_in_flight": {}}},
    "inputs": [{{"name": "in", "to": "burst.in"}}],
    "outputs": [{{"name": "out", "from": "sink.out"}}],
    "nodes": [{{"id": "burst", "type": "TestBurst", "options": {}}},
              {{"id": "sink", "type": "TestSink", "options": {{"delay_us": {}}}}}],
    "edges": [{{"from": "burst.out", "to": "sink.in"}}]}})",
                                       in_flight, burst_options, delay_us);
  PipelineOverrides o;
  o.registry = &Registry();
  auto p = Pipeline::FromText(text, o);
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  REQUIRE((*p)->Start().ok());
  return std::move(*p);
}

struct Run {
  SessionResult result;
  std::vector<float> values;  // the sink's outputs in order
  bool ended = false;         // an end of stream arrived after them
};

Run RunRequests(Pipeline& p, const std::vector<std::pair<int, int>>& requests) {
  auto run = std::make_shared<Run>();
  auto mu = std::make_shared<std::mutex>();
  SubmitOptions so;
  so.on_output = [run, mu](const std::string&, const MessagePtr& m) {
    std::lock_guard<std::mutex> lock(*mu);
    if (const Audio* a = m->get<Audio>()) run->values.push_back(a->view()[0]);
    if (m->header.end_of_stream()) run->ended = true;
  };
  auto id = p.Submit(so);
  REQUIRE(id.ok());
  for (auto [n, tag] : requests) {
    auto a = Audio::FromSamples(std::vector<float>{float(n), float(tag)}, 24000);
    REQUIRE(p.Push(*id, "in", *a).ok());
  }
  REQUIRE(p.EndInput(*id).ok());
  auto r = p.Wait(*id);
  REQUIRE(r.ok());
  std::lock_guard<std::mutex> lock(*mu);
  run->result = std::move(*r);
  return std::move(*run);
}

std::vector<float> Expected(const std::vector<std::pair<int, int>>& requests) {
  std::vector<float> v;
  for (auto [n, tag] : requests) {
    for (int i = 0; i < n; ++i) v.push_back(float(tag * 1000 + i));
  }
  return v;
}

TEST_CASE("Streaming: downstream gets a request's first message before the request finishes") {
  // Handshake: the burst emits #0, then produces nothing until the sink has processed a
  // message. A runner that forwarded only at the end of the request would never get there.
  auto p = Load(4, R"({"handshake": true})", 0);
  Run run = RunRequests(*p, {{20, 1}});
  REQUIRE_MESSAGE(run.result.status.ok(), run.result.status.ToString());
  CHECK(run.values == Expected({{20, 1}}));
  CHECK(run.ended);
  const auto& nodes = run.result.timing.nodes;
  REQUIRE(nodes.size() == 2);
  CHECK(nodes[0].node == "burst");
  CHECK(nodes[1].first_input_ns >= 0);
  CHECK(nodes[1].first_input_ns < nodes[0].closed_ns);
  CHECK(nodes[1].first_output_ns < nodes[0].closed_ns);
  // The call behind each node's first output started after its first input and before that
  // output; every node was called at least once per message it got.
  for (const NodeSessionTiming& n : nodes) {
    CAPTURE(n.node);
    CHECK(n.first_output_call_ns >= 0);
    CHECK(n.first_output_call_ns <= n.first_output_ns);
    if (n.first_input_ns >= 0) CHECK(n.first_output_call_ns >= n.first_input_ns);
  }
  CHECK(nodes[1].calls >= 20);  // one Process per message of the burst
  CHECK(nodes[0].calls >= 1);
}

TEST_CASE("Streaming: pending work keeps per-session order across requests and sessions") {
  auto p = Load(2, "{}", 0);
  const std::vector<std::pair<int, int>> a = {{7, 1}, {3, 2}, {5, 3}}, b = {{9, 4}, {1, 5}};
  Run ra, rb;
  std::thread t([&] { ra = RunRequests(*p, a); });
  rb = RunRequests(*p, b);
  t.join();
  CHECK(ra.result.status.ok());
  CHECK(rb.result.status.ok());
  CHECK(ra.values == Expected(a));
  CHECK(rb.values == Expected(b));
}

TEST_CASE("Streaming: a long request to a slow consumer stays within max_in_flight") {
  constexpr int kLimit = 2;
  auto p = Load(kLimit, "{}", 1000);
  Run run = RunRequests(*p, {{60, 1}});
  CHECK(run.result.status.ok());
  CHECK(run.values == Expected({{60, 1}}));
  std::vector<int> depth = p->MaxQueueDepths();
  CHECK(depth[1] <= kLimit + 1);  // one control message may sit on top
  CHECK(depth[1] >= kLimit);
}

TEST_CASE("Streaming: an exception in Continue fails the session and drops that call's emit") {
  auto p = Load(4, R"({"throw_at": 4})", 0);
  Run run = RunRequests(*p, {{10, 1}});
  CHECK(run.result.status.code() == StatusCode::kInternal);
  CHECK(run.result.failed_node == "burst");
  CHECK(run.result.status.message().find("burst failed") != std::string::npos);
  CHECK(run.values == Expected({{4, 1}}));  // #0..#3; #4 came from the throwing call
  auto again = RunRequests(*p, {{3, 2}});  // the pipeline keeps serving
  CHECK(again.values == Expected({{3, 2}}));
}

TEST_CASE("Streaming: a flush with pending work ends the outputs after its last message") {
  auto p = Load(2, R"({"on_close": 6})", 0);
  Run run = RunRequests(*p, {{2, 1}});
  CHECK(run.result.status.ok());
  CHECK(run.values == Expected({{2, 1}, {6, 7}}));
  CHECK(run.ended);
}

TEST_CASE("Streaming: cancel drops pending work promptly") {
  auto p = Load(4, "{}", 200);
  std::atomic<int> seen{0};
  SubmitOptions so;
  so.on_output = [&](const std::string&, const MessagePtr& m) {
    if (m->get<Audio>()) seen.fetch_add(1);
  };
  auto id = p->Submit(so);
  REQUIRE(id.ok());
  auto a = Audio::FromSamples(std::vector<float>{1e7f, 1.0f}, 24000);  // ten million messages
  REQUIRE(p->Push(*id, "in", *a).ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (seen.load() < 5 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(seen.load() >= 5);
  REQUIRE(p->Cancel(*id).ok());
  auto r = p->Wait(*id);  // returns only once every node closed: the burst stopped
  REQUIRE(r.ok());
  CHECK(r->status.code() == StatusCode::kCancelled);
  const int after = seen.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(seen.load() == after);
  CHECK(after < 10000);
}

}  // namespace
}  // namespace cosyflow
