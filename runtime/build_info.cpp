// Build information: versions of the runtime and its backends.
#include "runtime/build_info.h"

#include <dnnl.hpp>
#include <fmt/format.h>

#ifdef COSYFLOW_WITH_CUDA
#include "runtime/kernels/cuda/cuda_info.h"
#endif

namespace cosyflow {

std::string BuildInfo() {
  const dnnl_version_t* v = dnnl_version();
  std::string cuda = "off";
#ifdef COSYFLOW_WITH_CUDA
  cuda = fmt::format("on, {} device(s)", cuda::DeviceCount());
#endif
  return fmt::format("cosyflow {} (oneDNN {}.{}.{}, CUDA {})", COSYFLOW_VERSION, v->major,
                     v->minor, v->patch, cuda);
}

}  // namespace cosyflow
