// Tests for the ZIP reader: stored entries, alignment, and rejected archives.
#include "runtime/io/zip.h"

#include <doctest/doctest.h>

#include "tests/runtime/io/io_test_util.h"

namespace cosyflow::io {
namespace {

using test::Bytes;
using test::PutLE;

Result<ZipReader> OpenZip(const ByteSource& src) { return ZipReader::Open(src); }

TEST_CASE("Zip: lists stored entries in order and reads their bytes") {
  auto src =
      ByteSource::CopyOf("a.zip", test::StoredZip({{"x/one", Bytes{1, 2, 3}}, {"x/two", Bytes{}}}));
  REQUIRE(src.ok());
  auto zip = OpenZip(*src);
  REQUIRE_MESSAGE(zip.ok(), zip.status().ToString());
  REQUIRE(zip->entries().size() == 2);
  CHECK(zip->entries()[0].name == "x/one");
  CHECK(zip->entries()[0].data_offset % 64 == 0);
  auto data = zip->Read(*zip->Find("x/one"));
  REQUIRE(data.ok());
  CHECK(Bytes(data->begin(), data->end()) == Bytes{1, 2, 3});
  CHECK(zip->Find("x/two")->size == 0);
  CHECK(zip->Find("nope") == nullptr);
}

TEST_CASE("Zip: an entry whose bytes changed fails its CRC-32 check; the others still read") {
  Bytes archive = test::StoredZip({{"x/one", Bytes{1, 2, 3}}, {"x/two", Bytes{4, 5}}});
  {
    auto src = ByteSource::CopyOf("a.zip", archive);
    REQUIRE(src.ok());
    auto zip = OpenZip(*src);
    REQUIRE(zip.ok());
    CHECK(zip->Find("x/one")->crc32 == Crc32("\x01\x02\x03", 3));
    archive[zip->Find("x/one")->data_offset + 1] = 7;
  }
  auto src = ByteSource::CopyOf("a.zip", archive);
  REQUIRE(src.ok());
  auto zip = OpenZip(*src);
  REQUIRE(zip.ok());  // listing does not read the data
  auto bad = zip->Read(*zip->Find("x/one"));
  REQUIRE(!bad.ok());
  CHECK(bad.status().code() == StatusCode::kDataLoss);
  CHECK(bad.status().message() ==
        fmt::format("a.zip: zip entry 'x/one' (3 bytes) fails its CRC-32 check (recorded {:08x}, "
                    "computed {:08x}): the file is corrupt or was altered",
                    Crc32("\x01\x02\x03", 3), Crc32("\x01\x07\x03", 3)));
  CHECK(zip->Read(*zip->Find("x/two")).ok());
}

TEST_CASE("Zip: compressed entries are listed but refused by name") {
  Bytes z = test::StoredZip({{"x/data.pkl", Bytes{1, 2, 3, 4}}});
  // Patch the method field (offset 10) in the central directory entry to 8 (deflate).
  const size_t cd = z.size() - 22 - 46 - 10;
  REQUIRE(z[cd] == 0x50);
  z[cd + 10] = 8;
  auto src = ByteSource::CopyOf("c.zip", z);
  auto zip = OpenZip(*src);
  REQUIRE(zip.ok());
  auto r = zip->Read(zip->entries()[0]);
  REQUIRE(!r.ok());
  CHECK(r.status().code() == StatusCode::kUnsupported);
  CHECK(r.status().message().find("'x/data.pkl' is compressed") != std::string::npos);
}

TEST_CASE("Zip: offsets outside the file are rejected") {
  Bytes z = test::StoredZip({{"x/a", Bytes{1, 2, 3, 4}}});
  SUBCASE("central directory offset") {
    Bytes bad = z;
    bad[bad.size() - 6] = 0xff;  // cd offset high byte
    auto r = OpenZip(*ByteSource::CopyOf("o.zip", bad));
    REQUIRE(!r.ok());
    CHECK(r.status().message().find("o.zip: central directory") == 0);
  }
  SUBCASE("local header offset") {
    Bytes bad = z;
    const size_t cd = bad.size() - 22 - 46 - 3;
    bad[cd + 42 + 3] = 0x7f;
    auto r = OpenZip(*ByteSource::CopyOf("o.zip", bad));
    REQUIRE(!r.ok());
    CHECK(r.status().message().find("'x/a'") != std::string::npos);
  }
  SUBCASE("entry size") {
    Bytes bad = z;
    const size_t cd = bad.size() - 22 - 46 - 3;
    bad[cd + 20 + 3] = 0x10;
    bad[cd + 24 + 3] = 0x10;
    auto r = OpenZip(*ByteSource::CopyOf("o.zip", bad));
    REQUIRE(!r.ok());
    CHECK(r.status().message().find("outside the file") != std::string::npos);
  }
  SUBCASE("no end record") {
    Bytes bad(z.begin(), z.end() - 5);
    auto r = OpenZip(*ByteSource::CopyOf("o.zip", bad));
    REQUIRE(!r.ok());
    CHECK(r.status().message().find("o.zip: zip end-of-central-directory record not found") == 0);
  }
}

TEST_CASE("Zip: ZIP64 end records and extra fields are followed") {
  // One entry whose sizes and local offset live in a ZIP64 extra field.
  Bytes out;
  const Bytes data = {9, 8, 7};
  PutLE(&out, 0x04034b50, 4);
  PutLE(&out, 45, 2);
  PutLE(&out, 0, 2);
  PutLE(&out, 0, 2);
  PutLE(&out, 0, 4);
  PutLE(&out, 0, 4);
  PutLE(&out, 3, 4);
  PutLE(&out, 3, 4);
  PutLE(&out, 3, 2);
  PutLE(&out, 0, 2);
  out.insert(out.end(), {'a', '/', 'b'});
  out.insert(out.end(), data.begin(), data.end());
  const uint64_t cd_off = out.size();
  PutLE(&out, 0x02014b50, 4);
  PutLE(&out, 45, 2);
  PutLE(&out, 45, 2);
  PutLE(&out, 0, 2);
  PutLE(&out, 0, 2);
  PutLE(&out, 0, 4);
  PutLE(&out, Crc32(data.data(), data.size()), 4);
  PutLE(&out, 0xffffffff, 4);
  PutLE(&out, 0xffffffff, 4);
  PutLE(&out, 3, 2);
  PutLE(&out, 28, 2);
  PutLE(&out, 0, 2);
  PutLE(&out, 0, 2);
  PutLE(&out, 0, 2);
  PutLE(&out, 0, 4);
  PutLE(&out, 0xffffffff, 4);
  out.insert(out.end(), {'a', '/', 'b'});
  PutLE(&out, 1, 2);
  PutLE(&out, 24, 2);
  PutLE(&out, 3, 8);
  PutLE(&out, 3, 8);
  PutLE(&out, 0, 8);
  const uint64_t cd_size = out.size() - cd_off;
  const uint64_t z64 = out.size();
  PutLE(&out, 0x06064b50, 4);
  PutLE(&out, 44, 8);
  PutLE(&out, 45, 2);
  PutLE(&out, 45, 2);
  PutLE(&out, 0, 4);
  PutLE(&out, 0, 4);
  PutLE(&out, 1, 8);
  PutLE(&out, 1, 8);
  PutLE(&out, cd_size, 8);
  PutLE(&out, cd_off, 8);
  PutLE(&out, 0x07064b50, 4);
  PutLE(&out, 0, 4);
  PutLE(&out, z64, 8);
  PutLE(&out, 1, 4);
  PutLE(&out, 0x06054b50, 4);
  PutLE(&out, 0, 4);
  PutLE(&out, 0xffff, 2);
  PutLE(&out, 0xffff, 2);
  PutLE(&out, 0xffffffff, 4);
  PutLE(&out, 0xffffffff, 4);
  PutLE(&out, 0, 2);
  auto src = ByteSource::CopyOf("z64.zip", out);
  auto zip = OpenZip(*src);
  REQUIRE_MESSAGE(zip.ok(), zip.status().ToString());
  REQUIRE(zip->entries().size() == 1);
  auto r = zip->Read(zip->entries()[0]);
  REQUIRE(r.ok());
  CHECK(Bytes(r->begin(), r->end()) == data);
}

}  // namespace
}  // namespace cosyflow::io
