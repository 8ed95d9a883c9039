// Shared helpers for the flow tests: the tiny-seed0 model and inputs, golden loading.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "nodes/flow/flow_model.h"
#include "nodes/flow/flow_session.h"
#include "runtime/io/npy.h"
#include "tests/test_util.h"

namespace cosyflow::flow::test {

inline std::string Golden(const std::string& name) {
  return cosyflow::test::TinySeed0Dir() + "/golden/" + name + ".npy";
}

// Golden values as a flat f32/i32 vector (C order).
template <typename T>
std::vector<T> LoadGolden(const std::string& name) {
  auto t = ReadNpy(Golden(name));
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  auto c = t->Contiguous();
  REQUIRE(c.ok());
  const T* p = c->template data<T>();
  return std::vector<T>(p, p + c->numel());
}

struct TinyFlow {
  std::unique_ptr<FlowModel> model;
  FlowPrompt prompt;
  std::vector<int32_t> tokens;
};

inline const TinyFlow& Tiny() {
  static const TinyFlow tiny = [] {
    TinyFlow t;
    const std::string dir = cosyflow::test::TinySeed0Dir();
    auto cfg = FlowConfig::FromFile(dir + "/config.json");
    REQUIRE_MESSAGE(cfg.ok(), cfg.status().ToString());
    auto m = FlowModel::Create(dir + "/flow.pt", *cfg);
    REQUIRE_MESSAGE(m.ok(), m.status().ToString());
    t.model = std::move(m).value();
    t.prompt.tokens = LoadGolden<int32_t>("input_flow_prompt_speech_token");
    t.prompt.feat = LoadGolden<float>("input_prompt_speech_feat");
    t.prompt.embedding = LoadGolden<float>("input_embedding");
    t.tokens = LoadGolden<int32_t>("input_source_speech_token");
    return t;
  }();
  return tiny;
}

inline double MaxAbsDiff(const float* a, const float* b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (std::isnan(d)) return INFINITY;  // a NaN fails every bound
    if (d > m) m = d;
  }
  return m;
}

}  // namespace cosyflow::flow::test
