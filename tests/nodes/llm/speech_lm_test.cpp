// Tests of the SpeechLm model: loading, embeddings and the forward against tiny-seed0 goldens.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "nodes/llm/speech_lm.h"
#include "runtime/io/checkpoint.h"
#include "tests/device_test_util.h"
#include "tests/nodes/llm/llm_test_util.h"
#include "tests/test_util.h"

namespace cosyflow {
namespace {

using test::Golden;
using test::GoldenFloats;
using test::GoldenIds;
using test::MaxAbsDiff;
using test::LlmGroupPrefillRows;
using test::TinyLm;

TEST_CASE("SpeechLm: loads the tiny llm.pt with the config from CosyVoice-BlankEN") {
  const SpeechLm& lm = TinyLm();
  // The fixture's own record of its shapes (config.json "qwen"), against what the loader read
  // from CosyVoice-BlankEN/config.json.
  nlohmann::json fixture;
  std::ifstream(test::TinySeed0Dir() + "/config.json") >> fixture;
  const nlohmann::json& q = fixture.at("qwen");
  const auto& c = lm.config().qwen;
  CHECK(c.hidden_size == q.at("hidden_size").get<int64_t>());
  CHECK(c.num_hidden_layers == q.at("num_hidden_layers").get<int64_t>());
  CHECK(c.num_attention_heads == q.at("num_attention_heads").get<int64_t>());
  CHECK(c.num_key_value_heads == q.at("num_key_value_heads").get<int64_t>());
  CHECK(c.intermediate_size == q.at("intermediate_size").get<int64_t>());
  CHECK(c.vocab_size == q.at("vocab_size").get<int64_t>());
  CHECK(lm.config().speech_vocab() == fixture.at("speech_token_size").get<int64_t>() + 3);
  // Per layer: q|k|v (hidden + 2 kv heads x head_dim rows) + o + gate|up + down; then the speech
  // decoder (speech_vocab x hidden); f32.
  const int64_t h = c.hidden_size, kv = c.kv_dim();
  const int64_t per_layer =
      (h + 2 * kv) * h + h * h + 2 * c.intermediate_size * h + h * c.intermediate_size;
  CHECK(lm.decode_weight_bytes() ==
        size_t{4} *
            static_cast<size_t>(c.num_hidden_layers * per_layer + lm.config().speech_vocab() * h));
}

TEST_CASE("SpeechLm: the llm.pt key set matches the expected weights exactly") {
  auto ckpt = Checkpoint::Open(test::TinySeed0Dir() + "/llm.pt");
  REQUIRE(ckpt.ok());
  const auto expected = SpeechLm::ExpectedWeights(TinyLm().config());
  CHECK(ckpt->size() == expected.size());  // 2 layers: 4 + 12*2 + 4 + lm_head = 31 (295 at 24)
  for (const auto& [name, shape] : expected) {
    const Tensor* t = ckpt->Find(name);
    REQUIRE_MESSAGE(t != nullptr, name);
    CHECK_MESSAGE(t->shape() == shape, name);
  }
  SpeechLmConfig release;
  CHECK(SpeechLm::ExpectedWeights(release).size() == 295);
}

TEST_CASE("SpeechLm: a missing or mis-shaped weight is an error naming the tensor") {
  auto ckpt = Checkpoint::Open(test::TinySeed0Dir() + "/llm.pt");
  REQUIRE(ckpt.ok());
  SpeechLmConfig config = TinyLm().config();
  auto get_missing = [&](const std::string& name, const Dims& shape) -> Result<Tensor> {
    if (name == "llm_decoder.bias") return NotFound("tensor '{}' not found", name);
    return ckpt->Get(name, shape);
  };
  auto r = SpeechLm::Create(config, get_missing);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("llm_decoder.bias") != std::string::npos);

