// Tests for the Checkpoint entry point: lookup, shape checks, renames and prefix stripping.
#include "runtime/io/checkpoint.h"

#include <doctest/doctest.h>

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
