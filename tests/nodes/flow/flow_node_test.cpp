// FlowNode through the NodeHarness, plus load/option errors of the flow model.
#include "nodes/flow/flow_node.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "nodes/core/node_harness.h"
#include "tests/device_test_util.h"
#include "tests/kernel_isa_util.h"
#include "tests/nodes/flow/flow_test_util.h"
#include "tests/test_util.h"

namespace cosyflow::flow {
namespace {

using test::LoadGolden;

nlohmann::json TinyOptions() {
  const std::string dir = cosyflow::test::TinySeed0Dir();
  return {{"flow_pt", dir + "/flow.pt"},
          {"config", dir + "/config.json"},
          {"prompt_tokens", test::Golden("input_flow_prompt_speech_token")},
          {"prompt_feat", test::Golden("input_prompt_speech_feat")},
          {"embedding", test::Golden("input_embedding")}};
}

// Max abs difference of the node's i-th streaming Mel ([frames, 80]) from the golden chunk of the
// token2wav_stream flow call i ([80, frames of the call]), whose first frame is `first`.
double ChunkErr(const MessagePtr& out, int i, int64_t first) {
  const auto* mel = out->get<cosyflow::Mel>();
  REQUIRE(mel != nullptr);
  const auto g = LoadGolden<float>("t2w_stream_flow" + std::to_string(i) + "_mel");
  const int64_t gf = static_cast<int64_t>(g.size()) / 80;
  double err = 0;
  const float* p = mel->mel.data<float>();
  for (int64_t f = 0; f < mel->frames(); ++f) {
    for (int64_t b = 0; b < 80; ++b) {
      err = cosyflow::test::WorstOf(err, std::fabs(double(p[f * 80 + b]) - g[b * gf + first + f]));
    }
  }
  return err;
}

TEST_CASE("FlowNode: streams mel chunks that match the token2wav_stream flow calls") {
  auto h = NodeHarness::Make<FlowNode>(TinyOptions());
  REQUIRE_MESSAGE(h.ok(), h.status().ToString());
  const auto tokens = LoadGolden<int32_t>("input_source_speech_token");
  REQUIRE(h->Open(1).ok());
  for (size_t i = 0; i < tokens.size(); i += 7) {
    SpeechTokens st;
    st.tokens.assign(tokens.begin() + i, tokens.begin() + std::min(tokens.size(), i + 7));
    REQUIRE(h->Push(1, 0, st).ok());
  }
  CHECK(h->Outputs(1).size() == 2);  // two streaming chunks before end of stream
  REQUIRE(h->Close(1).ok());
  const auto& outs = h->Outputs(1);
  REQUIRE(outs.size() == 3);
  const int64_t firsts[3] = {0, 80, 180};
  int64_t total = 0;
  for (int i = 0; i < 3; ++i) {
    CHECK(ChunkErr(outs[i], i, firsts[i]) < 1e-3);
    total += outs[i]->get<cosyflow::Mel>()->frames();
  }
  CHECK(total == 200);
}

TEST_CASE("FlowNode: stream_final keeps the last chunk chunk-causal; earlier chunks unchanged") {
  const auto& tiny = test::Tiny();
  const auto tokens = LoadGolden<int32_t>("input_source_speech_token");
  const auto run = [&](bool stream_final) {
    auto opts = TinyOptions();
    opts["stream_final"] = stream_final;
    auto h = NodeHarness::Make<FlowNode>(opts);
    REQUIRE_MESSAGE(h.ok(), h.status().ToString());
    REQUIRE(h->Open(1).ok());
    SpeechTokens st;
    st.tokens = tokens;
    REQUIRE(h->Push(1, 0, st).ok());
    REQUIRE(h->Close(1).ok());
    std::vector<std::vector<float>> chunks;  // time-major [frames, 80] each
    for (const auto& m : h->Outputs(1)) {
      const auto* mel = m->get<cosyflow::Mel>();
      REQUIRE(mel != nullptr);
      chunks.emplace_back(mel->mel.data<float>(), mel->mel.data<float>() + mel->frames() * 80);
    }
    return chunks;
  };
  const auto exact = run(false), fast = run(true);
  REQUIRE(exact.size() == 3);
  REQUIRE(fast.size() == 3);
  for (size_t i = 0; i < 2; ++i) {
    REQUIRE(fast[i].size() == exact[i].size());
    CHECK(test::MaxAbsDiff(fast[i].data(), exact[i].data(), fast[i].size()) < 1e-5);
  }
  REQUIRE(fast[2].size() == exact[2].size());
  // The last chunk: one streaming finalize call's frames, not the full-attention pass's.
  Arena arena;
  auto session = FlowSession::Open(*tiny.model, tiny.prompt);
  REQUIRE(session.ok());
  auto whole = tiny.model->Inference(tiny.prompt, (*session)->speaker_vector(), tokens,
                                     /*streaming=*/true, /*finalize=*/true, arena);
  REQUIRE(whole.ok());
  const int64_t n = static_cast<int64_t>(fast[2].size()) / 80, from = whole->frames - n;
  double err = 0;
  for (int64_t f = 0; f < n; ++f) {
    for (int64_t b = 0; b < 80; ++b) {
      err = cosyflow::test::WorstOf(err, std::fabs(double(fast[2][f * 80 + b]) - whole->data[b * whole->frames + from + f]));
    }
  }
  CHECK(err < 1e-4);
  CHECK(test::MaxAbsDiff(fast[2].data(), exact[2].data(), fast[2].size()) > 1e-3);
}

// All mel chunks a FlowNode emits for the tiny input tokens pushed at once, time-major.
std::vector<std::vector<float>> RunChunks(const nlohmann::json& opts) {
  auto h = NodeHarness::Make<FlowNode>(opts);
  REQUIRE_MESSAGE(h.ok(), h.status().ToString());
  REQUIRE(h->Open(1).ok());
  SpeechTokens st;
  st.tokens = LoadGolden<int32_t>("input_source_speech_token");
  REQUIRE(h->Push(1, 0, st).ok());
  REQUIRE(h->Close(1).ok());
  std::vector<std::vector<float>> chunks;
  for (const auto& m : h->Outputs(1)) {
    const auto* mel = m->get<cosyflow::Mel>();
    REQUIRE(mel != nullptr);
    chunks.emplace_back(mel->mel.data<float>(), mel->mel.data<float>() + mel->frames() * 80);
  }
  return chunks;
}

TEST_CASE("FlowNode: n_timesteps sets the ODE steps of the model; streaming stays exact") {
  const auto& tiny = test::Tiny();
  REQUIRE(tiny.model->config().n_timesteps == 10);
  // Non-streaming: the node's one call is the model's Inference with that many Euler steps.
  for (const int steps : {0, 10, 4}) {
    auto opts = TinyOptions();
    opts["stream"] = false;
    opts["n_timesteps"] = steps;
    const auto chunks = RunChunks(opts);
    REQUIRE(chunks.size() == 1);
    FlowConfig cfg = tiny.model->config();
    if (steps > 0) cfg.n_timesteps = steps;
    auto model = FlowModel::Create(cosyflow::test::TinySeed0Dir() + "/flow.pt", cfg);
    REQUIRE_MESSAGE(model.ok(), model.status().ToString());
    auto session = FlowSession::Open(**model, tiny.prompt);
    REQUIRE(session.ok());
    Arena arena;
    auto whole = (*model)->Inference(tiny.prompt, (*session)->speaker_vector(), tiny.tokens,
                                     /*streaming=*/false, /*finalize=*/true, arena);
    REQUIRE(whole.ok());
    REQUIRE(static_cast<int64_t>(chunks[0].size()) == whole->frames * 80);
    double err = 0;
    for (int64_t f = 0; f < whole->frames; ++f) {
      for (int64_t b = 0; b < 80; ++b) {
        err = cosyflow::test::WorstOf(err, std::fabs(double(chunks[0][f * 80 + b]) - whole->data[b * whole->frames + f]));
      }
    }
    CHECK_MESSAGE(err < 1e-5, "n_timesteps " << steps);
    if (steps == 4) {
      const auto ten = tiny.model->Inference(tiny.prompt, (*session)->speaker_vector(), tiny.tokens,
                                             false, true, arena);
      REQUIRE(ten.ok());
      CHECK(test::MaxAbsDiff(ten->data.data(), whole->data.data(), whole->data.size()) > 1e-3);
    }
  }
  // Streaming with 4 steps: the incremental cache (one entry per step) gives the prefix
  // recompute's chunks.
  auto opts = TinyOptions();
  opts["n_timesteps"] = 4;
  const auto cached = RunChunks(opts);
  opts["incremental"] = false;
  const auto recompute = RunChunks(opts);
  REQUIRE(cached.size() == 3);
  REQUIRE(recompute.size() == cached.size());
  for (size_t i = 0; i < cached.size(); ++i) {
    REQUIRE(cached[i].size() == recompute[i].size());
    CHECK(test::MaxAbsDiff(cached[i].data(), recompute[i].data(), cached[i].size()) < 1e-4);
  }
}

TEST_CASE("FlowNode: a request voice's prompt blocks are computed once and reused exactly") {
  const auto& tiny = test::Tiny();
  auto voice = std::make_shared<VoicePrompt>();
  voice->id = "long";
  const int64_t t1 = 60;
  for (int64_t i = 0; i < t1; ++i) voice->speech_tokens.push_back(static_cast<int32_t>((i * 37 + 11) % 6561));
  voice->feat.resize(static_cast<size_t>(2 * t1 * 80));
  for (size_t i = 0; i < voice->feat.size(); ++i) voice->feat[i] = -6.0f + 0.001f * static_cast<float>(i % 997);
  voice->embedding = tiny.prompt.embedding;
  const auto run = [&](NodeHarness& h, uint64_t id) {
    REQUIRE(h.Open(id).ok());
    for (size_t i = 0; i < tiny.tokens.size(); i += 9) {
      SpeechTokens st;
      st.tokens.assign(tiny.tokens.begin() + i, tiny.tokens.begin() + std::min(tiny.tokens.size(), i + 9));
      if (i == 0) st.prompt = voice;
      REQUIRE(h.Push(id, 0, st).ok());
    }
    REQUIRE(h.Close(id).ok());
    std::vector<float> all;
    for (const auto& m : h.Outputs(id)) {
      const auto* mel = m->get<cosyflow::Mel>();
      REQUIRE(mel != nullptr);
      all.insert(all.end(), mel->mel.data<float>(), mel->mel.data<float>() + mel->frames() * 80);
    }
    return all;
  };
  auto cached = NodeHarness::Make<FlowNode>(TinyOptions());
  auto opts = TinyOptions();
  opts["prompt_cache"] = 0;
  auto plain = NodeHarness::Make<FlowNode>(opts);
  REQUIRE(cached.ok());
  REQUIRE(plain.ok());
  const auto a = run(*cached, 1), b = run(*cached, 2), ref = run(*plain, 1);
  const auto stats = static_cast<FlowNode&>(cached->node()).prompt_cache_stats();
  CHECK(stats.misses == 1);
  CHECK(stats.hits == 1);
  CHECK(stats.entries == 1);
  CHECK(static_cast<FlowNode&>(plain->node()).prompt_cache_stats().entries == 0);
  REQUIRE(a.size() == ref.size());
  CHECK(a == b);
  CHECK(test::MaxAbsDiff(a.data(), ref.data(), a.size()) < 1e-4);
}

TEST_CASE("FlowNode: cancel emits nothing; a bad token fails only its session") {
  auto opts = TinyOptions();
  opts["stream"] = false;
  auto h = NodeHarness::Make<FlowNode>(opts);
  REQUIRE_MESSAGE(h.ok(), h.status().ToString());
  REQUIRE(h->Open(1).ok());
  REQUIRE(h->Open(2).ok());
  REQUIRE(h->Push(1, 0, SpeechTokens{{1, 2, 3, 4, 5, 6}}).ok());
  REQUIRE(h->Close(1, CloseReason::kCancel).ok());
  CHECK(h->Outputs(1).empty());
  REQUIRE(h->Open(3).ok());
  const Status bad = h->Push(3, 0, SpeechTokens{{1, 7000}});
  CHECK_FALSE(bad.ok());
  CHECK(bad.message().find("7000") != std::string::npos);
  REQUIRE(h->Push(2, 0, SpeechTokens{{1, 2, 3, 4, 5, 6}}).ok());
  REQUIRE(h->Close(2).ok());
  REQUIRE(h->Outputs(2).size() == 1);
  CHECK(h->Outputs(2)[0]->get<cosyflow::Mel>()->frames() == 12);  // non-stream: 2 frames per token
}

// precision "int16" through the node: the same chunks as f32 within the int16 bound of the
// goldens (flow_parity_test.cpp), and not the f32 values; an unknown precision is refused.
TEST_CASE("FlowNode: precision int16 streams the chunks within the int16 bound") {
  auto opts = TinyOptions();
  opts["precision"] = "int16";
  auto h = NodeHarness::Make<FlowNode>(opts);
  REQUIRE_MESSAGE(h.ok(), h.status().ToString());
  const auto tokens = LoadGolden<int32_t>("input_source_speech_token");
  REQUIRE(h->Open(1).ok());
  SpeechTokens st;
  st.tokens = tokens;
  REQUIRE(h->Push(1, 0, st).ok());
  REQUIRE(h->Close(1).ok());
  const auto& outs = h->Outputs(1);
  REQUIRE(outs.size() == 3);
  const int64_t firsts[3] = {0, 80, 180};
  for (int i = 0; i < 3; ++i) {
    const double err = ChunkErr(outs[i], i, firsts[i]);
    CHECK(err < 1e-2);
    CHECK(err > 1e-5);
  }
  ErrorList errors;
  FlowNodeOptions o;
  opts["precision"] = "int8";
  o.Parse(opts, "nodes[2](flow).options", &errors);
  CHECK(errors.HasPath("nodes[2](flow).options.precision"));
}

// precision "auto": bf16 where the selected kernels multiply bf16 in hardware, int16 elsewhere,
// f32 on a cuda device; every variant this CPU runs, through Create.
TEST_CASE("FlowNode: precision auto follows the kernels' bf16 products") {
  cosyflow::test::ForEachKernelIsa([](CpuIsa isa) {
    const bool native = kernels::cpu::NativeBf16Products();
    if (isa != CpuIsa::kAvx512) CHECK_FALSE(native);
    CHECK(ResolveFlowPrecision("auto", Device::kCpu) == (native ? "bf16" : "int16"));
    CHECK(ResolveFlowPrecision("auto", Device::kCuda) == "f32");
    CHECK(ResolveFlowPrecision("int16", Device::kCpu) == "int16");
    auto opts = TinyOptions();
    opts["precision"] = "auto";
    auto h = NodeHarness::Make<FlowNode>(opts);
    REQUIRE_MESSAGE(h.ok(), h.status().ToString());
    CHECK(static_cast<const FlowNode&>(h->node()).precision() == (native ? "bf16" : "int16"));
  });
}

TEST_CASE("FlowNodeOptions: bad values are reported with their paths") {
  auto opts = TinyOptions();
  opts["token_hop"] = 2;
  opts["no_such_key"] = 1;
  opts["n_timesteps"] = 101;
  ErrorList errors;
  FlowNodeOptions o;
  o.Parse(opts, "nodes[2](flow).options", &errors);
  o.Validate("nodes[2](flow).options", &errors);
  CHECK(errors.HasPath("nodes[2](flow).options.token_hop"));
  CHECK(errors.HasPath("nodes[2](flow).options.no_such_key"));
  CHECK(errors.HasPath("nodes[2](flow).options.n_timesteps"));
}

TEST_CASE("FlowWeights: a missing or extra tensor is an error naming it") {
  const std::string dir = cosyflow::test::TinySeed0Dir();
  auto cfg = FlowConfig::FromFile(dir + "/config.json");
  REQUIRE(cfg.ok());
  auto ckpt = Checkpoint::Open(dir + "/flow.pt");
  REQUIRE(ckpt.ok());
  CHECK(static_cast<int64_t>(ckpt->size()) == FlowWeights::ExpectedTensorCount(*cfg));
  CHECK(FlowWeights::ExpectedTensorCount(FlowConfig::Release()) == 1121);

  std::vector<CheckpointEntry> entries = ckpt->entries();
  entries.erase(entries.begin() + 7);
  const std::string missing = ckpt->entries()[7].name;
  auto fewer = Checkpoint::FromEntries("fewer", entries);
  REQUIRE(fewer.ok());
  auto r1 = FlowModel::FromCheckpoint(std::move(fewer).value(), *cfg);
  CHECK_FALSE(r1.ok());

  entries.push_back({"decoder.estimator.extra.weight", ckpt->entries()[7].tensor});
  auto renamed = Checkpoint::FromEntries("renamed", entries);
  REQUIRE(renamed.ok());
  auto r2 = FlowModel::FromCheckpoint(std::move(renamed).value(), *cfg);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.status().message().find(missing) != std::string::npos);

