// Chooses the KernelTable of the selected ISA variant once (see kernel_table.h).
#include "runtime/kernels/cpu/kernel_table.h"

#include <atomic>

#include "runtime/logging.h"

namespace cosyflow::kernels::cpu {
// Defined by simd/table.cpp, compiled once per variant.
namespace scalar {
void FillKernelTable(KernelTable* t, const CpuFeatures& cpu);
}
namespace avx2 {
void FillKernelTable(KernelTable* t, const CpuFeatures& cpu);
}
namespace avx512 {
void FillKernelTable(KernelTable* t, const CpuFeatures& cpu);
}

namespace {

struct Tables {
  KernelTable t[3];
  Tables() {
    // Only the variants this CPU can run are filled: each FillKernelTable is compiled with its
    // variant's ISA flags, so the compiler may use that ISA's instructions in it too (GCC stores
    // the avx512 table with zmm moves) — calling it on an AVX2-only CPU is SIGILL. The others
    // stay empty; KernelsFor refuses them.
    const CpuFeatures& cpu = DetectedCpuFeatures();
    const int best = static_cast<int>(DetectedCpuIsa());
    scalar::FillKernelTable(&t[0], cpu);
    if (best >= static_cast<int>(CpuIsa::kAvx2)) avx2::FillKernelTable(&t[1], cpu);
    if (best >= static_cast<int>(CpuIsa::kAvx512)) avx512::FillKernelTable(&t[2], cpu);
    for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
      t[static_cast<int>(isa)].isa = isa;
      t[static_cast<int>(isa)].name = CpuIsaName(isa).data();
    }
  }
};

const Tables& AllTables() {
  static const Tables tables;
  return tables;
}

std::atomic<const KernelTable*>& Current() {
  static std::atomic<const KernelTable*> current{
      &AllTables().t[static_cast<int>(SelectedCpuIsa())]};
  return current;
}

}  // namespace

const KernelTable& Kernels() { return *Current().load(std::memory_order_acquire); }

Result<const KernelTable*> KernelsFor(CpuIsa isa) {
  if (static_cast<int>(isa) > static_cast<int>(DetectedCpuIsa())) {
    return Unsupported("kernels: this CPU cannot run the {} variant (best: {})",
                     CpuIsaName(isa), CpuIsaName(DetectedCpuIsa()));
  }
  return &AllTables().t[static_cast<int>(isa)];
}

Status UseKernelIsa(CpuIsa isa) {
  COSY_ASSIGN_OR_RETURN(const KernelTable* t, KernelsFor(isa));
  Current().store(t, std::memory_order_release);
  return OkStatus();
}

}  // namespace cosyflow::kernels::cpu
