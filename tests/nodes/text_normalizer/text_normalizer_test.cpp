// TextNormalizer: CosyVoice's text_normalize path (spec §1.2) end to end, with the Qwen2
// tokenizer from the fixtures for English lengths.
#include "nodes/text_normalizer/text_normalizer.h"

#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "tests/test_util.h"

namespace cosyflow::text_normalizer {
namespace {

using Segments = std::vector<std::string>;

std::shared_ptr<const tokenizer::Qwen2Tokenizer> Tokenizer() {
  static auto tok = [] {
    auto t = tokenizer::Qwen2Tokenizer::Load(test::FixturesDir() + "/qwen2-tokenizer");
    REQUIRE_MESSAGE(t.ok(), t.status().ToString());
    return *t;
  }();
  return tok;
}

std::shared_ptr<const TextNormalizer> Make(TextNormalizerOptions o = {}) {
  auto n = TextNormalizer::Create(o, Tokenizer());
  REQUIRE_MESSAGE(n.ok(), n.status().ToString());
  return *n;
}

Segments Seg(const TextNormalizer& n, std::string_view text, bool frontend = true) {
  auto r = n.Segments(text, frontend);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return *r;
}

TEST_CASE("TextNormalizer: <|...|> bypass and text_frontend=false keep the text verbatim") {
  auto n = Make();
  CHECK(Seg(*n, "  你好<|endofprompt|>123 ") == Segments{"  你好<|endofprompt|>123 "});
  CHECK(Seg(*n, " 你好，123 ", false) == Segments{" 你好，123 "});
  CHECK(Seg(*n, "") == Segments{""});
  auto unsplit = n->Normalize(" a - b ", false);
  REQUIRE(unsplit.ok());
  CHECK(*unsplit == " a - b ");
}

TEST_CASE("TextNormalizer: whitespace-only text gives no segments") {
  auto n = Make();
  CHECK(Seg(*n, " \n\t ").empty());
  auto unsplit = n->Normalize("   ");
  REQUIRE(unsplit.ok());
  CHECK(unsplit->empty());
}

TEST_CASE("TextNormalizer: zh branch clean-up order") {
  auto n = Make();
  // No digit: TN skipped; newline removal, blank removal, '.'->'。', ' - '->'，', brackets,
  // trailing comma rule.
  CHECK(Seg(*n, "你好 世界\n（注）a - b，，") == Segments{"你好世界注a，b。"});
  CHECK(Seg(*n, "他说.好") == Segments{"他说。好。"});
  // Digits: TN runs first (wetext zh, remove_erhua=False keeps 儿).
  CHECK(Seg(*n, "这事儿共465篇") == Segments{"这事儿共四百六十五篇。"});
  CHECK(Seg(*n, "面积120m²") == Segments{"面积一百二十平方米。"});
  // Only-punctuation segments are dropped.
  CHECK(Seg(*n, "。。你好") == Segments{"你好。"});
  auto unsplit = n->Normalize("价格是￥13.5，");
  REQUIRE(unsplit.ok());
  CHECK(*unsplit == "价格是十三点五元。");
}

TEST_CASE("TextNormalizer: digit-free zh text is not normalized (wetext 0.0.4 gate)") {
  auto n = Make();
  CHECK(Seg(*n, "我们안녕。") == Segments{"我们안녕。"});
  TextNormalizerOptions always;
  always.tn_only_with_digits = false;
  always.zh_tn.tag_oov = true;
  CHECK(Seg(*Make(always), "我们안녕。") == Segments{"我们<oov>안</oov><oov>녕</oov>。"});
}

TEST_CASE("TextNormalizer: en branch spells numbers and splits by tokens") {
  auto n = Make();
  auto segs = Seg(*n, "Hello world");
  CHECK(segs == Segments{"Hello world."});
  TextNormalizerOptions no_tn;
  no_tn.tn = false;
  CHECK(Seg(*Make(no_tn), "I have 2024 cats") ==
        Segments{"I have two thousand and twenty-four cats."});
  // Long English text: several segments, each sentence intact, none only punctuation.
  std::string text;
  for (int i = 0; i < 12; ++i) text += "This is a fairly ordinary sentence number one. ";
  auto long_segs = Seg(*n, text);
  CHECK(long_segs.size() > 1);
  for (const auto& s : long_segs) CHECK(s.back() == '.');
}

TEST_CASE("TextNormalizer: en segmentation without a tokenizer is a clear error") {
  auto n = TextNormalizer::Create({}, nullptr);
  REQUIRE(n.ok());
  auto r = (*n)->Segments("hello there");
  CHECK_FALSE(r.ok());
  CHECK(r.status().message().find("tokenizer") != std::string::npos);
  auto zh = (*n)->Segments("你好");
  REQUIRE(zh.ok());
  CHECK(*zh == Segments{"你好。"});
}

TEST_CASE("TextNormalizer: bad options and bad input do not crash") {
  TextNormalizerOptions bad;
  bad.token_min_n = 90;
  CHECK_FALSE(TextNormalizer::Create(bad, Tokenizer()).ok());
  auto n = Make();
  auto invalid = n->Segments(std::string("ab\xff\xfe 你好"));
  REQUIRE(invalid.ok());
  CHECK(*invalid == Segments{"ab\xEF\xBF\xBD\xEF\xBF\xBD你好。"});
  CHECK(Seg(*n, "!!!?").empty());
  CHECK(Seg(*n, "\x01\x02 你好").size() == 1);
  std::string big;
  for (int i = 0; i < 20000; ++i) big += "第1句话。";
  CHECK(Seg(*n, big).size() > 100);
}

TEST_CASE("TextNormalizer: shared instance is safe across threads") {
  auto n = Make();
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto r = n->Segments(t % 2 ? "共465篇，约315万字" : "It costs 12 dollars.");
        if (r.ok() && r->size() == 1) ++ok[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int v : ok) CHECK(v == 50);
}

}  // namespace
}  // namespace cosyflow::text_normalizer
