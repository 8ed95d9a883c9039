// Parity runner core: fixture manifest parsing, integrity checks and tensor comparison.
#include "apps/parity/parity.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <set>

#include "apps/parity/group_e2e.h"
#include "apps/parity/group_flow.h"
#include "apps/parity/group_frontend.h"
#include "apps/parity/group_hift.h"
#include "apps/parity/group_llm.h"
#include "runtime/io/npy.h"

namespace cosyflow::parity {
namespace {

std::string DTypeToNumpyName(DType t) {
  switch (t) {
    case DType::kF32:
      return "float32";
    case DType::kF16:
      return "float16";
    case DType::kBF16:
      return "bfloat16";
    case DType::kI32:
      return "int32";
    case DType::kI64:
      return "int64";
    case DType::kU8:
      return "uint8";
    case DType::kBool:
      return "bool";
  }
  return "?";
}

// Values as doubles (contiguous copy) for comparison and statistics.
Result<std::vector<double>> ToDoubles(const Tensor& t) {
  COSY_ASSIGN_OR_RETURN(Tensor f, t.To(DType::kF32));
  std::vector<double> v(static_cast<size_t>(f.numel()));
  const float* p = f.data<float>();
  for (size_t i = 0; i < v.size(); ++i) v[i] = p[i];
  return v;
}

}  // namespace

Result<Fixture> Fixture::Open(const std::string& dir) {
  const std::string path = dir + "/manifest.json";
  std::ifstream in(path);
  if (!in) return NotFound("{}: cannot open", path);
  Fixture f;
  f.dir_ = dir;
  try {
    f.manifest_ = nlohmann::json::parse(in);
    if (!f.manifest_.contains("entries") && f.manifest_.contains("prompts")) {
      // frontend-tiny: every .npy of "files" is a golden of group "frontend".
      f.format_ = FixtureFormat::kFrontend;
      const auto& files = f.manifest_.at("files");
      for (auto it = files.begin(); it != files.end(); ++it) {
        const std::string& file = it.key();
        if (file.size() < 4 || file.substr(file.size() - 4) != ".npy") continue;
        GoldenEntry g;
        g.name = file.substr(0, file.size() - 4);
        g.file = file;
        g.group = "frontend";
        g.dtype = it->at("dtype").get<std::string>();
        g.shape = it->at("shape").get<std::vector<int64_t>>();
        f.entries_.push_back(std::move(g));
      }
      if (f.entries_.empty()) return DataLoss("{}: \"files\" lists no .npy golden", path);
      return f;
    }
    const auto& entries = f.manifest_.at("entries");
    for (size_t i = 0; i < entries.size(); ++i) {
      const auto& e = entries[i];
      GoldenEntry g;
      g.name = e.at("name").get<std::string>();
      g.file = e.at("file").get<std::string>();
      g.group = e.at("group").get<std::string>();
      g.dtype = e.at("dtype").get<std::string>();
      g.shape = e.at("shape").get<std::vector<int64_t>>();
      if (e.contains("stats")) g.stats = e["stats"];
      f.entries_.push_back(std::move(g));
    }
  } catch (const nlohmann::json::exception& e) {
    return DataLoss("{}: malformed manifest: {}", path, e.what());
  }
  return f;
}

const GoldenEntry* Fixture::Find(const std::string& name) const {
  for (const auto& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

Result<Tensor> Fixture::Load(const std::string& name) const {
  const GoldenEntry* e = Find(name);
  if (e == nullptr) return NotFound("{}/manifest.json: no golden entry '{}'", dir_, name);
  COSY_ASSIGN_OR_RETURN(Tensor t, ReadNpy(Path(e->file)));
  std::vector<int64_t> shape(t.shape().begin(), t.shape().end());
  if (shape != e->shape) {
    return InvalidArgument("{}: shape {} differs from the manifest's {}", e->file,
                           t.shape().ToString(), fmt::format("[{}]", fmt::join(e->shape, ",")));
  }
  if (DTypeToNumpyName(t.dtype()) != e->dtype) {
    return InvalidArgument("{}: dtype {} differs from the manifest's {}", e->file,
                           DTypeToNumpyName(t.dtype()), e->dtype);
  }
  return t;
}

Status Fixture::Verify(std::string* summary) const {
  int checked_stats = 0;
  for (const auto& e : entries_) {
    COSY_ASSIGN_OR_RETURN(Tensor t, Load(e.name));
    if (!e.stats.is_object() || t.numel() == 0) continue;
    COSY_ASSIGN_OR_RETURN(std::vector<double> v, ToDoubles(t));
    double mn = v[0], mx = v[0], sum = 0;
    for (double x : v) {
      mn = std::min(mn, x);
      mx = std::max(mx, x);
      sum += x;
    }
    const double mean = sum / static_cast<double>(v.size());
    double var = 0;
    for (double x : v) var += (x - mean) * (x - mean);
    const double stdev = std::sqrt(var / static_cast<double>(v.size()));
    const double scale = std::max(std::fabs(mn), std::fabs(mx)) + 1e-12;
    const double want[] = {e.stats.value("min", 0.0), e.stats.value("max", 0.0),
                           e.stats.value("mean", 0.0), e.stats.value("std", 0.0)};
    const double got[] = {mn, mx, mean, stdev};
    const char* names[] = {"min", "max", "mean", "std"};
    for (int k = 0; k < 4; ++k) {
      if (std::fabs(want[k] - got[k]) > 1e-5 * scale) {
        return DataLoss("{}: {} is {} but the manifest says {}", e.file, names[k], got[k], want[k]);
      }
    }
    ++checked_stats;
  }
  *summary =
      fmt::format("{} golden files loaded with manifest shapes/dtypes, {} with matching stats",
                  entries_.size(), checked_stats);
  return OkStatus();
}

bool AllFinite(const Tensor& t) {
  if (t.dtype() != DType::kF32 && t.dtype() != DType::kF16 && t.dtype() != DType::kBF16) {
    return true;  // integer and bool tensors cannot hold NaN/Inf
  }
  auto v = ToDoubles(t);
  if (!v.ok()) return false;
  for (double x : *v) {
    if (!std::isfinite(x)) return false;
  }
  return true;
}

void Report::Compare(const std::string& name, const Tensor& actual, const Tensor& golden,
                     const Tolerance& tol, const std::string& golden_name) {
  Comparison c;
  c.group = group_;
  c.golden = golden_name.empty() ? name : golden_name;
  c.name = name;
  if (actual.shape() != golden.shape()) {
    c.note =
        fmt::format("shape {} != golden {}", actual.shape().ToString(), golden.shape().ToString());
    comparisons_.push_back(c);
    return;
  }
  auto a = ToDoubles(actual);
  auto g = ToDoubles(golden);
  if (!a.ok() || !g.ok()) {
    c.note = "cannot convert to f32";
    comparisons_.push_back(c);
    return;
  }
  double scale = 0;
  bool actual_finite = true, golden_finite = true;
  for (size_t i = 0; i < g->size(); ++i) {
    if (!std::isfinite((*a)[i])) actual_finite = false;
    if (!std::isfinite((*g)[i])) golden_finite = false;
    if (!std::isfinite((*a)[i]) || !std::isfinite((*g)[i])) continue;
    c.max_abs = std::max(c.max_abs, std::fabs((*a)[i] - (*g)[i]));
    scale = std::max(scale, std::fabs((*g)[i]));
  }
  const bool finite = actual_finite && golden_finite;
  c.max_rel = scale > 0 ? c.max_abs / scale : c.max_abs;
  c.pass = finite && ((tol.max_abs > 0 && c.max_abs <= tol.max_abs) ||
                      (tol.max_rel > 0 && c.max_rel <= tol.max_rel) ||
                      (tol.max_abs == 0 && tol.max_rel == 0 && c.max_abs == 0));
  if (!finite) {
    c.note = !actual_finite && !golden_finite ? "NaN/Inf in actual and golden"
             : !actual_finite                 ? "NaN/Inf in actual"
                                              : "NaN/Inf in golden";
  }
  comparisons_.push_back(c);
}

void Report::Fail(const std::string& name, const std::string& why, const std::string& golden_name) {
  Comparison c;
  c.group = group_;
  c.golden = golden_name.empty() ? name : golden_name;
  c.name = name;
  c.note = why;
  comparisons_.push_back(c);
}

void Report::Add(Comparison c) {
  c.group = group_;
  if (c.golden.empty()) c.golden = c.name;
  comparisons_.push_back(std::move(c));
}

void Report::UsedAsInput(const std::string& golden) { inputs_.emplace_back(group_, golden); }

std::vector<std::string> Report::InputsOf(const std::string& group) const {
  std::vector<std::string> out;
  for (const auto& [g, name] : inputs_) {
    if (g == group) out.push_back(name);
  }
  return out;
}

Coverage AccountCoverage(const Fixture& fixture, const Group& group, const Report& report) {
  std::set<std::string> compared, labels, duplicate_labels;
  for (const auto& c : report.comparisons()) {
    if (c.group != group.name) continue;
    compared.insert(c.golden);
    if (!labels.insert(c.name).second) duplicate_labels.insert(c.name);
  }
  const std::vector<std::string> inputs = report.InputsOf(group.name);
  const std::set<std::string> used(inputs.begin(), inputs.end());
  Coverage cov;
  for (const auto& e : fixture.entries()) {
    const bool mine = group.covers ? group.covers(e) : e.group == group.name;
    if (!mine) continue;
    ++cov.total;
    if (compared.count(e.name)) {
      ++cov.compared;
    } else if (used.count(e.name)) {
      ++cov.inputs;
    } else {
      cov.missing.push_back(e.name);
    }
  }
  cov.duplicates.assign(duplicate_labels.begin(), duplicate_labels.end());
  return cov;
}

int Report::passed() const {
  int n = 0;
  for (const auto& c : comparisons_) n += c.pass ? 1 : 0;
  return n;
}

int Report::failed() const { return static_cast<int>(comparisons_.size()) - passed(); }

const std::vector<Group>& SupportedGroups() {
  static const std::vector<Group> groups = [] {
    std::vector<Group> all;
    auto add = [&all](std::vector<Group> more) {
      for (auto& g : more) all.push_back(std::move(g));
    };
    add(LlmGroups());  // one line per stage file apps/parity/group_<stage>.cpp
    add(FlowGroups());
    add(HiftGroups());
    add(E2eGroups());
    add(FrontendGroups());
    return all;
  }();
  return groups;
}

}  // namespace cosyflow::parity
