// Tests for the safetensors reader and writer.
#include "runtime/io/safetensors.h"

#include <doctest/doctest.h>

#include <cstring>

#include "runtime/io/checkpoint.h"
#include "tests/runtime/io/io_test_util.h"

namespace cosyflow {
namespace {

using test::Bytes;

Bytes Safetensors(const std::string& header, const Bytes& data) {
  Bytes b;
  test::PutLE(&b, header.size(), 8);
  b.insert(b.end(), header.begin(), header.end());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

TEST_CASE("Safetensors: write then open keeps order, dtypes and values") {
  test::TempDir dir;
  std::vector<CheckpointEntry> entries;
  const DType dtypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kI32,
                          DType::kI64, DType::kU8,  DType::kBool};
  std::vector<float> v = {1, 0, 2, 3, 0, 5};
  auto base = Tensor::FromVector<float>(Dims{2, 3}, v);
  REQUIRE(base.ok());
  int k = 0;
  for (DType d : dtypes)
    entries.push_back({fmt::format("z{}.{}", 9 - k++, DTypeName(d)), base->To(d).value()});
  const std::string path = dir.File("m.safetensors");
  REQUIRE(WriteSafetensors(path, entries).ok());
  auto ckpt = Checkpoint::Open(path);
  REQUIRE_MESSAGE(ckpt.ok(), ckpt.status().ToString());
  CHECK(ckpt->format() == CheckpointFormat::kSafetensors);
  REQUIRE(ckpt->size() == entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    CHECK(ckpt->entries()[i].name == entries[i].name);  // file order, not sorted
    const Tensor& t = ckpt->entries()[i].tensor;
    CHECK(t.dtype() == entries[i].tensor.dtype());
    CHECK(t.shape() == Dims{2, 3});
    CHECK(std::memcmp(t.raw(), entries[i].tensor.raw(), t.nbytes()) == 0);
  }
  CHECK(ckpt->total_params() == 42);
}

TEST_CASE("Safetensors: metadata is skipped and bad headers are rejected by name") {
  auto ok = Checkpoint::OpenBytes(
      "m.safetensors",
      Safetensors(
          R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
          Bytes(8)));
  REQUIRE_MESSAGE(ok.ok(), ok.status().ToString());
  CHECK(ok->size() == 1);
  struct Case {
    const char* header;
    const char* expect;
  } cases[] = {
      {R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", "'w'"},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,800000]}})", "'w'"},
      {R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", "'F64'"},
      {R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}})", "'w'"},
      {R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})", "absurd"},
      {R"({"w":{"dtype":"F32","shape":[2]}})", "'w'"},
      {R"({"w":"x"})", "'w'"},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", "JSON"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.header);
    auto r = Checkpoint::OpenBytes("bad.safetensors", Safetensors(c.header, Bytes(8)));
    REQUIRE(!r.ok());
    CHECK(r.status().message().find("bad.safetensors") == 0);
    CHECK(r.status().message().find(c.expect) != std::string::npos);
  }
}

}  // namespace
}  // namespace cosyflow
