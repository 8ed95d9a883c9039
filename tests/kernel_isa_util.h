// Runs a test body once per kernel variant this CPU can run (scalar, then up to the detected
// one), switching the process's kernels with UseKernelIsa, and restores the variant in force.
#pragma once

#include <doctest/doctest.h>

#include "runtime/cpu_isa.h"
#include "runtime/kernels/cpu/kernel_table.h"

namespace cosyflow::test {

template <class Fn>
void ForEachKernelIsa(Fn&& fn) {
  // restores the variant in force however the body ends (a failed REQUIRE throws)
  struct Restore {
    CpuIsa isa;
    ~Restore() { (void)kernels::cpu::UseKernelIsa(isa); }
  } restore{kernels::cpu::Kernels().isa};
  for (int v = 0; v <= static_cast<int>(DetectedCpuIsa()); ++v) {
    REQUIRE(kernels::cpu::UseKernelIsa(CpuIsa(v)).ok());
    CAPTURE(CpuIsaName(CpuIsa(v)));
    fn(CpuIsa(v));
  }
}

}  // namespace cosyflow::test
