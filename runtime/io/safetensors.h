// safetensors reader (mmap, zero-copy when aligned) and writer; dtypes F32 F16 BF16 I32 I64 U8
// BOOL.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "runtime/io/byte_source.h"
#include "runtime/io/checkpoint.h"

namespace cosyflow {

// Writes `entries` in order (tensors made contiguous); "__metadata__" is not written.
Status WriteSafetensors(const std::string& path, const std::vector<CheckpointEntry>& entries);

namespace io {
// 8-byte little-endian header length, then a JSON object starting with '{'.
bool IsSafetensors(std::span<const uint8_t> bytes);
// Entries in header order (the JSON object's key order).
Result<std::vector<CheckpointEntry>> ReadSafetensors(const ByteSource& src);
}  // namespace io

}  // namespace cosyflow
