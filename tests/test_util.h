// Helpers shared by tests: fixture paths and tensor comparison.
#pragma once

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace cosyflow::test {

// Root of the fixture copies kept in tests/fixtures (COSYFLOW_TEST_FIXTURES overrides). The
// build links `fixtures` next to the test binaries to it (tests/CMakeLists.txt), so no source
// path is compiled into the tests and a clone elsewhere reuses the compiler cache.
inline std::string FixturesDir() {
  if (const char* env = std::getenv("COSYFLOW_TEST_FIXTURES"); env != nullptr && *env != 0) {
    return env;
  }
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto dir = std::filesystem::canonical(exe.parent_path() / "fixtures", ec);
    if (!ec) return dir.string();
  }
  return "tests/fixtures";  // run from the checkout root without a build-tree link
}
inline std::string TinySeed0Dir() { return FixturesDir() + "/tiny-seed0"; }

// The checkout's root (configs/, tests/graph/, bench/data/): through the build tree's
// `fixtures` link, not COSYFLOW_TEST_FIXTURES, so that a fixture set checked from anywhere
// (COSYFLOW_TEST_FIXTURES=/some/root holding tiny-seed0/ ...) still finds the repository's files.
inline std::string RepoDir() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto dir = std::filesystem::canonical(exe.parent_path() / "fixtures", ec);
    if (!ec) return dir.parent_path().parent_path().string();
  }
  return ".";  // run from the checkout root without a build-tree link
}

// The larger of two error figures, NaN-sticky: +inf once either is NaN. (std::max(worst, NaN)
// returns worst, so a NaN output would pass a "worst < tol" check.)
inline double WorstOf(double worst, double err) {
  if (std::isnan(worst) || std::isnan(err)) return INFINITY;
  return err > worst ? err : worst;
}

}  // namespace cosyflow::test
