// Shared helpers for the prompt-audio tests: fixture location, manifest, .npy reading, diffs.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/io/npy.h"
#include "runtime/tensor.h"
#include "tests/test_util.h"

namespace cosyflow::prompt_audio::testing {

// COSYFLOW_FRONTEND_FIXTURES selects any fixture set in the frontend-tiny layout.
inline std::string FixtureDir() {
  if (const char* env = std::getenv("COSYFLOW_FRONTEND_FIXTURES")) return env;
  return cosyflow::test::FixturesDir() + "/frontend-tiny";
}

inline std::string FixturePath(const std::string& rel) { return FixtureDir() + "/" + rel; }

inline nlohmann::json Manifest() {
  std::ifstream in(FixturePath("manifest.json"));
  REQUIRE_MESSAGE(in.good(), "cannot open ", FixturePath("manifest.json"));
  return nlohmann::json::parse(in);
}

// The prompt folder names listed in manifest.json "prompts" (at least one).
inline std::vector<std::string> PromptNames() {
  const nlohmann::json manifest = Manifest();
  std::vector<std::string> names;
  for (const auto& p : manifest.at("prompts")) names.push_back(p.at("name").get<std::string>());
  REQUIRE_MESSAGE(!names.empty(), FixturePath("manifest.json"), " lists no prompts");
  return names;
}

// The manifest entry of one prompt (file_sample_rate, n16, T_mel, ...).
inline nlohmann::json PromptMeta(const std::string& name) {
  const nlohmann::json manifest = Manifest();
  for (const auto& p : manifest.at("prompts")) {
    if (p.at("name") == name) return p;
  }
  FAIL("no prompt '", name, "' in the manifest");
  return {};
}

inline bool FixtureExists(const std::string& rel) {
  return std::filesystem::exists(FixturePath(rel));
}

// Reads a float32/int32 .npy as a contiguous tensor (fails the test on error).
inline Tensor Golden(const std::string& rel) {
  auto t = ReadNpy(FixturePath(rel));
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  auto c = t->Contiguous();
  REQUIRE(c.ok());
  return *c;
}

inline std::vector<float> GoldenF32(const std::string& rel) {
  Tensor t = Golden(rel);
  REQUIRE_MESSAGE(t.dtype() == DType::kF32, rel, " is ", t.ToString());
  const float* p = t.data<float>();
  return std::vector<float>(p, p + t.numel());
}

inline double MaxAbsDiff(const float* a, const float* b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = std::abs(static_cast<double>(a[i]) - b[i]);
    if (std::isnan(d)) return INFINITY;  // a NaN fails every bound
    if (d > m) m = d;
  }
  return m;
}

// The shape without leading 1s ([1, 128, T] and [128, T] compare equal).
inline std::string CoreShape(const Tensor& t) {
  std::vector<int64_t> d(t.shape().begin(), t.shape().end());
  while (!d.empty() && d.front() == 1) d.erase(d.begin());
  std::string s;
  for (int64_t v : d) s += std::to_string(v) + ",";
  return "[" + s + "]";
}

// Checks shape equality and max |a − b| <= tol; prints the error.
inline void ExpectClose(const Tensor& got, const Tensor& want, double tol,
                        const std::string& what) {
  INFO(what, ": got ", got.ToString(), " want ", want.ToString());
  REQUIRE(CoreShape(got) == CoreShape(want));
  REQUIRE(got.dtype() == DType::kF32);
  auto g = got.Contiguous();
  REQUIRE(g.ok());
  const float* a = g->data<float>();
  const float* b = want.data<float>();
  double err = MaxAbsDiff(a, b, got.numel());
  int64_t at = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    if (std::abs(static_cast<double>(a[i]) - b[i]) == err) at = i;
  }
  MESSAGE(what, ": max abs error ", err, " at flat index ", at, " (got ", a[at], ", want ", b[at],
          ")");
  CHECK(err <= tol);
}

}  // namespace cosyflow::prompt_audio::testing
