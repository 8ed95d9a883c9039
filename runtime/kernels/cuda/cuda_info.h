// CUDA device query and smoke test (compiled only when COSYFLOW_WITH_CUDA).
#pragma once

#include <string>

namespace cosyflow::cuda {

// Number of visible CUDA devices (0 when no driver/device).
int DeviceCount();
// Runs an axpy through a hand kernel and cuBLAS on device 0; false with a reason on failure.
bool SmokeTest(std::string* error);

}  // namespace cosyflow::cuda
