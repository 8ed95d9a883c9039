// Tests for .npy reading (C/Fortran order, versions, dtypes, empty dims) and writing.
#include "runtime/io/npy.h"

#include <doctest/doctest.h>

#include <cstring>

#include "runtime/io/checkpoint.h"
#include "tests/runtime/io/io_test_util.h"
#include "tests/test_util.h"

namespace cosyflow {
namespace {

using test::Bytes;

Bytes NpyBytes(int major, const std::string& dict, const Bytes& data) {
  Bytes b = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  test::PutLE(&b, dict.size(), major == 1 ? 2 : 4);
  b.insert(b.end(), dict.begin(), dict.end());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

TEST_CASE("Npy: Fortran-order fixtures come back as correct C-order tensors") {
  for (const char* name : {"flow_nonstream_mu", "hift_rec_sine_noise"}) {
    CAPTURE(name);
    const std::string path = test::TinySeed0Dir() + "/golden/" + name + ".npy";
    auto t = ReadNpy(path);
    REQUIRE_MESSAGE(t.ok(), t.status().ToString());
    REQUIRE(t->is_contiguous());
    REQUIRE(t->dim() == 3);
    // Independent oracle: element [0, i, j] of a column-major file is raw[i + j * d1].
    const Bytes raw = test::ReadBytes(path);
    const size_t data = 10 + (raw[8] | (raw[9] << 8));
    const int64_t d1 = t->size(1), d2 = t->size(2);
    int mismatches = 0;
    for (int64_t i = 0; i < d1; i += 7) {
      for (int64_t j = 0; j < d2; j += 3) {
        float expect;
        std::memcpy(&expect, raw.data() + data + 4 * static_cast<size_t>(i + j * d1), 4);
        if (t->data<float>()[i * d2 + j] != expect) ++mismatches;
      }
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("Npy: zero-length dimensions and int32 fixtures") {
  auto empty = ReadNpy(test::TinySeed0Dir() + "/golden/llm_bistream_noprompt_in_prompt_text.npy");
  REQUIRE(empty.ok());
  CHECK(empty->shape() == Dims{1, 0});
  CHECK(empty->dtype() == DType::kI32);
  auto cache = ReadNpy(test::TinySeed0Dir() + "/golden/t2w_stream_hift0_in_cache_source.npy");
  REQUIRE(cache.ok());
  CHECK(cache->shape() == Dims{1, 1, 0});
  auto text = ReadNpy(test::TinySeed0Dir() + "/golden/input_text.npy");
  REQUIRE(text.ok());
  CHECK(text->shape() == Dims{1, 8});
  CHECK(text->storage()->read_only());  // C order: zero-copy view into the mapped file
}

TEST_CASE("Npy: v2/v3 headers, Fortran 2-D and every supported dtype") {
  auto v2 = ParseNpy(
      "v2.npy", NpyBytes(2, "{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3), }\n", [] {
        Bytes d;
        for (int i = 0; i < 6; ++i) test::PutLE(&d, static_cast<uint64_t>(i), 8);
        return d;
      }()));
  REQUIRE_MESSAGE(v2.ok(), v2.status().ToString());
  CHECK(v2->dtype() == DType::kI64);
  // Column-major 0..5 in a [2,3] array: row 0 = 0 2 4, row 1 = 1 3 5.
  const int64_t expect[] = {0, 2, 4, 1, 3, 5};
  for (int i = 0; i < 6; ++i) CHECK(v2->data<int64_t>()[i] == expect[i]);
  auto v3 = ParseNpy(
      "v3.npy",
      NpyBytes(3, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", Bytes{1, 0, 1}));
  REQUIRE(v3.ok());
  CHECK(v3->dtype() == DType::kBool);
  auto scalar = ParseNpy(
      "s.npy",
      NpyBytes(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (), }", Bytes{0, 0x3c}));
  REQUIRE(scalar.ok());
  CHECK(scalar->dim() == 0);
  CHECK(F16ToF32(scalar->data<uint16_t>()[0]) == 1.0f);
  auto u8 = ParseNpy(
      "u.npy",
      NpyBytes(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", Bytes{5, 6}));
  REQUIRE(u8.ok());
  CHECK(u8->data<uint8_t>()[1] == 6);
}

TEST_CASE("Npy: bad files fail with the name") {
  auto f8 = ParseNpy(
      "d.npy", NpyBytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", Bytes(8)));
  REQUIRE(!f8.ok());
  CHECK(f8.status().code() == StatusCode::kUnsupported);
  CHECK(f8.status().message().find("d.npy") == 0);
  auto big = ParseNpy(
      "big.npy",
      NpyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }",
               Bytes(16)));
  REQUIRE(!big.ok());
  CHECK(big.status().message().find("big.npy") == 0);
  auto trunc = ParseNpy(
      "t.npy", NpyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", Bytes(15)));
  REQUIRE(!trunc.ok());
  CHECK(trunc.status().message().find("truncated") != std::string::npos);
  auto key = ParseNpy(
      "k.npy",
      NpyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", Bytes(4)));
  CHECK(!key.ok());
}

TEST_CASE("Npy: WriteNpy round-trips through ReadNpy and Checkpoint::Open (strided input)") {
  test::TempDir dir;
  std::vector<float> v(24);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) * 0.5f - 3.0f;
  auto t = Tensor::FromVector<float>(Dims{2, 3, 4}, v);
  REQUIRE(t.ok());
  auto tt = t->Transpose(0, 2);  // [4,3,2], non-contiguous
  REQUIRE(tt.ok());
  const std::string path = dir.File("x.npy");
  REQUIRE(WriteNpy(path, *tt).ok());
  auto back = ReadNpy(path);
  REQUIRE(back.ok());
  CHECK(back->shape() == Dims{4, 3, 2});
  auto expect = tt->Contiguous();
  REQUIRE(expect.ok());
  CHECK(std::memcmp(back->raw(), expect->raw(), 24 * 4) == 0);
  auto ckpt = Checkpoint::Open(path);
  REQUIRE(ckpt.ok());
  CHECK(ckpt->format() == CheckpointFormat::kNpy);
  REQUIRE(ckpt->size() == 1);
  CHECK(ckpt->entries()[0].name == "x");
  for (DType d : {DType::kI32, DType::kI64, DType::kU8, DType::kBool, DType::kF16}) {
    auto c = t->To(d);
    REQUIRE(c.ok());
    REQUIRE(WriteNpy(path, *c).ok());
    auto r = ReadNpy(path);
    REQUIRE(r.ok());
    CHECK(r->dtype() == d);
    CHECK(std::memcmp(r->raw(), c->raw(), c->nbytes()) == 0);
  }
  auto bf = t->To(DType::kBF16);
  REQUIRE(bf.ok());
  CHECK(WriteNpy(path, *bf).code() == StatusCode::kUnsupported);
  auto e = Tensor::Empty(Dims{3, 0}, DType::kF32);
  REQUIRE(WriteNpy(path, *e).ok());
  auto re = ReadNpy(path);
  REQUIRE(re.ok());
  CHECK(re->shape() == Dims{3, 0});
}

}  // namespace
}  // namespace cosyflow