  // The tiny checkpoint against the release config: shape mismatch naming the tensor.
  auto again = Checkpoint::Open(dir + "/flow.pt");
  REQUIRE(again.ok());
  FlowConfig wrong = *cfg;
  wrong.enc_ffn = cfg->enc_ffn * 2;  // any size but the checkpoint's
  auto r3 = FlowModel::FromCheckpoint(std::move(again).value(), wrong);
  REQUIRE_FALSE(r3.ok());
  CHECK(r3.status().message().find("feed_forward.w_1") != std::string::npos);
}

TEST_CASE("FlowConfig: an integer field refuses fractions and out-of-range values, naming them") {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("cosyflow-flow-config-" + std::to_string(::getpid()) + ".json"))
                               .string();
  // Sets flow[a][b] (or flow[a] when b is empty) in the tiny config.json, returns the error.
  auto error_with = [&](const char* a, const char* b, const nlohmann::json& value) {
    nlohmann::json j;
    std::ifstream(cosyflow::test::TinySeed0Dir() + "/config.json") >> j;
    (*b ? j["flow"][a][b] : j["flow"][a]) = value;
    std::ofstream(path) << j.dump();
    auto c = FlowConfig::FromFile(path);
    return c.ok() ? std::string() : c.status().message();
  };
  struct Case {
    const char* a;
    const char* b;
    nlohmann::json value;
    const char* fragment;
  };
  const Case cases[] = {
      {"cfm", "n_timesteps", 1e12, "n_timesteps: integer 1000000000000.0 is out of range"},
      {"cfm", "n_timesteps", 2.5, "n_timesteps: expected an integer, got 2.5"},
      {"cfm", "inference_cfg_rate", "high", "inference_cfg_rate: expected a number, got \"high\""},
      {"estimator", "channels", {64.5}, "channels[0]: expected an integer, got 64.5"},
      {"encoder", "num_blocks", 18446744073709551615ULL,
       "num_blocks: integer 18446744073709551615 is out of range"},
      {"input_size", "", 64.25, "flow.input_size: expected an integer, got 64.25"},
  };
  for (const Case& c : cases) {
    const std::string fragment = c.fragment;
    CAPTURE(fragment);
    const std::string m = error_with(c.a, c.b, c.value);
    CHECK_MESSAGE(m.find(path) != std::string::npos, m);
    CHECK_MESSAGE(m.find(c.fragment) != std::string::npos, m);
  }
  CHECK(error_with("cfm", "n_timesteps", 10.0) == "");
  std::filesystem::remove(path);
}

