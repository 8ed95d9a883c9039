// Reader for torch.save zip archives (torch >= 1.6): <stem>/data.pkl + <stem>/data/<key>.
#pragma once

#include <vector>

#include "runtime/io/byte_source.h"
#include "runtime/io/checkpoint.h"

namespace cosyflow::io {

// True when the bytes start like a legacy (pre-zip) torch.save pickle: 0x80 <protocol 2..5>.
bool IsLegacyTorchPickle(std::span<const uint8_t> bytes);

// Reads every tensor of the (possibly nested) dict in data.pkl; nested dict names are joined
// with '.'. Tensors sharing a storage share one Storage. Non-tensor leaves are skipped.
Result<std::vector<CheckpointEntry>> ReadTorchCheckpoint(const ByteSource& src);

}  // namespace cosyflow::io
