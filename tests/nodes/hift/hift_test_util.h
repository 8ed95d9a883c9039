// Helpers for the HiFT tests: the tiny vocoder, golden loading and error measures.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "nodes/hift/hift_vocoder.h"
#include "runtime/io/npy.h"
#include "tests/test_util.h"

namespace cosyflow::hift::test_util {

inline std::shared_ptr<const HiftVocoder> TinyVocoder() {
  static std::shared_ptr<const HiftVocoder> v = [] {
    auto r = HiftVocoder::Create(cosyflow::test::TinySeed0Dir());
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    return *r;
  }();
  return v;
}

// A golden as a flat float vector (C order) plus its shape.
struct Golden {
  std::vector<float> v;
  Dims shape;
};

inline Golden LoadGolden(const std::string& name) {
  auto t = ReadNpy(cosyflow::test::TinySeed0Dir() + "/golden/" + name + ".npy");
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  auto f = t->To(DType::kF32);
  REQUIRE(f.ok());
  const float* p = f->data<float>();
  return Golden{std::vector<float>(p, p + f->numel()), t->shape()};
}

inline double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(double(a[i]) - b[i]);
    if (std::isnan(d)) return INFINITY;  // a NaN fails every bound
    m = std::max(m, d);
  }
  return m;
}

inline double MaxAbs(const std::vector<float>& a) {
  double m = 0;
  for (float x : a) m = std::max(m, std::fabs(double(x)));
  return m;
}

// 10 log10(sum golden^2 / sum (actual - golden)^2).
inline double SnrDb(const std::vector<float>& actual, const std::vector<float>& golden) {
  double s = 0, e = 0;
  for (size_t i = 0; i < golden.size(); ++i) {
    s += double(golden[i]) * golden[i];
    const double d = double(actual[i]) - golden[i];
    e += d * d;
  }
  return e == 0 ? 999.0 : 10.0 * std::log10(s / e);
}

}  // namespace cosyflow::hift::test_util
