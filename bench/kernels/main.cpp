// cosyflow-bench-kernels: checks every CPU kernel against its reference, times it, prints JSON.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "bench/kernels/bench_kernels.h"
#include "runtime/build_info.h"

namespace {

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto pos = line.find(':');
      if (pos != std::string::npos) return line.substr(pos + 2);
    }
  }
  return "unknown";
}

void Usage() {
  std::fprintf(stderr,
               "usage: cosyflow-bench-kernels [--min-seconds S] [--section dnnl|pointwise|all] "
               "[--out FILE] [--no-peak]\n");
}

}  // namespace

int main(int argc, char** argv) {
  cosyflow::bench::KernelBenchOptions options;
  std::string section = "all";
  std::string out_path;
  bool no_peak = false;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (!std::strcmp(argv[i], "--min-seconds") && has_value) {
      options.min_seconds = std::atof(argv[++i]);
    } else if (!std::strcmp(argv[i], "--section") && has_value) {
      section = argv[++i];
    } else if (!std::strcmp(argv[i], "--no-peak")) {
      no_peak = true;
    } else if (!std::strcmp(argv[i], "--out") && has_value) {
      out_path = argv[++i];
    } else {
      Usage();
      return 2;
    }
  }
  if (section != "all" && section != "dnnl" && section != "pointwise") {
    Usage();
    return 2;
  }

  nlohmann::json report;
  report["bench"] = "kernels";
  report["build"] = cosyflow::BuildInfo();
  report["cpu"] = CpuModel();
  report["min_seconds"] = options.min_seconds;
  nlohmann::json cases = nlohmann::json::array();
  const auto start = std::chrono::steady_clock::now();
  if (section == "all" || section == "dnnl") {
    for (auto& c : cosyflow::bench::BenchDnnlKernels(options)) cases.push_back(c);
  }
  if (section == "all" || section == "pointwise") {
    for (auto& c : cosyflow::bench::BenchPointwiseKernels(options)) cases.push_back(c);
  }
  if (!no_peak) {
    report["peak"] = cosyflow::bench::MeasurePeak();
    cosyflow::bench::AddPeakFractions(report["peak"], cases);
  }
  int failed = 0;
  for (const auto& c : cases) {
    if (!c.value("ok", false)) ++failed;
  }
  report["cases"] = cases;
  report["failed"] = failed;
  report["wall_seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string text = report.dump(1);
  std::printf("%s\n", text.c_str());
  if (!out_path.empty()) {
    std::ofstream(out_path) << text << "\n";
  }
  return failed == 0 ? 0 : 1;
}
