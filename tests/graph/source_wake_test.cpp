// Session sources (NodeSpec::source, graph/session_source.h) and parked sessions
// (NodeSession::Waiting + SessionInfo::wake) in the graph runner, without any network.
#include <doctest/doctest.h>
#include <oneapi/tbb/global_control.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "graph/pipeline.h"
#include "graph/session_source.h"
#include "tests/graph/test_node_options.h"

namespace cosyflow {
namespace {

Audio Value(float v) { return *Audio::FromSamples(std::vector<float>{v}, 24000); }

// TestSource: a session source; its sessions pass the pushed payloads on.
class SourceNode : public Node, public SessionSource {
 public:
  using Options = test::DelayOptions;
  static NodeSpec Spec() {
    NodeSpec s{"TestSource", {}, {{"out", PayloadType::kAudio}}};
    s.source = true;
    return s;
  }
  static Result<std::unique_ptr<Node>> Create(const Options&, const NodeContext&) {
    return std::unique_ptr<Node>(new SourceNode());
  }
  struct Session : NodeSession {
    Status Process(int, const Message& m, Emitter& out) override {
      out.Emit(0, m.payload);
      return OkStatus();
    }
    Status Close(CloseReason, Emitter&) override { return OkStatus(); }
  };
  Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo&) override {
    return std::unique_ptr<NodeSession>(new Session());
  }
  Status StartSource(Pipeline* p, const std::string& input) override {
    pipeline = p;
    this->input = input;
    return OkStatus();
  }
  int DrainSource(std::chrono::milliseconds) override { return 0; }
  void StopSource() override { ++stops; }
  std::vector<std::string> SourceEndpoints() const override { return {"test://source"}; }
  Pipeline* pipeline = nullptr;
  std::string input;
  int stops = 0;
};

// TestWaiter: holds each message until the test releases it from another thread (through the
// session's wake), like a node waiting for a network reply. Sessions are recorded in g_waiters.
struct Waiter {
  std::mutex mu;
  std::vector<MessagePtr> held;
  int released = 0;
  std::function<void()> wake;
};
std::mutex g_mu;
std::vector<std::shared_ptr<Waiter>> g_waiters;

class WaiterNode : public Node {
 public:
  using Options = test::DelayOptions;
  static NodeSpec Spec() {
    return NodeSpec{"TestWaiter", {{"in", PayloadType::kAudio}}, {{"out", PayloadType::kAudio}}};
  }
  static Result<std::unique_ptr<Node>> Create(const Options&, const NodeContext&) {
    return std::unique_ptr<Node>(new WaiterNode());
  }
  struct Session : NodeSession {
    std::shared_ptr<Waiter> w = std::make_shared<Waiter>();
    Status Process(int, const Message& m, Emitter& out) override {
      std::lock_guard<std::mutex> lock(w->mu);
      w->held.push_back(std::make_shared<Message>(m));
      return Emit(out);
    }
    Status Emit(Emitter& out) {  // w->mu held
      while (w->released > 0 && !w->held.empty()) {
        out.Emit(0, w->held.front()->payload);
        w->held.erase(w->held.begin());
        --w->released;
      }
      return OkStatus();
    }
    Status Continue(Emitter& out) override {
      std::lock_guard<std::mutex> lock(w->mu);
      return Emit(out);
    }
    bool HasMoreWork() const override {
      std::lock_guard<std::mutex> lock(w->mu);
      return !w->held.empty();
    }
    bool Waiting() const override {
      std::lock_guard<std::mutex> lock(w->mu);
      return w->released == 0;
    }
    Status Close(CloseReason, Emitter&) override { return OkStatus(); }
  };
  Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo& info) override {
    auto s = std::make_unique<Session>();
    s->w->wake = info.wake;
    std::lock_guard<std::mutex> lock(g_mu);
    g_waiters.push_back(s->w);
    return std::unique_ptr<NodeSession>(std::move(s));
  }
};

const NodeRegistry& Registry() {
  static const NodeRegistry r = [] {
    NodeRegistry reg;
    REQUIRE(reg.Register(MakeNodeType<SourceNode>()).ok());
    REQUIRE(reg.Register(MakeNodeType<WaiterNode>()).ok());
    return reg;
  }();
  return r;
}

