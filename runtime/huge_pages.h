// Transparent huge pages for large buffers (weights, KV caches, scratch arenas).
//
// Why: with 4 KiB pages a process pays one page fault per 4 KiB it touches for the first time.
// In the virtual machines we run on (and many cloud VMs) a fault costs several microseconds, so
// a streaming flow request that writes a few GB of estimator K/V rows and scratch spent
// 10-20 s of its first run and ~0.5 s of every later first chunk in the kernel. Linux's default
// THP mode ("madvise") backs a range with 2 MiB pages only when the range asks for it: one fault
// per 2 MiB instead of 512, and fewer TLB misses when the weights are streamed. Ranges that are
// not 2 MiB aligned cannot be huge, so large allocations are aligned to 2 MiB first.
//
// COSYFLOW_HUGE_PAGES=0 turns the advice off (for comparisons); the system's THP setting
// ("never") still wins over it. Nothing here changes results, only where pages come from.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>

namespace cosyflow {

inline constexpr size_t kHugePageBytes = size_t{2} << 20;

// Whether large allocations ask for huge pages (COSYFLOW_HUGE_PAGES unset or not "0"); read once.
bool HugePagesEnabled();

// Advises MADV_HUGEPAGE on the 2 MiB-aligned part of [p, p + bytes), before it is touched.
// Returns false when disabled, when that part is empty or when the kernel refuses (no THP).
bool AdviseHugePages(void* p, size_t bytes);

// Advises MADV_NOHUGEPAGE on [p, p + bytes) (page aligned): for sparsely written layouts, which
// THP mode "always" would otherwise back with 2 MiB per touched region. False when disabled or
// refused.
bool AdviseSmallPages(void* p, size_t bytes);

// Faults in [p, p + bytes) for writing in one call (MADV_POPULATE_WRITE, Linux 5.14+) instead
// of one trap per page on first touch — the trap, not the zeroing, is what a virtual machine
// makes expensive. Pages already present are left as they are. False when the kernel lacks it
// (then the pages fault in on first touch as usual).
bool PopulateForWrite(void* p, size_t bytes);

// The system's THP mode as /sys/kernel/mm/transparent_hugepage/enabled shows it ("always",
// "madvise", "never"), or "unavailable".
std::string TransparentHugePageMode();

// Weight buffers, streamed on every call (the LM's rows on every token, the flow's tiles on
// every ODE step): 64-byte aligned, and on huge pages whatever their size. From 2 MiB up they
// are AlignedAlloc blocks; smaller ones (the LM's q/k/v/o rows, 0.1-0.8 MiB each, 12 % of its
// streamed bytes; most of the flow's layers) are carved in load order out of shared 8 MiB
// blocks on huge pages, which go back when their last buffer is freed. Streaming 360 MB from
// 4 KiB pages read 11.9 GB/s on one core of the Xeon VM, from 2 MiB pages 14.7 (two cores:
// 23.2 / 28.3; docs/benchmarks.md). nullptr on failure. Without huge pages
// (COSYFLOW_HUGE_PAGES=0) every buffer is its own AlignedAlloc block.
void* WeightAlloc(size_t bytes);
void WeightFree(void* p);
// Bytes of the shared blocks in use (0 when none is alive), for tests.
size_t WeightPoolBytes();

// std::allocator replacement over WeightAlloc: for weight vectors.
template <typename T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) noexcept {}
  T* allocate(size_t n);
  void deallocate(T* p, size_t) noexcept;
  template <typename U>
  bool operator==(const AlignedAllocator<U>&) const noexcept { return true; }
};

}  // namespace cosyflow

#include "runtime/storage.h"

namespace cosyflow {

template <typename T>
T* AlignedAllocator<T>::allocate(size_t n) {
  void* p = WeightAlloc(n * sizeof(T));
  if (p == nullptr) throw std::bad_alloc();
  return static_cast<T*>(p);
}

template <typename T>
void AlignedAllocator<T>::deallocate(T* p, size_t) noexcept {
  WeightFree(p);
}

}  // namespace cosyflow
