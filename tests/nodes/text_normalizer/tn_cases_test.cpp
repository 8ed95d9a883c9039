// Rule normalizers scored on the TN suites copied from WeTextProcessing (primary) and NeMo
// (secondary): prints pass counts per language/category and the failing rows, and asserts a
// floor per category (measured rate minus a small margin) so regressions fail.
// COSYFLOW_TN_CASES=FILE scores another suite of the same form (no floors).
#include "nodes/text_normalizer/tn_cases.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "nodes/text_normalizer/rule_normalizer.h"
#include "tests/test_util.h"

namespace cosyflow::text_normalizer {
namespace {

std::string Dir() { return test::FixturesDir() + "/text-normalization"; }

TnScore ScoreFile(const std::string& path, bool print_failures) {
  auto cases = LoadTnCases(path);
  REQUIRE_MESSAGE(cases.ok(), cases.status().ToString());
  static auto rules = RuleNormalizer::Create();
  // The cases must outlive the score's failure pointers while printing.
  TnScore score = ScoreTnCases(*cases, *rules);
  std::printf("== %s\n", path.c_str());
  for (const auto& [name, t] : score.by_lang_category)
    std::printf("  %-32s %3d/%3d  %.3f\n", name.c_str(), t.passed, t.total, t.rate());
  if (print_failures) {
    for (const auto& f : score.failures) {
      std::printf("  FAIL [%s] %s\n       want: %s\n       got:  %s\n", f.c->category.c_str(),
                  f.c->input.c_str(), f.c->expected.c_str(), f.got.c_str());
    }
  }
  std::printf("  %s\n", score.SummaryLine().c_str());
  score.failures.clear();
  return score;
}

void CheckFloors(const TnScore& score, const std::map<std::string, double>& floors) {
  for (const auto& [name, floor] : floors) {
    auto it = score.by_lang_category.find(name);
    REQUIRE_MESSAGE(it != score.by_lang_category.end(), "no cases for " << name);
    CHECK_MESSAGE(it->second.rate() >= floor, name << ": " << it->second.passed << "/"
                                                   << it->second.total << " below floor " << floor);
  }
}

bool Verbose() { return std::getenv("COSYFLOW_TN_VERBOSE") != nullptr; }

TEST_CASE("RuleNormalizer: WeTextProcessing suite pass rates stay above their floors") {
  TnScore s = ScoreFile(Dir() + "/wetextprocessing.cases.jsonl", Verbose());
  CheckFloors(s, {
#include "tests/nodes/text_normalizer/wetext_floors.inc"
                 });
}

TEST_CASE("RuleNormalizer: NeMo suite pass rates stay above their floors") {
  TnScore s = ScoreFile(Dir() + "/nemo.cases.jsonl", Verbose());
  CheckFloors(s, {
#include "tests/nodes/text_normalizer/nemo_floors.inc"
                 });
}

TEST_CASE("RuleNormalizer: COSYFLOW_TN_CASES scores another suite") {
  const char* path = std::getenv("COSYFLOW_TN_CASES");
  if (path == nullptr) return;
  TnScore s = ScoreFile(path, /*print_failures=*/true);
  CHECK(s.overall.total > 0);
}

TEST_CASE("RuleNormalizer: the nemo option switches en to NeMo's conventions only") {
  static auto rules = RuleNormalizer::Create();
  TnOptions wetext;
  TnOptions nemo;
  REQUIRE(nemo.Set("nemo", "true").ok());
  auto en = [&](const char* in, const TnOptions& o) {
    auto r = rules->Normalize(in, TnLang::kEn, o);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    return *r;
  };
  CHECK(en("jan 15 2020", wetext) == "the fifteenth of january twenty twenty");
  CHECK(en("jan 15 2020", nemo) == "january fifteenth twenty twenty");
  CHECK(en("$20.05", nemo) == "twenty dollars five cents");
  CHECK(en("US$1.50", nemo) == "one dollar fifty cents");
  CHECK(en("US$2.50", nemo) == "two us dollars fifty cents");
  CHECK(en("2-5", wetext) == "two to five");
  CHECK(en("2-5", nemo) == "two - five");
  CHECK(en("$5-$7", nemo) == "five dollars to seven dollars");
  CHECK(en("10:02:03", nemo) == "ten hours two minutes and three seconds");
  CHECK(en("https://www.abc.de/x-9", nemo) ==
        "HTTPS colon slash slash WWW dot abc dot DE slash x dash nine");
  CHECK(en("B12", nemo) == "B twelve");
  CHECK(!nemo.Set("nemo", "maybe").ok());
}

TEST_CASE("LoadTnCases: bad files are errors naming the file and line") {
  CHECK(LoadTnCases(Dir() + "/no_such_file.jsonl").status().code() == StatusCode::kNotFound);
}

}  // namespace
}  // namespace cosyflow::text_normalizer
