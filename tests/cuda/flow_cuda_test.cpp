// The flow's CFM sampler on a CUDA device (nodes/flow/flow_cuda.*) against the CPU path: one
// estimator call (tiny-seed0 and the release shapes with random weights), whole flow calls
// (non-streaming, streaming chunks, with the prompt), streaming sessions, concurrent requests,
// the attention's query blocking, and the errors. Runs only where a device is visible
// (cuda_main.cpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "nodes/flow/flow_cuda.h"
#include "nodes/flow/flow_forward.h"
#include "tests/nodes/flow/flow_test_util.h"
#include "tests/test_util.h"

namespace cosyflow::flow {
namespace {

std::unique_ptr<FlowModel> LoadTiny(Device device, WeightType wt = WeightType::kF32) {
  const std::string dir = cosyflow::test::TinySeed0Dir();
  auto cfg = FlowConfig::FromFile(dir + "/config.json");
  REQUIRE_MESSAGE(cfg.ok(), cfg.status().ToString());
  FlowOptions o;
  o.device = device;
  o.weight_type = wt;
  auto m = FlowModel::Create(dir + "/flow.pt", *cfg, o);
  REQUIRE_MESSAGE(m.ok(), m.status().ToString());
  return std::move(m).value();
}

const FlowModel& TinyCuda() {
  static std::unique_ptr<FlowModel> m = LoadTiny(Device::kCuda);
  return *m;
}

std::vector<float> Uniform(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// max |a - b| / max(1, max |b|): the error relative to the output's scale, NaN-sticky.
double ScaledErr(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0, scale = 1;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = cosyflow::test::WorstOf(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return worst / scale;
}

// One estimator call on the device and on the CPU at schedule step `step`.
double EstimatorErr(const FlowModel& cpu, const FlowModel& gpu, int64_t n, int step,
                    bool streaming, uint32_t seed) {
  const FlowConfig& c = cpu.config();
  const std::vector<float> in = Uniform(static_cast<size_t>(2 * n * c.est_in), seed);
  std::vector<float> want(static_cast<size_t>(2 * n * c.output_size));
  std::vector<float> got(want.size(), NAN);
  Arena arena;
  const OdeSchedule ode = MakeOdeSchedule(c.n_timesteps);
  const float t = ode.t[static_cast<size_t>(step)];
  const Status s =
      EstimatorForward(cpu.weights(), c, in.data(), n, t, streaming, arena, nullptr, want.data());
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  REQUIRE(gpu.estimator_cuda() != nullptr);
  const Status g = gpu.estimator_cuda()->Estimate(in.data(), n, step, streaming, got.data());
  REQUIRE_MESSAGE(g.ok(), g.ToString());
  return ScaledErr(got, want);
}

TEST_CASE("flow cuda: one estimator call matches the CPU estimator (tiny-seed0)") {
  const FlowModel& cpu = *test::Tiny().model;
  const FlowModel& gpu = TinyCuda();
  CHECK(gpu.device() == Device::kCuda);
  const int64_t chunk = cpu.config().est_chunk;
  uint32_t seed = 1;
  for (const bool streaming : {true, false}) {
    for (const int64_t n : {int64_t{1}, int64_t{37}, 2 * chunk + 5}) {
      for (const int step : {0, 7}) {
        CAPTURE(streaming);
        CAPTURE(n);
        CAPTURE(step);
        CHECK(EstimatorErr(cpu, gpu, n, step, streaming, seed++) <= 1e-4);
      }
    }
  }
}

TEST_CASE("flow cuda: attention query blocks give the blocked-free output") {
  auto blocked = LoadTiny(Device::kCuda);
  const FlowConfig& c = blocked->config();
  const int64_t n = 3 * c.est_chunk + 11;
  blocked->estimator_cuda()->set_score_floats(c.est_heads * n * 7);  // 7 query rows a block
  const std::vector<float> in = Uniform(static_cast<size_t>(2 * n * c.est_in), 99);
  for (const bool streaming : {true, false}) {
    std::vector<float> a(static_cast<size_t>(2 * n * c.output_size)), b(a.size());
    REQUIRE(blocked->estimator_cuda()->Estimate(in.data(), n, 2, streaming, a.data()).ok());
    REQUIRE(TinyCuda().estimator_cuda()->Estimate(in.data(), n, 2, streaming, b.data()).ok());
    CAPTURE(streaming);
    CHECK(ScaledErr(a, b) <= 1e-6);
  }
}

// The tiny inputs' first `count` generated tokens (all when count < 0).
std::span<const int32_t> Tokens(int64_t count = -1) {
  const auto& t = test::Tiny().tokens;
  return {t.data(), count < 0 ? t.size() : static_cast<size_t>(count)};
}

std::vector<float> Spk(const FlowModel& m) {
  std::vector<float> spk(static_cast<size_t>(m.config().output_size));
  REQUIRE(m.SpeakerVector(test::Tiny().prompt.embedding, spk.data()).ok());
  return spk;
}

TEST_CASE("flow cuda: whole flow calls match the CPU flow and the golden mel") {
  const FlowModel& cpu = *test::Tiny().model;
  const FlowModel& gpu = TinyCuda();
  const FlowPrompt& prompt = test::Tiny().prompt;
  const std::vector<float> spk = Spk(cpu);
  Arena a1, a2;
  struct Call {
    int64_t tokens;
    bool streaming, finalize;
  };
  const int64_t all = static_cast<int64_t>(Tokens().size());
  for (const Call& call : {Call{all, false, true}, Call{all, true, true}, Call{all, true, false},
                           Call{std::min<int64_t>(all, 20), true, false}}) {
    CAPTURE(call.tokens);
    CAPTURE(call.streaming);
    CAPTURE(call.finalize);
    auto want = cpu.Inference(prompt, spk.data(), Tokens(call.tokens), call.streaming,
                              call.finalize, a1);
    auto got = gpu.Inference(prompt, spk.data(), Tokens(call.tokens), call.streaming,
                             call.finalize, a2);
    REQUIRE_MESSAGE(want.ok(), want.status().ToString());
    REQUIRE_MESSAGE(got.ok(), got.status().ToString());
    REQUIRE(got->frames == want->frames);
    CHECK(ScaledErr(got->data, want->data) <= 1e-4);
  }
  // The golden non-streaming mel (the fixture's flow tolerance, 1e-3 max abs), and the tapped
  // first estimator output.
  std::vector<float> est0;
  FlowHook hook = [&](std::string_view name, const float* data, const Dims& shape) {
    if (name == "est0_out") est0.assign(data, data + shape.Product());
  };
  auto got = gpu.Inference(prompt, spk.data(), Tokens(), false, true, a2, hook);
  REQUIRE(got.ok());
  const std::vector<float> golden = test::LoadGolden<float>("flow_nonstream_mel");  // [1, 80, T]
  REQUIRE(static_cast<int64_t>(golden.size()) == 80 * got->frames);  // prompt frames removed
  double worst = 0;
  for (size_t i = 0; i < golden.size(); ++i) {
    worst = cosyflow::test::WorstOf(worst, std::fabs(got->data[i] - golden[i]));
  }
  CHECK(worst <= 1e-3);
  // The estimator sees the prompt frames too.
  const int64_t frames = static_cast<int64_t>(prompt.feat.size()) / 80 + got->frames;
  const std::vector<float> est0_golden = test::LoadGolden<float>("flow_nonstream_est0_out");
  REQUIRE(est0.size() == est0_golden.size());
  double est_worst = 0;
  for (int64_t r = 0; r < 2; ++r) {  // tap [2, m, 80] time-major; golden [2, 80, m]
    for (int64_t f = 0; f < frames; ++f) {
      for (int64_t b = 0; b < 80; ++b) {
        const float d = est0[(r * frames + f) * 80 + b] - est0_golden[(r * 80 + b) * frames + f];
        est_worst = cosyflow::test::WorstOf(est_worst, std::fabs(d));
      }
    }
  }
  CHECK(est_worst <= 1e-3);
}

TEST_CASE("flow cuda: a streaming session (incremental encoder, every frame sampled on the "
          "device) matches the CPU's recomputed chunks") {
  const FlowModel& cpu = *test::Tiny().model;
  const FlowModel& gpu = TinyCuda();
  for (const bool stream_final : {false, true}) {
    CAPTURE(stream_final);
    FlowStreamOptions recompute;
    recompute.incremental = false;
    recompute.stream_final = stream_final;
    FlowStreamOptions dev_options;  // incremental: the encoder's state between chunks
    dev_options.stream_final = stream_final;
    auto ref = FlowSession::Open(cpu, test::Tiny().prompt, recompute);
    auto dev = FlowSession::Open(gpu, test::Tiny().prompt, dev_options);
    REQUIRE(ref.ok());
    REQUIRE(dev.ok());
    int chunks = 0;
    for (int32_t tok : Tokens()) {
      REQUIRE((*ref)->PushTokens({&tok, 1}).ok());
      REQUIRE((*dev)->PushTokens({&tok, 1}).ok());
      REQUIRE((*ref)->ChunkReady() == (*dev)->ChunkReady());
      if (!(*ref)->ChunkReady()) continue;
      auto a = (*ref)->NextChunk();
      auto b = (*dev)->NextChunk();
      REQUIRE(a.ok());
      REQUIRE_MESSAGE(b.ok(), b.status().ToString());
      CHECK(b->first_frame == a->first_frame);
      CHECK(b->mel.frames == a->mel.frames);
      CHECK(ScaledErr(b->mel.data, a->mel.data) <= 1e-4);
      CHECK((*dev)->cache_bytes() > 0);  // the encoder's state and mu rows, no K/V
      ++chunks;
    }
    CHECK(chunks >= 2);
    auto a = (*ref)->Finish();
    auto b = (*dev)->Finish();
    REQUIRE(a.ok());
    REQUIRE_MESSAGE(b.ok(), b.status().ToString());
    CHECK(b->mel.frames == a->mel.frames);
    CHECK(ScaledErr(b->mel.data, a->mel.data) <= 1e-4);
  }
}

TEST_CASE("flow cuda: concurrent requests on one model get their own results") {
  const FlowModel& gpu = TinyCuda();
  const std::vector<float> spk = Spk(gpu);
  Arena arena;
  auto want = gpu.Inference(test::Tiny().prompt, spk.data(), Tokens(), true, true, arena);
  REQUIRE(want.ok());
  std::vector<FlowMel> got(4);
  std::vector<Status> status(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i) {
    threads.emplace_back([&, i] {
      Arena a;
      // Different lengths on the threads: each call sizes its own scratch.
      for (int rep = 0; rep < 3 && status[i].ok(); ++rep) {
        const bool mine = rep == 2;
        auto r = gpu.Inference(test::Tiny().prompt, spk.data(),
                               mine ? Tokens() : Tokens(10 + 5 * static_cast<int64_t>(i)), true,
                               true, a);
        if (!r.ok()) {
          status[i] = r.status();
        } else if (mine) {
          got[i] = std::move(r).value();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < got.size(); ++i) {
    REQUIRE_MESSAGE(status[i].ok(), status[i].ToString());
    REQUIRE(got[i].frames == want->frames);
    CHECK(ScaledErr(got[i].data, want->data) <= 1e-6);
  }
}

TEST_CASE("flow cuda: sampler steps replayed from a CUDA graph equal kernel-by-kernel steps") {
  auto plain = LoadTiny(Device::kCuda);
  plain->estimator_cuda()->set_use_graphs(false);
  const FlowModel& graphed = TinyCuda();
  const std::vector<float> spk = Spk(graphed);
  Arena a1, a2;
  // Lengths that grow, repeat (the graph is reused) and shrink (updated in place), both modes.
  for (const int64_t count : {int64_t{12}, int64_t{20}, int64_t{20}, int64_t{9}}) {
    for (const bool streaming : {true, false}) {
      CAPTURE(count);
      CAPTURE(streaming);
      auto want = plain->Inference(test::Tiny().prompt, spk.data(), Tokens(count), streaming,
                                   true, a1);
      auto got = graphed.Inference(test::Tiny().prompt, spk.data(), Tokens(count), streaming,
                                   true, a2);
      REQUIRE_MESSAGE(want.ok(), want.status().ToString());
      REQUIRE_MESSAGE(got.ok(), got.status().ToString());
      REQUIRE(got->frames == want->frames);
      CHECK(ScaledErr(got->data, want->data) <= 1e-6);
    }
  }
}

// Random weights at the release shapes from the official key listing (bench/data): matrices
// uniform(+-1/sqrt(fan_in)), norm weights 1 + u(0.1), biases u(0.1).
std::vector<CheckpointEntry> ReleaseEntries() {
  const std::string keys = cosyflow::test::RepoDir() + "/bench/data/real-0.5B-state-dict-keys.json";
  std::ifstream in(keys);
  REQUIRE_MESSAGE(in.good(), keys);
  const nlohmann::json j = nlohmann::json::parse(in);
  std::mt19937 rng(4321);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<CheckpointEntry> entries;
  for (const auto& e : j.at("flow.pt")) {
    auto shape = Dims::From(e.at("shape").get<std::vector<int64_t>>());
    REQUIRE(shape.ok());
    auto t = Tensor::Empty(*shape, DType::kF32);
    REQUIRE(t.ok());
    const std::string name = e.at("key").get<std::string>();
    float* p = t->data<float>();
    if (shape->size() == 1) {
      const bool weight = name.ends_with(".weight");
      for (int64_t i = 0; i < t->numel(); ++i) p[i] = (weight ? 1.0f : 0.0f) + 0.1f * u(rng);
    } else {
      const float s = 1.0f / std::sqrt(static_cast<float>(t->numel() / (*shape)[0]));
      for (int64_t i = 0; i < t->numel(); ++i) p[i] = s * u(rng);
    }
    entries.push_back({name, std::move(t).value()});
  }
  return entries;
}

TEST_CASE("flow cuda: the release shapes (8 heads of 64, 256 channels, 12 mid blocks)") {
  const std::vector<CheckpointEntry> entries = ReleaseEntries();
  auto load = [&](Device d) {
    auto ck = Checkpoint::FromEntries("random-release-flow", entries);
    REQUIRE(ck.ok());
    FlowOptions o;
    o.device = d;
    auto m = FlowModel::FromCheckpoint(std::move(ck).value(), FlowConfig::Release(), o);
    REQUIRE_MESSAGE(m.ok(), m.status().ToString());
    return std::move(m).value();
  };
  auto cpu = load(Device::kCpu);
  auto gpu = load(Device::kCuda);
  CHECK(EstimatorErr(*cpu, *gpu, 130, 3, true, 11) <= 1e-4);
  CHECK(EstimatorErr(*cpu, *gpu, 77, 9, false, 12) <= 1e-4);
}

TEST_CASE("flow cuda: errors are statuses") {
  const std::string dir = cosyflow::test::TinySeed0Dir();
  auto cfg = FlowConfig::FromFile(dir + "/config.json");
  REQUIRE(cfg.ok());
  FlowOptions o;
  o.device = Device::kCuda;
  o.weight_type = WeightType::kBF16;
  auto bf16 = FlowModel::Create(dir + "/flow.pt", *cfg, o);
  REQUIRE_FALSE(bf16.ok());
  CHECK(bf16.status().code() == StatusCode::kUnsupported);
  CHECK(bf16.status().message().find("flow.pt") != std::string::npos);

  const FlowModel& gpu = TinyCuda();
  Arena arena;
  auto state = gpu.PromptState(test::Tiny().prompt, 0, arena);
  REQUIRE(state.ok());
  CHECK(*state == nullptr);  // no prompt state: streaming chunks recompute on the device
  std::vector<float> buf(2 * 320 * 4);
  CHECK(gpu.estimator_cuda()->Estimate(buf.data(), 1, gpu.config().n_timesteps, true, buf.data())
            .code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cosyflow::flow
