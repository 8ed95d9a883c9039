// Version and build configuration of the runtime (backends, library versions).
#pragma once

#include <string>

namespace cosyflow {

// e.g. "cosyflow 0.1.0 (oneDNN 2.6.3, CPU isa avx512_core_bf16, CUDA off)"
std::string BuildInfo();

}  // namespace cosyflow
