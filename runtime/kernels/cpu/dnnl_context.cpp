// oneDNN engine, per-thread streams and scratch buffers, and the OpenMP thread-count hook.
#include "runtime/kernels/cpu/dnnl_context.h"

#include "runtime/cpu_isa.h"

#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <memory>
#include <vector>

#include "runtime/storage.h"

namespace cosyflow::kernels::cpu {
namespace {

struct AlignedBuffer {
  void* data = nullptr;
  size_t bytes = 0;
  ~AlignedBuffer() { AlignedFree(data); }
};

// libdnnl pulls in the OpenMP runtime; look its entry points up at run time so that the kernels
// library does not need its own OpenMP link flags.
template <typename Fn>
Fn LookupOmp(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

}  // namespace

const dnnl::engine& DnnlEngine() {
  // The ISA choice caps oneDNN's ISA; it must be made before oneDNN generates any code.
  static const dnnl::engine engine((SelectedCpuIsa(), dnnl::engine::kind::cpu), 0);
  return engine;
}

dnnl::stream& DnnlThreadStream() {
  thread_local dnnl::stream stream(DnnlEngine());
  return stream;
}

void* ThreadScratch(ScratchSlot slot, size_t bytes) {
  thread_local std::array<AlignedBuffer, kNumScratchSlots> buffers;
  AlignedBuffer& b = buffers[static_cast<int>(slot)];
  if (bytes > b.bytes) {
    // Grow geometrically so a slowly increasing size does not reallocate every call.
    size_t want = std::max(bytes, b.bytes + b.bytes / 2);
    void* p = AlignedAlloc(want);
    if (p == nullptr) throw std::bad_alloc();
    AlignedFree(b.data);
    b.data = p;
    b.bytes = want;
  }
  return b.data;
}

dnnl_memory_desc_t PlainDesc(int ndims, const int64_t* dims, const int64_t* strides,
                             dnnl_data_type_t dt) {
  dnnl_memory_desc_t md;
  dnnl::error::wrap_c_api(dnnl_memory_desc_init_by_strides(&md, ndims, dims, dt, strides),
                          "could not build a memory descriptor");
  return md;
}

namespace {

struct CachedMemory {
  MemRole role;
  dnnl_memory_desc_t md;
  dnnl::memory mem;
  uint64_t last_use;
};

// Enough for every distinct operand shape of a model's inner loop; beyond it the least recently
// used entry is replaced, which only costs a re-creation. LRU (not round robin) matters: the
// entries handed out for the call being assembled are the most recent and must survive.
constexpr size_t kMaxThreadMemories = 64;

}  // namespace

dnnl_memory_t ThreadMemory(MemRole role, const dnnl_memory_desc_t& md, void* data) {
  thread_local std::vector<CachedMemory> cache;
  thread_local uint64_t clock = 0;
  ++clock;
  for (CachedMemory& c : cache) {
    if (c.role == role && dnnl_memory_desc_equal(&c.md, &md)) {
      dnnl::error::wrap_c_api(dnnl_memory_set_data_handle(c.mem.get(), data),
                              "could not set a memory data handle");
      c.last_use = clock;
      return c.mem.get();
    }
  }
  dnnl::memory mem(dnnl::memory::desc(md), DnnlEngine(), data);
  if (cache.size() < kMaxThreadMemories) {
    if (cache.capacity() == 0) cache.reserve(kMaxThreadMemories);
    cache.push_back({role, md, std::move(mem), clock});
    return cache.back().mem.get();
  }
  CachedMemory* victim = &cache[0];
  for (CachedMemory& c : cache) {
    if (c.last_use < victim->last_use) victim = &c;
  }
  *victim = {role, md, std::move(mem), clock};
  return victim->mem.get();
}

void ExecuteOnThread(const dnnl::primitive& prim, const dnnl_memory_desc_t& scratchpad,
                     dnnl_exec_arg_t* args, int nargs) {
  const size_t bytes = dnnl_memory_desc_get_size(&scratchpad);
  if (bytes > 0) {
    args[nargs++] = {DNNL_ARG_SCRATCHPAD,
                     ThreadMemory(MemRole::kScratchpad, scratchpad,
                                  ThreadScratch(ScratchSlot::kScratchpad, bytes))};
  }
  dnnl::stream& s = DnnlThreadStream();
  dnnl::error::wrap_c_api(dnnl_primitive_execute(prim.get(), s.get(), nargs, args),
                          "could not execute a primitive");
  s.wait();
}

void SetDnnlNumThreads(int n) {
  if (n <= 0) return;
  using SetFn = void (*)(int);
  static const SetFn set = LookupOmp<SetFn>("omp_set_num_threads");
  if (set != nullptr) set(n);
}

int DnnlNumThreads() {
  using GetFn = int (*)();
  static const GetFn get = LookupOmp<GetFn>("omp_get_max_threads");
  return get != nullptr ? get() : 1;
}

}  // namespace cosyflow::kernels::cpu
