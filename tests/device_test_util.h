// What a model load with device cuda must give on this machine (tests of every stage with a
// CUDA path).
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "runtime/status.h"

#ifdef COSYFLOW_WITH_CUDA
#include "runtime/kernels/cuda/llm_ops.h"
#endif

namespace cosyflow::test {

// `r`: the Result of the load. Where a GPU is visible it must have loaded (returns true; the
// caller checks the model); else it must fail UNAVAILABLE ("no CUDA device"), or UNSUPPORTED
// ("no CUDA backend") in a build without CUDA, naming `file`.
template <typename R>
bool CheckCudaLoad(const R& r, const std::string& file) {
#ifdef COSYFLOW_WITH_CUDA
  if (cuda::VisibleDevices() > 0) {
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    return true;
  }
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kUnavailable);
  CHECK(r.status().message().find("no CUDA device") != std::string::npos);
#else
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kUnsupported);
  CHECK(r.status().message().find("no CUDA backend") != std::string::npos);
#endif
  CHECK(r.status().message().find(file) != std::string::npos);  // names the file
  return false;
}

}  // namespace cosyflow::test
