// Tests for the torch.save zip reader: fixture key lists, values, shared storages, bad archives.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/io/checkpoint.h"
#include "runtime/io/npy.h"
#include "tests/runtime/io/io_test_util.h"
#include "tests/test_util.h"

namespace cosyflow {
namespace {

using test::Bytes;
using test::FakeTensor;

std::string ReadText(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

Result<Checkpoint> OpenCrafted(const Bytes& pickle,
                               const std::vector<std::pair<std::string, Bytes>>& data) {
  return Checkpoint::OpenBytes("crafted.pt", test::TorchZip(pickle, data));
}

// The oracle: expected_keys/<stem>.txt, one "name dtype [shape]" line per tensor as torch.load
// lists them and a summary line (kept beside the bundled fixtures; a fixture set without it skips
// this check).
TEST_CASE("TorchCheckpoint: tiny fixtures list exactly the oracle's keys, dtypes and shapes") {
  const std::string dir = test::TinySeed0Dir();
  if (!std::filesystem::exists(dir + "/expected_keys")) {
    MESSAGE("skipped: ", dir, " has no expected_keys/ listing");
    return;
  }
  for (const char* stem : {"llm", "flow", "hift"}) {
    CAPTURE(stem);
    auto ckpt = Checkpoint::Open(dir + "/" + stem + ".pt");
    REQUIRE_MESSAGE(ckpt.ok(), ckpt.status().ToString());
    CHECK(ckpt->format() == CheckpointFormat::kTorchZip);
    const std::string expected = ReadText(dir + "/expected_keys/" + stem + ".txt");
    REQUIRE(!expected.empty());
    // One line per tensor, then the "N tensors, M parameters" summary.
    CHECK(ckpt->size() + 1 ==
          static_cast<size_t>(std::count(expected.begin(), expected.end(), '\n')));
    CHECK(FormatCheckpointListing(*ckpt) == expected);  // what `cosyflow inspect` prints
  }
}

// Qwen2 (vocab, hidden) of the fixture, from its config.json.
std::pair<int64_t, int64_t> QwenShape() {
  nlohmann::json j;
  std::ifstream(test::TinySeed0Dir() + "/config.json") >> j;
  return {j.at("qwen").at("vocab_size").get<int64_t>(),
          j.at("qwen").at("hidden_size").get<int64_t>()};
}

TEST_CASE("TorchCheckpoint: tensors are zero-copy read-only views and tied weights share storage") {
  auto ckpt = Checkpoint::Open(test::TinySeed0Dir() + "/llm.pt");
  REQUIRE(ckpt.ok());
  const Tensor* embed = ckpt->Find("llm.model.model.embed_tokens.weight");
  const Tensor* head = ckpt->Find("llm.model.lm_head.weight");
  REQUIRE(embed != nullptr);
  REQUIRE(head != nullptr);
  CHECK(embed->storage() == head->storage());
  CHECK(embed->raw() == head->raw());
  const auto [vocab, hidden] = QwenShape();
  CHECK(embed->shape() == Dims{vocab, hidden});
  for (const CheckpointEntry& e : ckpt->entries()) {
    CHECK(e.tensor.storage()->read_only());
    CHECK(reinterpret_cast<uintptr_t>(e.tensor.raw()) % 64 == 0);
  }
}

TEST_CASE("TorchCheckpoint: values equal the rows the reference LM fed (llm_bistream_fed_embeds)") {
  const std::string dir = test::TinySeed0Dir();
  auto ckpt = Checkpoint::Open(dir + "/llm.pt");
  REQUIRE(ckpt.ok());
  for (const char* run : {"llm_bistream", "llm_bistream_noprompt"}) {
    CAPTURE(run);
    auto fed = ReadNpy(dir + "/golden/" + run + "_fed.npy");
    auto embeds = ReadNpy(dir + "/golden/" + run + "_fed_embeds.npy");
    REQUIRE(fed.ok());
    REQUIRE(embeds.ok());
    const char* tables[] = {"llm_embedding.weight", "llm.model.model.embed_tokens.weight",
                            "speech_embedding.weight"};
    const int64_t n = fed->size(0);
    const int64_t hidden = QwenShape().second;
    REQUIRE(embeds->shape() == Dims{1, n, hidden});
    int checked = 0;
    for (int64_t r = 0; r < n; ++r) {
      const int32_t table = fed->data<int32_t>()[r * 2];
      const int32_t id = fed->data<int32_t>()[r * 2 + 1];
      REQUIRE(table >= 0);
      REQUIRE(table < 3);
      auto w = ckpt->Get(tables[table]);
      REQUIRE(w.ok());
      REQUIRE(id < w->size(0));
      auto row = w->Select(0, id);
      REQUIRE(row.ok());
      CHECK(std::memcmp(row->raw(), embeds->data<float>() + r * hidden,
                        static_cast<size_t>(hidden) * sizeof(float)) == 0);
      ++checked;
    }
    CHECK(checked == n);
  }
}

TEST_CASE("TorchCheckpoint: storage offsets and strides are honoured") {
  // Storage "0" holds 0..11; 'a' is a [2,3] view at offset 2; 'b' its transpose-like view.
  std::vector<float> v(12);
  for (int i = 0; i < 12; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
  const Bytes pkl =
      test::StateDictPickle({{"a", "0", 12, 2, {2, 3}, {3, 1}}, {"b", "0", 12, 0, {3, 2}, {1, 4}}});
  auto ckpt = OpenCrafted(pkl, {{"0", test::FloatBytes(v)}});
  REQUIRE_MESSAGE(ckpt.ok(), ckpt.status().ToString());
  auto a = ckpt->Get("a", Dims{2, 3});
  REQUIRE(a.ok());
  auto ac = a->Contiguous();
  REQUIRE(ac.ok());
  CHECK(ac->data<float>()[0] == 2.0f);
  CHECK(ac->data<float>()[5] == 7.0f);
  auto b = ckpt->Get("b");
  REQUIRE(b.ok());
  auto bc = b->Contiguous();
  REQUIRE(bc.ok());
  const float expect_b[] = {0, 4, 1, 5, 2, 6};
  for (int i = 0; i < 6; ++i) CHECK(bc->data<float>()[i] == expect_b[i]);
  CHECK(a->storage() == b->storage());
}

TEST_CASE("TorchCheckpoint: nested dicts flatten with dotted names (spk2info layout)") {
  test::PickleBuilder p;
  p.Proto().Op('}');  // plain dict of speaker -> dict of tensors
  p.Str("spk1").Op('}').Op('(');
  p.Str("embedding").Tensor("FloatStorage", "0", 4, 0, {1, 4}, {4, 1});
  p.Str("prompt_text_len").Tensor("IntStorage", "1", 1, 0, {1}, {1});
  p.Str("note").Str("not a tensor");
  p.Op('u').Op('s').Stop();
  auto ckpt =
      OpenCrafted(p.bytes(), {{"0", test::FloatBytes({1, 2, 3, 4})}, {"1", Bytes{7, 0, 0, 0}}});
  REQUIRE_MESSAGE(ckpt.ok(), ckpt.status().ToString());
  REQUIRE(ckpt->size() == 2);
  CHECK(ckpt->entries()[0].name == "spk1.embedding");
  CHECK(ckpt->entries()[1].name == "spk1.prompt_text_len");
  auto len = ckpt->Get("spk1.prompt_text_len");
  REQUIRE(len.ok());
  CHECK(len->dtype() == DType::kI32);
  CHECK(len->data<int32_t>()[0] == 7);
}

TEST_CASE("TorchCheckpoint: a changed byte in tensor data or data.pkl fails the CRC-32 check") {
  const Bytes orig = test::ReadBytes(test::TinySeed0Dir() + "/flow.pt");
  auto src = io::ByteSource::CopyOf("flow.pt", orig);
  REQUIRE(src.ok());
  auto zip = io::ZipReader::Open(*src);
  REQUIRE(zip.ok());
  const io::ZipEntry* largest = nullptr;
  for (const io::ZipEntry& e : zip->entries()) {
    if (e.name.find("/data/") != std::string::npos && (!largest || e.size > largest->size)) {
      largest = &e;
    }
  }
  REQUIRE(largest != nullptr);
  const io::ZipEntry* pkl = zip->Find("flow/data.pkl");
  REQUIRE(pkl != nullptr);
  CHECK(Checkpoint::OpenBytes("flow.pt", orig).ok());
  for (const io::ZipEntry* e : {largest, pkl}) {
    CAPTURE(e->name);
    Bytes changed = orig;
    changed[e->data_offset + e->size / 2] ^= 0x10;  // one bit of one float / pickle byte
    auto r = Checkpoint::OpenBytes("flow.pt", changed);
    REQUIRE(!r.ok());
    CHECK(r.status().code() == StatusCode::kDataLoss);
    const std::string m = r.status().message();
    CHECK(m.find("flow.pt: zip entry '" + e->name + "'") == 0);
    CHECK(m.find("fails its CRC-32 check") != std::string::npos);
    if (e == largest) CHECK(m.find("(the storage of tensor '") != std::string::npos);
  }
}

TEST_CASE("TorchCheckpoint: bad archives fail with the file and entry named") {
  const std::vector<std::pair<std::string, Bytes>> data = {{"0", test::FloatBytes({1, 2, 3, 4})}};
  SUBCASE("storage shorter than its tensor") {
    auto r = OpenCrafted(test::StateDictPickle({{"w", "0", 4, 1, {2, 2}, {2, 1}}}), data);
    REQUIRE(!r.ok());
    CHECK(r.status().message().find("crafted.pt") != std::string::npos);
    CHECK(r.status().message().find("'w'") != std::string::npos);
  }
  SUBCASE("storage record smaller than the declared storage") {
    auto r = OpenCrafted(test::StateDictPickle({{"w", "0", 100, 0, {4}, {1}}}), data);
    REQUIRE(!r.ok());
    CHECK(r.status().message().find("'w'") != std::string::npos);
  }
  SUBCASE("missing storage record") {
    auto r = OpenCrafted(test::StateDictPickle({{"w", "7", 4, 0, {4}, {1}}}), data);
    REQUIRE(!r.ok());
    CHECK(r.status().code() == StatusCode::kNotFound);
    CHECK(r.status().message().find("archive/data/7") != std::string::npos);
  }
  SUBCASE("absurd shape of 2^62 elements") {
    auto r = OpenCrafted(
        test::StateDictPickle({{"w", "0", 4, 0, {int64_t{1} << 31, int64_t{1} << 31}, {0, 0}}}),
        data);
    REQUIRE(!r.ok());
    CHECK(r.status().message().find("absurd") != std::string::npos);
  }
  SUBCASE("negative stride") {
    auto r = OpenCrafted(test::StateDictPickle({{"w", "0", 4, 3, {4}, {-1}}}), data);
    REQUIRE(!r.ok());
    CHECK(r.status().message().find("'w'") != std::string::npos);
  }
  SUBCASE("unknown global") {
    test::PickleBuilder p;
    p.Proto().Global("os", "system").Stop();
    auto r = OpenCrafted(p.bytes(), data);
    REQUIRE(!r.ok());
    CHECK(r.status().code() == StatusCode::kUnsupported);
    CHECK(r.status().message().find("os.system") != std::string::npos);
    CHECK(r.status().message().find("crafted.pt: archive/data.pkl") != std::string::npos);
  }
  SUBCASE("float64 storage") {
    auto r =
        OpenCrafted(test::StateDictPickle({{"d", "0", 2, 0, {2}, {1}, "DoubleStorage"}}), data);
    REQUIRE(!r.ok());
    CHECK(r.status().code() == StatusCode::kUnsupported);
    CHECK(r.status().message().find("'d'") != std::string::npos);
  }
  SUBCASE("big-endian byteorder record") {
    auto r = Checkpoint::OpenBytes(
        "crafted.pt", test::StoredZip({{"archive/data.pkl", test::StateDictPickle({})},
                                       {"archive/byteorder", Bytes{'b', 'i', 'g'}}}));
    REQUIRE(!r.ok());
    CHECK(r.status().message().find("byteorder") != std::string::npos);
  }
  SUBCASE("no data.pkl") {
    auto r = Checkpoint::OpenBytes("crafted.pt", test::StoredZip({{"x/other", Bytes{1}}}));
    REQUIRE(!r.ok());
    CHECK(r.status().message().find("data.pkl") != std::string::npos);
  }
  SUBCASE("legacy torch format") {
    const Bytes legacy = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8};
    auto r = Checkpoint::OpenBytes("old.pt", legacy);
    REQUIRE(!r.ok());
    CHECK(r.status().code() == StatusCode::kUnsupported);
    CHECK(r.status().message().find("old.pt: legacy torch format") == 0);
  }
  SUBCASE("wrong magic") {
    auto r = Checkpoint::OpenBytes("junk.bin", Bytes{'G', 'I', 'F', '8', '9', 'a', 0, 0, 0, 0, 0});
    REQUIRE(!r.ok());
    CHECK(r.status().message().find("junk.bin") == 0);
  }
}

}  // namespace
}  // namespace cosyflow
