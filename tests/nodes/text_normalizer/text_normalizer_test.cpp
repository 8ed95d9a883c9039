// TextNormalizer: CosyVoice's text_normalize path (spec §1.2) end to end, with the Qwen2
// tokenizer from the fixtures for English lengths.
#include "nodes/text_normalizer/text_normalizer.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
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

TEST_CASE("TextNormalizer: digit-free text is not normalized (wetext 0.0.4 gate)") {
  auto n = Make();
  CHECK(Seg(*n, "我们안녕。") == Segments{"我们안녕。"});
  auto tn = n->TextNormalization("  Hello, world.  ");
  REQUIRE(tn.ok());
  CHECK(*tn == "Hello, world.");  // stripped, gate closed: untouched
  // With the gate open the en grammar runs (it spaces out punctuation).
  TextNormalizerOptions always;
  always.tn_only_with_digits = false;
  auto open = Make(always)->TextNormalization("  Hello, world.  ");
  REQUIRE(open.ok());
  CHECK(*open != "Hello, world.");
  // Full-width digits open the gate (Python \d); superscripts do not.
  auto fw = n->TextNormalization("共１２篇");
  REQUIRE(fw.ok());
  CHECK(*fw != "共１２篇");
  auto sup = n->TextNormalization("面积m²");
  REQUIRE(sup.ok());
  CHECK(*sup == "面积m²");
}

TEST_CASE("TextNormalizer: reference quirks of the grammars are reproduced") {
  auto n = Make();
  CHECK(Seg(*n, "100美元") == Segments{"幺零零美元。"});
  CHECK(Seg(*n, "12.5公斤") == Segments{"十二月五日公斤。"});
  CHECK(Seg(*n, "110") == Segments{"one hundred and ten ."});  // digits + ASCII: the en branch
}

TEST_CASE("TextNormalizer: remove_erhua selects the erhua verbalizer") {
  CHECK(Seg(*Make(), "这事儿共465篇") == Segments{"这事儿共四百六十五篇。"});
  TextNormalizerOptions erhua;
  erhua.remove_erhua = true;
  CHECK(Seg(*Make(erhua), "这事儿共465篇") == Segments{"这事共四百六十五篇。"});
}

TEST_CASE("TextNormalizer: ja option sends kana text through the ja FSTs") {
  auto n = Make();
  // Reference: kana-only text takes the en branch (en grammar, spell_out_number).
  CHECK(Seg(*n, "りんごが3こあります。") == Segments{"りんごが three こあります 。 ."});
  CHECK(Seg(*n, "2024年3月5日に会いましょう") == Segments{"二零二四年三月五日に会いましょう。"});
  TextNormalizerOptions ja;
  ja.ja = true;
  auto j = Make(ja);
  CHECK(Seg(*j, "りんごが3こあります。") == Segments{"りんごが三こあります。"});
  CHECK(Seg(*j, "2024年3月5日に会いましょう") == Segments{"二千二十四年三月五日に会いましょう。"});
  // Text without kana is unaffected.
  CHECK(Seg(*j, "共465篇") == Seg(*n, "共465篇"));
  auto no_ja = n->TextNormalization("3こ", WetextLang::kJa);
  CHECK_FALSE(no_ja.ok());
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
  REQUIRE_MESSAGE(n.ok(), n.status().ToString());
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
  CHECK(Seg(*n, "，。！？……").empty());
  CHECK(Seg(*n, "你好，。！？……").size() == 1);
  CHECK(Seg(*n, "\xE3\x80\x80\r\n\xC2\xA0").empty());  // U+3000, CRLF, U+00A0
  std::string big;
  for (int i = 0; i < 2000; ++i) big += "第1句话。";
  CHECK(Seg(*n, big).size() > 50);
}

