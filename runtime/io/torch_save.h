// Writer for torch.save zip archives (the format torch >= 1.6 writes and torch.load reads, also
// with weights_only=True): <archive>/data.pkl (pickle protocol 2) + <archive>/data/<key> storages
// + <archive>/version. Writes a dict of str -> tensor, or of str -> dict of str -> tensor (what
// CosyVoice's spk2info.pt holds). Entries are stored uncompressed, 64-byte aligned, with CRC-32.
#pragma once

#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "runtime/io/zip.h"
#include "runtime/status.h"
#include "runtime/tensor.h"

namespace cosyflow::io {

// One level of a dict; values are tensors (f32, i32, i64, bf16, f16, u8, bool; CPU) or dicts.
struct TorchDict {
  using Value = std::variant<Tensor, TorchDict>;
  std::vector<std::pair<std::string, Value>> items;  // insertion order is kept
};

// The archive's bytes. `archive_name` is the record prefix (torch uses the file's stem).
Result<std::string> SerializeTorchDict(const TorchDict& dict, const std::string& archive_name);

// Writes `path` atomically: to "<path>.tmp.<pid>" first, then rename(2) over `path`, so readers
// see the old or the new file, never a partial one.
Status SaveTorchDict(const std::string& path, const TorchDict& dict,
                     const std::string& archive_name);

}  // namespace cosyflow::io
