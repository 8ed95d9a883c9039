// FstRewriter's pruned composition: the connected lattice it builds must be the one OpenFst's
// Compose + Connect builds (state numbers, arc order, weights: what breaks shortest-path ties),
// for the taggers and verbalizers of every shipped language, on the reference cases' texts and
// on inputs at the edges (NUL bytes, rejected text, long digit runs, non-ASCII bytes).
#include "nodes/text_normalizer/fst_rewriter.h"

#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nodes/text_normalizer/wetext_normalizer.h"
#include "tests/test_util.h"

namespace cosyflow::text_normalizer {
namespace {

std::shared_ptr<const FstRewriter> Fst(const std::string& lang, const std::string& name) {
  auto f = FstRewriter::LoadShared(DefaultWetextFstDir() + "/" + lang + "/tn/" + name + ".fst");
  REQUIRE_MESSAGE(f.ok(), f.status().ToString());
  return *f;
}

void CheckExact(const FstRewriter& f, std::string_view input) {
  CAPTURE(f.path());
  CAPTURE(input);
  auto same = f.PrunedLatticeIsExact(input);
  REQUIRE_MESSAGE(same.ok(), same.status().ToString());
  CHECK(*same);
}

// Every `stride`-th text of the cosyvoice-frontend-text cases of `branch` (en / zh).
std::vector<std::string> CaseTexts(const std::string& branch, size_t stride) {
  std::ifstream in(test::FixturesDir() + "/cosyvoice-frontend-text/cases.jsonl");
  REQUIRE(in);
  std::vector<std::string> texts;
  std::string line;
  size_t seen = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.value("branch", "") != branch || !j["text"].is_string()) continue;
    if (seen++ % stride == 0) texts.push_back(j["text"].get<std::string>());
  }
  return texts;
}

TEST_CASE("FstRewriter: the pruned lattice is OpenFst's, tagger and verbalizer, en and zh") {
  auto load = WetextNormalizer::Load({});
  REQUIRE_MESSAGE(load.ok(), load.status().ToString());
  const WetextNormalizer& wetext = **load;
  for (const auto& [branch, lang] :
       {std::pair<std::string, WetextLang>{"en", WetextLang::kEn}, {"zh", WetextLang::kZh}}) {
    const auto tagger = Fst(branch, "tagger");
    const auto verbalizer = Fst(branch, "verbalizer");
    // The plain composition of the en tagger takes ~40 ms a sentence: a spread of the cases.
    const auto texts = CaseTexts(branch, branch == "en" ? 12 : 6);
    REQUIRE(texts.size() > 50);
    for (const std::string& text : texts) {
      CheckExact(*tagger, text);
      auto tagged = wetext.Tag(text, lang);
      REQUIRE(tagged.ok());
      if (tagged->empty()) continue;
      auto reordered = ReorderWetextTokens(*tagged, lang);
      REQUIRE(reordered.ok());
      CheckExact(*verbalizer, *reordered);
    }
  }
}

TEST_CASE("FstRewriter: the pruned lattice is OpenFst's at the edges") {
  std::vector<std::string> inputs = {
      "",
      std::string("a\0b 12", 6),            // a NUL byte is an epsilon of the acceptor
      std::string("12\0\0", 4),             // NULs at the end: the end of the input is earlier
      "\xff\xfe 3",                         // bytes no grammar reads: rejected, empty lattice
      std::string(120, '7'),                // a long digit run: many live readings
      "1,2 3.4 5/6 7:8 9% $1 #2 @3 -4 +5",  // every class's leading symbol
      "今天是2024年3月5日，气温-3.5℃，打九折。",
      "りんごが3こ ÄÖÜ 12",
  };
  for (const char* lang : {"en", "zh", "ja"}) {
    const auto tagger = Fst(lang, "tagger");
    for (const std::string& input : inputs) CheckExact(*tagger, input);
  }
  CheckExact(*Fst("zh", "verbalizer_remove_erhua"), "char { value: \"儿\" }");
}

TEST_CASE("FstRewriter: pruning keeps the rewrites; a rejected input gives \"\"") {
  const auto tagger = Fst("en", "tagger");
  auto r = tagger->Rewrite("\xff\xfe");
  REQUIRE(r.ok());
  CHECK(r->empty());
  auto t = tagger->Rewrite("I have 3 apples");
  REQUIRE(t.ok());
  CHECK(t->find("cardinal { integer: \"three\" }") != std::string::npos);
}

}  // namespace
}  // namespace cosyflow::text_normalizer
