// HiftSession: token2wav streaming caches/fade against the goldens, noise modes, errors.
#include "nodes/hift/hift_session.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <limits>

#include "tests/nodes/hift/hift_test_util.h"

namespace cosyflow::hift {
namespace {

using test_util::LoadGolden;
using test_util::MaxAbsDiff;
using test_util::SnrDb;

HiftSessionOptions ZeroNoise() {
  HiftSessionOptions o;
  o.noise = HiftNoiseMode::kZero;
  return o;
}

// Columns [t0, t1) of a [C, T] channel-major golden as a new [C, t1 - t0] buffer.
std::vector<float> Columns(const test_util::Golden& g, int64_t t0, int64_t t1) {
  const int64_t c = g.shape[1], t = g.shape[2];
  std::vector<float> out;
  for (int64_t ch = 0; ch < c; ++ch) {
    out.insert(out.end(), g.v.begin() + ch * t + t0, g.v.begin() + ch * t + t1);
  }
  return out;
}

TEST_CASE("HiftSession: two-call stream on input_hift_mel matches hift_stream_* goldens") {
  HiftSession s(test_util::TinyVocoder(), ZeroNoise());
  const auto mel = LoadGolden("input_hift_mel");
  const int64_t t = mel.shape[2];
  std::vector<float> chunk0, chunk1;
  REQUIRE(s.Push(mel.v.data(), t, 24, false, &chunk0).ok());
  REQUIRE(s.Push(mel.v.data() + 24, t, 16, true, &chunk1).ok());
  CHECK(s.finished());
  const auto g0 = LoadGolden("hift_stream_chunk0");
  const auto graw = LoadGolden("hift_stream_call1_speech");
  const auto g1 = LoadGolden("hift_stream_chunk1");
  MESSAGE("chunk0 ", MaxAbsDiff(chunk0, g0.v), " call1 raw ",
          MaxAbsDiff(s.last_call().raw_speech, graw.v), " chunk1 ", MaxAbsDiff(chunk1, g1.v));
  CHECK(MaxAbsDiff(chunk0, g0.v) <= 2e-3);
  CHECK(MaxAbsDiff(s.last_call().raw_speech, graw.v) <= 2e-3);
  CHECK(MaxAbsDiff(chunk1, g1.v) <= 2e-3);
  // Further pushes are rejected.
  std::vector<float> more;
  CHECK_FALSE(s.Push(mel.v.data(), t, 8, true, &more).ok());
}

TEST_CASE("HiftSession: token2wav_stream HiFT calls and chunks match the t2w_stream goldens") {
  HiftSession s(test_util::TinyVocoder(), ZeroNoise());
  std::vector<float> total;
  for (int i = 0; i < 3; ++i) {
    const std::string p = "t2w_stream_hift" + std::to_string(i);
    const auto in_mel = LoadGolden(p + "_in_mel");
    // The session prepends its own cached frames: feed only the new ones.
    const int64_t skip = i == 0 ? 0 : 8;
    const auto fresh = Columns(in_mel, skip, in_mel.shape[2]);
    const int64_t n = in_mel.shape[2] - skip;
    std::vector<float> chunk;
    REQUIRE(s.Push(fresh.data(), n, n, i == 2, &chunk).ok());
    const auto& call = s.last_call();
    CHECK(call.mel == in_mel.v);  // the cache reproduces the reference's input exactly
    // The source cache is our own (float-close) source tail, not a copy of the golden.
    CHECK(MaxAbsDiff(call.cache_source, LoadGolden(p + "_in_cache_source").v) <= 2e-3);
    const auto g_speech = LoadGolden(p + "_out_speech");
    const auto g_source = LoadGolden(p + "_out_source");
    const auto g_chunk = LoadGolden("t2w_stream_chunk" + std::to_string(i));
    MESSAGE("call ", i, " speech ", MaxAbsDiff(call.raw_speech, g_speech.v), " source ",
            MaxAbsDiff(call.source, g_source.v), " chunk ", MaxAbsDiff(chunk, g_chunk.v),
            " chunk SNR ", SnrDb(chunk, g_chunk.v));
    CHECK(MaxAbsDiff(call.raw_speech, g_speech.v) <= 2e-3);
    CHECK(MaxAbsDiff(call.source, g_source.v) <= 2e-3);
    CHECK(MaxAbsDiff(chunk, g_chunk.v) <= 2e-3);
    total.insert(total.end(), chunk.begin(), chunk.end());
  }
  CHECK(total.size() == 96000);
}

TEST_CASE("HiftSession: non-streaming on the flow mel matches t2w_nonstream_wav") {
  HiftSession s(test_util::TinyVocoder(), ZeroNoise());
  const auto mel = LoadGolden("t2w_stream_flow2_mel");
  std::vector<float> speech;
  REQUIRE(s.Synthesize(mel.v.data(), mel.shape[2], mel.shape[2], &speech).ok());
  const auto g = LoadGolden("t2w_nonstream_wav");
  MESSAGE("nonstream max abs ", MaxAbsDiff(speech, g.v), " SNR ", SnrDb(speech, g.v));
  CHECK(MaxAbsDiff(speech, g.v) <= 2e-3);
  CHECK(SnrDb(speech, g.v) >= 40.0);
}

// Streaming restarts the harmonic phase integration at every call (only the first 3840 source
// samples are carried over), so later chunks are phase-shifted versions of the non-streamed
// waveform: sample-wise SNR is low by design. The first chunk's interior must agree.
TEST_CASE("HiftSession: streamed vs non-streamed output (measured; first chunk interior equal)") {
  const auto mel = LoadGolden("t2w_stream_flow2_mel");
  const int64_t t = mel.shape[2];
  HiftSession whole(test_util::TinyVocoder(), ZeroNoise());
  std::vector<float> ref, streamed;
  REQUIRE(whole.Synthesize(mel.v.data(), t, t, &ref).ok());
  HiftSession s(test_util::TinyVocoder(), ZeroNoise());
  REQUIRE(s.Push(mel.v.data(), t, 80, false, &streamed).ok());
  REQUIRE(s.Push(mel.v.data() + 80, t, 100, false, &streamed).ok());
  REQUIRE(s.Push(mel.v.data() + 180, t, 20, true, &streamed).ok());
  REQUIRE(streamed.size() == ref.size());
  const double snr = SnrDb(streamed, ref);
  const std::vector<float> head_s(streamed.begin(), streamed.begin() + 30000);
  const std::vector<float> head_r(ref.begin(), ref.begin() + 30000);
  const double head_snr = SnrDb(head_s, head_r);
  MESSAGE("streamed vs non-streamed: max abs ", MaxAbsDiff(streamed, ref), " SNR ", snr,
          " dB; first 30000 samples SNR ", head_snr, " dB");
  CHECK(head_snr > 60.0);
  CHECK(MaxAbsDiff(streamed, ref) > 1e-3);  // later chunks restart the phase
}

TEST_CASE("HiftSession: random noise is reproducible per seed and differs across seeds") {
  const auto mel = LoadGolden("input_hift_mel");
  auto run = [&](uint64_t seed) {
    HiftSessionOptions o;
    o.seed = seed;
    HiftSession s(test_util::TinyVocoder(), o);
    std::vector<float> speech;
    REQUIRE(s.Synthesize(mel.v.data(), mel.shape[2], 20, &speech).ok());
    return speech;
  };
  const auto a = run(7), b = run(7), c = run(8);
  CHECK(a == b);
  CHECK(MaxAbsDiff(a, c) > 1e-4);
}

// A finished session's scratch goes to the next session of the same vocoder (its pages already
// faulted in); the buffers it brings, grown for a longer stream and holding its values, change
// nothing: the next stream equals the same stream on a fresh vocoder bit for bit.
TEST_CASE("HiftSession: scratch handed between sessions is reused and changes nothing") {
  const auto mel = LoadGolden("input_hift_mel");
  const int64_t t = mel.shape[2];
  auto stream = [&](const std::shared_ptr<const HiftVocoder>& v, int64_t first, int64_t second,
                    uint64_t seed) {
    HiftSessionOptions o;
    o.seed = seed;
    HiftSession s(v, o);
    std::vector<float> out;
    REQUIRE(s.Push(mel.v.data(), t, first, false, &out).ok());
    REQUIRE(s.Push(mel.v.data() + first, t, second, true, &out).ok());
    return out;
  };
  auto fresh = HiftVocoder::Create(cosyflow::test::TinySeed0Dir());
  auto used = HiftVocoder::Create(cosyflow::test::TinySeed0Dir());
  REQUIRE(fresh.ok());
  REQUIRE(used.ok());
  (void)stream(*used, 30, 10, 3);  // a longer stream first: its scratch is larger
  {
    std::unique_ptr<HiftScratch> s = (*used)->AcquireScratch();
    CHECK(s->Bytes() > 100000);  // the first session's, not a new one
    // Poisoned: a value read before it is written in the next session would show as NaN.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (auto* v : {&s->mel, &s->f0_a, &s->f0_b, &s->f0, &s->sine, &s->stft, &s->stft_work, &s->x,
                    &s->y, &s->up, &s->t1, &s->t2, &s->post, &s->istft, &s->src_tmp, &s->noise}) {
      std::fill(v->begin(), v->end(), nan);
    }
    for (auto* vv : {&s->rb_out, &s->work_a, &s->work_b, &s->work_c, &s->src}) {
      for (auto& v : *vv) std::fill(v.begin(), v.end(), nan);
    }
    (*used)->ReleaseScratch(std::move(s));
  }
  const auto want = stream(*fresh, 12, 8, 5);
  const auto got = stream(*used, 12, 8, 5);
  CHECK(got == want);
  CHECK((*fresh)->AcquireScratch()->Bytes() > 0);  // handed back on destruction
}

