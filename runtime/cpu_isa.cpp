// CPUID/XGETBV feature detection and the COSYFLOW_ISA override (see cpu_isa.h).
#include "runtime/cpu_isa.h"

#include <cpuid.h>
#include <fmt/format.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <dnnl.hpp>

#include "runtime/logging.h"

namespace cosyflow {
namespace {

uint64_t XGetBv() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

// Linux hands a process the AMX tile data state only on request (arch_prctl
// ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA; once for every thread); false where it refuses.
bool RequestTileData() {
#if defined(__linux__)
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

CpuFeatures Detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (__get_cpuid(0, &a, &b, &c, &d)) {
    char vendor[13] = {};
    std::memcpy(vendor, &b, 4);
    std::memcpy(vendor + 4, &d, 4);
    std::memcpy(vendor + 8, &c, 4);
    f.amd =
        std::string_view(vendor) == "AuthenticAMD" || std::string_view(vendor) == "HygonGenuine";
  }
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = XGetBv();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
  const bool os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;  // opmask + upper ZMM state
  if (!os_ymm) return f;
  f.fma = (c >> 12) & 1;
  f.f16c = (c >> 29) & 1;
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  f.avx2 = (b >> 5) & 1;
  if (os_zmm) {
    f.avx512f = (b >> 16) & 1;
    f.avx512dq = (b >> 17) & 1;
    f.avx512bw = (b >> 30) & 1;
    f.avx512vl = (b >> 31) & 1;
    f.avx512_vnni = (c >> 11) & 1;
    // AMX-BF16 (bit 22) and AMX-TILE (bit 24), XTILECFG and XTILEDATA state (XCR0 bits 17, 18)
    const bool os_tiles = ((xcr0 >> 17) & 3) == 3;
    const bool tiles =
        os_tiles && ((d >> 24) & 1) && (((d >> 22) & 1) || ((d >> 25) & 1)) && RequestTileData();
    f.amx_bf16 = tiles && ((d >> 22) & 1);
    f.amx_int8 = tiles && ((d >> 25) & 1);  // AMX-INT8 (bit 25)
    unsigned a1, b1, c1, d1;
    __cpuid_count(7, 1, a1, b1, c1, d1);
    f.avx512_bf16 = (a1 >> 5) & 1;
  }
  return f;
}

CpuIsa Best(const CpuFeatures& f) {
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx2 && f.fma && f.f16c) {
    return CpuIsa::kAvx512;
  }
  if (f.avx2 && f.fma && f.f16c) return CpuIsa::kAvx2;
  return CpuIsa::kScalar;
}

void CapDnnl(CpuIsa isa) {
  if (isa == DetectedCpuIsa()) return;
  const dnnl::cpu_isa cap = isa == CpuIsa::kAvx2 ? dnnl::cpu_isa::avx2 : dnnl::cpu_isa::sse41;
  try {
    dnnl::set_max_cpu_isa(cap);
  } catch (const dnnl::error& e) {
    Log(LogLevel::kWarning, "cpu isa: could not cap oneDNN at {}: {}", CpuIsaName(isa), e.what());
  }
}

CpuIsa Select() {
  const CpuIsa detected = DetectedCpuIsa();
  CpuIsa isa = detected;
  if (const char* env = std::getenv("COSYFLOW_ISA"); env != nullptr && *env != '\0') {
    CpuIsa want;
    if (std::string_view(env) == "auto") {
      // keep the detected variant
    } else if (!ParseCpuIsa(env, &want)) {
      Log(LogLevel::kWarning, "COSYFLOW_ISA={} is not one of scalar|avx2|avx512|auto; using {}",
          env, CpuIsaName(detected));
    } else if (static_cast<int>(want) > static_cast<int>(detected)) {
      Log(LogLevel::kWarning, "COSYFLOW_ISA={}: this CPU only runs up to {}; using {}", env,
          CpuIsaName(detected), CpuIsaName(detected));
    } else {
      isa = want;
    }
  }
  CapDnnl(isa);
  return isa;
}

}  // namespace

const CpuFeatures& DetectedCpuFeatures() {
  static const CpuFeatures features = Detect();
  return features;
}

CpuIsa DetectedCpuIsa() { return Best(DetectedCpuFeatures()); }

CpuIsa SelectedCpuIsa() {
  static const CpuIsa isa = Select();
  return isa;
}

std::string_view CpuIsaName(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kScalar: return "scalar";
    case CpuIsa::kAvx2: return "avx2";
    case CpuIsa::kAvx512: return "avx512";
  }
  return "?";
}

bool ParseCpuIsa(std::string_view name, CpuIsa* isa) {
  for (CpuIsa c : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (name == CpuIsaName(c)) {
      *isa = c;
      return true;
    }
  }
  return false;
}

std::string CpuIsaSummary() {
  const CpuFeatures& f = DetectedCpuFeatures();
  return fmt::format(
      "{} (detected {}; avx512_bf16 {}, avx512_vnni {}, amx_bf16 {}, amx_int8 {}, vendor {})",
      CpuIsaName(SelectedCpuIsa()), CpuIsaName(DetectedCpuIsa()), f.avx512_bf16 ? "yes" : "no",
      f.avx512_vnni ? "yes" : "no", f.amx_bf16 ? "yes" : "no", f.amx_int8 ? "yes" : "no",
      f.amd ? "AMD" : "not AMD");
}

}  // namespace cosyflow
