// WarmPages: a process-wide pool of large anonymous mappings that stay mapped after use, so the
// next session finds its scratch and cache pages already faulted in.
//
// Why: a streaming flow request writes a few GB of estimator K/V rows and scratch (4.6 MB per
// frame at release shapes). Pages the process touches for the first time cost a page fault and
// a kernel zeroing each — measured 0.25 s/GB on bare metal and 3 s/GB in the virtual machines
// our CI uses — which made the first flow chunk 2-3x slower than its arithmetic. Mappings handed
// back here keep their pages; a later Acquire of the same or a smaller size gets them back warm.
//
// Bounded: idle mappings are kept while the bytes their users touched (what stays resident) sum
// to at most idle_limit() (COSYFLOW_WARM_POOL_MB, default min(4 GiB, RAM / 4)); beyond that the
// oldest are unmapped. Mappings are MAP_NORESERVE: untouched pages cost address space only.
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/status.h"

namespace cosyflow {

class WarmPages {
 public:
  struct Mapping {
    void* base = nullptr;
    size_t bytes = 0;     // mapped length (a multiple of 2 MiB; base 2 MiB aligned, huge pages)
    size_t resident = 0;  // bytes written by this or earlier users (upper bound of what is resident)
    bool huge = true;     // advised for huge pages (else explicitly not)
    // What the pages hold, as the last user labelled it on Release (0: nothing known), and the
    // layout it was written in. Acquire hands a label back only to a caller asking for that
    // label and layout; anyone else gets the mapping unlabelled (its contents are then theirs).
    uint64_t content = 0;
    int64_t layout = 0;
  };
  struct Stats {
    size_t idle_mappings = 0;
    size_t idle_resident_bytes = 0;
    size_t acquired_warm = 0;   // Acquire calls served from the pool
    size_t acquired_fresh = 0;  // Acquire calls that mapped new memory
    size_t acquired_labelled = 0;  // warm ones that still held the content asked for
  };

  // A mapping of at least `bytes`: the smallest idle one of the same page kind that fits (the
  // most recently released among equals), else a fresh one. ResourceExhausted when the address
  // space is refused. huge_pages: dense scratch wants 2 MiB pages (one fault per 2 MiB); a
  // sparsely written layout (the flow's K/V cache: thousands of regions of a few rows each)
  // must not have them, or every region's first row would zero and pin 2 MiB.
  // content, layout (content != 0): prefer an idle mapping released with this label (the
  // smallest that fits); the result keeps the label only then. Unlabelled requests prefer
  // unlabelled mappings among equally good fits, so labelled contents last longer.
  static Result<Mapping> Acquire(size_t bytes, bool huge_pages = true, uint64_t content = 0,
                                 int64_t layout = 0);
  // Hands `m` back; `touched`: bytes from its start its user may have written. Kept idle within
  // the limit, else unmapped. A null mapping is ignored.
  static void Release(Mapping m, size_t touched);
  // Changes the idle limit (0 = keep nothing) and drops what is over it.
  static void SetIdleLimit(size_t bytes);
  static size_t idle_limit();
  static Stats stats();
  // Unmaps every idle mapping.
  static void Trim();
};

}  // namespace cosyflow