TEST_CASE("HiftSession: injected draws are checked and used once") {
  HiftSession s(test_util::TinyVocoder(), ZeroNoise());
  const auto mel = LoadGolden("input_hift_mel");
  CHECK_FALSE(s.InjectNoise(std::vector<float>(5), {}).ok());  // rand_ini needs 9 values
  REQUIRE(s.InjectNoise({}, std::vector<float>(9 * 10)).ok());
  std::vector<float> speech;
  const Status st = s.Synthesize(mel.v.data(), mel.shape[2], 20, &speech);
  CHECK_FALSE(st.ok());  // wrong length for 20 frames
  CHECK(st.message().find("sine_noise") != std::string::npos);
  CHECK(s.Synthesize(mel.v.data(), mel.shape[2], 20, &speech).ok());  // injection consumed
}

TEST_CASE("HiftSession: a non-final chunk shorter than the mel cache is rejected") {
  HiftSession s(test_util::TinyVocoder(), ZeroNoise());
  const auto mel = LoadGolden("input_hift_mel");
  std::vector<float> out;
  const Status st = s.Push(mel.v.data(), mel.shape[2], 5, false, &out);
  CHECK_FALSE(st.ok());
  CHECK(out.empty());
}

}  // namespace
}  // namespace cosyflow::hift
