// Parity runner core: reads a fixture manifest, runs golden groups, compares tensors.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/status.h"
#include "runtime/tensor.h"

namespace cosyflow::parity {

// One golden tensor as described by manifest.json "entries".
struct GoldenEntry {
  std::string name;
  std::string file;  // relative to the fixture directory
  std::string group;
  std::string dtype;  // "float32" | "int32" | ...
  std::vector<int64_t> shape;
  nlohmann::json stats;  // {min,max,mean,std} for non-empty float arrays, else null
};

// A fixture directory in the tiny-seed0 format (see tests/fixtures/tiny-seed0/README.md).
class Fixture {
 public:
  static Result<Fixture> Open(const std::string& dir);

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
  nlohmann::json manifest_;
  std::vector<GoldenEntry> entries_;
};

struct Tolerance {
  double max_abs = 0;  // pass when max_abs <= this ...
  double max_rel = 0;  // ... or max_abs / max|golden| <= this (0 disables either bound)
};

struct Comparison {
  std::string name;
  double max_abs = 0;
  double max_rel = 0;  // max |actual - golden| / max |golden|
  bool pass = false;
  std::string note;  // shape mismatch and similar
};

// Collects comparisons and prints `name max_abs max_rel PASS|FAIL` per tensor.
class Report {
 public:
  void Compare(const std::string& name, const Tensor& actual, const Tensor& golden,
               const Tolerance& tol);
  void Fail(const std::string& name, const std::string& why);
  const std::vector<Comparison>& comparisons() const { return comparisons_; }
  int passed() const;
  int failed() const;

 private:
  std::vector<Comparison> comparisons_;
};

// A golden group the engine supports: produces tensors and compares them with the goldens.
struct Group {
  std::string name;
  std::function<Status(const Fixture&, Report&)> run;
};

// Every group this build supports (later issues add llm, flow, hift, token2wav, ...).
const std::vector<Group>& SupportedGroups();

}  // namespace cosyflow::parity