TEST_CASE("TextNormalizer: 1 MB of text and pathological digit runs neither crash nor hang") {
  auto n = Make();
  // 1 MB without digits: the wetext gate is closed; clean-up and splitting still run.
  std::string zh;
  while (zh.size() < (1u << 20)) zh += "收到好友从远方寄来的生日礼物，心中充满了甜蜜的快乐。";
  CHECK(Seg(*n, zh).size() > 1000);
  std::string en;
  while (en.size() < (1u << 20)) en += "This is a fairly ordinary sentence. ";
  auto en_norm = n->Normalize(en);
  REQUIRE(en_norm.ok());
  CHECK(en_norm->size() == en.size() - 1);  // only stripped
  // Digits throughout: the FSTs run piece by piece (8 KB here to keep the test short).
  std::string digits;
  while (digits.size() < (8u << 10)) digits += "第1句话，共465篇。";
  auto d = n->Normalize(digits);
  REQUIRE(d.ok());
  CHECK(d->find("四百六十五") != std::string::npos);
  // Long runs of digits, no space or sentence end to cut at (the en grammar costs ~15 ms per
  // ASCII digit, so its run is shorter).
  auto zh_run = n->Normalize("号码" + std::string(1500, '1'));
  REQUIRE_MESSAGE(zh_run.ok(), zh_run.status().ToString());
  CHECK(zh_run->find("幺幺幺") != std::string::npos);
  auto en_run = n->Segments(std::string(100, '7'));
  REQUIRE_MESSAGE(en_run.ok(), en_run.status().ToString());
  CHECK(en_run->size() == 1);
  // Full-width digits pass the en grammar untouched; spell_out_number cannot read 1500 of
  // them (inflect's NumOutOfRangeError): a clear error.
  std::string wide;
  for (int i = 0; i < 1500; ++i) wide += "１";
  auto wide_run = n->Segments(wide);
  CHECK(wide_run.status().code() == StatusCode::kOutOfRange);
}

TEST_CASE("TextNormalizer: long texts cut after sentence ends read as when whole") {
  TextNormalizerOptions small;
  small.fst_piece_bytes = 40;  // cut after every sentence or two
  auto pieces = Make(small);
  TextNormalizerOptions whole;
  whole.fst_piece_bytes = 0;
  auto n = Make(whole);
  for (const char* text :
       {"今天是2024年3月5日，气温25℃。我们一共走了12.5公里！电话是010-12345678。"
        "比分是3:2，增长了15%。\n第2行有1/2个苹果？",
        "I paid $12.50 on May 5, 2024. Dr. Smith was born in 1990! Call 555-1234 now? "
        "It is 3:30 p.m. and 25% of 1/2 is 12.5%.\nThe 2nd line has 3 apples."}) {
    CAPTURE(text);
    auto a = pieces->TextNormalization(text);
    auto b = n->TextNormalization(text);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(*a == *b);
  }
}

TEST_CASE("TextNormalizer: a session's cancel flag stops wetext between pieces") {
  TextNormalizerOptions o;
  o.fst_piece_bytes = 64;
  auto n = Make(o);
  // Digit-dense English: the costliest input per byte for the en tagger (~5 ms a byte here).
  std::string text;
  for (int i = 0; i < 40; ++i) text += "Call 555-1234, 12.5 or 3/4. ";
  std::atomic<bool> cancelled{true};
  auto before = n->Segments(text, true, &cancelled);
  REQUIRE(!before.ok());
  CHECK(before.status().code() == StatusCode::kCancelled);
  CHECK(before.status().message().find("after 0 of") != std::string::npos);
  CHECK(n->Normalize(text, true, &cancelled).status().code() == StatusCode::kCancelled);
  CHECK(n->TextNormalization(text, WetextLang::kZh, &cancelled).status().code() ==
        StatusCode::kCancelled);
  // Set from another thread while the pieces run: it stops before the last piece.
  cancelled = false;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cancelled = true;
  });
  auto during = n->Segments(text, true, &cancelled);
  canceller.join();
  REQUIRE(!during.ok());
  CHECK(during.status().code() == StatusCode::kCancelled);
  CHECK(during.status().message().find("wetext en: cancelled after") != std::string::npos);
  // A clear flag changes nothing.
  std::atomic<bool> clear{false};
  CHECK(Seg(*n, "I have 3 apples.") == *n->Segments("I have 3 apples.", true, &clear));
}

TEST_CASE("TextNormalizer: Frontend gives what the separate calls give") {
  auto n = Make();
  for (const char* text : {" 今天是2024年3月5日。 ", "I have 3 apples.  ", "<|en|>12", "", "abc",
                           "りんごが3こ", "你好 - 世界（1）"}) {
    CAPTURE(text);
    auto f = n->Frontend(text);
    REQUIRE_MESSAGE(f.ok(), f.status().ToString());
    CHECK(f->segments == Seg(*n, text));
    auto normalized = n->Normalize(text);
    REQUIRE(normalized.ok());
    CHECK(f->normalized == *normalized);
    if (!f->bypass) {
      auto tn = n->TextNormalization(text);
      REQUIRE(tn.ok());
      CHECK(f->tn == *tn);
    }
  }
  CHECK(n->Frontend("<|en|>12")->bypass);
  CHECK(n->Frontend("12", /*text_frontend=*/false)->bypass);
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
