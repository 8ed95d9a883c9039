// ThreadBudget: the OpenMP team of each node call is the budget split over the calls in flight.
#include "graph/thread_budget.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "graph/builtin_nodes.h"
#include "graph/pipeline.h"
#include "runtime/kernels/cpu/dnnl_context.h"
#include "tests/graph/test_node_options.h"

namespace cosyflow {
namespace {

TEST_CASE("ThreadBudget: teams split the budget over calls in flight and restore the old size") {
  ThreadBudget b(4);
  CHECK(b.threads() == 4);
  CHECK(b.TeamFor(1) == 4);
  CHECK(b.TeamFor(2) == 2);
  CHECK(b.TeamFor(3) == 1);
  CHECK(b.TeamFor(64) == 1);
  CHECK(ThreadBudget(0).threads() >= 1);
  // far more than the cores: capped at 4 per hardware thread (oversubscription only)
  const int hw = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  CHECK(ThreadBudget(4096 * hw).threads() == 4 * hw);
  CHECK(ThreadBudget(4 * hw).threads() == 4 * hw);
  const int before = kernels::cpu::DnnlNumThreads();
  {
    ThreadBudget::Lease one(b);
    CHECK(one.team() == 4);
    CHECK(kernels::cpu::DnnlNumThreads() == 4);
    ThreadBudget::Lease two(b);
    CHECK(two.team() == 2);
    CHECK(b.in_flight() == 2);
  }
  CHECK(b.in_flight() == 0);
  CHECK(kernels::cpu::DnnlNumThreads() == before);
}

// Records the OpenMP team size it sees in every Process call; sleeps delay_us per message.
std::mutex g_mu;
std::vector<int> g_teams;

class TeamProbeNode : public Node {
 public:
  using Options = test::DelayOptions;
  static NodeSpec Spec() {
    return NodeSpec{"TeamProbe", {{"in", PayloadType::kAudio}}, {{"out", PayloadType::kAudio}}};
  }
  static Result<std::unique_ptr<Node>> Create(const Options& o, const NodeContext&) {
    auto n = std::make_unique<TeamProbeNode>();
    n->delay_us_ = o.delay_us;
    return std::unique_ptr<Node>(std::move(n));
  }
  struct Session : NodeSession {
    int delay_us;
    Status Process(int, const Message& m, Emitter& out) override {
      {
        std::lock_guard<std::mutex> lock(g_mu);
        g_teams.push_back(kernels::cpu::DnnlNumThreads());
      }
      std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
      out.Emit(0, *m.get<Audio>());
      return OkStatus();
    }
    Status Close(CloseReason, Emitter&) override { return OkStatus(); }
  };
  Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo&) override {
    auto s = std::make_unique<Session>();
    s->delay_us = delay_us_;
    return std::unique_ptr<NodeSession>(std::move(s));
  }

 private:
  int delay_us_ = 0;
};

std::vector<int> RunSessions(int sessions, int budget) {
  static const NodeRegistry registry = [] {
    NodeRegistry r;
    REQUIRE(RegisterBuiltinNodes(r).ok());
    REQUIRE(r.Register(MakeNodeType<TeamProbeNode>()).ok());
    return r;
  }();
  PipelineOverrides o;
  o.registry = &registry;
  o.threads = budget;
  auto p = Pipeline::FromText(R"({"format": 1,
    "inputs": [{"name": "audio", "to": "probe.in"}],
    "outputs": [{"name": "audio", "from": "probe.out"}],
    "nodes": [{"id": "probe", "type": "TeamProbe", "options": {"delay_us": 20000}}]})", o);
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  REQUIRE((*p)->Start().ok());
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_teams.clear();
  }
  std::vector<SessionId> ids;
  for (int s = 0; s < sessions; ++s) {
    auto id = (*p)->Submit(SubmitOptions{[](const std::string&, const MessagePtr&) {}});
    REQUIRE(id.ok());
    ids.push_back(*id);
  }
  const std::vector<float> chunk(480, 0.1f);
  for (int k = 0; k < 4; ++k) {
    for (SessionId id : ids) {
      auto a = Audio::FromSamples(chunk, 24000);
      REQUIRE(a.ok());
      REQUIRE((*p)->Push(id, "audio", *a).ok());
    }
  }
  for (SessionId id : ids) {
    REQUIRE((*p)->EndInput(id).ok());
    auto r = (*p)->Wait(id);
    REQUIRE(r.ok());
    CHECK(r->status.ok());
  }
  std::lock_guard<std::mutex> lock(g_mu);
  return g_teams;
}

TEST_CASE("ThreadBudget: a graph's node calls run under the graph's budget") {
  // One call in flight gets the whole budget (limits.threads, here overridden to 6 and 3).
  for (int budget : {6, 3}) {
    const std::vector<int> teams = RunSessions(1, budget);
    REQUIRE(teams.size() == 4);
    for (int t : teams) CHECK(t == budget);
  }
  // Concurrent sessions: every call's team is within the budget (how many calls overlap is
  // oneTBB's choice; the split itself is checked on the leases above).
  for (int t : RunSessions(4, 6)) CHECK((t >= 1 && t <= 6));
}

}  // namespace
}  // namespace cosyflow
