// Parity runner core: reads a fixture manifest, runs golden groups, compares tensors.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/status.h"
#include "runtime/tensor.h"

namespace cosyflow::parity {

// One golden tensor as described by the manifest.
struct GoldenEntry {
  std::string name;
  std::string file;  // relative to the fixture directory
  std::string group;
  std::string dtype;  // "float32" | "int32" | ...
  std::vector<int64_t> shape;
  nlohmann::json stats;  // {min,max,mean,std} for non-empty float arrays, else null
};

// The two manifest formats a fixture directory can have.
enum class FixtureFormat {
  kEntries,   // tiny-seed0: "entries" [{name, file, group, dtype, shape, stats}]
  kFrontend,  // frontend-tiny: "prompts" + "files" {path: {shape, dtype, how}}; every .npy of
              // "files" is an entry of group "frontend" named by its path without ".npy"
};

// A fixture directory in the tiny-seed0 format (tests/fixtures/tiny-seed0/README.md) or the
// frontend-tiny format (tests/fixtures/frontend-tiny/README.md).
class Fixture {
 public:
  static Result<Fixture> Open(const std::string& dir);

  FixtureFormat format() const { return format_; }
  const std::string& dir() const { return dir_; }
  const nlohmann::json& manifest() const { return manifest_; }
  const std::vector<GoldenEntry>& entries() const { return entries_; }
  const GoldenEntry* Find(const std::string& name) const;
  std::string Path(const std::string& relative) const { return dir_ + "/" + relative; }
  // Loads a golden tensor and checks its shape and dtype against the manifest.
  Result<Tensor> Load(const std::string& name) const;
  // Loads every golden and checks shape, dtype and the manifest's stats (fixture integrity).
  Status Verify(std::string* summary) const;

 private:
  std::string dir_;
  FixtureFormat format_ = FixtureFormat::kEntries;
  nlohmann::json manifest_;
  std::vector<GoldenEntry> entries_;
};

struct Tolerance {
  double max_abs = 0;  // pass when max_abs <= this ...
  double max_rel = 0;  // ... or max_abs / max|golden| <= this (0 disables either bound)
};

struct Comparison {
  std::string group;   // the group that ran it
  std::string golden;  // the manifest entry compared against ("" = a check of no single entry)
  std::string name;    // the printed label (usually = golden)
  double max_abs = 0;
  double max_rel = 0;  // max |actual - golden| / max |golden|
  bool pass = false;
  std::string note;  // shape mismatch and similar
};

// Collects comparisons and prints `name max_abs max_rel PASS|FAIL` per tensor. Every
// comparison belongs to the group set by BeginGroup and names the golden entry it checks, so the
// runner can account coverage: each manifest entry of a requested group must be compared (or
// recorded as used as an input) in that group. A NaN or Inf in the actual or golden values fails
// the comparison; so does a label compared twice within one group (nothing is double-counted).
class Report {
 public:
  void BeginGroup(const std::string& group) { group_ = group; }
  const std::string& group() const { return group_; }

  // `golden_name` is the manifest entry `golden` came from; "" means `name`.
  void Compare(const std::string& name, const Tensor& actual, const Tensor& golden,
               const Tolerance& tol, const std::string& golden_name = "");
  void Fail(const std::string& name, const std::string& why, const std::string& golden_name = "");
  // A comparison computed by the caller (custom rules: fbank FFT-noise bounds, cosine, ...); the
  // group is filled in. The caller must have failed it on non-finite values.
  void Add(Comparison c);
  // The entry was read as an input of the engine (not an output to compare).
  void UsedAsInput(const std::string& golden);

  const std::vector<Comparison>& comparisons() const { return comparisons_; }
  // Entries recorded by UsedAsInput in `group`.
  std::vector<std::string> InputsOf(const std::string& group) const;
  int passed() const;
  int failed() const;

 private:
  std::string group_;
  std::vector<Comparison> comparisons_;
  std::vector<std::pair<std::string, std::string>> inputs_;  // (group, entry)
};

// True when every value is finite (NaN/Inf checks of the comparison helpers).
bool AllFinite(const Tensor& t);

// A golden group the engine supports: produces tensors and compares them with the goldens.
struct Group {
  std::string name;
  std::function<Status(const Fixture&, Report&)> run;
  // The manifest entries this group must cover; null = the entries whose group is `name`.
  std::function<bool(const GoldenEntry&)> covers = nullptr;
};

// Coverage of one group run: which of its entries were compared, used as input, or missed, and
// which labels were compared more than once.
struct Coverage {
  int total = 0, compared = 0, inputs = 0;
  std::vector<std::string> missing;     // entries never compared
  std::vector<std::string> duplicates;  // labels compared twice in the group
  bool ok() const { return missing.empty() && duplicates.empty() && total > 0; }
};
Coverage AccountCoverage(const Fixture& fixture, const Group& group, const Report& report);

// Every group this build supports (later issues add llm, flow, hift, token2wav, ...).
const std::vector<Group>& SupportedGroups();

}  // namespace cosyflow::parity
