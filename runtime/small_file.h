// ReadSmallFile: a whole file of a kind that is small (graph files, JSON configs, tokenizer
// vocabularies, text to speak, key files) read into memory with an upper bound, so a wrong path
// (a directory, /dev/zero, a multi-gigabyte file) is a clear error instead of a process that
// reads until the allocator throws.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/status.h"

namespace cosyflow {

// The file's bytes. Errors name `what` and the path: a directory or a file that cannot be opened
// (NotFound, with the system's reason), more than `max_bytes` bytes (OutOfRange; checked while
// reading, so endless files such as /dev/zero end too), a read error (DataLoss).
Result<std::string> ReadSmallFile(const std::string& path, int64_t max_bytes,
                                  std::string_view what);

}  // namespace cosyflow
