// oneDNN plumbing shared by the cpu kernels: engine, per-thread streams and scratch, error mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <dnnl.hpp>
#include <exception>
#include <new>
#include <string_view>

#include "runtime/status.h"

namespace cosyflow::kernels::cpu {

// The process-wide CPU engine (created on first use; engines are thread-safe).
const dnnl::engine& DnnlEngine();

// A stream owned by the calling thread. oneDNN streams must not be shared between threads
// that execute concurrently, so each thread gets its own (created once per thread).
dnnl::stream& DnnlThreadStream();

// Per-thread, grow-only, 64-byte aligned scratch buffers. A slot is reused by every kernel on
// that thread, so it only allocates when a larger size than ever before is asked for; kernels
// use it for oneDNN user-mode scratchpads and converted activations. The pointer stays valid
// until the next call with the same slot on the same thread. Throws std::bad_alloc.
// kGemvX: the int8 GEMV's fixed-point x (its own slot: callers may pass x from another one).
// A run-time dimension of a oneDNN memory descriptor (shapes given at execution).
inline constexpr dnnl::memory::dim kRt = DNNL_RUNTIME_DIM_VAL;

// A oneDNN matmul primitive and its user scratchpad's descriptor (linear.cpp, matmul.cpp).
struct MatMulEntry {
  dnnl::matmul prim;
  dnnl_memory_desc_t scratchpad;
};

enum class ScratchSlot {
  kScratchpad = 0,
  kConvert = 1,
  kConvertWeights = 2,
  kEpilogue = 3,
  kGemvX = 4
};
inline constexpr int kNumScratchSlots = 5;
void* ThreadScratch(ScratchSlot slot, size_t bytes);

// Allocation-free execution for hot loops. Memory descriptors are built with the C API from
// stack arrays (the C++ dims vectors would allocate), memory objects come from a small
// per-thread cache keyed by (role, descriptor) whose hits only swap the data pointer, and
// primitives run through dnnl_primitive_execute with a stack argument array.
enum class MemRole { kSrc = 0, kWeights, kBias, kDst, kScratchpad, kScale };

// A plain descriptor: dims[i] with element strides[i]. Throws dnnl::error.
dnnl_memory_desc_t PlainDesc(int ndims, const int64_t* dims, const int64_t* strides,
                             dnnl_data_type_t dt);
// A per-thread memory object for `md` pointing at `data`, valid until the next ThreadMemory
// call on this thread with the same role and descriptor. Throws dnnl::error.
dnnl_memory_t ThreadMemory(MemRole role, const dnnl_memory_desc_t& md, void* data);
// Adds the scratchpad argument (from ThreadScratch) when `scratchpad` is non-empty, runs `prim`
// on the calling thread's stream and waits. `args` must have room for one more entry.
void ExecuteOnThread(const dnnl::primitive& prim, const dnnl_memory_desc_t& scratchpad,
                     dnnl_exec_arg_t* args, int nargs);

// Threads used by oneDNN's OpenMP runtime: sets the count for the calling thread's parallel
// regions (n <= 0 leaves the library default) and reports the current value.
void SetDnnlNumThreads(int n);
int DnnlNumThreads();

// Runs `fn` (which may throw dnnl::error, std::bad_alloc or another std::exception) and maps an
// escaping exception to a Status whose message starts with `what`. `fn` returns Status.
template <typename Fn>
Status GuardDnnl(std::string_view what, Fn&& fn) {
  try {
    return fn();
  } catch (const dnnl::error& e) {
    return MakeError(
        e.status == dnnl_unimplemented ? StatusCode::kUnsupported : StatusCode::kInternal,
        "{}: oneDNN error {}: {}", what, static_cast<int>(e.status), e.what());
  } catch (const std::bad_alloc&) {
    return MakeError(StatusCode::kResourceExhausted, "{}: out of memory", what);
  } catch (const std::exception& e) {
    return Internal("{}: {}", what, e.what());
  }
}

}  // namespace cosyflow::kernels::cpu
