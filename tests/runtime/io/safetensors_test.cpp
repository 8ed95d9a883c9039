// Tests for the safetensors reader and writer.
#include "runtime/io/safetensors.h"

#include <doctest/doctest.h>

#include <sys/mman.h>

#include <cstring>
#include <fstream>
#include <string>

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

// This process's resident file-backed memory (RssFile), KiB.
int64_t RssFileKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("RssFile:", 0) == 0) return std::stoll(line.substr(8));
  }
  return -1;
}

// Whether madvise(MADV_DONTNEED) takes effect here: on Linux an anonymous private page reads
// back as zero after it; qemu user mode accepts the call and ignores it.
bool DontNeedHonoured() {
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  auto* b = static_cast<volatile unsigned char*>(p);
  b[0] = 42;
  const bool honoured = madvise(p, 4096, MADV_DONTNEED) == 0 && b[0] == 0;
  munmap(p, 4096);
  return honoured;
}

double Sum(const Tensor& t) {
  double s = 0;
  for (int64_t i = 0; i < t.numel(); ++i) s += t.data<float>()[i];
  return s;
}

// A mapped checkpoint gives back the pages a load read (models keep int8 / bf16 / packed copies)
// while the tensors that view the file stay readable: pages come back when read.
TEST_CASE("Checkpoint: ReleaseResidentPages drops the mapped file's pages, views stay valid") {
  test::TempDir dir;
  const int64_t n = int64_t{6} << 20;  // 24 MiB of f32
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i % 1000) * 0.5f;
  auto base = Tensor::FromVector<float>(Dims{n}, v);
  REQUIRE(base.ok());
  const std::string path = dir.File("big.safetensors");
  REQUIRE(WriteSafetensors(path, {{"w", *base}}).ok());
  auto ckpt = Checkpoint::Open(path);
  REQUIRE(ckpt.ok());
  const Tensor view = ckpt->Get("w").value();
  const double want = Sum(*base);
  CHECK(Sum(view) == want);  // touches every page of the mapping
  const int64_t before = RssFileKiB();
  ckpt->ReleaseResidentPages();
  const int64_t after = RssFileKiB();
  MESSAGE("RssFile " << before << " -> " << after << " KiB");
  const bool measurable = before >= 0 && DontNeedHonoured();
  if (measurable) CHECK(before - after >= 20 * 1024);  // the 24 MiB mapping's pages went
  CHECK(Sum(view) == want);  // faulted back in from the page cache / the file
  if (measurable) CHECK(RssFileKiB() - after >= 20 * 1024);
  // In-memory checkpoints have nothing to give back and keep their bytes.
  auto mem = Checkpoint::OpenBytes("m.safetensors", test::ReadBytes(path));
  REQUIRE(mem.ok());
  mem->ReleaseResidentPages();
  CHECK(Sum(mem->Get("w").value()) == want);
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