TEST_CASE("FlowSession: schedule errors and per-session hops") {
  const auto& tiny = test::Tiny();
  FlowStreamOptions bad;
  bad.token_hop = 3;
  CHECK_FALSE(FlowSession::Open(*tiny.model, tiny.prompt, bad).ok());
  auto s = FlowSession::Open(*tiny.model, tiny.prompt);
  REQUIRE(s.ok());
  CHECK_FALSE((*s)->NextChunk().ok());  // nothing buffered
  CHECK_FALSE((*s)->Finish().ok());
  FlowPrompt short_feat = tiny.prompt;
  short_feat.feat.resize(short_feat.feat.size() - 80);
  CHECK_FALSE(FlowSession::Open(*tiny.model, short_feat).ok());
  // A second session starts again at 25 + pad, whatever the first did (no model-wide hop).
  auto s2 = FlowSession::Open(*tiny.model, tiny.prompt);
  REQUIRE(s2.ok());
  REQUIRE((*s2)->PushTokens(std::span<const int32_t>(tiny.tokens.data(), 43)).ok());
  REQUIRE((*s2)->NextChunk().ok());
  CHECK((*s2)->this_hop() == 50);
  auto s3 = FlowSession::Open(*tiny.model, tiny.prompt);
  REQUIRE(s3.ok());
  CHECK((*s3)->this_hop() == 40);
}

TEST_CASE("FlowModel: device cuda loads where a GPU is visible, else fails with a clear status") {
  const std::string dir = cosyflow::test::TinySeed0Dir();
  auto cfg = FlowConfig::FromFile(dir + "/config.json");
  REQUIRE(cfg.ok());
  FlowOptions o;
  o.device = Device::kCuda;
  auto r = FlowModel::Create(dir + "/flow.pt", *cfg, o);
  if (cosyflow::test::CheckCudaLoad(r, "flow.pt")) CHECK((*r)->device() == Device::kCuda);
}

}  // namespace
}  // namespace cosyflow::flow
