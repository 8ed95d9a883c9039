// Build information: versions of the runtime and its backends.
#include "runtime/build_info.h"

#include <dnnl.hpp>
#include <fmt/format.h>

#include "runtime/cpu_isa.h"

#ifdef COSYFLOW_WITH_CUDA
#include "runtime/kernels/cuda/cuda_info.h"
#endif

namespace cosyflow {
namespace {
const char* DnnlIsaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}
}  // namespace

std::string BuildInfo() {
  const std::string isa = CpuIsaSummary();  // first: fixes oneDNN's ISA cap before it is read
  const dnnl_version_t* v = dnnl_version();
  std::string cuda = "off";
#ifdef COSYFLOW_WITH_CUDA
  cuda = fmt::format("on, {} device(s)", cuda::DeviceCount());
#endif
  return fmt::format("cosyflow {} (kernels {}, oneDNN {}.{}.{} isa {}, CUDA {})",
                     COSYFLOW_VERSION, isa, v->major, v->minor, v->patch,
                     DnnlIsaName(dnnl::get_effective_cpu_isa()), cuda);
}

}  // namespace cosyflow
