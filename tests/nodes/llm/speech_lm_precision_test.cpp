// Tests: reduced-precision LLM weights (bf16, weight-only int8) against f32 on the tiny model:
// teacher-forced logits stay within stated bounds of the f32 logits, and greedy decoding agrees
// with f32 on the next token at most steps (the agreement rate is reported, not required to be
// 100 %: near-ties may flip).
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "nodes/llm/speech_lm.h"
#include "runtime/kernels/cpu/dnnl_context.h"
#include "tests/nodes/llm/llm_test_util.h"
#include "tests/test_util.h"

namespace cosyflow {
namespace {

using kernels::cpu::WeightType;
using test::GoldenIds;

std::unique_ptr<SpeechLm> LoadTiny(WeightType wt) {
  auto r = SpeechLm::Load(test::TinySeed0Dir(), {wt});
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(r).value();
}

// Teacher-forced along the golden greedy path: per step logits and argmax.
struct Trace {
  std::vector<std::vector<float>> logits;
  std::vector<int32_t> argmax;
};

// decode_threads > 0: the prefill on the current thread count, then the decode steps on that
// many (oneDNN's prefill GEMMs may block differently by thread count).
Trace TeacherForced(const SpeechLm& lm, const std::vector<SpeechLmRow>& prefill,
                    const std::vector<int32_t>& path, int decode_threads = 0) {
  const int64_t h = lm.config().qwen.hidden_size, v = lm.config().speech_vocab();
  std::vector<float> x(prefill.size() * h), logits(v);
  REQUIRE(lm.Embed(prefill, x.data()).ok());
  auto state = lm.NewState(static_cast<int64_t>(prefill.size() + path.size() + 1));
  REQUIRE(state.ok());
  Trace t;
  REQUIRE(lm.Forward(state->get(), x.data(), static_cast<int64_t>(prefill.size()), logits.data())
              .ok());
  if (decode_threads > 0) kernels::cpu::SetDnnlNumThreads(decode_threads);
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i > 0) {
      const SpeechLmRow row{SpeechLmTable::kSpeech, path[i - 1]};
      REQUIRE(lm.Embed({&row, 1}, x.data()).ok());
      REQUIRE(lm.Forward(state->get(), x.data(), 1, logits.data()).ok());
    }
    t.logits.push_back(logits);
    t.argmax.push_back(static_cast<int32_t>(
        std::max_element(logits.begin(), logits.end()) - logits.begin()));
  }
  return t;
}

TEST_CASE("SpeechLm: bf16 and int8 weights stay within stated logit bounds of f32") {
  const auto prefill = test::LlmGroupPrefillRows();
  const auto path = GoldenIds("llm_greedy_tokens");
  const auto f32 = TeacherForced(test::TinyLm(), prefill, path);
  float scale = 0.0f;
  for (const auto& l : f32.logits) {
    for (float v : l) scale = std::max(scale, std::fabs(v));
  }
  // Bounds relative to the largest |logit|: bf16 rounds weights and inputs to 8 mantissa bits
  // (~2^-9 each), int8 rounds weights to 1/254 of each row's range.
  for (WeightType wt : {WeightType::kBF16, WeightType::kInt8}) {
    const std::string name = kernels::cpu::WeightTypeName(wt);
    CAPTURE(name);
    auto lm = LoadTiny(wt);
    const auto t = TeacherForced(*lm, prefill, path);
    float worst = 0.0f;
    int agree = 0;
    for (size_t i = 0; i < t.logits.size(); ++i) {
      for (size_t j = 0; j < t.logits[i].size(); ++j) {
        worst = cosyflow::test::WorstOf(worst, std::fabs(t.logits[i][j] - f32.logits[i][j]));
      }
      agree += t.argmax[i] == f32.argmax[i];
    }
    const double rel = worst / scale;
    const double rate = static_cast<double>(agree) / static_cast<double>(t.argmax.size());
    MESSAGE(name, ": max |logit - f32| = ", worst, " (", rel, " of max |logit| ", scale,
            "), teacher-forced argmax agreement ", agree, "/", t.argmax.size(), " = ", rate);
    CHECK(rel > 1e-7);  // really computed in the reduced type
    CHECK(rel < (wt == WeightType::kBF16 ? 1e-2 : 2e-2));
    CHECK(rate >= 0.75);
  }
}

// A decode step on a team (SpeechLm::DecodeStep: linears' rows split over the threads, spin
// barriers between phases) computes exactly what the one-call-per-linear path computes, for
// every weight type and team size, including teams with more threads than some linears have
// row blocks (GEMV rows are grouped in blocks of 4; the split keeps the blocks) or than the
// model has KV heads (attention is split by KV head).
// int16 weights are a flow precision (their panels have no row products for the decode): the
// LM refuses them at load with a message that says so.
TEST_CASE("SpeechLm: int16 weights are refused at load") {
  auto r = SpeechLm::Load(test::TinySeed0Dir(), {WeightType::kInt16});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(r.status().message().find("int16 is for the flow") != std::string::npos);
}

TEST_CASE("SpeechLm: the team decode step equals the single-thread step bit for bit") {
  const auto prefill = test::LlmGroupPrefillRows();
  const auto path = GoldenIds("llm_greedy_tokens");
  const int saved = kernels::cpu::DnnlNumThreads();
  for (const WeightType wt : {WeightType::kF32, WeightType::kBF16, WeightType::kInt8}) {
    CAPTURE(kernels::cpu::WeightTypeName(wt));
    const auto lm = LoadTiny(wt);
    kernels::cpu::SetDnnlNumThreads(2);
    const auto one = TeacherForced(*lm, prefill, path, 1);  // Forward's chunk path, one thread
    for (const int threads : {2, 3, 7}) {
      CAPTURE(threads);
      kernels::cpu::SetDnnlNumThreads(2);
      const auto team = TeacherForced(*lm, prefill, path, threads);
      REQUIRE(team.logits.size() == one.logits.size());
      size_t differing = 0;
      for (size_t i = 0; i < one.logits.size(); ++i) differing += team.logits[i] != one.logits[i];
      CHECK(differing == 0);
    }
    // A state made on one thread has one attention scratch slice: a team decoding it later
    // runs every KV head's attention on thread 0 (the others have no slice of their own).
    kernels::cpu::SetDnnlNumThreads(1);
    const auto one1 = TeacherForced(*lm, prefill, path, 1);
    kernels::cpu::SetDnnlNumThreads(1);
    const auto team1 = TeacherForced(*lm, prefill, path, 2);
    REQUIRE(team1.logits.size() == one1.logits.size());
    size_t differing = 0;
    for (size_t i = 0; i < one1.logits.size(); ++i) differing += team1.logits[i] != one1.logits[i];
    CHECK(differing == 0);
  }
  kernels::cpu::SetDnnlNumThreads(saved);
}

}  // namespace
}  // namespace cosyflow
