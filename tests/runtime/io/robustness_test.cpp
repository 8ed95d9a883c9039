// Robustness: the readers over many truncated and byte-flipped fixture files (deterministic).
// Every case must end in ok or a Status whose message names the file; never a crash or hang.
#include <doctest/doctest.h>

#include <chrono>
#include <random>

#include "runtime/io/byte_source.h"
#include "runtime/io/checkpoint.h"
#include "runtime/io/npy.h"
#include "runtime/io/pickle.h"
#include "runtime/io/safetensors.h"
#include "runtime/io/zip.h"
#include "tests/runtime/io/io_test_util.h"
#include "tests/test_util.h"

namespace cosyflow {
namespace {

using test::Bytes;

struct Tally {
  int ok = 0;
  int errors = 0;
};

// Reads one byte at each end of every tensor so a view outside its storage would fault (ASan).
uint8_t TouchAll(const Checkpoint& c) {
  uint8_t acc = 0;
  for (const CheckpointEntry& e : c.entries()) {
    const Tensor& t = e.tensor;
    if (t.numel() == 0) continue;
    int64_t last = 0;
    for (int d = 0; d < t.dim(); ++d) last += (t.size(d) - 1) * t.stride(d);
    const auto* p = static_cast<const uint8_t*>(t.raw());
    acc ^= p[0] ^ p[last * static_cast<int64_t>(DTypeSize(t.dtype()))];
  }
  return acc;
}

void Check(const std::string& name, std::span<const uint8_t> bytes, Tally* tally) {
  auto r = Checkpoint::OpenBytes(name, bytes);
  if (r.ok()) {
    volatile uint8_t sink = TouchAll(*r);
    (void)sink;
    ++tally->ok;
    return;
  }
  ++tally->errors;
  const std::string msg = r.status().message();
  if (msg.empty() || msg.find(name) == std::string::npos) {
    FAIL_CHECK("error does not name the file: " << r.status().ToString());
  }
}

// Truncates at each length in `lengths` and flips each (position, xor) pair.
void Mutate(const std::string& name, const Bytes& orig, const std::vector<size_t>& lengths,
            const std::vector<std::pair<size_t, uint8_t>>& flips, Tally* tally) {
  for (size_t len : lengths) Check(name, std::span(orig.data(), std::min(len, orig.size())), tally);
  Bytes buf = orig;
  for (const auto& [pos, x] : flips) {
    if (pos >= buf.size()) continue;
    buf[pos] ^= x;
    Check(name, buf, tally);
    buf[pos] = orig[pos];
  }
}

std::vector<size_t> Spread(size_t begin, size_t end, size_t count) {
  std::vector<size_t> v;
  if (end <= begin) return v;
  const size_t step = std::max<size_t>(1, (end - begin) / count);
  for (size_t x = begin; x < end; x += step) v.push_back(x);
  return v;
}

void AddFlips(std::mt19937_64* rng, size_t begin, size_t end, int count,
              std::vector<std::pair<size_t, uint8_t>>* flips) {
  if (end <= begin) return;
  for (int i = 0; i < count; ++i) {
    const size_t pos = begin + (*rng)() % (end - begin);
    flips->push_back({pos, static_cast<uint8_t>(1 + (*rng)() % 255)});
  }
}

TEST_CASE("Robustness: truncated and byte-flipped torch checkpoints never crash") {
  const auto start = std::chrono::steady_clock::now();
  std::mt19937_64 rng(12345);
  for (const char* stem : {"llm", "flow", "hift"}) {
    const std::string name = std::string(stem) + ".pt";
    const Bytes orig = test::ReadBytes(test::TinySeed0Dir() + "/" + name);
    REQUIRE(orig.size() > 1000);
    auto src = io::ByteSource::CopyOf(name, orig);
    REQUIRE(src.ok());
    auto zip = io::ZipReader::Open(*src);
    REQUIRE(zip.ok());
    const io::ZipEntry* pkl = zip->Find(std::string(stem) + "/data.pkl");
    REQUIRE(pkl != nullptr);
    const size_t pkl_begin = pkl->data_offset, pkl_end = pkl->data_offset + pkl->size;
    const size_t cd_begin = io::LoadLE32(orig.data() + orig.size() - 6);
    REQUIRE(cd_begin < orig.size());

    std::vector<size_t> lengths = Spread(0, 64, 64);
    for (size_t v : Spread(64, orig.size(), 100)) lengths.push_back(v);
    for (size_t v : Spread(pkl_begin, pkl_end, 100)) lengths.push_back(v);
    for (size_t v : Spread(cd_begin, orig.size(), 150)) lengths.push_back(v);
    std::vector<std::pair<size_t, uint8_t>> flips;
    AddFlips(&rng, 0, orig.size(), 100, &flips);
    AddFlips(&rng, pkl_begin, pkl_end, 200, &flips);
    AddFlips(&rng, cd_begin, orig.size(), 150, &flips);
    for (int i = 0; i < 50; ++i) {  // local headers just before a record's data
      const io::ZipEntry& e = zip->entries()[rng() % zip->entries().size()];
      AddFlips(&rng, e.data_offset >= 128 ? e.data_offset - 128 : 0, e.data_offset, 1, &flips);
    }
    Tally tally;
    Mutate(name, orig, lengths, flips, &tally);
    MESSAGE(name << ": " << lengths.size() + flips.size() << " variants, " << tally.ok << " ok, "
                 << tally.errors << " errors");
    CHECK(tally.errors > 0);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("torch robustness took " << s << " s");
}

TEST_CASE("Robustness: truncated and byte-flipped data.pkl through the pickle VM") {
  std::mt19937_64 rng(777);
  for (const char* stem : {"llm", "flow", "hift"}) {
    const Bytes orig = test::ReadBytes(test::TinySeed0Dir() + "/" + stem + ".pt");
    auto src = io::ByteSource::CopyOf(stem, orig);
    auto zip = io::ZipReader::Open(*src);
    REQUIRE(zip.ok());
    auto span = zip->Read(*zip->Find(std::string(stem) + "/data.pkl"));
    REQUIRE(span.ok());
    const Bytes pkl(span->begin(), span->end());
    const std::string where = std::string(stem) + "/data.pkl";
    REQUIRE(io::Unpickle(pkl, where).ok());
    int errors = 0;
    auto check = [&](std::span<const uint8_t> b) {
      auto r = io::Unpickle(b, where);
      if (!r.ok()) {
        ++errors;
        CHECK(r.status().message().find(where) == 0);
      }
    };
    for (size_t len : Spread(0, pkl.size(), 400)) check(std::span(pkl.data(), len));
    Bytes buf = pkl;
    for (int i = 0; i < 400; ++i) {
      const size_t pos = rng() % buf.size();
      buf[pos] ^= static_cast<uint8_t>(1 + rng() % 255);
      check(buf);
      buf[pos] = pkl[pos];
    }
    CHECK(errors >= 400);  // every truncation fails
  }
}

TEST_CASE("Robustness: truncated and byte-flipped .npy and .safetensors files") {
  std::mt19937_64 rng(99);
  Tally tally;
  for (const char* stem :
       {"input_text", "flow_nonstream_mu", "llm_bistream_noprompt_in_prompt_text",
        "t2w_stream_hift0_in_cache_source"}) {
    const std::string name = std::string(stem) + ".npy";
    const Bytes orig = test::ReadBytes(test::TinySeed0Dir() + "/golden/" + name);
    REQUIRE(orig.size() >= 128);
    std::vector<size_t> lengths = Spread(0, 200, 200);
    for (size_t v : Spread(200, orig.size() + 1, 50)) lengths.push_back(v);
    std::vector<std::pair<size_t, uint8_t>> flips;
    for (size_t pos = 0; pos < 128; ++pos) {
      for (int k = 0; k < 3; ++k) flips.push_back({pos, static_cast<uint8_t>(1 + rng() % 255)});
    }
    Mutate(name, orig, lengths, flips, &tally);
  }
  test::TempDir dir;
  std::vector<CheckpointEntry> entries;
  entries.push_back({"a", Tensor::Empty(Dims{3, 5}, DType::kF32).value()});
  entries.push_back({"b.c", Tensor::Empty(Dims{7}, DType::kU8).value()});
  entries.push_back({"d", Tensor::Empty(Dims{2, 0, 4}, DType::kI64).value()});
  entries.push_back({"e", Tensor::Empty(Dims{9}, DType::kBF16).value()});
  REQUIRE(WriteSafetensors(dir.File("m.safetensors"), entries).ok());
  const Bytes st = test::ReadBytes(dir.File("m.safetensors"));
  const size_t header_end = 8 + io::LoadLE64(st.data());
  std::vector<std::pair<size_t, uint8_t>> flips;
  for (size_t pos = 0; pos < header_end; ++pos) {
    for (int k = 0; k < 3; ++k) flips.push_back({pos, static_cast<uint8_t>(1 + rng() % 255)});
  }
  Mutate("m.safetensors", st, Spread(0, st.size() + 1, 1000), flips, &tally);
  MESSAGE("npy/safetensors: " << tally.ok << " ok, " << tally.errors << " errors");
  CHECK(tally.errors > 0);
}

}  // namespace
}  // namespace cosyflow
