// Helpers for the speech-LM tests: the tiny-seed0 model (loaded once) and golden tensors.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "nodes/llm/speech_lm.h"
#include "runtime/io/checkpoint.h"
#include "runtime/io/npy.h"
#include "tests/test_util.h"

namespace cosyflow::test {

inline const SpeechLm& TinyLm() {
  static std::unique_ptr<SpeechLm> lm = [] {
    auto r = SpeechLm::Load(TinySeed0Dir());
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    return std::move(r).value();
  }();
  return *lm;
}

// The tiny model with the EOS bias lowered by 100: EOS is then never the greedy pick.
inline const SpeechLm& TinyLmWithoutEos() {
  static std::unique_ptr<SpeechLm> lm = [] {
    auto ckpt = Checkpoint::Open(TinySeed0Dir() + "/llm.pt");
    REQUIRE(ckpt.ok());
    auto bias = ckpt->Get("llm_decoder.bias");
    REQUIRE(bias.ok());
    auto copy = bias->Clone();
    REQUIRE(copy.ok());
    copy->data<float>()[6561] -= 100.0f;
    auto get = [&](const std::string& name, const Dims& shape) -> Result<Tensor> {
      if (name == "llm_decoder.bias") return *copy;
      return ckpt->Get(name, shape);
    };
    auto r = SpeechLm::Create(TinyLm().config(), get);
    REQUIRE(r.ok());
    return std::move(r).value();
  }();
  return *lm;
}

inline Tensor Golden(const std::string& name) {
  auto t = ReadNpy(TinySeed0Dir() + "/golden/" + name + ".npy");
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  return *t;
}

inline std::vector<int32_t> GoldenIds(const std::string& name) {
  Tensor t = Golden(name);
  const int32_t* p = t.data<int32_t>();
  return std::vector<int32_t>(p, p + t.numel());
}

inline std::vector<float> GoldenFloats(const std::string& name) {
  Tensor t = Golden(name);
  auto c = t.Contiguous();
  REQUIRE(c.ok());
  const float* p = c->data<float>();
  return std::vector<float>(p, p + t.numel());
}

// NaN-sticky (a NaN on either side gives +inf: std::max would drop it and pass).
inline float MaxAbsDiff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) {
    const float d = std::fabs(a[i] - b[i]);
    if (std::isnan(d)) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}

// Shapes of `lm` (the fixture's config): rows of the hidden state and of the logits.
inline int64_t Hidden(const SpeechLm& lm) { return lm.config().qwen.hidden_size; }
inline int64_t SpeechVocab(const SpeechLm& lm) { return lm.config().speech_vocab(); }

// The zero-shot prefill rows of the `llm` group: SOS, prompt text + text, TASK_ID, prompt speech.
inline std::vector<SpeechLmRow> LlmGroupPrefillRows() {
  std::vector<SpeechLmRow> rows{{SpeechLmTable::kLlmEmbedding, kSpeechLmSos}};
  for (int32_t id : GoldenIds("input_prompt_text")) rows.push_back({SpeechLmTable::kText, id});
  for (int32_t id : GoldenIds("input_text")) rows.push_back({SpeechLmTable::kText, id});
  rows.push_back({SpeechLmTable::kLlmEmbedding, kSpeechLmTaskId});
  for (int32_t id : GoldenIds("input_llm_prompt_speech_token")) {
    rows.push_back({SpeechLmTable::kSpeech, id});
  }
  return rows;
}

// The `llm` group's prefill on `lm` (whole and in chunks of 7 rows): hidden states within 1e-4
// and step-0 logits within 1e-3 of the goldens, one `layer_out` tap per layer and chunk, the
// `embeds` taps equal to the input rows.
inline void CheckPrefillGoldens(const SpeechLm& lm) {
  const auto rows = LlmGroupPrefillRows();
  const auto n = static_cast<int64_t>(rows.size());
  std::vector<float> x(rows.size() * Hidden(lm));
  REQUIRE(lm.Embed(rows, x.data()).ok());
  for (int64_t chunk : {int64_t{128}, int64_t{7}}) {  // chunked prefill is exact too
    CAPTURE(chunk);
    auto state = lm.NewState(n, chunk);
    REQUIRE_MESSAGE(state.ok(), state.status().ToString());
    std::vector<float> hidden, embeds;
    int layer_taps = 0;
    SpeechLmHook hook = [&](const SpeechLmTap& t) {
      if (t.name == "final_norm") hidden.insert(hidden.end(), t.data, t.data + t.rows * t.cols);
      if (t.name == "embeds") embeds.insert(embeds.end(), t.data, t.data + t.rows * t.cols);
      if (t.name == "layer_out") ++layer_taps;
    };
    std::vector<float> logits(SpeechVocab(lm));
    const Status st = lm.Forward(state->get(), x.data(), n, logits.data(), &hook);
    REQUIRE_MESSAGE(st.ok(), st.ToString());
    CHECK((*state)->length() == n);
    CHECK(layer_taps == lm.config().qwen.num_hidden_layers * ((n + chunk - 1) / chunk));
    CHECK(embeds == x);
    const auto golden_hidden = GoldenFloats("llm_prefill_hidden");
    REQUIRE(hidden.size() == golden_hidden.size());
    CHECK(MaxAbsDiff(hidden.data(), golden_hidden.data(), hidden.size()) < 1e-4f);
    const auto golden_logits = GoldenFloats("llm_step0_logits");
    REQUIRE(golden_logits.size() == logits.size());
    CHECK(MaxAbsDiff(logits.data(), golden_logits.data(), logits.size()) < 1e-3f);
  }
}

// Teacher-forced decoding of the golden greedy tokens after the `llm` prefill: every step's
// logits within 1e-3 of the goldens.
inline void CheckTeacherForcedGoldens(const SpeechLm& lm) {
  const auto rows = LlmGroupPrefillRows();
  const auto n = static_cast<int64_t>(rows.size());
  const int64_t vocab = SpeechVocab(lm);
  std::vector<float> x(rows.size() * Hidden(lm));
  REQUIRE(lm.Embed(rows, x.data()).ok());
  const auto golden = GoldenFloats("llm_steps_logits");  // [steps + 1, vocab]
  const auto tokens = GoldenIds("llm_greedy_tokens");    // [steps]
  REQUIRE(golden.size() == (tokens.size() + 1) * static_cast<size_t>(vocab));
  auto state = lm.NewState(n + static_cast<int64_t>(tokens.size()));
  REQUIRE(state.ok());
  std::vector<float> logits(vocab);
  REQUIRE(lm.Forward(state->get(), x.data(), n, logits.data()).ok());
  float worst = MaxAbsDiff(logits.data(), golden.data(), vocab);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const SpeechLmRow row{SpeechLmTable::kSpeech, tokens[i]};
    REQUIRE(lm.Embed({&row, 1}, x.data()).ok());
    REQUIRE(lm.Forward(state->get(), x.data(), 1, logits.data()).ok());
    worst = WorstOf(worst, MaxAbsDiff(logits.data(), golden.data() + (i + 1) * vocab, vocab));
  }
  CHECK(worst < 1e-3f);
  CHECK((*state)->length() == n + static_cast<int64_t>(tokens.size()));
}

}  // namespace cosyflow::test
