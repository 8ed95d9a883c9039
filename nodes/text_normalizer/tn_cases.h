// TN test suites in the fixture form (one JSON object per line: lang, category, input,
// expected, optional expected_alternatives, tested_by, source) and a scorer that applies the
// options each row's `tested_by` names (e.g. WeTextProcessing's zh Normalizer(tag_oov=True)
// defaults, en rule classes with deterministic=False).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "nodes/text_normalizer/rule_normalizer.h"
#include "nodes/text_normalizer/tn_options.h"
#include "runtime/status.h"

namespace cosyflow::text_normalizer {

struct TnCase {
  TnLang lang = TnLang::kZh;
  std::string category;
  std::string input;
  std::string expected;
  std::vector<std::string> alternatives;
  std::vector<std::string> tested_by;
  std::string source;
  bool contains = false;  // the expectation only has to appear in the output
};

// Errors name the file and line.
Result<std::vector<TnCase>> LoadTnCases(const std::string& path);

// The normalizer options a row's tested_by describes.
TnOptions OptionsForCase(const TnCase& c);

struct TnScore {
  struct Tally {
    int passed = 0;
    int total = 0;
    double rate() const { return total == 0 ? 0.0 : static_cast<double>(passed) / total; }
  };
  std::map<std::string, Tally> by_lang;           // "zh"
  std::map<std::string, Tally> by_lang_category;  // "zh/date"
  Tally overall;
  struct Failure {
    const TnCase* c;
    std::string got;
  };
  std::vector<Failure> failures;
  // "score: zh=0.xxx en=0.xxx ja=0.xxx overall=0.xxx cases=N"
  std::string SummaryLine() const;
};

TnScore ScoreTnCases(const std::vector<TnCase>& cases, const RuleNormalizer& rules);

}  // namespace cosyflow::text_normalizer
