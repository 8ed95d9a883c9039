// Whisper log-mel, Kaldi fbank and Matcha mel against the float32 reference goldens.
#include "nodes/prompt_audio/features.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "tests/nodes/prompt_audio/prompt_audio_test_util.h"
#include "tests/test_util.h"

namespace cosyflow::prompt_audio {
namespace {

using testing::ExpectClose;
using testing::Golden;
using testing::GoldenF32;
using testing::PromptNames;

constexpr double kFeatureTol = 1e-4;

TEST_CASE("WhisperLogMel: whisper_mel128 of every fixture prompt") {
  auto mel = WhisperLogMel::Create(128);
  REQUIRE(mel.ok());
  for (const auto& name : PromptNames()) {
    const std::vector<float> x16k = GoldenF32(name + "/x16k.npy");
    auto got = mel->Compute(x16k);
    REQUIRE_MESSAGE(got.ok(), got.status().ToString());
    CHECK(got->shape() == Dims{128, static_cast<int64_t>(x16k.size()) / 160});
    ExpectClose(*got, Golden(name + "/whisper_mel128.npy"), kFeatureTol, name + " whisper mel");
  }
}

// Kaldi fbank goldens come from float32 FFTs, whose rounding noise is ~1e-7 of the frame's
// peak amplitude. A bin below its frame's peak (pre-emphasis leaves the lowest bins ~30 dB
// down) carries that noise in log energy as ~eps·sqrt(E_peak/E) = ~eps·exp((peak − v)/2):
// negligible near the peak, above 1e-4 from ~12 nepers (52 dB) down. So each bin is held to
// 1e-4 (the feature target) + 4·eps32·exp((peak − v)/2), every bin to 1e-3. `raw` is the golden
// fbank80_raw (peaks).
void CheckFbank(const Tensor& got, const Tensor& want, const Tensor& raw, const std::string& what) {
  REQUIRE(testing::CoreShape(got) == testing::CoreShape(want));
  const int64_t bins = want.size(-1), frames = want.numel() / bins;
  const float* a = got.data<float>();
  const float* b = want.data<float>();
  const float* r = raw.data<float>();
  double max_err = 0, max_err_near = 0, worst_ratio = 0;
  for (int64_t f = 0; f < frames; ++f) {
    const float peak = *std::max_element(r + f * bins, r + (f + 1) * bins);
    for (int64_t k = 0; k < bins; ++k) {
      const int64_t i = f * bins + k;
      const double err = std::abs(static_cast<double>(a[i]) - b[i]);
      const double depth = peak - r[i];
      const double tol = kFeatureTol + 4 * 1.19e-7 * std::exp(std::max(depth, 0.0) / 2);
      max_err = cosyflow::test::WorstOf(max_err, err);
      if (depth <= 12.0) max_err_near = cosyflow::test::WorstOf(max_err_near, err);
      worst_ratio = cosyflow::test::WorstOf(worst_ratio, err / tol);
    }
  }
  MESSAGE(what, ": max abs error ", max_err, "; within 52 dB of the frame peak ", max_err_near,
          "; worst error/tolerance ", worst_ratio);
  CHECK(worst_ratio <= 1.0);
  CHECK(max_err <= 1e-3);
}

TEST_CASE("KaldiFbank: raw and mean-normalised fbank80 of every fixture prompt") {
  auto fbank = KaldiFbank::Create(80, 16000);
  REQUIRE(fbank.ok());
  for (const auto& name : PromptNames()) {
    const std::vector<float> x16k = GoldenF32(name + "/x16k.npy");
    auto raw = fbank->Compute(x16k);
    REQUIRE_MESSAGE(raw.ok(), raw.status().ToString());
    CHECK(raw->shape() == Dims{1 + (static_cast<int64_t>(x16k.size()) - 400) / 160, 80});
    const Tensor want_raw = Golden(name + "/fbank80_raw.npy");
    CheckFbank(*raw, want_raw, want_raw, name + " fbank80_raw");
    auto norm = fbank->ComputeMeanNormalized(x16k);
    REQUIRE(norm.ok());
    CheckFbank(*norm, Golden(name + "/fbank80.npy"), want_raw, name + " fbank80");
  }
}

TEST_CASE("MatchaMel: prompt_mel24k (and the v2-era 16k->24k mel) of every fixture prompt") {
  auto mel = MatchaMel::Create();
  REQUIRE(mel.ok());
  for (const auto& name : PromptNames()) {
    const std::vector<float> x24k = GoldenF32(name + "/x24k.npy");
    auto got = mel->Compute(x24k);
    REQUIRE_MESSAGE(got.ok(), got.status().ToString());
    CHECK(got->shape() == Dims{static_cast<int64_t>(x24k.size()) / 480, 80});
    ExpectClose(*got, Golden(name + "/prompt_mel24k.npy"), kFeatureTol, name + " prompt_mel24k");
    if (testing::FixtureExists(name + "/x24k_from16k.npy")) {
      auto v2 = mel->Compute(GoldenF32(name + "/x24k_from16k.npy"));
      REQUIRE(v2.ok());
      ExpectClose(*v2, Golden(name + "/prompt_mel24k_v2era.npy"), kFeatureTol,
                  name + " prompt_mel24k_v2era");
    }
  }
}

TEST_CASE("Features: too-short input is an error, not a crash") {
  auto w = WhisperLogMel::Create();
  auto k = KaldiFbank::Create();
  auto m = MatchaMel::Create();
  REQUIRE((w.ok() && k.ok() && m.ok()));
  std::vector<float> short_x(200, 0.1f);
  CHECK(!w->Compute(short_x).ok());
  CHECK(!k->Compute(std::vector<float>(399, 0.1f)).ok());
  CHECK(!m->Compute(std::vector<float>(720, 0.1f)).ok());
  CHECK(!w->Compute({}).ok());
  // Silence is valid: every log floors (whisper: (−10 + 4)/4, fbank: ln eps, matcha: ln 1e-5 or
  // the 1e-9 magnitude floor).
  std::vector<float> zeros(16000, 0.0f);
  auto wz = w->Compute(zeros);
  REQUIRE(wz.ok());
  CHECK(wz->data<float>()[0] == doctest::Approx(-1.5));
  auto kz = k->Compute(zeros);
  REQUIRE(kz.ok());
  CHECK(kz->data<float>()[0] == doctest::Approx(std::log(1.1920929e-07)));
}

}  // namespace
}  // namespace cosyflow::prompt_audio
