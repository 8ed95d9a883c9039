// Tests for weight-norm folding on hift.pt (legacy spelling) and a parametrizations checkpoint.
#include "runtime/io/weight_norm.h"

#include <doctest/doctest.h>

#include <cmath>

#include "runtime/io/checkpoint.h"
#include "runtime/io/safetensors.h"
#include "tests/runtime/io/io_test_util.h"
#include "tests/test_util.h"

namespace cosyflow {
namespace {

// Plain-loop oracle: w[o, r] = g[o] * v[o, r] / sqrt(sum_r v[o, r]^2), in double.
std::vector<double> Oracle(const Tensor& g, const Tensor& v) {
  const int64_t rows = v.size(0);
  const int64_t cols = v.numel() / rows;
  const float* vp = v.data<float>();
  std::vector<double> w(static_cast<size_t>(v.numel()));
  for (int64_t o = 0; o < rows; ++o) {
    double ss = 0;
    for (int64_t c = 0; c < cols; ++c) ss += double(vp[o * cols + c]) * vp[o * cols + c];
    for (int64_t c = 0; c < cols; ++c) {
      w[static_cast<size_t>(o * cols + c)] = g.data<float>()[o] * vp[o * cols + c] / std::sqrt(ss);
    }
  }
  return w;
}

TEST_CASE("WeightNorm: folds every weight_g/weight_v pair of hift.pt in place") {
  auto raw = Checkpoint::Open(test::TinySeed0Dir() + "/hift.pt");
  REQUIRE(raw.ok());
  Checkpoint folded = *raw;
  REQUIRE(FoldWeightNorm(&folded).ok());
  int pairs = 0;
  size_t out_pos = 0;
  for (size_t i = 0; i < raw->entries().size(); ++i) {
    const std::string& name = raw->entries()[i].name;
    if (name.ends_with(".weight_v")) continue;  // hift.pt stores g first, then v
    REQUIRE(out_pos < folded.size());
    if (!name.ends_with(".weight_g")) {
      CHECK(folded.entries()[out_pos++].name == name);
      continue;
    }
    const std::string base = name.substr(0, name.size() - 9);
    CAPTURE(base);
    CHECK(folded.entries()[out_pos++].name == base + ".weight");
    const Tensor& g = raw->entries()[i].tensor;
    const Tensor* v = raw->Find(base + ".weight_v");
    REQUIRE(v != nullptr);
    auto w = folded.Get(base + ".weight", v->shape());
    REQUIRE(w.ok());
    CHECK(w->dtype() == DType::kF32);
    if (base.starts_with("ups.")) CHECK(g.shape() == Dims{v->size(0), 1, 1});  // [in,1,1]
    const std::vector<double> expect = Oracle(g, *v);
    double max_err = 0;
    for (size_t k = 0; k < expect.size(); ++k) {
      max_err = cosyflow::test::WorstOf(max_err,
                         std::abs(w->data<float>()[k] - expect[k]) / (1e-6 + std::abs(expect[k])));
    }
    CHECK(max_err < 1e-5);
    ++pairs;
  }
  CHECK(out_pos == folded.size());
  CHECK(pairs > 20);
  CHECK(folded.size() == raw->size() - static_cast<size_t>(pairs));
  for (const CheckpointEntry& e : folded.entries())
    CHECK(e.name.find("weight_") == std::string::npos);
}

TEST_CASE("WeightNorm: parametrizations spelling, v before g, via a safetensors file") {
  // conv: v [2,1,2] rows (3,4) and (0,5); g (10, -2)  ->  w = (6,8), (0,-2).
  std::vector<CheckpointEntry> e;
  e.push_back({"conv.bias", Tensor::FromVector<float>(Dims{2}, std::vector<float>{1, 2}).value()});
  e.push_back({"conv.parametrizations.weight.original1",
               Tensor::FromVector<float>(Dims{2, 1, 2}, std::vector<float>{3, 4, 0, 5}).value()});
  e.push_back({"other", Tensor::FromVector<float>(Dims{1}, std::vector<float>{7}).value()});
  e.push_back({"conv.parametrizations.weight.original0",
               Tensor::FromVector<float>(Dims{2, 1, 1}, std::vector<float>{10, -2}).value()});
  test::TempDir dir;
  const std::string path = dir.File("p.safetensors");
  REQUIRE(WriteSafetensors(path, e).ok());
  auto ckpt = Checkpoint::Open(path);
  REQUIRE(ckpt.ok());
  REQUIRE(FoldWeightNorm(&*ckpt).ok());
  REQUIRE(ckpt->size() == 3);
  CHECK(ckpt->entries()[0].name == "conv.bias");
  CHECK(ckpt->entries()[1].name == "conv.weight");  // where original1 (the first half) was
  CHECK(ckpt->entries()[2].name == "other");
  auto w = ckpt->Get("conv.weight", Dims{2, 1, 2});
  REQUIRE(w.ok());
  const float expect[] = {6, 8, 0, -2};
  for (int i = 0; i < 4; ++i) CHECK(w->data<float>()[i] == doctest::Approx(expect[i]));
}

TEST_CASE("WeightNorm: a lone half or mismatched shapes are errors naming the layer") {
  auto t = [](Dims d) { return Tensor::Empty(d, DType::kF32).value(); };
  auto lone = Checkpoint::FromEntries("h.pt", {{"a.weight_g", t({2, 1, 1})}});
  REQUIRE(lone.ok());
  Status s = FoldWeightNorm(&*lone);
  REQUIRE(!s.ok());
  CHECK(s.message() == "h.pt: weight norm 'a': has a.weight_g but not a.weight_v");
  auto bad =
      Checkpoint::FromEntries("h.pt", {{"b.weight_g", t({3, 1, 1})}, {"b.weight_v", t({2, 4, 3})}});
  REQUIRE(bad.ok());
  s = FoldWeightNorm(&*bad);
  REQUIRE(!s.ok());
  CHECK(s.message().find("h.pt: weight norm 'b'") == 0);
}

}  // namespace
}  // namespace cosyflow
