// Resampler node through the harness: streaming equals one-shot, flush, cancel, identity.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "nodes/core/node_harness.h"
#include "nodes/resample/resampler.h"
#include "nodes/resample/resampler_node.h"

namespace cosyflow {
namespace {

std::vector<float> Tone(int n, int rate, float hz = 440.0f) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = 0.5f * std::sin(2.0f * 3.14159265f * hz * i / rate);
  return v;
}

Audio Chunk(const std::vector<float>& all, size_t pos, size_t n, int rate) {
  auto r = Audio::FromSamples(std::span<const float>(all).subspan(pos, n), rate);
  REQUIRE(r.ok());
  return *r;
}

// Streams `input` in chunks of the given sizes (cycled) and returns all output samples.
std::vector<float> RunChunked(NodeHarness& h, uint64_t session, const std::vector<float>& input,
                              int rate, const std::vector<size_t>& sizes) {
  REQUIRE(h.Open(session).ok());
  size_t pos = 0;
  for (size_t k = 0; pos < input.size(); ++k) {
    size_t n = std::min(sizes[k % sizes.size()], input.size() - pos);
    REQUIRE(h.Push(session, 0, Chunk(input, pos, n, rate)).ok());
    pos += n;
  }
  REQUIRE(h.Close(session).ok());
  return h.AudioSamples(session);
}

TEST_CASE("Resampler: streamed output equals one-shot output at odd chunk boundaries") {
  for (int out_rate : {8000, 16000, 22050, 44100, 48000}) {
    CAPTURE(out_rate);
    auto h = NodeHarness::Make<ResamplerNode>({{"output_rate", out_rate}});
    REQUIRE(h.ok());
    std::vector<float> in = Tone(24000, 24000);
    std::vector<float> one = RunChunked(*h, 1, in, 24000, {in.size()});
    std::vector<float> streamed = RunChunked(*h, 2, in, 24000, {1, 7, 333, 4801, 2, 1000});
    // One second in -> about one second out.
    CHECK(std::abs(static_cast<int>(one.size()) - out_rate) <= 2);
    REQUIRE(streamed.size() == one.size());
    double max_diff = 0;
    for (size_t i = 0; i < one.size(); ++i) max_diff = std::max<double>(max_diff, std::abs(one[i] - streamed[i]));
    CHECK(max_diff < 1e-5);
  }
}

TEST_CASE("Resampler: end of stream flushes the filter tail") {
  auto h = NodeHarness::Make<ResamplerNode>({{"output_rate", 16000}, {"quality", "very_high"}});
  REQUIRE(h.ok());
  std::vector<float> in = Tone(4800, 24000);
  REQUIRE(h->Open(1).ok());
  REQUIRE(h->Push(1, 0, Chunk(in, 0, in.size(), 24000)).ok());
  size_t before = h->AudioSamples(1).size();
  REQUIRE(h->Close(1).ok());
  size_t after = h->AudioSamples(1).size();
  CHECK(after > before);  // the tail only comes out at the flush
  CHECK(after == 3200);
  for (const auto& m : h->Outputs(1)) CHECK(m->get<Audio>()->sample_rate == 16000);
}

TEST_CASE("Resampler: cancel emits nothing more") {
  auto h = NodeHarness::Make<ResamplerNode>({{"output_rate", 16000}});
  REQUIRE(h.ok());
  std::vector<float> in = Tone(4800, 24000);
  REQUIRE(h->Open(1).ok());
  REQUIRE(h->Push(1, 0, Chunk(in, 0, in.size(), 24000)).ok());
  size_t n = h->Outputs(1).size();
  REQUIRE(h->Close(1, CloseReason::kCancel).ok());
  CHECK(h->Outputs(1).size() == n);
}

TEST_CASE("Resampler: equal rates pass chunks through unchanged, sharing storage") {
  auto h = NodeHarness::Make<ResamplerNode>({{"output_rate", 24000}});
  REQUIRE(h.ok());
  std::vector<float> in = Tone(1000, 24000);
  Audio a = Chunk(in, 0, in.size(), 24000);
  REQUIRE(h->Open(1).ok());
  REQUIRE(h->Push(1, 0, a).ok());
  REQUIRE(h->Close(1).ok());
  REQUIRE(h->Outputs(1).size() == 1);
  CHECK(h->Outputs(1)[0]->get<Audio>()->samples.storage() == a.samples.storage());
  CHECK(h->AudioSamples(1) == in);
}

TEST_CASE("Resampler: a rate change within a session fails that session only") {
  auto h = NodeHarness::Make<ResamplerNode>({{"output_rate", 16000}});
  REQUIRE(h.ok());
  std::vector<float> in = Tone(480, 24000);
  REQUIRE(h->Open(1).ok());
  REQUIRE(h->Open(2).ok());
  REQUIRE(h->Push(1, 0, Chunk(in, 0, 480, 24000)).ok());
  Status s = h->Push(1, 0, Chunk(in, 0, 480, 48000));
  CHECK(!s.ok());
  CHECK(s.message().find("48000") != std::string::npos);
  CHECK(h->Push(2, 0, Chunk(in, 0, 480, 48000)).ok());
}

TEST_CASE("Resampler: options reject unknown keys and bad values with paths") {
  auto bad = ParseNodeOptions<ResamplerOptions>({{"output_rat", 16000}, {"quality", "best"}});
  REQUIRE(!bad.ok());
  CHECK(bad.status().message().find("options.output_rat: unknown key") != std::string::npos);
  CHECK(bad.status().message().find("options.quality: 'best' is not one of") != std::string::npos);
  auto range = ParseNodeOptions<ResamplerOptions>({{"output_rate", 10}});
  REQUIRE(!range.ok());
  CHECK(range.status().message().find("options.output_rate: must be in") != std::string::npos);
  CHECK(!Resampler::Create(24000, 0, ResampleQuality::kHigh).ok());
}

}  // namespace
}  // namespace cosyflow
