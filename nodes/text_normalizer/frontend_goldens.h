// Golden comparison for CosyVoice's text_normalize in the cosyvoice-frontend-text fixture format
// (one JSON object per line: id, text, text_frontend, branch, tn, normalized, segments, error):
// every case's wetext output (`tn`), unsplit text (`normalized`) and segments are compared
// exactly. A case where the reference raises (`error` set: whitespace-only input, a number too
// long for inflect) passes when TextNormalizer returns an error or no segments.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nodes/text_normalizer/text_normalizer.h"
#include "runtime/status.h"

namespace cosyflow::text_normalizer {

struct FrontendGolden {
  std::string id;
  std::string text;
  bool text_frontend = true;
  std::string branch;  // zh | en | bypass | empty
  std::optional<std::string> tn;
  std::optional<std::string> normalized;
  std::optional<std::vector<std::string>> segments;
  std::optional<std::string> error;
};

// Errors name the file and line.
Result<std::vector<FrontendGolden>> LoadFrontendGoldens(const std::string& path);

struct FrontendGoldenMismatch {
  std::string id;
  std::string field;  // tn | normalized | segments | error
  std::string want;   // JSON of the expected value
  std::string got;    // JSON of what cosyflow returned, or the error message
};

struct FrontendGoldenReport {
  struct Tally {
    int passed = 0;
    int failed = 0;
  };
  Tally total;
  std::map<std::string, Tally> by_branch;
  std::vector<FrontendGoldenMismatch> mismatches;  // first mismatch of every failing case
  // "golden: P passed, F failed" and one "  BRANCH: p passed, f failed" line per branch.
  std::string Summary() const;
};

// Compares one case; nullopt when it passes.
std::optional<FrontendGoldenMismatch> CompareFrontendGolden(const TextNormalizer& normalizer,
                                                            const FrontendGolden& golden);
FrontendGoldenReport CompareFrontendGoldens(const TextNormalizer& normalizer,
                                            const std::vector<FrontendGolden>& goldens);

}  // namespace cosyflow::text_normalizer
