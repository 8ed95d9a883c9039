// HiftVocoderNode through the node harness: streamed chunks vs the token2wav goldens, flush,
// cancel, per-session errors, non-streaming mode, held short chunks and options.
#include "nodes/hift/hift_node.h"

#include <doctest/doctest.h>

#include "nodes/core/node_harness.h"
#include "nodes/hift/hift_session.h"
#include "tests/kernel_isa_util.h"
#include "tests/nodes/hift/hift_test_util.h"

namespace cosyflow {
namespace {

using hift::test_util::Golden;
using hift::test_util::LoadGolden;
using hift::test_util::MaxAbsDiff;

constexpr double kWaveTol = 2e-3;  // fixture README tolerance for waveforms

NodeHarness MakeHarness(const nlohmann::json& options) {
  NodeContext ctx;
  ctx.model_dir = test::TinySeed0Dir();
  auto h = NodeHarness::Make<HiftVocoderNode>(options, ctx);
  REQUIRE_MESSAGE(h.ok(), h.status().ToString());
  return std::move(*h);
}

// Frames [t0, t1) of a [1, C, T] channel-major golden as a Mel message ([frames, C]).
Mel MelFrames(const Golden& g, int64_t t0, int64_t t1) {
  const int64_t c = g.shape[1], t = g.shape[2];
  std::vector<float> v(static_cast<size_t>((t1 - t0) * c));
  for (int64_t f = t0; f < t1; ++f) {
    for (int64_t ch = 0; ch < c; ++ch) v[(f - t0) * c + ch] = g.v[ch * t + f];
  }
  auto tensor = Tensor::FromVector<float>({t1 - t0, c}, std::span<const float>(v));
  REQUIRE(tensor.ok());
  return Mel{*tensor};
}

std::vector<float> Samples(const MessagePtr& m) {
  const Audio* a = m->get<Audio>();
  REQUIRE(a != nullptr);
  CHECK(a->sample_rate == 24000);
  return {a->view().begin(), a->view().end()};
}

// The new frames of the three token2wav HiFT calls in the fixture.
std::vector<Mel> StreamChunks() {
  std::vector<Mel> chunks;
  for (int i = 0; i < 3; ++i) {
    const auto in_mel = LoadGolden("t2w_stream_hift" + std::to_string(i) + "_in_mel");
    chunks.push_back(MelFrames(in_mel, i == 0 ? 0 : 8, in_mel.shape[2]));
  }
  return chunks;
}

TEST_CASE("HiftVocoderNode: streamed chunks equal the t2w_stream goldens; flush emits the tail") {
  NodeHarness h = MakeHarness({{"noise", "zero"}});
  REQUIRE(h.Open(1).ok());
  const auto chunks = StreamChunks();
  for (int i = 0; i < 3; ++i) {
    REQUIRE(h.Push(1, 0, chunks[static_cast<size_t>(i)]).ok());
    REQUIRE(h.Outputs(1).size() == static_cast<size_t>(i + 1));  // emitted at once
  }
  // The last chunk's final 3840 samples wait for a possible next chunk's cross-fade.
  REQUIRE(h.Close(1, CloseReason::kEndOfStream).ok());
  const auto& out = h.Outputs(1);
  REQUIRE(out.size() == 4);
  CHECK(Samples(out[3]).size() == 3840);
  for (int i = 0; i < 2; ++i) {
    const auto g = LoadGolden("t2w_stream_chunk" + std::to_string(i));
    const auto got = Samples(out[static_cast<size_t>(i)]);
    REQUIRE(got.size() == g.v.size());
    MESSAGE("chunk ", i, " max abs ", MaxAbsDiff(got, g.v));
    CHECK(MaxAbsDiff(got, g.v) <= kWaveTol);
  }
  auto last = Samples(out[2]);
  const auto tail = Samples(out[3]);
  last.insert(last.end(), tail.begin(), tail.end());
  const auto g2 = LoadGolden("t2w_stream_chunk2");
  REQUIRE(last.size() == g2.v.size());
  MESSAGE("chunk 2 + flushed tail max abs ", MaxAbsDiff(last, g2.v));
  CHECK(MaxAbsDiff(last, g2.v) <= kWaveTol);
  CHECK(h.AudioSamples(1).size() == 96000);
}

TEST_CASE("HiftVocoderNode: cancel emits nothing, not even the cached tail") {
  NodeHarness h = MakeHarness({{"noise", "zero"}});
  const auto chunks = StreamChunks();
  REQUIRE(h.Open(1).ok());
  REQUIRE(h.Push(1, 0, chunks[0]).ok());
  REQUIRE(h.Outputs(1).size() == 1);
  REQUIRE(h.Close(1, CloseReason::kCancel).ok());
  CHECK(h.Outputs(1).size() == 1);
  // Frames still held (fewer than the mel cache) are dropped on error as well.
  REQUIRE(h.Open(2).ok());
  const auto mel = LoadGolden("input_hift_mel");
  REQUIRE(h.Push(2, 0, MelFrames(mel, 0, 5)).ok());
  REQUIRE(h.Close(2, CloseReason::kError).ok());
  CHECK(h.Outputs(2).empty());
}

TEST_CASE("HiftVocoderNode: one session's error leaves the others untouched") {
  NodeHarness h = MakeHarness({{"noise", "zero"}});
  const auto chunks = StreamChunks();
  REQUIRE(h.Open(1).ok());
  REQUIRE(h.Open(2).ok());
  REQUIRE(h.Push(1, 0, chunks[0]).ok());
  auto bad = Tensor::FromVector<float>({10, 79}, std::span<const float>(std::vector<float>(790)));
  REQUIRE(bad.ok());
  const Status st = h.Push(2, 0, Mel{*bad});
  CHECK_FALSE(st.ok());
  CHECK(st.message().find("[frames, 80]") != std::string::npos);
  CHECK_FALSE(h.Push(2, 0, TokenIds{{1, 2}}).ok());  // wrong payload
  REQUIRE(h.Close(2, CloseReason::kError).ok());
  REQUIRE(h.Push(1, 0, chunks[1]).ok());
  REQUIRE(h.Push(1, 0, chunks[2]).ok());
  REQUIRE(h.Close(1).ok());
  std::vector<float> golden;
  for (int i = 0; i < 3; ++i) {
    const auto g = LoadGolden("t2w_stream_chunk" + std::to_string(i));
    golden.insert(golden.end(), g.v.begin(), g.v.end());
  }
  const auto got = h.AudioSamples(1);
  REQUIRE(got.size() == golden.size());
  CHECK(MaxAbsDiff(got, golden) <= kWaveTol);
  CHECK(h.Outputs(2).empty());
}

TEST_CASE("HiftVocoderNode: streaming off vocodes the whole utterance at end of stream") {
  NodeHarness h = MakeHarness({{"noise", "zero"}, {"streaming", false}});
  const auto mel = LoadGolden("t2w_stream_flow2_mel");
  const int64_t t = mel.shape[2];
  REQUIRE(h.Open(3).ok());
  for (int64_t a = 0; a < t; a += 37) {
    REQUIRE(h.Push(3, 0, MelFrames(mel, a, std::min(t, a + 37))).ok());
  }
  CHECK(h.Outputs(3).empty());
  REQUIRE(h.Close(3).ok());
  REQUIRE(h.Outputs(3).size() == 1);
  const auto g = LoadGolden("t2w_nonstream_wav");
  const auto got = Samples(h.Outputs(3)[0]);
  REQUIRE(got.size() == g.v.size());
  MESSAGE("non-streaming node vs t2w_nonstream_wav max abs ", MaxAbsDiff(got, g.v));
  CHECK(MaxAbsDiff(got, g.v) <= kWaveTol);
}

TEST_CASE("HiftVocoderNode: chunks shorter than the mel cache are held, then vocoded together") {
  const auto mel = LoadGolden("input_hift_mel");
  const int64_t t = mel.shape[2];
  auto vocoder = hift::test_util::TinyVocoder();
  hift::HiftSessionOptions zero;
  zero.noise = hift::HiftNoiseMode::kZero;
  // Reference: the first 20 frames as one non-final call, the rest final.
  hift::HiftSession ref(vocoder, zero);
  std::vector<float> expect;
  REQUIRE(ref.Push(mel.v.data(), t, 20, false, &expect).ok());
  REQUIRE(ref.Push(mel.v.data() + 20, t, t - 20, true, &expect).ok());

  NodeHarness h = MakeHarness({{"noise", "zero"}});
  REQUIRE(h.Open(1).ok());
  REQUIRE(h.Push(1, 0, MelFrames(mel, 0, 3)).ok());
  REQUIRE(h.Push(1, 0, MelFrames(mel, 3, 5)).ok());
  CHECK(h.Outputs(1).empty());  // 5 frames < 8: held
  REQUIRE(h.Push(1, 0, MelFrames(mel, 5, 20)).ok());
  CHECK(h.Outputs(1).size() == 1);
  REQUIRE(h.Push(1, 0, MelFrames(mel, 20, t)).ok());
  REQUIRE(h.Close(1).ok());
  CHECK(h.AudioSamples(1) == expect);

  // A whole utterance shorter than the cache is vocoded once at end of stream.
  hift::HiftSession one(vocoder, zero);
  std::vector<float> short_expect;
  REQUIRE(one.Synthesize(mel.v.data(), t, 6, &short_expect).ok());
  REQUIRE(h.Open(2).ok());
  REQUIRE(h.Push(2, 0, MelFrames(mel, 0, 6)).ok());
  CHECK(h.Outputs(2).empty());
  REQUIRE(h.Close(2).ok());
  CHECK(h.AudioSamples(2) == short_expect);
  // A session without frames emits nothing.
  REQUIRE(h.Open(4).ok());
  REQUIRE(h.Close(4).ok());
  CHECK(h.Outputs(4).empty());
}

TEST_CASE("HiftVocoderNode: random noise is seeded per session") {
  NodeHarness h = MakeHarness({{"seed", 5}});
  const auto mel = LoadGolden("input_hift_mel");
  for (uint64_t s : {1, 2}) {
    REQUIRE(h.Open(s).ok());
    REQUIRE(h.Push(s, 0, MelFrames(mel, 0, 20)).ok());
    REQUIRE(h.Close(s).ok());
  }
  NodeHarness again = MakeHarness({{"seed", 5}});
  REQUIRE(again.Open(1).ok());
  REQUIRE(again.Push(1, 0, MelFrames(mel, 0, 20)).ok());
  REQUIRE(again.Close(1).ok());
  CHECK(again.AudioSamples(1) == h.AudioSamples(1));
  CHECK(MaxAbsDiff(h.AudioSamples(1), h.AudioSamples(2)) > 1e-4);
}

// precision "auto": bf16 where the selected kernels multiply bf16 in hardware, else f32; every
// variant this CPU runs, through Create.
TEST_CASE("HiftVocoderNode: precision auto follows the kernels' bf16 products") {
  test::ForEachKernelIsa([](CpuIsa isa) {
    const bool native = kernels::cpu::NativeBf16Products();
    if (isa != CpuIsa::kAvx512) CHECK_FALSE(native);
    CHECK(ResolveHiftPrecision("auto") == (native ? "bf16" : "f32"));
    CHECK(ResolveHiftPrecision("f32") == "f32");
    CHECK(ResolveHiftPrecision("bf16") == "bf16");
    NodeHarness h = MakeHarness({{"precision", "auto"}});
    const auto& node = static_cast<const HiftVocoderNode&>(h.node());
    CHECK(node.precision() == (native ? hift::HiftPrecision::kBF16 : hift::HiftPrecision::kF32));
  });
}

TEST_CASE("HiftVocoderNode: options parse, validate and print; Create names a missing file") {
  auto ok = ParseNodeOptions<HiftVocoderOptions>({{"checkpoint", "x/hift.pt"},
                                                  {"noise", "zero"},
                                                  {"seed", 3},
                                                  {"streaming", false},
                                                  {"precision", "bf16"}});
  REQUIRE(ok.ok());
  CHECK(ok->ToString() ==
        R"({"checkpoint": "x/hift.pt", "noise": "zero", "seed": 3, "streaming": false, )"
        R"("precision": "bf16"})");
  auto bad_precision = ParseNodeOptions<HiftVocoderOptions>({{"precision", "int8"}});
  REQUIRE_FALSE(bad_precision.ok());
  CHECK(bad_precision.status().message().find("options.precision") != std::string::npos);
  auto unknown = ParseNodeOptions<HiftVocoderOptions>({{"nosie", "zero"}});
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().message().find("options.nosie") != std::string::npos);
  auto bad_enum = ParseNodeOptions<HiftVocoderOptions>({{"noise", "white"}});
  REQUIRE_FALSE(bad_enum.ok());
  CHECK(bad_enum.status().message().find("options.noise") != std::string::npos);
  auto bad_seed = ParseNodeOptions<HiftVocoderOptions>({{"seed", -1}});
  REQUIRE_FALSE(bad_seed.ok());
  CHECK(bad_seed.status().message().find("options.seed") != std::string::npos);
  NodeContext ctx;
  ctx.model_dir = test::TinySeed0Dir();
  HiftVocoderOptions missing;
  missing.checkpoint = "no_such_hift.pt";
  auto node = HiftVocoderNode::Create(missing, ctx);
  REQUIRE_FALSE(node.ok());
  CHECK(node.status().message().find("no_such_hift.pt") != std::string::npos);
}

}  // namespace
}  // namespace cosyflow
