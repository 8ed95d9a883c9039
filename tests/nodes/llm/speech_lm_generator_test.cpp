// Tests of SpeechLmGenerator: lengths, modes, streaming, cancel and the bi-stream state machine.
#include <doctest/doctest.h>

#include <cstring>

#include "nodes/llm/speech_lm_generator.h"
#include "runtime/io/checkpoint.h"
#include "tests/nodes/llm/llm_test_util.h"

namespace cosyflow {
namespace {

using test::GoldenIds;
using test::TinyLm;
using test::TinyLmWithoutEos;

SpeechLmGenerateOptions Greedy() {
  SpeechLmGenerateOptions o;
  o.sampling.greedy = true;
  return o;
}

SpeechLmInput LlmGroupInput() {
  return {GoldenIds("input_text"), GoldenIds("input_prompt_text"),
          GoldenIds("input_llm_prompt_speech_token")};
}

// Runs to the end; returns the emitted tokens.
std::vector<int32_t> RunAll(SpeechLmGenerator& g) {
  std::vector<int32_t> tokens;
  for (int guard = 0; guard < 10000; ++guard) {
    auto s = g.Step();
    REQUIRE_MESSAGE(s.ok(), s.status().ToString());
    if (s->kind == SpeechLmStep::Kind::kToken) tokens.push_back(s->token);
    if (s->kind == SpeechLmStep::Kind::kEnd) break;
    REQUIRE(s->kind != SpeechLmStep::Kind::kNeedText);
  }
  return tokens;
}

TEST_CASE("SpeechLmGenerator: greedy zero-shot streams the golden tokens one per step") {
  auto g = SpeechLmGenerator::Start(TinyLm(), Greedy(), LlmGroupInput(), 0);
  REQUIRE(g.ok());
  CHECK((*g)->min_len() == 16);
  CHECK((*g)->max_len() == 160);
  const auto golden = GoldenIds("llm_greedy_tokens");
  for (size_t i = 0; i < golden.size(); ++i) {
    auto s = (*g)->Step();
    REQUIRE(s.ok());
    REQUIRE(s->kind == SpeechLmStep::Kind::kToken);
    CHECK(s->token == golden[i]);
    CHECK((*g)->calls() == static_cast<int64_t>(i) + 1);
  }
  auto end = (*g)->Step();  // the 17th call returns EOS
  REQUIRE(end.ok());
  CHECK(end->kind == SpeechLmStep::Kind::kEnd);
  CHECK((*g)->calls() == 17);
  CHECK((*g)->Step()->kind == SpeechLmStep::Kind::kEnd);
  CHECK((*g)->calls() == 17);
}

TEST_CASE("SpeechLmGenerator: min_len masks EOS and max_len bounds the output") {
  SUBCASE("min ratio 3 -> exactly 3 * Lt tokens (the tiny EOS bias wins right after)") {
    auto o = Greedy();
    o.min_token_text_ratio = 3;
    auto g = SpeechLmGenerator::Start(TinyLm(), o, LlmGroupInput(), 0);
    REQUIRE(g.ok());
    CHECK(RunAll(**g).size() == 24);
  }
  SUBCASE("without EOS the generation stops at max_len = floor(20 * Lt)") {
    auto g = SpeechLmGenerator::Start(TinyLmWithoutEos(), Greedy(), LlmGroupInput(), 0);
    REQUIRE(g.ok());
    const auto tokens = RunAll(**g);
    CHECK(tokens.size() == 160);
    CHECK((*g)->calls() == 160);
    for (int32_t t : tokens) CHECK(t < 6561);
  }
  SUBCASE("empty text: no call, no token") {
    SpeechLmInput in = LlmGroupInput();
    in.text.clear();
    auto g = SpeechLmGenerator::Start(TinyLm(), Greedy(), in, 0);
    REQUIRE(g.ok());
    CHECK(RunAll(**g).empty());
    CHECK((*g)->calls() == 0);
  }
}

TEST_CASE("SpeechLmGenerator: min_tokens / max_tokens give an exact length") {
  const auto golden = GoldenIds("llm_greedy_tokens");  // 16 tokens, then EOS
  SUBCASE("min_tokens = max_tokens = 40: every stop id masked until 40, then the bound") {
    auto o = Greedy();
    o.min_tokens = o.max_tokens = 40;
    auto g = SpeechLmGenerator::Start(TinyLm(), o, LlmGroupInput(), 0);
    REQUIRE(g.ok());
    CHECK((*g)->max_len() == 40);
    const auto tokens = RunAll(**g);
    REQUIRE(tokens.size() == 40);
    for (size_t i = 0; i < golden.size(); ++i) CHECK(tokens[i] == golden[i]);
    for (int32_t t : tokens) CHECK(t < 6561);
  }
  SUBCASE("sampling: min_tokens = max_tokens = 50 for every seed") {
    for (uint64_t seed : {1u, 2u, 3u}) {
      SpeechLmGenerateOptions o;
      o.min_tokens = o.max_tokens = 50;
      auto g = SpeechLmGenerator::Start(TinyLm(), o, LlmGroupInput(), seed);
      REQUIRE(g.ok());
      CHECK(RunAll(**g).size() == 50);
    }
  }
  SUBCASE("max_tokens below the ratio bound cuts the output") {
    auto o = Greedy();
    o.max_tokens = 5;
    auto g = SpeechLmGenerator::Start(TinyLm(), o, LlmGroupInput(), 0);
    REQUIRE(g.ok());
    CHECK(RunAll(**g).size() == 5);
  }
  SUBCASE("min_tokens > max_tokens is an error") {
    auto o = Greedy();
    o.min_tokens = 10;
    o.max_tokens = 5;
    auto g = SpeechLmGenerator::Start(TinyLm(), o, LlmGroupInput(), 0);
    REQUIRE_FALSE(g.ok());
    CHECK(g.status().message().find("min_tokens") != std::string::npos);
  }
}

TEST_CASE("SpeechLmGenerator: ForMode drops what the reference front end deletes") {
  const SpeechLmInput in{{1, 2}, {3, 4}, {5, 6}};
  auto cl = in.ForMode(SpeechLmMode::kCrossLingual);
  CHECK((cl.prompt_text.empty() && cl.prompt_speech.empty() && cl.text == in.text));
  auto np = in.ForMode(SpeechLmMode::kNoPrompt);
  CHECK((np.prompt_text.empty() && np.prompt_speech.empty()));
  auto ins = in.ForMode(SpeechLmMode::kInstruct2);
  CHECK((ins.prompt_text == in.prompt_text && ins.prompt_speech.empty()));
  auto zs = in.ForMode(SpeechLmMode::kZeroShot);
  CHECK((zs.prompt_text == in.prompt_text && zs.prompt_speech == in.prompt_speech));
  CHECK(ParseSpeechLmMode("instruct").value() == SpeechLmMode::kInstruct2);
  CHECK(ParseSpeechLmMode("sft").value() == SpeechLmMode::kNoPrompt);
  CHECK_FALSE(ParseSpeechLmMode("vc").ok());
}

TEST_CASE("SpeechLmGenerator: sampling is reproducible per seed and emits only speech ids") {
  auto run = [](uint64_t seed) {
    auto g = SpeechLmGenerator::Start(TinyLm(), SpeechLmGenerateOptions{}, LlmGroupInput(), seed);
    REQUIRE(g.ok());
    return RunAll(**g);
  };
  const auto a = run(1986), b = run(1986), c = run(5);
  CHECK(a == b);
  CHECK(a.size() >= 16);
  CHECK(a != c);
  for (int32_t t : a) CHECK((t >= 0 && t < 6561));
}

// A finished request's state goes back to the model and the next request that fits takes it
// (reset, its KV rows stale): the same logits, bit for bit, and tokens as on a new state.
TEST_CASE("SpeechLmGenerator: a state reused from an earlier request computes as a new one") {
  auto loaded = SpeechLm::Load(test::TinySeed0Dir());
  REQUIRE(loaded.ok());
  const SpeechLm& lm = **loaded;
  CHECK(lm.idle_states() == 0);
  auto run = [&](SpeechLmGenerator& g, std::vector<std::vector<float>>* logits) {
    const int64_t vocab = lm.config().speech_vocab();
    g.set_call_observer([logits, vocab](const SpeechLmCall& c) {
      logits->emplace_back(c.logits, c.logits + vocab);
    });
    return RunAll(g);
  };
  const void* first_state = nullptr;
  {  // an earlier request: sampled, so its KV rows differ from the greedy run's
    auto a = SpeechLmGenerator::Start(lm, SpeechLmGenerateOptions{}, LlmGroupInput(), 5);
    REQUIRE(a.ok());
    first_state = &(*a)->state();
    std::vector<std::vector<float>> unused;
    CHECK(run(**a, &unused).size() >= 16);
  }
  CHECK(lm.idle_states() == 1);
  std::vector<std::vector<float>> reused_logits, fresh_logits;
  std::vector<int32_t> reused_tokens, fresh_tokens;
  {
    auto b = SpeechLmGenerator::Start(lm, Greedy(), LlmGroupInput(), 0);
    REQUIRE(b.ok());
    CHECK(&(*b)->state() == first_state);  // taken from the model's idle states
    CHECK((*b)->state().length() == 0);
    CHECK(lm.idle_states() == 0);
    reused_tokens = run(**b, &reused_logits);
    // A request while b holds that state gets a new one.
    auto c = SpeechLmGenerator::Start(lm, Greedy(), LlmGroupInput(), 0);
    REQUIRE(c.ok());
    CHECK(&(*c)->state() != first_state);
    fresh_tokens = run(**c, &fresh_logits);
  }
  CHECK(lm.idle_states() == 2);
  const auto golden = GoldenIds("llm_greedy_tokens");
  CHECK(reused_tokens == std::vector<int32_t>(golden.begin(), golden.end()));
  CHECK(fresh_tokens == reused_tokens);
  REQUIRE(fresh_logits.size() == reused_logits.size());
  for (size_t i = 0; i < fresh_logits.size(); ++i) {
    CAPTURE(i);
    CHECK(std::memcmp(fresh_logits[i].data(), reused_logits[i].data(),
                      fresh_logits[i].size() * sizeof(float)) == 0);
  }
  // A request that needs more positions than any idle state holds gets a new state; the model
  // keeps at most kIdleStates of them, the largest.
  SpeechLmGenerateOptions longer = Greedy();
  longer.max_token_text_ratio = 40;
  {
    auto d = SpeechLmGenerator::Start(lm, longer, LlmGroupInput(), 0);
    REQUIRE(d.ok());
    CHECK(lm.idle_states() == 2);
    CHECK((*d)->state().capacity() > 160);
  }
  CHECK(lm.idle_states() == SpeechLm::kIdleStates);
  auto e = lm.AcquireState(200);
  REQUIRE(e.ok());
  CHECK((*e)->capacity() > 200);  // the largest idle state, kept over the smaller ones
  lm.ReleaseState(std::move(*e));
}

TEST_CASE("SpeechLmGenerator: cancel stops before the next forward call") {
  auto g = SpeechLmGenerator::Start(TinyLm(), Greedy(), LlmGroupInput(), 0);
  REQUIRE(g.ok());
  REQUIRE((*g)->Step().ok());
  (*g)->RequestCancel();
  auto s = (*g)->Step();
  CHECK(s.status().code() == StatusCode::kCancelled);
  CHECK((*g)->calls() == 1);
  CHECK((*g)->done());
}

TEST_CASE("SpeechLmGenerator: bad inputs are errors at Start") {
  SpeechLmInput in = LlmGroupInput();
  in.text.push_back(static_cast<int32_t>(TinyLm().config().qwen.vocab_size));  // out of range
  auto g = SpeechLmGenerator::Start(TinyLm(), Greedy(), in, 0);
  CHECK(g.status().code() == StatusCode::kOutOfRange);
  auto o = Greedy();
  o.max_context =
      static_cast<int64_t>(test::LlmGroupPrefillRows().size());  // rows + max_len do not fit
  auto g2 = SpeechLmGenerator::Start(TinyLm(), o, LlmGroupInput(), 0);
  CHECK(g2.status().message().find("max_context") != std::string::npos);
  auto g3 = SpeechLmGenerator::Start(TinyLm(), Greedy(), LlmGroupInput(), 0);
  CHECK((*g3)->PushText(std::vector<int32_t>{1}).code() == StatusCode::kInvalidArgument);
}

TEST_CASE("SpeechLmGenerator: bi-stream waits for text, then decodes 15 tokens per FILL") {
  auto g = SpeechLmGenerator::StartBistream(TinyLm(), Greedy(), {}, {}, 0);
  REQUIRE(g.ok());
  CHECK((*g)->Step()->kind == SpeechLmStep::Kind::kNeedText);
  REQUIRE((*g)->PushText(std::vector<int32_t>{10, 11, 12, 13}).ok());
  CHECK((*g)->Step()->kind == SpeechLmStep::Kind::kNeedText);  // SOS + 4 text: not enough
  CHECK((*g)->calls() == 0);
  REQUIRE((*g)->PushText(std::vector<int32_t>{14}).ok());
  int tokens = 0;
  while (true) {
    auto s = (*g)->Step();
    REQUIRE(s.ok());
    if (s->kind != SpeechLmStep::Kind::kToken) {
      CHECK(s->kind == SpeechLmStep::Kind::kFill);  // forced at out index 15
      break;
    }
    ++tokens;
  }
  CHECK(tokens == 15);
  CHECK((*g)->Step()->kind == SpeechLmStep::Kind::kNeedText);
  REQUIRE((*g)->EndText().ok());
  CHECK_FALSE((*g)->PushText(std::vector<int32_t>{1}).ok());
  CHECK(RunAll(**g).empty());  // final phase: the tiny EOS bias ends it at once
  CHECK((*g)->calls() == 17);
}

TEST_CASE("SpeechLmGenerator: the bi-stream final phase is bounded by final_max_tokens") {
  auto o = Greedy();
  o.final_max_tokens = 7;
  auto g = SpeechLmGenerator::StartBistream(TinyLmWithoutEos(), o, {}, {}, 0);
  REQUIRE(g.ok());
  REQUIRE((*g)->PushText(std::vector<int32_t>{1, 2, 3}).ok());
  REQUIRE((*g)->EndText().ok());
  CHECK(RunAll(**g).size() == 7);
  CHECK((*g)->done());
}

TEST_CASE("SpeechLmGenerator: a bi-stream session that outgrows max_context fails cleanly") {
  auto o = Greedy();
  o.max_context = 12;
  auto g = SpeechLmGenerator::StartBistream(TinyLm(), o, {}, {}, 0);
  REQUIRE(g.ok());
  REQUIRE((*g)->PushText(std::vector<int32_t>{1, 2, 3, 4, 5}).ok());
  Status failure;
  for (int i = 0; i < 20 && failure.ok(); ++i) {
    auto s = (*g)->Step();
    if (!s.ok()) failure = s.status();
  }
  CHECK(failure.code() == StatusCode::kOutOfRange);
  CHECK((*g)->done());
}

// The voice prefix ([SOS] ++ prompt text) from the cache gives bit-identical logits and tokens
// to computing it (the generator always prefills the prefix as its own call).
TEST_CASE("SpeechLmGenerator: a cached voice prefix gives exactly the uncached logits and tokens") {
  SpeechLmGenerateOptions o;  // sampling, fixed seed
  SpeechLmPrefixCache cache(4);
  auto run = [&](SpeechLmPrefixCache* c, std::vector<float>* logits) {
    auto g = SpeechLmGenerator::Start(TinyLm(), o, LlmGroupInput(), 7, c);
    REQUIRE(g.ok());
    (*g)->set_call_observer([&](const SpeechLmCall& call) {
      logits->insert(logits->end(), call.logits, call.logits + test::SpeechVocab(TinyLm()));
    });
    return RunAll(**g);
  };
  std::vector<float> l0, l1, l2;
  const auto plain = run(nullptr, &l0);
  const auto first = run(&cache, &l1);   // miss: computes and stores the prefix
  const auto second = run(&cache, &l2);  // hit: loads it
  CHECK(cache.misses() == 1);
  CHECK(cache.hits() == 1);
  CHECK(cache.size() == 1);
  REQUIRE(!plain.empty());
  CHECK(first == plain);
  CHECK(second == plain);
  REQUIRE(l2.size() == l0.size());
  CHECK(std::memcmp(l2.data(), l0.data(), l0.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(l1.data(), l0.data(), l0.size() * sizeof(float)) == 0);
  // Another voice (prompt text) misses; the LRU keeps at most max_entries.
  SpeechLmInput other = LlmGroupInput();
  other.prompt_text.pop_back();
  auto g = SpeechLmGenerator::Start(TinyLm(), o, other, 7, &cache);
  REQUIRE(g.ok());
  (void)RunAll(**g);
  CHECK(cache.misses() == 2);
  CHECK(cache.size() == 2);
  SpeechLmPrefixCache one(1);
  one.Insert({1}, std::make_shared<const SpeechLmPrefix>());
  one.Insert({2}, std::make_shared<const SpeechLmPrefix>());
  CHECK(one.size() == 1);
  CHECK(one.Find({1}) == nullptr);
  CHECK(one.Find({2}) != nullptr);
}

TEST_CASE("SpeechLm: SavePrefix / LoadPrefix reject impossible prefixes") {
  auto small = TinyLm().NewState(4);
  REQUIRE(small.ok());
  CHECK(!TinyLm().SavePrefix(**small, 1).ok());  // the state holds nothing yet
  SpeechLmPrefix p;
  p.length = 8;  // more than the state's capacity
  CHECK(!TinyLm().LoadPrefix(p, small->get()).ok());
}

}  // namespace
}  // namespace cosyflow