  config.qwen.intermediate_size = 96;  // the file has 128
  auto get = [&](const std::string& name, const Dims& shape) { return ckpt->Get(name, shape); };
  auto r2 = SpeechLm::Create(config, get);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.status().message().find("mlp.gate_proj.weight") != std::string::npos);
}

TEST_CASE("SpeechLm: device cuda loads where a GPU is visible, else fails with a clear status") {
  auto r = SpeechLm::Load(test::TinySeed0Dir(),
                          {kernels::cpu::WeightType::kF32, Device::kCuda});
  if (test::CheckCudaLoad(r, "llm.pt")) CHECK((*r)->device() == Device::kCuda);
}

TEST_CASE("SpeechLm: Load rejects a directory without llm.pt and reports the path") {
  auto r = SpeechLm::Load("/nonexistent-model-dir");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("llm.pt") != std::string::npos);
}

TEST_CASE("Qwen2Config: a field of the wrong kind or range is an error naming it and the value") {
  struct Case {
    const char* key;
    nlohmann::json value;
    const char* fragment;
  };
  const Case cases[] = {
      {"hidden_size", 64.5, "cfg.json: hidden_size: expected an integer, got 64.5"},
      {"num_hidden_layers", 1e19, "cfg.json: num_hidden_layers: integer 1e+19 is out of range"},
      {"rope_theta", 1e39, "cfg.json: rope_theta: number 1e+39 is out of range for a 32-bit float"},
      {"tie_word_embeddings", 1, "cfg.json: tie_word_embeddings: expected true or false, got 1"},
  };
  for (const Case& c : cases) {
    auto r = Qwen2Config::FromJson(nlohmann::json{{c.key, c.value}}, "cfg.json");
    REQUIRE(!r.ok());
    CHECK_MESSAGE(r.status().message().find(c.fragment) != std::string::npos,
                  r.status().ToString());
  }
  auto ok = Qwen2Config::FromJson(nlohmann::json{{"hidden_size", 896.0}}, "cfg.json");
  REQUIRE_MESSAGE(ok.ok(), ok.status().ToString());
  CHECK(ok->hidden_size == 896);
}

TEST_CASE("SpeechLm: prefill embeddings are exact copies of the table rows") {
  const SpeechLm& lm = TinyLm();
  const auto rows = LlmGroupPrefillRows();
  std::vector<float> x(rows.size() * test::Hidden(lm));
  REQUIRE(lm.Embed(rows, x.data()).ok());
  const auto golden = GoldenFloats("llm_prefill_input_embeds");
  REQUIRE(golden.size() == x.size());
  CHECK(MaxAbsDiff(x.data(), golden.data(), x.size()) == 0.0f);
  const SpeechLmRow bad[] = {
      {SpeechLmTable::kText, static_cast<int32_t>(lm.config().qwen.vocab_size)}};
  CHECK(lm.Embed(bad, x.data()).code() == StatusCode::kOutOfRange);
}

TEST_CASE("SpeechLm: prefill hidden states and step-0 logits match the goldens") {
  test::CheckPrefillGoldens(TinyLm());
}

TEST_CASE("SpeechLm: teacher-forced decode steps match every golden step's logits") {
  test::CheckTeacherForcedGoldens(TinyLm());
}

TEST_CASE("SpeechLm: forward past the state's capacity fails and leaves the cache unchanged") {
  const SpeechLm& lm = TinyLm();
  auto state = lm.NewState(4);
  REQUIRE(state.ok());
  std::vector<float> x(5 * test::Hidden(lm), 0.1f), logits(test::SpeechVocab(lm));
  Status s = lm.Forward(state->get(), x.data(), 5, logits.data());
  CHECK(s.code() == StatusCode::kOutOfRange);
  CHECK((*state)->length() == 0);
  CHECK(lm.Forward(state->get(), x.data(), 4, logits.data()).ok());
  CHECK((*state)->length() == 4);
}

}  // namespace
}  // namespace cosyflow
