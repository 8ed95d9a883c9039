// .npy reader/writer (NumPy format v1/v2/v3; C and Fortran order; f4, f2, i4, i8, u1, b1).
#pragma once

#include <span>
#include <string>

#include "runtime/io/byte_source.h"
#include "runtime/status.h"
#include "runtime/tensor.h"

namespace cosyflow {

// C-order arrays come back as zero-copy read-only views when aligned; Fortran-order arrays as a
// contiguous C-order copy. Errors start with the path.
Result<Tensor> ReadNpy(const std::string& path);
Result<Tensor> ParseNpy(const std::string& name, std::span<const uint8_t> bytes);
// Writes a v1.0 little-endian C-order file (any strides in; bf16 is unsupported by NumPy).
Status WriteNpy(const std::string& path, const Tensor& t);

namespace io {
inline bool IsNpy(std::span<const uint8_t> b) {
  return b.size() >= 6 && b[0] == 0x93 && b[1] == 'N' && b[2] == 'U' && b[3] == 'M' &&
         b[4] == 'P' && b[5] == 'Y';
}
Result<Tensor> ParseNpy(const ByteSource& src);
}  // namespace io

}  // namespace cosyflow
