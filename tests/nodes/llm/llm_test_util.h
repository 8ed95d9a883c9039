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

inline float MaxAbsDiff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

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

}  // namespace cosyflow::test
