// SincResampler against torchaudio's kernel facts (manifest) and the resampled fixture signals.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <numeric>

#include "nodes/prompt_audio/sinc_resampler.h"
#include "tests/nodes/prompt_audio/prompt_audio_test_util.h"
#include "tests/test_util.h"

namespace cosyflow::prompt_audio {
namespace {

using testing::Golden;
using testing::GoldenF32;
using testing::Manifest;
using testing::MaxAbsDiff;
using testing::PromptNames;

// The same kernel entirely in float64 (phase j/new in float64 too), as the fixture script's
// check_resample_kernel_precision builds it.
double AllFloat64Tap(const SincResampler& r, int phase, int tap) {
  const int o = r.orig_step(), n = r.new_step(), w = r.width();
  const double base = std::min(o, n) * 0.99;
  double t = (static_cast<double>(-phase) / n + static_cast<double>(tap - w) / o) * base;
  t = std::clamp(t, -6.0, 6.0);
  double win = std::cos(t * std::numbers::pi / 12);
  win *= win;
  t *= std::numbers::pi;
  return (t == 0 ? 1.0 : std::sin(t) / t) * win * (base / o);
}

TEST_CASE("SincResampler: kernel shape and float32 phase match torchaudio (manifest checks)") {
  const nlohmann::json manifest = Manifest();
  const auto& checks = manifest.at("checks").at("resample_kernel_phase_precision");
  REQUIRE(checks.size() > 0);
  for (const auto& [pair, c] : checks.items()) {
    INFO("rate pair ", pair);
    const int orig = std::stoi(pair.substr(0, pair.find("->")));
    const int target = std::stoi(pair.substr(pair.find("->") + 2));
    auto r = SincResampler::Create(orig, target);
    REQUIRE(r.ok());
    const auto& shape = c.at("kernel_shape");
    CHECK((*r)->new_step() == shape[0].get<int>());
    CHECK((*r)->width() == c.at("width").get<int>());
    double max_diff = 0;
    for (int p = 0; p < (*r)->new_step(); ++p) {
      std::vector<float> k = (*r)->FullKernel(p);
      REQUIRE(static_cast<int>(k.size()) == shape[2].get<int>());
      const auto [first, end] = (*r)->TapRange(p);
      for (int i = 0; i < static_cast<int>(k.size()); ++i) {
        if (i < first || i >= end) REQUIRE(k[i] == 0.0f);  // skipped taps are exactly zero
        float k64 = static_cast<float>(AllFloat64Tap(**r, p, i));
        max_diff = std::max(max_diff, std::abs(static_cast<double>(k64) - k[i]));
      }
    }
    // torchaudio's kernel differs from the all-float64 one by exactly this much; a kernel whose
    // phase were float64 would give 0, one with other rounding another value.
    const double want = c.at("max_abs_vs_all_float64").get<double>();
    MESSAGE(pair, ": max |k64 - k| = ", max_diff, " (torchaudio ", want, ")");
    CHECK(std::abs(max_diff - want) <= 1e-9 + 0.02 * want);
  }
}

TEST_CASE("SincResampler: reproduces the fixture's load_wav signals") {
  for (const auto& name : PromptNames()) {
    const int rate = testing::PromptMeta(name).at("file_sample_rate").get<int>();
    const std::vector<float> mono = GoldenF32(name + "/wav_mono.npy");
    struct Case {
      int from;
      const std::vector<float>* in;
      int to;
      std::string golden;
    };
    std::vector<float> x16k = GoldenF32(name + "/x16k.npy");
    std::vector<Case> cases = {{rate, &mono, 16000, name + "/x16k.npy"},
                               {rate, &mono, 24000, name + "/x24k.npy"}};
    if (testing::FixtureExists(name + "/x24k_from16k.npy")) {
      cases.push_back({16000, &x16k, 24000, name + "/x24k_from16k.npy"});
    }
    for (const Case& c : cases) {
      INFO(c.golden, " (", c.from, " -> ", c.to, ")");
      auto r = SincResampler::Create(c.from, c.to);
      REQUIRE(r.ok());
      std::vector<float> out;
      REQUIRE((*r)->Resample(*c.in, &out).ok());
      const std::vector<float> want = GoldenF32(c.golden);
      REQUIRE(out.size() == want.size());
      CHECK((*r)->OutputLength(static_cast<int64_t>(c.in->size())) ==
            static_cast<int64_t>(want.size()));
      const double err = MaxAbsDiff(out.data(), want.data(), static_cast<int64_t>(out.size()));
      MESSAGE(c.golden, ": max abs error ", err);
      CHECK(err <= 1e-4);
      CHECK(err <= 1e-6);  // observed: float32 rounding only
    }
  }
}

TEST_CASE("SincResampler: equal rates copy the input; bad rates are errors") {
  auto r = SincResampler::Create(22050, 22050);
  REQUIRE(r.ok());
  std::vector<float> in = {0.5f, -0.25f, 0.125f}, out;
  REQUIRE((*r)->Resample(in, &out).ok());
  CHECK(out == in);
  CHECK(!SincResampler::Create(0, 16000).ok());
  CHECK(!SincResampler::Create(16000, -1).ok());
  // Odd but common rates build; rates with a tiny common divisor are refused, not built.
  CHECK(SincResampler::Create(44056, 16000).ok());  // gcd 8: 2000 phases
  CHECK(SincResampler::Create(11025, 24000).ok());
  auto odd = SincResampler::Create(192001, 16000);
  REQUIRE(!odd.ok());
  CHECK(odd.status().message().find("common rate") != std::string::npos);
  // Near INT_MAX Hz (a corrupt header) 2 w + o overflowed an int and the filter passed the size
  // check; resampling then padded the input with ~2^31 zeros per call.
  for (int target : {16000, 24000}) {
    auto huge = SincResampler::Create(2147483647, target);
    REQUIRE(!huge.ok());
    CHECK(huge.status().message().find("common rate") != std::string::npos);
  }
}

TEST_CASE("SincResampler: a sine below the cutoff survives 44.1k -> 16k; lengths follow ceil") {
  auto r = SincResampler::Create(44100, 16000);
  REQUIRE(r.ok());
  CHECK((*r)->orig_step() == 441);
  CHECK((*r)->new_step() == 160);
  std::vector<float> in(44100), out;
  for (size_t i = 0; i < in.size(); ++i) {
    in[i] = static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * 1000.0 * i / 44100.0));
  }
  REQUIRE((*r)->Resample(in, &out).ok());
  REQUIRE(out.size() == 16000);
  double err = 0;
  for (size_t i = 200; i + 200 < out.size(); ++i) {  // away from the zero-padded edges
    double want = 0.5 * std::sin(2 * std::numbers::pi * 1000.0 * i / 16000.0);
    err = cosyflow::test::WorstOf(err, std::abs(out[i] - want));
  }
  CHECK(err < 2e-3);
  CHECK((*r)->OutputLength(1) == 1);  // ceil(160 / 441)
  CHECK((*r)->OutputLength(442) == 161);
}

TEST_CASE("SharedSincResampler: one instance per rate pair") {
  auto a = SharedSincResampler(22050, 16000);
  auto b = SharedSincResampler(22050, 16000);
  auto c = SharedSincResampler(22050, 24000);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  CHECK(a->get() == b->get());
  CHECK(a->get() != c->get());
}

}  // namespace
}  // namespace cosyflow::prompt_audio
