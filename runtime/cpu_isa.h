// CPU instruction-set detection and the process-wide choice of kernel variant: CPUID (with the
// OS's XSAVE support) picks the best variant once; COSYFLOW_ISA=scalar|avx2|avx512 forces a
// lower one for tests and benches. oneDNN is capped to the same level on first use, so a forced
// avx2 run on an AVX-512 machine behaves like an AVX2-only machine end to end.
#pragma once

#include <string>
#include <string_view>

namespace cosyflow {

enum class CpuIsa : int {
  kScalar = 0,  // portable C++ kernels, no intrinsics (any x86-64)
  kAvx2 = 1,    // AVX2 + FMA + F16C (x86-64-v3)
  kAvx512 = 2,  // AVX-512 F/BW/VL/DQ (x86-64-v4)
};

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512_bf16 = false;
  bool avx512_vnni = false;
  // AMX tiles with bf16 products (CPUID 7.0 EDX AMX-TILE and AMX-BF16, XCR0 tile state enabled by
  // the OS; Linux grants a process the tile data state on request, which oneDNN makes).
  bool amx_bf16 = false;
  // AMX tiles with int8 products (CPUID 7.0 EDX AMX-INT8 and AMX-TILE, the same OS tile state).
  bool amx_int8 = false;
  // Vendor "AuthenticAMD" or "HygonGenuine" (tuning choices measured per vendor, e.g. the
  // GEMVs' prefetch hint).
  bool amd = false;
};

// What this CPU and OS support (read once).
const CpuFeatures& DetectedCpuFeatures();
// The best variant this CPU runs.
CpuIsa DetectedCpuIsa();
// The variant in force: DetectedCpuIsa(), lowered by COSYFLOW_ISA. Decided once per process
// (a bad or too-high COSYFLOW_ISA logs one warning and is ignored or clamped), and oneDNN's
// maximum ISA is set to match before it generates any code.
CpuIsa SelectedCpuIsa();

std::string_view CpuIsaName(CpuIsa isa);  // "scalar", "avx2", "avx512"
// Parses a COSYFLOW_ISA value; false for anything else.
bool ParseCpuIsa(std::string_view name, CpuIsa* isa);
// One line for --version and bench JSON, e.g.
// "avx512 (detected avx512; avx512_bf16 yes, avx512_vnni yes, amx_bf16 no, amx_int8 no, vendor
// AMD)".
std::string CpuIsaSummary();

}  // namespace cosyflow
