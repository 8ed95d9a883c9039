// Mel filter generators against whisper's stored matrix, Matcha's basis and Kaldi's layout.
#include "nodes/prompt_audio/mel_filters.h"

#include <doctest/doctest.h>

#include <cmath>

#include "tests/nodes/prompt_audio/prompt_audio_test_util.h"

namespace cosyflow::prompt_audio {
namespace {

using testing::Golden;

TEST_CASE("SlaneyMelFilters: whisper's stored 128 x 201 matrix, bit for bit") {
  Tensor want = Golden("mel_filters_whisper128.npy");
  REQUIRE(want.shape() == Dims{128, 201});
  auto got = SlaneyMelFilters(16000, 400, 128);
  REQUIRE(got.ok());
  REQUIRE(got->size() == 128u * 201u);
  int64_t differing = 0;
  for (int64_t i = 0; i < want.numel(); ++i) differing += (*got)[i] != want.data<float>()[i];
  CHECK(differing == 0);
}

TEST_CASE("SlaneyMelFilters: Matcha's 24 kHz basis 80 x 961 (fmax 8000) within 1e-7") {
  Tensor want = Golden("mel_basis_matcha80.npy");
  REQUIRE(want.shape() == Dims{80, 961});
  auto got = SlaneyMelFilters(24000, 1920, 80, 0.0, 8000.0);
  REQUIRE(got.ok());
  REQUIRE(got->size() == 80u * 961u);
  double err = testing::MaxAbsDiff(got->data(), want.data<float>(), want.numel());
  int64_t differing = 0;
  for (int64_t i = 0; i < want.numel(); ++i) differing += (*got)[i] != want.data<float>()[i];
  MESSAGE("matcha basis: max abs error ", err, ", ", differing, " entries differ");
  CHECK(err <= 1e-7);
}

TEST_CASE("SlaneyMelFilters: bad arguments are errors") {
  CHECK(!SlaneyMelFilters(0, 400, 128).ok());
  CHECK(!SlaneyMelFilters(16000, 400, 0).ok());
  CHECK(!SlaneyMelFilters(16000, 400, 80, 9000.0, 8000.0).ok());
}

TEST_CASE("KaldiMelBanks: 80 bins on a 512-point FFT at 16 kHz") {
  auto got = KaldiMelBanks(80, 512, 16000.0);
  REQUIRE(got.ok());
  REQUIRE(got->size() == 80u * 257u);
  const auto mel = [](double f) { return 1127.0 * std::log(1.0 + f / 700.0); };
  const double lo = mel(20.0), hi = mel(8000.0), delta = (hi - lo) / 81;
  for (int b = 0; b < 80; ++b) {
    const float* row = got->data() + b * 257;
    CHECK(row[256] == 0.0f);  // the padded Nyquist column
    // Each triangle peaks near its centre (mel lo + (b+1)·delta) and vanishes outside its edges.
    double peak = 0;
    for (int k = 0; k < 256; ++k) {
      const double m = mel(k * 31.25);
      CHECK(row[k] >= 0.0f);
      CHECK(row[k] <= 1.0f);
      if (m <= lo + b * delta - 1e-3 || m >= lo + (b + 2) * delta + 1e-3) CHECK(row[k] == 0.0f);
      peak = std::max(peak, static_cast<double>(row[k]));
    }
    if (b >= 20) CHECK(peak > 0.5);  // the lowest triangles are narrower than one FFT bin
    CHECK(peak > 0.0);
  }
  // A bin exactly between two bins' centres belongs half to each: rows sum to ~1 inside.
  const double m = mel(2000.0);
  const int k = 64;  // 64 · 31.25 = 2000 Hz
  double sum = 0;
  for (int b = 0; b < 80; ++b) sum += (*got)[b * 257 + k];
  CHECK(m > lo);
  CHECK(std::abs(sum - 1.0) < 1e-5);
}

TEST_CASE("KaldiMelBanks: bad arguments are errors") {
  CHECK(!KaldiMelBanks(80, 511, 16000.0).ok());
  CHECK(!KaldiMelBanks(80, 512, 16000.0, 9000.0).ok());
}

}  // namespace
}  // namespace cosyflow::prompt_audio
