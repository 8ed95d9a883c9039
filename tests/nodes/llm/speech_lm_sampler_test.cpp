// Tests of SpeechLmSampler with injected random numbers (spec §5.6, test hook 14).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "nodes/llm/speech_lm_sampler.h"

namespace cosyflow {
namespace {

constexpr int64_t kVocab = 6564;
constexpr int32_t kEos = 6561;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Returns the queued numbers in order and counts the draws.
class QueueRandom : public SpeechLmRandom {
 public:
  explicit QueueRandom(std::vector<double> v) : v_(std::move(v)) {}
  double Uniform() override { return v_.at(n_++); }
  size_t draws() const { return n_; }

 private:
  std::vector<double> v_;
  size_t n_ = 0;
};

// Log-probs with the given probabilities at the given ids and ~0 mass elsewhere.
std::vector<float> LogProbs(std::vector<std::pair<int32_t, double>> mass) {
  std::vector<float> lp(kVocab, -60.0f);
  for (auto [id, p] : mass) lp[static_cast<size_t>(id)] = static_cast<float>(std::log(p));
  return lp;
}

TEST_CASE("SpeechLmSampler: ties are ordered by the lower id (stable sort)") {
  SpeechLmSampler s({}, kVocab);
  auto lp = LogProbs({{900, 0.25}, {7, 0.25}, {300, 0.25}, {42, 0.25}});
  std::vector<int32_t> ids;
  std::vector<float> probs;
  s.Nucleus(lp.data(), &ids, &probs);
  CHECK(ids == std::vector<int32_t>{7, 42, 300, 900});  // 0.25 · 4 crosses 0.8 at the 4th
  for (float p : probs) CHECK(p == doctest::Approx(0.25).epsilon(1e-5));
}

TEST_CASE("SpeechLmSampler: a top-1 probability >= top_p gives a single, certain candidate") {
  SpeechLmSampler s({}, kVocab);
  auto lp = LogProbs({{5, 0.85}, {6, 0.15}});
  std::vector<int32_t> ids;
  std::vector<float> probs;
  s.Nucleus(lp.data(), &ids, &probs);
  CHECK(ids == std::vector<int32_t>{5});
  QueueRandom rng({0.9999});
  CHECK(s.Sample(lp.data(), {}, false, kEos, rng) == 5);
}

TEST_CASE("SpeechLmSampler: the nucleus includes the entry crossing top_p and obeys top_k") {
  SpeechLmSampler s({}, kVocab);
  auto lp = LogProbs({{10, 0.5}, {11, 0.25}, {12, 0.15}, {13, 0.1}});
  std::vector<int32_t> ids;
  std::vector<float> probs;
  s.Nucleus(lp.data(), &ids, &probs);
  CHECK(ids == std::vector<int32_t>{10, 11, 12});  // 0.5, 0.75 (< 0.8), 0.9
  std::vector<float> flat(kVocab, 0.0f);  // uniform: top_k = 25 stops first
  s.Nucleus(flat.data(), &ids, &probs);
  CHECK(ids.size() == 25);
  CHECK(ids.front() == 0);
  CHECK(ids.back() == 24);
}

TEST_CASE("SpeechLmSampler: the draw is proportional to the candidates' probabilities") {
  SpeechLmSampler s({}, kVocab);
  const auto base = LogProbs({{10, 0.5}, {11, 0.25}, {12, 0.15}, {13, 0.1}});
  // Candidates 10, 11, 12 with total 0.9: u·0.9 falls in [0, .5), [.5, .75), [.75, .9).
  for (auto [u, want] : std::vector<std::pair<double, int32_t>>{
           {0.1, 10}, {0.54, 10}, {0.6, 11}, {0.8, 11}, {0.95, 12}}) {
    auto lp = base;
    QueueRandom rng({u});
    CHECK(s.Sample(lp.data(), {}, false, kEos, rng) == want);
    CHECK(rng.draws() == 1);
  }
}

TEST_CASE("SpeechLmSampler: RAS falls back to the full distribution without the repeated id") {
  SpeechLmSampler s({}, kVocab);
  const auto base = LogProbs({{3, 0.9}, {4, 0.1}});
  SUBCASE("repeat inside the window triggers; the repeated id is excluded") {
    const std::vector<int32_t> history{3, 1, 1, 1, 1, 1, 1, 1, 1, 1};  // 3 is 10 back
    auto lp = base;
    QueueRandom rng({0.0, 0.5});
    CHECK(s.Sample(lp.data(), history, false, kEos, rng) == 4);
    CHECK(rng.draws() == 2);
    CHECK(lp[3] == kNegInf);  // modified in place like the reference
  }
  SUBCASE("a repeat 11 tokens back is outside the window") {
    const std::vector<int32_t> history{3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    auto lp = base;
    QueueRandom rng({0.0});
    CHECK(s.Sample(lp.data(), history, false, kEos, rng) == 3);
    CHECK(rng.draws() == 1);
  }
  SUBCASE("pre-2026-02-04 behaviour keeps the repeated id in the fallback") {
    SpeechLmSamplingOptions o;
    o.ras_exclude_repeated = false;
    SpeechLmSampler old(o, kVocab);
    auto lp = base;
    QueueRandom rng({0.0, 0.5});
    CHECK(old.Sample(lp.data(), std::vector<int32_t>{3}, false, kEos, rng) == 3);
    CHECK(rng.draws() == 2);
  }
}

TEST_CASE("SpeechLmSampler: ignore_eos masks only EOS; 6562 and FILL stay sampleable") {
  SpeechLmSampler s({}, kVocab);
  auto lp = LogProbs({{kEos, 0.95}, {20, 0.05}});
  QueueRandom rng({0.5});
  CHECK(s.Sample(lp.data(), {}, true, kEos, rng) == 20);
  CHECK(lp[kEos] == kNegInf);
  auto lp2 = LogProbs({{kEos + 1, 0.95}, {20, 0.05}});
  QueueRandom rng2({0.5});
  CHECK(s.Sample(lp2.data(), {}, true, kEos, rng2) == kEos + 1);
  auto lp3 = LogProbs({{kEos, 0.95}, {20, 0.05}});
  QueueRandom rng3({0.5});
  CHECK(s.Sample(lp3.data(), {}, false, kEos, rng3) == kEos);
}

TEST_CASE("SpeechLmSampler: greedy picks the argmax, lowest id on ties, and draws nothing") {
  SpeechLmSamplingOptions o;
  o.greedy = true;
  SpeechLmSampler s(o, kVocab);
  auto lp = LogProbs({{50, 0.4}, {9, 0.4}, {kEos, 0.2}});
  QueueRandom rng({});
  CHECK(s.Sample(lp.data(), std::vector<int32_t>{9}, false, kEos, rng) == 9);
  auto lp2 = LogProbs({{kEos, 0.6}, {50, 0.4}});
  CHECK(s.Sample(lp2.data(), {}, true, kEos, rng) == 50);
  CHECK(rng.draws() == 0);
}

TEST_CASE("SpeechLmSampler: the same seed gives the same picks") {
  SpeechLmSampler s({}, kVocab);
  std::vector<float> flat(kVocab, 0.0f);
  auto run = [&](uint64_t seed) {
    SpeechLmSeededRandom rng(seed);
    std::vector<int32_t> picks;
    for (int i = 0; i < 40; ++i) {
      auto lp = flat;
      picks.push_back(s.Sample(lp.data(), {}, false, kEos, rng));
    }
    return picks;
  };
  CHECK(run(1986) == run(1986));
  CHECK(run(1986) != run(7));
}

TEST_CASE("SpeechLmSampler: options are validated") {
  SpeechLmSamplingOptions o;
  CHECK(o.Validate().ok());
  o.top_p = 0;
  CHECK_FALSE(o.Validate().ok());
  o = {};
  o.top_k = 0;
  CHECK(o.Validate().message().find("top_k") != std::string::npos);
  o = {};
  o.tau_r = 1.5;
  CHECK_FALSE(o.Validate().ok());
}

}  // namespace
}  // namespace cosyflow
