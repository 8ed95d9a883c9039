// CUDA building blocks of the transformer stages (compiled only when COSYFLOW_WITH_CUDA): device
// memory, a stream with its cuBLAS handle, and the f32 kernels a Qwen2 forward needs. Plain C++
// (no CUDA types), so host code built by the C++ compiler calls it.
//
// Errors: every call that can fail returns "" or a one-line reason naming the operation and the
// CUDA / cuBLAS error. Kernel launches are asynchronous on the context's stream; their errors
// (and any earlier asynchronous fault) surface at Context::Sync.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace cosyflow::cuda {

// A device allocation (cudaMalloc), freed on destruction.
class Buffer {
 public:
  Buffer() = default;
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr, o.bytes_ = 0; }
  Buffer& operator=(Buffer&& o) noexcept;

  // Replaces the allocation with one of `bytes` (uninitialized).
  std::string Allocate(size_t bytes);
  // Allocates and copies `bytes` from host memory (synchronous).
  std::string Upload(const void* host, size_t bytes);
  // Converts n host f32 values to bf16 (round to nearest even) and uploads them.
  std::string UploadBf16(const float* host, size_t n);

  void* get() const { return ptr_; }
  float* f32() const { return static_cast<float*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Page-locked host memory (cudaMallocHost): the staging buffers a captured graph copies from and
// to at every launch.
class HostBuffer {
 public:
  HostBuffer() = default;
  ~HostBuffer();
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  std::string Allocate(size_t bytes);
  void* get() const { return ptr_; }
  float* f32() const { return static_cast<float*>(ptr_); }

 private:
  void* ptr_ = nullptr;
};

// An instantiated CUDA graph (cudaGraphExec_t), captured from a Context's stream.
class Graph {
 public:
  Graph() = default;
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  bool ready() const { return exec_ != nullptr; }
  void Reset();

 private:
  friend class Context;
  void* exec_ = nullptr;
};

// One stream and a cuBLAS handle bound to it (cuBLAS handles are not shared between threads:
// each per-request state owns one). TF32 is off: f32 products stay f32 like the CPU path.
class Context {
 public:
  static std::unique_ptr<Context> Create(std::string* error);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Waits for the stream; returns the first error of anything queued on it.
  std::string Sync();
  // Asynchronous copies on the stream (host memory should outlive the next Sync).
  std::string CopyToDevice(void* dst, const void* src, size_t bytes);
  std::string CopyToHost(void* dst, const void* src, size_t bytes);
  std::string CopyOnDevice(void* dst, const void* src, size_t bytes);
  // rows x width bytes between pitched layouts (cudaMemcpy2DAsync), any direction.
  std::string Copy2D(void* dst, size_t dst_pitch, const void* src, size_t src_pitch,
                     size_t width, size_t rows);

  // Sets `bytes` bytes at dst to zero (asynchronous).
  std::string Zero(void* dst, size_t bytes);

  // Stream capture (this thread only): everything queued between the two calls becomes `graph`
  // instead of running. When `graph` already holds a graph of the same topology (the same
  // kernels with other shapes or pointers), EndCapture updates it in place, which costs less
  // than a new instantiation; otherwise it instantiates. EndCapture also ends a capture after a
  // failed enqueue (graph left empty). Launch replays the graph on the stream.
  std::string BeginCapture();
  std::string EndCapture(Graph* graph);
  std::string Launch(const Graph& graph);

  void* stream() const { return stream_; }
  void* blas() const { return blas_; }

 private:
  Context() = default;
  void* stream_ = nullptr;  // cudaStream_t
  void* blas_ = nullptr;    // cublasHandle_t
};

// Number of visible devices (0 without driver or device).
int VisibleDevices();
// "NAME, N SMs, M MiB" of device 0 ("" without one).
std::string DeviceName();
// Device-to-device copy rate of device 0 in GB/s counting bytes read + written (best of three
// copies of `bytes`), the memory-bandwidth yardstick of the benches; 0 on failure.
double CopyBandwidthGBps(size_t bytes);

// y[n, out] = x[n, in] · Wᵀ (+ bias[out]) for a row-major PyTorch weight W[out, in] on the
// device, f32 or bf16. bf16 weights take x rounded to bf16 (through `bf16_scratch`, n·in
// elements) and accumulate in f32 (cuBLAS GemmEx, f32 compute).
struct LinearWeights {
  const void* w = nullptr;
  const float* bias = nullptr;  // may be null
  int64_t out = 0, in = 0;
  bool bf16 = false;
};
std::string Linear(Context& ctx, const LinearWeights& lw, const float* x, int64_t n, float* y,
                   void* bf16_scratch);

// x[rows, cols] += add (when add is not null), then out = RMSNorm(x) · w (Qwen2: x / sqrt(mean
// x² + eps) · w, f32).
std::string AddRmsNorm(Context& ctx, float* x, const float* add, const float* w, int64_t rows,
                       int64_t cols, float eps, float* out);

// out[rows, f] = silu(gate_up[:, :f]) · gate_up[:, f:] (gate | up fused rows of width 2f).
std::string SiluMul(Context& ctx, const float* gate_up, int64_t rows, int64_t f, float* out);

// Grouped-query attention layout of one layer: qkv rows are q (heads·hd) | k (kv·hd) | v (kv·hd);
// the layer's caches are [kv_heads, capacity, head_dim].
struct AttentionShape {
  int64_t heads = 0, kv_heads = 0, head_dim = 0, capacity = 0;
};

// The position arguments below: with `pos_dev` (a device int64) the kernels read pos0 from it
// when they run (a captured decode graph replays with a new position), else they use `pos0`.

// Rotate-half RoPE of the n rows (positions pos0 ..) on every q and k head, in place, using the
// [capacity, hd/2] cos / sin tables; then the rotated k and the v rows are written to the caches
// at rows pos0 .. pos0 + n - 1.
std::string RopeAppendKv(Context& ctx, const AttentionShape& s, float* qkv, int64_t n,
                         int64_t pos0, const int64_t* pos_dev, const float* cos,
                         const float* sin, float* k_cache, float* v_cache);

// Causal attention of the n rows (positions pos0 ..): row i of query head h sees keys
// 0 .. pos0 + i of kv head h / (heads / kv_heads); softmax(q·kᵀ / sqrt(hd)) · v into
// out[n, heads·hd]. Keys are held in shared memory: MaxAttentionKeys() bounds pos0 + n; with
// pos_dev the shared memory is sized for the whole capacity.
std::string CausalAttention(Context& ctx, const AttentionShape& s, const float* qkv, int64_t n,
                            int64_t pos0, const int64_t* pos_dev, const float* k_cache,
                            const float* v_cache, float* out);
int64_t MaxAttentionKeys(int64_t head_dim);
// One-time kernel set-up (the attention kernel's shared-memory limit); call before a capture.
std::string PrepareKernels();

}  // namespace cosyflow::cuda
