// Tests for the Checkpoint entry point: lookup, shape checks, renames and prefix stripping.
#include "runtime/io/checkpoint.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <limits>
#include <vector>

namespace cosyflow {
namespace {

Checkpoint Make(std::vector<std::string> names) {
  std::vector<CheckpointEntry> entries;
  for (auto& n : names) entries.push_back({n, Tensor::Empty(Dims{2, 3}, DType::kF32).value()});
  return Checkpoint::FromEntries("mem.safetensors", std::move(entries)).value();
}

TEST_CASE("Checkpoint: Get reports missing tensors and wrong shapes with the path") {
  Checkpoint c = Make({"a.weight", "b.bias"});
  CHECK(c.Find("a.weight") != nullptr);
  CHECK(c.Find("zzz") == nullptr);
  auto missing = c.Get("zzz");
  REQUIRE(!missing.ok());
  CHECK(missing.status().code() == StatusCode::kNotFound);
  CHECK(missing.status().message() == "mem.safetensors: tensor 'zzz' not found");
  auto shape = c.Get("a.weight", Dims{3, 2});
  REQUIRE(!shape.ok());
  CHECK(shape.status().message() ==
        "mem.safetensors: tensor 'a.weight' has shape [2,3], expected [3,2]");
  CHECK(c.Get("a.weight", Dims{2, 3}).ok());
  CHECK(c.total_params() == 12);
}

TEST_CASE("Checkpoint: Get refuses NaN and infinite weights, naming tensor and element") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  // Past the first 4096-element block, and the last element of a ragged tail.
  for (const int64_t at : {int64_t{0}, int64_t{5000}, int64_t{9999}}) {
    for (const float bad : {nan, inf, -inf}) {
      for (const DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
        std::vector<float> v(10000, 0.25f);
        v[static_cast<size_t>(at)] = bad;
        Tensor t = Tensor::FromVector<float>(Dims{100, 100}, v).value().To(dt).value();
        auto c =
            Checkpoint::FromEntries("m.pt", {{"w", t}, {"ok", t.Slice(0, 0, at / 100).value()}});
        REQUIRE(c.ok());
        CAPTURE(at);
        CAPTURE(bad);
        auto r = c->Get("w", Dims{100, 100});
        REQUIRE(!r.ok());
        CHECK(r.status().code() == StatusCode::kDataLoss);
        CHECK(r.status().message().find("m.pt: tensor 'w'") != std::string::npos);
        CHECK(r.status().message().find(fmt::format("holds {} at element {}", bad, at)) !=
              std::string::npos);
        CHECK(c->Get("ok").ok());  // the rows before it are finite
      }
    }
  }
  // A strided view is checked in element order; integer tensors are not floats.
  std::vector<float> v(6, 1.0f);
  v[1] = nan;  // element (0, 1) of [2,3]: element 2 of the transpose [3,2]
  auto tr = Tensor::FromVector<float>(Dims{2, 3}, v).value().Transpose(0, 1).value();
  auto c = Checkpoint::FromEntries("m.pt",
                                   {{"t", tr}, {"i", Tensor::Empty(Dims{4}, DType::kI64).value()}});
  REQUIRE(c.ok());
  auto r = c->Get("t");
  REQUIRE(!r.ok());
  CHECK(r.status().message().find("holds nan at element 2") != std::string::npos);
  CHECK(c->Get("i").ok());
}

TEST_CASE("Checkpoint: StripPrefix and Rename keep file order and the index") {
  Checkpoint c = Make({"generator.conv.weight", "other", "generator.conv.bias"});
  REQUIRE(c.StripPrefix("generator.").ok());
  CHECK(c.entries()[0].name == "conv.weight");
  CHECK(c.entries()[1].name == "other");
  CHECK(c.entries()[2].name == "conv.bias");
  CHECK(c.Find("conv.bias") != nullptr);
  CHECK(c.Find("generator.conv.bias") == nullptr);
  REQUIRE(c.Rename("other", "renamed").ok());
  CHECK(c.entries()[1].name == "renamed");
  CHECK(c.Find("renamed") != nullptr);
  CHECK(!c.Rename("renamed", "conv.bias").ok());
  CHECK(!c.Rename("nope", "x").ok());
}

TEST_CASE("Checkpoint: StripPrefix refuses to merge two tensors into one name") {
  Checkpoint c = Make({"generator.w", "w"});
  Status s = c.StripPrefix("generator.");
  REQUIRE(!s.ok());
  CHECK(s.message().find("'w' appears twice") != std::string::npos);
  CHECK(c.Find("generator.w") != nullptr);  // unchanged on error
}

TEST_CASE("Checkpoint: FromEntries rejects duplicate names") {
  std::vector<CheckpointEntry> e = {{"x", Tensor::Empty(Dims{1}, DType::kF32).value()},
                                    {"x", Tensor::Empty(Dims{1}, DType::kF32).value()}};
  CHECK(!Checkpoint::FromEntries("dup", std::move(e)).ok());
}

}  // namespace
}  // namespace cosyflow
