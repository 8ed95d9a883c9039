// Tests: STFT / iSTFT (kissfft) against the direct-DFT reference, round trip, known sinusoid.
#include "runtime/kernels/cpu/stft.h"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "runtime/kernels/ref/stft.h"
#include "tests/runtime/kernels/kernel_test_util.h"

namespace cosyflow::kernels {
namespace {

using test::CheckClose;
using test::RandomVector;

struct Spectrum {
  std::vector<float> re, im;
  int64_t frames = 0;
};

Spectrum RunStft(bool fast, const ref::StftPlan& plan, const std::vector<float>& x) {
  Spectrum s;
  const auto n = static_cast<int64_t>(x.size());
  s.frames = plan.Frames(n);
  s.re.resize(plan.bins() * s.frames);
  s.im.resize(plan.bins() * s.frames);
  std::vector<float> scratch(plan.StftScratchFloats());
  const auto ns = static_cast<int64_t>(scratch.size());
  Status st = fast ? cpu::Stft(plan, x.data(), n, s.re.data(), s.im.data(), scratch.data(), ns)
                   : ref::Stft(plan, x.data(), n, s.re.data(), s.im.data(), scratch.data(), ns);
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  return s;
}

std::vector<float> RunIstft(bool fast, const ref::StftPlan& plan, const Spectrum& s) {
  std::vector<float> out(plan.IstftLength(s.frames));
  std::vector<float> scratch(plan.IstftScratchFloats(s.frames));
  const auto ns = static_cast<int64_t>(scratch.size());
  Status st =
      fast ? cpu::Istft(plan, s.re.data(), s.im.data(), s.frames, out.data(), scratch.data(), ns)
           : ref::Istft(plan, s.re.data(), s.im.data(), s.frames, out.data(), scratch.data(), ns);
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  return out;
}

TEST_CASE("Stft: cpu (kissfft) matches the direct DFT for HiFT, mel and Whisper configs") {
  struct Cfg {
    int64_t n_fft, hop, win;
    bool center;
    int64_t samples;
  };
  for (Cfg c : {Cfg{16, 4, 16, true, 480}, Cfg{16, 4, 16, true, 33}, Cfg{400, 160, 400, true, 1601},
                Cfg{1920, 480, 1920, false, 4800}, Cfg{10, 3, 8, true, 37}}) {
    auto plan = ref::StftPlan::Create({c.n_fft, c.hop, c.win, c.center});
    REQUIRE(plan.ok());
    auto x = RandomVector(c.samples, 3);
    Spectrum a = RunStft(true, *plan, x), b = RunStft(false, *plan, x);
    CHECK(a.frames == (c.center ? 1 + c.samples / c.hop : 1 + (c.samples - c.n_fft) / c.hop));
    const std::string what = fmt::format("stft n_fft {} hop {}", c.n_fft, c.hop);
    CheckClose(a.re, b.re, 1e-5, what + " re");
    CheckClose(a.im, b.im, 1e-5, what + " im");
    // Uncentred Hann has a zero envelope at sample 0 (torch's NOLA error too), so only the
    // centred configs go through istft.
    if (c.center) {
      CheckClose(RunIstft(true, *plan, a), RunIstft(false, *plan, a), 1e-5, what + " istft");
    }
  }
}

TEST_CASE("Stft: stft -> istft reconstructs the signal (tol 1e-5)") {
  for (int64_t samples : {96, 480, 4000}) {
    auto plan = ref::StftPlan::Create({16, 4, 16, true});
    REQUIRE(plan.ok());
    auto x = RandomVector(samples, 7);
    std::vector<float> y = RunIstft(true, *plan, RunStft(true, *plan, x));
    REQUIRE(static_cast<int64_t>(y.size()) == samples);  // samples divisible by hop
    CheckClose(y, x, 1e-5, fmt::format("round trip {}", samples));
  }
  auto plan = ref::StftPlan::Create({400, 160, 400, true});
  REQUIRE(plan.ok());
  auto x = RandomVector(1600, 8);
  std::vector<float> y = RunIstft(true, *plan, RunStft(true, *plan, x));
  CheckClose(y, x, 1e-5, "round trip n_fft 400");
}

TEST_CASE("Stft: a bin-centred sinusoid peaks at the analytic bin value") {
  // x = cos(2 pi 3 n / 16): an interior frame with the periodic Hann window gives
  // X[3] = sum w[n] cos^2(...) = n_fft / 4 = 4 (real), X[2] = X[4] = -2, other bins 0.
  auto plan = ref::StftPlan::Create({16, 4, 16, true});
  REQUIRE(plan.ok());
  std::vector<float> x(256);
  for (int n = 0; n < 256; ++n) x[n] = static_cast<float>(std::cos(2.0 * M_PI * 3 * n / 16));
  Spectrum s = RunStft(true, *plan, x);
  const int64_t m = 18;  // interior frame; frame start 4m - 8 = 64 is a multiple of 16
  auto at = [&](const std::vector<float>& v, int64_t f) { return v[f * s.frames + m]; };
  CHECK(at(s.re, 3) == doctest::Approx(4.0).epsilon(1e-5));
  CHECK(at(s.re, 2) == doctest::Approx(-2.0).epsilon(1e-5));
  CHECK(at(s.re, 4) == doctest::Approx(-2.0).epsilon(1e-5));
  for (int64_t f : {0, 1, 5, 6, 7, 8}) CHECK(std::abs(at(s.re, f)) < 1e-5);
  for (int64_t f = 0; f < 9; ++f) CHECK(std::abs(at(s.im, f)) < 1e-5);
}

TEST_CASE("Stft: polar helpers round trip") {
  auto re = RandomVector(33, 1), im = RandomVector(33, 2);
  std::vector<float> mag(33), ph(33), r2(33), i2(33);
  REQUIRE(cpu::ComplexToPolar(re.data(), im.data(), 33, mag.data(), ph.data()).ok());
  REQUIRE(cpu::PolarToComplex(mag.data(), ph.data(), 33, r2.data(), i2.data()).ok());
  CheckClose(r2, re, 1e-6, "polar re");
  CheckClose(i2, im, 1e-6, "polar im");
}

TEST_CASE("Stft: istft of an uncentred Hann plan reports the zero envelope (NOLA)") {
  auto plan = ref::StftPlan::Create({16, 4, 16, false});
  REQUIRE(plan.ok());
  std::vector<float> re(9 * 3), im(9 * 3), out(plan->IstftLength(3));
  std::vector<float> scratch(plan->IstftScratchFloats(3));
  Status s = cpu::Istft(*plan, re.data(), im.data(), 3, out.data(), scratch.data(),
                        static_cast<int64_t>(scratch.size()));
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("NOLA") != std::string::npos);
}

TEST_CASE("Stft: bad arguments are Status errors") {
  CHECK_FALSE(ref::StftPlan::Create({15, 4, 15, true}).ok());  // odd n_fft
  CHECK_FALSE(ref::StftPlan::Create({16, 0, 16, true}).ok());
  CHECK_FALSE(ref::StftPlan::Create({16, 4, 17, true}).ok());
  auto plan = ref::StftPlan::Create({16, 4, 16, true});
  REQUIRE(plan.ok());
  std::vector<float> x(8), re(64), im(64), scratch(plan->StftScratchFloats());
  const auto ns = static_cast<int64_t>(scratch.size());
  // 8 samples cannot be reflect-padded by 8.
  CHECK_FALSE(cpu::Stft(*plan, x.data(), 8, re.data(), im.data(), scratch.data(), ns).ok());
  x.resize(16);
  CHECK(cpu::Stft(*plan, x.data(), 16, re.data(), im.data(), scratch.data(), ns).ok());
  CHECK_FALSE(cpu::Stft(*plan, x.data(), 16, re.data(), im.data(), scratch.data(), 3).ok());
  CHECK_FALSE(cpu::Istft(*plan, re.data(), im.data(), 0, x.data(), scratch.data(), ns).ok());
}

}  // namespace
}  // namespace cosyflow::kernels
