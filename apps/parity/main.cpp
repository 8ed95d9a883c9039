// cosyflow-parity: runs the golden groups this build supports against a fixture directory.
//
//   cosyflow-parity --fixtures DIR [--group NAME]...
//
// Reads either manifest format (tiny-seed0 "entries", frontend-tiny "prompts"/"files"). Prints
// one line per comparison (`group/name max_abs max_rel PASS|FAIL`), one coverage line per group
// (`coverage GROUP: C compared + I used as input / T entries`), then
// `parity: P passed, F failed, S unsupported`. Exits 1 on any failed comparison (NaN/Inf
// included), on a manifest entry of a run group that was never compared, on a label compared
// twice in a group, on a fixture that does not load, or when a requested group is not supported.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "apps/parity/group_flow.h"
#include "apps/parity/group_llm.h"
#include "apps/parity/parity.h"
#include "runtime/io/checkpoint.h"
#ifdef COSYFLOW_WITH_CUDA
#include "runtime/kernels/cuda/llm_ops.h"
#endif

namespace {

using cosyflow::parity::Fixture;
using cosyflow::parity::Group;
using cosyflow::parity::Report;

// Loads every checkpoint the manifest lists (llm.pt, flow.pt, hift.pt, ...).
bool LoadCheckpoints(const Fixture& fixture) {
  bool ok = true;
  const auto& ckpts = fixture.manifest().value("checkpoints", nlohmann::json::object());
  for (auto it = ckpts.begin(); it != ckpts.end(); ++it) {
    const std::string& file = it.key();
    if (file.size() < 3 || file.substr(file.size() - 3) != ".pt") continue;
    auto ckpt = cosyflow::Checkpoint::Open(fixture.Path(file));
    if (!ckpt.ok()) {
      fmt::print("checkpoint {}: FAIL {}\n", file, ckpt.status().ToString());
      ok = false;
      continue;
    }
    fmt::print("checkpoint {}: {} tensors, {} parameters\n", file, ckpt->entries().size(),
               ckpt->total_params());
  }
  return ok;
}

// False (with a "skipped" line) when a --*-device option asks for cuda and no device is visible
// (the caller exits 77, ctest's skip code). A build without CUDA lets the load fail instead.
bool DeviceVisible(const char* flag, const std::string& value) {
  if (value != "cuda") return true;
#ifdef COSYFLOW_WITH_CUDA
  if (cosyflow::cuda::VisibleDevices() == 0) {
    fmt::print("cosyflow-parity: {} cuda: no CUDA device visible (skipped)\n", flag);
    return false;
  }
#endif
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cosyflow-parity: compare the engine with golden tensors from the reference"};
  std::string dir;
  std::vector<std::string> requested;
  app.add_option("--fixtures", dir, "Fixture directory holding manifest.json")->required();
  app.add_option("--group", requested, "Golden group(s) to run (default: every supported one)");
  std::string llm_device = "cpu";
  app.add_option("--llm-device", llm_device,
                 "Device of the speech LM in the llm groups and the pipeline group's tokens: cpu "
                 "or cuda (exits 77 = skipped when cuda is asked for and no device is visible)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  std::string flow_device = "cpu";
  app.add_option("--flow-device", flow_device,
                 "Device of the flow model's sampler in the flow, token2wav and pipeline groups: "
                 "cpu or cuda (exits 77 = skipped when cuda is asked for and no device is "
                 "visible)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  CLI11_PARSE(app, argc, argv);
  if (!DeviceVisible("--flow-device", flow_device) || !DeviceVisible("--llm-device", llm_device)) {
    return 77;
  }
  if (flow_device == "cuda") cosyflow::parity::SetFlowDevice(cosyflow::Device::kCuda);
  if (llm_device == "cuda") cosyflow::parity::SetLlmDevice(cosyflow::Device::kCuda);

  auto fixture = Fixture::Open(dir);
  if (!fixture.ok()) {
    fmt::print(stderr, "cosyflow-parity: {}\n", fixture.status().ToString());
    return 1;
  }
  bool ok = LoadCheckpoints(*fixture);
  std::string summary;
  cosyflow::Status verified = fixture->Verify(&summary);
  if (verified.ok()) {
    fmt::print("fixtures: {}\n", summary);
  } else {
    fmt::print("fixtures: FAIL {}\n", verified.ToString());
    ok = false;
  }

  std::map<std::string, const Group*> supported;
  for (const auto& g : cosyflow::parity::SupportedGroups()) supported[g.name] = &g;
  std::map<std::string, int> golden_count;  // group -> number of golden tensors
  for (const auto& e : fixture->entries()) {
    if (e.group != "inputs") ++golden_count[e.group];
  }
  std::set<std::string> to_run;
  if (requested.empty()) {
    for (const auto& [name, n] : golden_count) to_run.insert(name);
  } else {
    to_run.insert(requested.begin(), requested.end());
  }

  Report report;
  int unsupported = 0;
  std::vector<std::string> coverage_lines;
  for (const std::string& name : to_run) {
    auto it = supported.find(name);
    if (it == supported.end()) {
      const bool in_fixture = golden_count.count(name) != 0;
      fmt::print("group {}: unsupported by this build{}\n", name,
                 in_fixture ? fmt::format(" ({} golden tensors)", golden_count[name])
                            : " (and not in the fixture)");
      unsupported += in_fixture ? golden_count[name] : 1;
      if (!requested.empty()) ok = false;
      continue;
    }
    report.BeginGroup(name);
    cosyflow::Status s;
    try {
      s = it->second->run(*fixture, report);
    } catch (const std::exception& e) {  // manifest lookups (nlohmann::json::at) on bad fixtures
      s = cosyflow::DataLoss("{}/manifest.json: {}", dir, e.what());
    }
    if (!s.ok()) report.Fail(name + "_run", s.ToString(), "");
    const cosyflow::parity::Coverage cov =
        cosyflow::parity::AccountCoverage(*fixture, *it->second, report);
    std::string line =
        fmt::format("coverage {}: {} compared + {} used as input / {} entries{}", name,
                    cov.compared, cov.inputs, cov.total, cov.ok() ? "" : "  FAIL");
    if (cov.total == 0) line += " (the fixture has no entry of this group)";
    if (!cov.missing.empty()) {
      line += fmt::format("; never compared: {}", fmt::join(cov.missing, ", "));
    }
    if (!cov.duplicates.empty()) {
      line += fmt::format("; compared more than once: {}", fmt::join(cov.duplicates, ", "));
    }
    coverage_lines.push_back(line);
    if (!cov.ok()) ok = false;
  }
  for (const auto& c : report.comparisons()) {
    fmt::print("{}/{} {:.3e} {:.3e} {}{}\n", c.group, c.name, c.max_abs, c.max_rel,
               c.pass ? "PASS" : "FAIL", c.note.empty() ? "" : "  # " + c.note);
  }
  for (const auto& line : coverage_lines) fmt::print("{}\n", line);
  // Comparisons are per group (a golden checked by two groups shows twice above); the distinct
  // manifest entries compared are counted once.
  std::set<std::string> distinct;
  for (const auto& c : report.comparisons()) {
    if (fixture->Find(c.golden) != nullptr) distinct.insert(c.golden);
  }
  fmt::print(
      "parity: {} passed, {} failed, {} unsupported; {} distinct manifest entries compared\n",
      report.passed(), report.failed(), unsupported, distinct.size());
  return ok && report.failed() == 0 ? 0 : 1;
}