void Release(const std::shared_ptr<Waiter>& w, int n) {
  {
    std::lock_guard<std::mutex> lock(w->mu);
    w->released += n;
  }
  w->wake();
}

}  // namespace

TEST_CASE("Graph: a source node gets an implicit input; a parked session holds no worker") {
  tbb::global_control one_worker(tbb::global_control::max_allowed_parallelism, 2);
  g_waiters.clear();
  PipelineOverrides o;
  o.registry = &Registry();
  auto p = Pipeline::FromText(R"({"format": 1, "name": "src",
    "outputs": [{"name": "audio", "from": "wait.out"}],
    "nodes": [{"id": "src", "type": "TestSource"}, {"id": "wait", "type": "TestWaiter"}],
    "edges": [{"from": "src.out", "to": "wait.in"}]})",
                              o);
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  REQUIRE((*p)->plan().inputs.size() == 1);
  CHECK((*p)->plan().inputs[0].name == "src");
  CHECK((*p)->plan().inputs[0].source);
  REQUIRE((*p)->sources().size() == 1);
  auto* src = dynamic_cast<SourceNode*>((*p)->sources()[0].second);
  REQUIRE(src != nullptr);
  REQUIRE((*p)->Start().ok());
  CHECK(src->pipeline == p->get());
  CHECK(src->input == "src");

  // Session a waits for a release that comes last; session b must finish meanwhile.
  auto a = (*p)->Submit();
  auto b = (*p)->Submit();
  REQUIRE((a.ok() && b.ok()));
  REQUIRE((*p)->Push(*a, "src", Value(1)).ok());
  REQUIRE((*p)->Push(*b, "src", Value(2)).ok());
  REQUIRE((*p)->Push(*b, "src", Value(3)).ok());
  REQUIRE((*p)->EndInput(*a).ok());
  REQUIRE((*p)->EndInput(*b).ok());
  std::shared_ptr<Waiter> wa, wb;
  for (int i = 0; i < 2000 && !(wa && wb); ++i) {
    {
      std::lock_guard<std::mutex> lock(g_mu);
      if (g_waiters.size() == 2) {
        wa = g_waiters[0];
        wb = g_waiters[1];
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE((wa && wb));
  // Which waiter belongs to which session depends on scheduling: release one of them fully.
  Release(wb, 2);
  Release(wa, 2);
  std::vector<float> got;
  for (SessionId id : {*a, *b}) {
    for (;;) {
      auto m = (*p)->Pull(id, nullptr, std::chrono::seconds(20));
      REQUIRE(m.ok());
      if (!*m) break;
      if (const Audio* au = (*m)->get<Audio>()) got.push_back(au->view()[0]);
    }
    auto r = (*p)->Wait(id);
    REQUIRE(r.ok());
    CHECK(r->status.ok());
  }
  CHECK(got.size() == 3);
  CHECK((*p)->Stop().ok());
  CHECK(src->stops == 1);
}

TEST_CASE("Graph: a parked session is cancelled at once and a wake after the end is harmless") {
  g_waiters.clear();
  PipelineOverrides o;
  o.registry = &Registry();
  auto p = Pipeline::FromText(R"({"format": 1, "name": "w",
    "inputs": [{"name": "audio", "to": "wait.in"}],
    "outputs": [{"name": "audio", "from": "wait.out"}],
    "nodes": [{"id": "wait", "type": "TestWaiter"}]})",
                              o);
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  REQUIRE((*p)->Start().ok());
  auto id = (*p)->Submit();
  REQUIRE(id.ok());
  REQUIRE((*p)->Push(*id, "audio", Value(1)).ok());
  for (int i = 0; i < 2000; ++i) {
    {
      std::lock_guard<std::mutex> lock(g_mu);
      if (!g_waiters.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::shared_ptr<Waiter> w;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    REQUIRE(g_waiters.size() == 1);
    w = g_waiters[0];
  }
  REQUIRE((*p)->Cancel(*id).ok());
  auto r = (*p)->Wait(*id);
  REQUIRE(r.ok());
  CHECK(r->status.code() == StatusCode::kCancelled);
  p->reset();  // the pipeline is gone: a late wake must find nothing
  Release(w, 1);
}

}  // namespace cosyflow
