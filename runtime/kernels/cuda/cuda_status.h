// A failed CUDA / cuBLAS call (llm_ops.h's "" or one-line reason) as a Status of the model that
// made it. Header-only: usable from C++ code built with or without the CUDA backend.
#pragma once

#include <string>
#include <string_view>

#include "runtime/status.h"

namespace cosyflow::cuda {

// "" -> OK; device memory exhausted -> RESOURCE_EXHAUSTED (a server can tell "too many sessions
// for this GPU" from a fault); anything else -> INTERNAL. Messages read "<model> (cuda): <what>:
// <reason>".
inline Status ToStatus(const std::string& error, std::string_view model, std::string_view what) {
  if (error.empty()) return OkStatus();
  if (error.find("cudaErrorMemoryAllocation") != std::string::npos) {
    return MakeError(StatusCode::kResourceExhausted, "{} (cuda): {}: {}", model, what, error);
  }
  return Internal("{} (cuda): {}: {}", model, what, error);
}

}  // namespace cosyflow::cuda
