// ReadSmallFile: bounded whole-file reads with errors naming the kind of file and the path.
#include "runtime/small_file.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

namespace cosyflow {
namespace {

namespace fs = std::filesystem;

TEST_CASE("ReadSmallFile: contents, the limit exactly, and every error names what and where") {
  const fs::path dir = fs::temp_directory_path() / "cosyflow_small_file_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string file = (dir / "f.txt").string();
  std::string bytes(70000, 'x');  // more than one read block
  bytes[123] = '\0';
  bytes.back() = 'y';
  std::ofstream(file, std::ios::binary) << bytes;

  auto r = ReadSmallFile(file, static_cast<int64_t>(bytes.size()), "text file");
  REQUIRE(r.ok());
  CHECK(*r == bytes);

  r = ReadSmallFile(file, static_cast<int64_t>(bytes.size()) - 1, "text file");
  REQUIRE(!r.ok());
  CHECK(r.status().code() == StatusCode::kOutOfRange);
  CHECK(r.status().message().find("text file " + file + ": larger") != std::string::npos);
  CHECK(r.status().message().find("larger than 69999 bytes") != std::string::npos);

  r = ReadSmallFile("/dev/zero", 1 << 20, "graph file");  // endless: ends at the limit
  REQUIRE(!r.ok());
  CHECK(r.status().message().find("larger than 1048576 bytes") != std::string::npos);

  r = ReadSmallFile(dir.string(), 100, "key file");
  REQUIRE(!r.ok());
  CHECK(r.status().code() == StatusCode::kNotFound);
  CHECK(r.status().message().find("is a directory") != std::string::npos);

  r = ReadSmallFile((dir / "missing").string(), 100, "key file");
  REQUIRE(!r.ok());
  CHECK(r.status().code() == StatusCode::kNotFound);
  CHECK(r.status().message().find("No such file") != std::string::npos);

  std::ofstream(dir / "empty");
  r = ReadSmallFile((dir / "empty").string(), 0, "text file");
  REQUIRE(r.ok());
  CHECK(r->empty());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cosyflow
