#include "runtime/small_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace cosyflow {

Result<std::string> ReadSmallFile(const std::string& path, int64_t max_bytes,
                                  std::string_view what) {
  std::error_code ec;
  // An ifstream opens a directory without error and reads nothing.
  if (std::filesystem::is_directory(path, ec)) {
    return NotFound("{} {}: is a directory, not a file", what, path);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("{} {}: cannot open: {}", what, path, std::strerror(errno));
  std::string out;
  char block[65536];
  while (in) {
    in.read(block, sizeof(block));
    const std::streamsize got = in.gcount();
    if (got <= 0) break;
    if (static_cast<int64_t>(out.size()) + got > max_bytes) {
      return OutOfRange("{} {}: larger than {} bytes (the limit for a {})", what, path, max_bytes,
                        what);
    }
    out.append(block, static_cast<size_t>(got));
  }
  if (in.bad()) return DataLoss("{} {}: read error", what, path);
  return out;
}

}  // namespace cosyflow
