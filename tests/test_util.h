// Helpers shared by tests: fixture paths and tensor comparison.
#pragma once

#include <cstdlib>
#include <string>

namespace cosyflow::test {

// Root of the fixture copies kept in tests/fixtures (COSYFLOW_TEST_FIXTURES overrides).
inline std::string FixturesDir() {
  if (const char* env = std::getenv("COSYFLOW_TEST_FIXTURES")) return env;
  return COSYFLOW_TEST_FIXTURES;
}
inline std::string TinySeed0Dir() { return FixturesDir() + "/tiny-seed0"; }

}  // namespace cosyflow::test
