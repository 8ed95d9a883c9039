// CosyVoice front-end helpers against the spec's unit vectors (spec §1.3).
#include "nodes/text_normalizer/frontend_utils.h"

#include <doctest/doctest.h>

#include <string>
#include <utility>

#include "nodes/text_normalizer/number_to_words.h"
#include "nodes/text_normalizer/unicode_text.h"

namespace cosyflow::text_normalizer {
namespace {

std::string U8(std::u32string_view s) { return ToU8(s); }
std::u32string U32(std::string_view s) { return ToU32(s); }

TEST_CASE("InflectNumberToWords: spec table (inflect 7.3.1)") {
  const std::pair<const char*, const char*> kTable[] = {
      {"0", "zero"},
      {"1", "one"},
      {"007", "seven"},
      {"15", "fifteen"},
      {"21", "twenty-one"},
      {"100", "one hundred"},
      {"101", "one hundred and one"},
      {"110", "one hundred and ten"},
      {"1990", "one thousand, nine hundred and ninety"},
      {"2000", "two thousand"},
      {"2024", "two thousand and twenty-four"},
      {"10000", "ten thousand"},
      {"123456", "one hundred and twenty-three thousand, four hundred and fifty-six"},
      {"1000000", "one million"},
      {"12345678",
       "twelve million, three hundred and forty-five thousand, six hundred and seventy-eight"},
  };
  for (auto [in, want] : kTable) CHECK_MESSAGE(InflectNumberToWords(in) == want, in);
  CHECK(InflectNumberToWords("1001") == "one thousand and one");
  CHECK(InflectNumberToWords("000") == "zero");
  CHECK(InflectNumberToWords("") == "zero");
  CHECK(InflectNumberToWords(std::string(36, '9')).has_value());
  CHECK_FALSE(InflectNumberToWords(std::string(37, '9')).has_value());
  CHECK(InflectNumberToWords("000" + std::string(36, '9')).has_value());  // zeros don't count
}

TEST_CASE("SpellOutNumber: digit runs become words, other characters stay") {
  auto spell = [](std::u32string_view s) {
    auto r = SpellOutNumber(s);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    return U8(*r);
  };
  CHECK(spell(U"3.5 apples") == "three.five apples");
  CHECK(spell(U"no digits") == "no digits");
  CHECK(spell(U"１２") == "twelve");  // full-width digits are isdigit()
  // Superscripts are isdigit() but not \d: inflect deletes them from the run.
  CHECK(spell(U"x²") == "xzero");
  CHECK(spell(U"1²") == "one");
  auto too_long = SpellOutNumber(std::u32string(37, U'７'));
  CHECK(too_long.status().code() == StatusCode::kOutOfRange);
}

TEST_CASE("ReplaceBlank: spec examples, double spaces vanish") {
  CHECK(U8(ReplaceBlank(U32("你好 世界 hello world 你 a"))) == "你好世界hello world你a");
  CHECK(U8(ReplaceBlank(U32("hello  world 你好 ok"))) == "helloworld你好ok");
  CHECK(U8(ReplaceBlank(U32("你好 ,world"))) == "你好,world");
  CHECK(U8(ReplaceBlank(U32("hello  world"), /*keep_single_space_in_runs=*/true)) == "hello world");
}

TEST_CASE("ReplaceCornerMark and RemoveBracket: spec examples") {
  CHECK(U8(ReplaceCornerMark(U32("120m² 3m³"))) == "120m平方 3m立方");
  CHECK(U8(RemoveBracket(U32("（注）【重要】`code` 一——二"))) == "注重要code 一 二");
}

TEST_CASE("IsOnlyPunctuation: P and S categories only") {
  CHECK(IsOnlyPunctuation(U""));
  CHECK(IsOnlyPunctuation(U32("。！？……~$")));
  CHECK_FALSE(IsOnlyPunctuation(U" "));
  CHECK_FALSE(IsOnlyPunctuation(U32("…… ~")));
  CHECK_FALSE(IsOnlyPunctuation(U32("好。")));
}

std::vector<std::string> SplitZh(std::string_view text) {
  SplitParagraphOptions o;
  std::vector<std::string> out;
  for (const auto& s : SplitParagraph(U32(text), o, [](std::u32string_view v) { return v.size(); }))
    out.push_back(U8(s));
  return out;
}

TEST_CASE("SplitParagraph: marks, quotes and the dropped second mark") {
  CHECK(SplitZh("他说：“你好！”然后走了！！好") ==
        std::vector<std::string>{"他说：“你好！”然后走了！好。"});
  CHECK(SplitZh("你好！！世界") == std::vector<std::string>{"你好！世界。"});
  CHECK(SplitZh("abc") == std::vector<std::string>{"abc。"});
  CHECK(SplitZh("").empty());
}

TEST_CASE("SplitParagraph: greedy merging by length (100+50, 98+3 tail)") {
  std::string s49(48 * 3, '\0');
  s49.clear();
  for (int i = 0; i < 48; ++i) s49 += "字";
  s49 += "。";  // 49 code points
  std::string s50;
  for (int i = 0; i < 49; ++i) s50 += "文";
  s50 += "。";  // 50 code points
  auto three = SplitZh(s50 + s50 + s50);
  REQUIRE(three.size() == 2);
  CHECK(U32(three[0]).size() == 100);
  CHECK(U32(three[1]).size() == 50);
  auto merged = SplitZh(s49 + s49 + "短句。");
  REQUIRE(merged.size() == 1);
  CHECK(U32(merged[0]).size() == 101);
}

TEST_CASE("SplitParagraph: en marks and the kept-mark option") {
  SplitParagraphOptions o;
  o.zh = false;
  auto words = [](std::u32string_view v) { return v.size(); };
  auto out = SplitParagraph(U"What?! Fine", o, words);
  REQUIRE(out.size() == 1);
  CHECK(U8(out[0]) == "What? Fine.");
  o.drop_repeated_marks = false;
  out = SplitParagraph(U"What?! Fine", o, words);
  REQUIRE(out.size() == 1);
  CHECK(U8(out[0]) == "What?! Fine.");
}

}  // namespace
}  // namespace cosyflow::text_normalizer
