// CUDA kernels and launchers of llm_ops.h: f32 elementwise/norm/RoPE/attention kernels, cuBLAS
// linears (f32 SGEMM, bf16 GemmEx with f32 accumulation).
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/kernels/cuda/common.cuh"
#include "runtime/kernels/cuda/llm_ops.h"

namespace cosyflow::cuda {
namespace {

using namespace detail;  // NOLINT: the shared helpers of common.cuh

constexpr int kNormThreads = 256;
constexpr int kAttentionThreads = 256;
constexpr size_t kDefaultSharedBytes = 48 * 1024;

// Round to nearest even, NaN kept quiet (the CPU converter's rule).
uint16_t ToBf16Bits(float f) {
  uint32_t bits = 0;
  std::memcpy(&bits, &f, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

__global__ void ToBf16Kernel(const float* x, int64_t n, __nv_bfloat16* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = __float2bfloat16_rn(x[i]);
  }
}

// One row (decode): y[out] = W[out, in] · x (+ bias), one warp per output row streaming its weight
// row with 16-byte loads and x through the read-only cache (rounded to bf16 for bf16 weights, as
// the GemmEx path rounds it). COSYFLOW_CUDA_GEMV=0 sends single rows to cuBLAS instead.
constexpr int kGemvWarps = 8;

__device__ __forceinline__ float Bf16Lo(uint32_t v) { return __uint_as_float(v << 16); }
__device__ __forceinline__ float Bf16Hi(uint32_t v) { return __uint_as_float(v & 0xffff0000u); }
__device__ __forceinline__ float RoundBf16(float v) {
  return __bfloat162float(__float2bfloat16_rn(v));
}

template <bool kBf16>
__global__ void GemvKernel(const void* w, const float* bias, const float* x, int64_t out,
                           int64_t in, float* y) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kGemvWarps + warp;
  if (row >= out) return;
  float acc = 0.0f;
  if constexpr (kBf16) {
    const uint16_t* wr = static_cast<const uint16_t*>(w) + row * in;
    if (in % 8 == 0) {
      const uint4* w8 = reinterpret_cast<const uint4*>(wr);
      const float4* x4 = reinterpret_cast<const float4*>(x);
#pragma unroll 2
      for (int64_t j = lane; j < in / 8; j += 32) {
        const uint4 v = __ldg(w8 + j);
        const float4 a = __ldg(x4 + 2 * j), c = __ldg(x4 + 2 * j + 1);
        acc += Bf16Lo(v.x) * RoundBf16(a.x) + Bf16Hi(v.x) * RoundBf16(a.y) +
               Bf16Lo(v.y) * RoundBf16(a.z) + Bf16Hi(v.y) * RoundBf16(a.w) +
               Bf16Lo(v.z) * RoundBf16(c.x) + Bf16Hi(v.z) * RoundBf16(c.y) +
               Bf16Lo(v.w) * RoundBf16(c.z) + Bf16Hi(v.w) * RoundBf16(c.w);
      }
    } else {
      for (int64_t j = lane; j < in; j += 32) {
        acc += __uint_as_float(uint32_t{wr[j]} << 16) * RoundBf16(__ldg(x + j));
      }
    }
  } else {
    const float* wr = static_cast<const float*>(w) + row * in;
    if (in % 4 == 0) {
      const float4* w4 = reinterpret_cast<const float4*>(wr);
      const float4* x4 = reinterpret_cast<const float4*>(x);
#pragma unroll 4
      for (int64_t j = lane; j < in / 4; j += 32) {
        const float4 v = __ldg(w4 + j), a = __ldg(x4 + j);
        acc += v.x * a.x + v.y * a.y + v.z * a.z + v.w * a.w;
      }
    } else {
      for (int64_t j = lane; j < in; j += 32) acc += wr[j] * __ldg(x + j);
    }
  }
  acc = WarpSum(acc);
  if (lane == 0) y[row] = acc + (bias != nullptr ? bias[row] : 0.0f);
}

bool GemvEnabled() {
  static const bool on = [] {
    const char* e = std::getenv("COSYFLOW_CUDA_GEMV");
    return e == nullptr || std::string(e) != "0";
  }();
  return on;
}

__global__ void AddBiasKernel(float* y, const float* b, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    y[i] += b[i % cols];
  }
}

// One block per row.
__global__ void AddRmsNormKernel(float* x, const float* add, const float* w, int64_t cols,
                                 float eps, float* out) {
  __shared__ float red[32];
  float* xr = x + blockIdx.x * cols;
  const float* ar = add != nullptr ? add + blockIdx.x * cols : nullptr;
  float* orow = out + blockIdx.x * cols;
  float ss = 0.0f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    float v = xr[j];
    if (ar != nullptr) {
      v += ar[j];
      xr[j] = v;
    }
    ss += v * v;
  }
  ss = BlockSum(ss, red);
  const float r = 1.0f / sqrtf(ss / static_cast<float>(cols) + eps);
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) orow[j] = w[j] * (xr[j] * r);
}

__global__ void SiluMulKernel(const float* gate_up, int64_t rows, int64_t f, float* out) {
  const int64_t n = rows * f;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / f, j = i % f;
    const float g = gate_up[r * 2 * f + j], u = gate_up[r * 2 * f + f + j];
    out[i] = g / (1.0f + expf(-g)) * u;
  }
}

// One block per row; threads over (heads + kv_heads) · half rotations, then the v copy.
__global__ void RopeAppendKvKernel(float* qkv, int64_t heads, int64_t kv_heads, int64_t hd,
                                   int64_t cap, int64_t pos0, const int64_t* pos_dev,
                                   const float* cos_t, const float* sin_t, float* kc, float* vc) {
  if (pos_dev != nullptr) pos0 = *pos_dev;
  const int64_t row = blockIdx.x, pos = pos0 + row, half = hd / 2;
  const int64_t qkv_dim = (heads + 2 * kv_heads) * hd;
  float* r = qkv + row * qkv_dim;
  const float* c = cos_t + pos * half;
  const float* s = sin_t + pos * half;
  for (int64_t i = threadIdx.x; i < (heads + kv_heads) * half; i += blockDim.x) {
    const int64_t head = i / half, j = i % half;
    float* base = r + head * hd;  // k heads follow the q heads
    const float x1 = base[j], x2 = base[j + half];
    const float y1 = x1 * c[j] - x2 * s[j];
    const float y2 = x2 * c[j] + x1 * s[j];
    base[j] = y1;
    base[j + half] = y2;
    if (head >= heads) {
      float* k = kc + ((head - heads) * cap + pos) * hd;
      k[j] = y1;
      k[j + half] = y2;
    }
  }
  const float* v = r + (heads + kv_heads) * hd;
  for (int64_t i = threadIdx.x; i < kv_heads * hd; i += blockDim.x) {
    const int64_t g = i / hd, d = i % hd;
    vc[(g * cap + pos) * hd + d] = v[i];
  }
}

// grid (heads, n rows). Shared: q [hd] | scores [keys] | partial outputs [groups, hd].
__global__ void CausalAttentionKernel(const float* qkv, int64_t heads, int64_t kv_heads,
                                      int64_t hd, int64_t cap, int64_t pos0,
                                      const int64_t* pos_dev, const float* kc, const float* vc,
                                      float* out) {
  extern __shared__ float sm[];
  if (pos_dev != nullptr) pos0 = *pos_dev;
  __shared__ float red[32];
  const int64_t head = blockIdx.x, row = blockIdx.y;
  const int64_t g = head / (heads / kv_heads), len = pos0 + row + 1;
  const int64_t qkv_dim = (heads + 2 * kv_heads) * hd;
  float* q = sm;
  float* scores = sm + hd;
  float* partial = scores + len;
  const float* qsrc = qkv + row * qkv_dim + head * hd;
  for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) q[d] = qsrc[d];
  __syncthreads();
  const float* k = kc + g * cap * hd;
  const float* v = vc + g * cap * hd;
  const float scale = 1.0f / sqrtf(static_cast<float>(hd));
  // One thread per key: its row's dot product with independent 16-byte loads.
  if (hd % 4 == 0) {
    const float4* q4 = reinterpret_cast<const float4*>(q);
    for (int64_t t = threadIdx.x; t < len; t += blockDim.x) {
      const float4* k4 = reinterpret_cast<const float4*>(k + t * hd);
      float p = 0.0f;
#pragma unroll 4
      for (int64_t d = 0; d < hd / 4; ++d) {
        const float4 a = __ldg(k4 + d), b = q4[d];
        p += a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
      }
      scores[t] = p * scale;
    }
  } else {
    for (int64_t t = threadIdx.x; t < len; t += blockDim.x) {
      float p = 0.0f;
      for (int64_t d = 0; d < hd; ++d) p += q[d] * k[t * hd + d];
      scores[t] = p * scale;
    }
  }
  __syncthreads();
  float m = -INFINITY;
  for (int64_t t = threadIdx.x; t < len; t += blockDim.x) m = fmaxf(m, scores[t]);
  m = BlockMax(m, red);
  float sum = 0.0f;
  for (int64_t t = threadIdx.x; t < len; t += blockDim.x) {
    const float e = expf(scores[t] - m);
    scores[t] = e;
    sum += e;
  }
  sum = BlockSum(sum, red);  // its barriers also publish the exponentials
  // Output: `groups` thread groups of hd each take every groups-th key.
  const int64_t groups = blockDim.x >= hd ? blockDim.x / hd : 1;
  const int64_t grp = blockDim.x >= hd ? threadIdx.x / hd : 0;
  if (grp < groups) {
    const int64_t d0 = blockDim.x >= hd ? threadIdx.x % hd : threadIdx.x;
    const int64_t step = blockDim.x >= hd ? hd : blockDim.x;
    for (int64_t d = d0; d < hd; d += step) {
      float acc = 0.0f;
#pragma unroll 4
      for (int64_t t = grp; t < len; t += groups) acc += scores[t] * __ldg(v + t * hd + d);
      partial[grp * hd + d] = acc;
    }
  }
  __syncthreads();
  float* o = out + row * heads * hd + head * hd;
  for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) {
    float acc = 0.0f;
    for (int64_t p = 0; p < groups; ++p) acc += partial[p * hd + d];
    o[d] = acc / sum;
  }
}

int64_t AttentionGroups(int64_t hd) { return kAttentionThreads >= hd ? kAttentionThreads / hd : 1; }

size_t AttentionSharedBytes(int64_t keys, int64_t hd) {
  return static_cast<size_t>(hd + keys + AttentionGroups(hd) * hd) * sizeof(float);
}

size_t MaxSharedBytes() {
  static const size_t bytes = [] {
    int dev = 0, optin = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) !=
            cudaSuccess ||
        optin <= 0) {
      return kDefaultSharedBytes;
    }
    // Room for the kernel's static reduction array.
    return static_cast<size_t>(optin) - 32 * sizeof(float);
  }();
  return bytes;
}

}  // namespace

// --- Buffer -------------------------------------------------------------------------------

Buffer::~Buffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

std::string Buffer::Allocate(size_t bytes) {
  if (ptr_ != nullptr) cudaFree(ptr_);
  ptr_ = nullptr;
  bytes_ = 0;
  if (bytes == 0) return {};
  const cudaError_t e = cudaMalloc(&ptr_, bytes);
  if (e != cudaSuccess) {
    ptr_ = nullptr;
    return CudaError(("cudaMalloc of " + std::to_string(bytes) + " bytes").c_str(), e);
  }
  bytes_ = bytes;
  return {};
}

std::string Buffer::Upload(const void* host, size_t bytes) {
  if (std::string e = Allocate(bytes); !e.empty()) return e;
  if (bytes == 0) return {};
  return CudaError("upload", cudaMemcpy(ptr_, host, bytes, cudaMemcpyHostToDevice));
}

std::string Buffer::UploadBf16(const float* host, size_t n) {
  std::vector<uint16_t> bits(n);
  for (size_t i = 0; i < n; ++i) bits[i] = ToBf16Bits(host[i]);
  return Upload(bits.data(), n * sizeof(uint16_t));
}

// --- Context ------------------------------------------------------------------------------

std::unique_ptr<Context> Context::Create(std::string* error) {
  std::unique_ptr<Context> c(new Context());
  cudaStream_t stream = nullptr;
  if (cudaError_t e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking); e != cudaSuccess) {
    *error = CudaError("stream create", e);
    return nullptr;
  }
  c->stream_ = stream;
  cublasHandle_t handle = nullptr;
  if (cublasStatus_t s = cublasCreate(&handle); s != CUBLAS_STATUS_SUCCESS) {
    *error = BlasError("create", s);
    return nullptr;
  }
  c->blas_ = handle;
  if (cublasStatus_t s = cublasSetStream(handle, stream); s != CUBLAS_STATUS_SUCCESS) {
    *error = BlasError("set stream", s);
    return nullptr;
  }
  if (cublasStatus_t s = cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH);
      s != CUBLAS_STATUS_SUCCESS) {
    *error = BlasError("set math mode", s);
    return nullptr;
  }
  return c;
}

Context::~Context() {
  if (blas_ != nullptr) cublasDestroy(static_cast<cublasHandle_t>(blas_));
  if (stream_ != nullptr) cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
}

std::string Context::Sync() {
  if (std::string e = CudaError("stream", cudaStreamSynchronize(StreamOf(*this))); !e.empty()) {
    return e;
  }
  return CudaError("kernel", cudaGetLastError());
}

std::string Context::CopyToDevice(void* dst, const void* src, size_t bytes) {
  return CudaError("copy to device",
                   cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, StreamOf(*this)));
}
std::string Context::CopyToHost(void* dst, const void* src, size_t bytes) {
  return CudaError("copy to host",
                   cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, StreamOf(*this)));
}
std::string Context::CopyOnDevice(void* dst, const void* src, size_t bytes) {
  return CudaError("copy on device",
                   cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, StreamOf(*this)));
}
std::string Context::Copy2D(void* dst, size_t dst_pitch, const void* src, size_t src_pitch,
                            size_t width, size_t rows) {
  if (rows == 0 || width == 0) return {};
  return CudaError("2-d copy", cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, width, rows,
                                                 cudaMemcpyDefault, StreamOf(*this)));
}

HostBuffer::~HostBuffer() {
  if (ptr_ != nullptr) cudaFreeHost(ptr_);
}

std::string HostBuffer::Allocate(size_t bytes) {
  if (ptr_ != nullptr) cudaFreeHost(ptr_);
  ptr_ = nullptr;
  if (bytes == 0) return {};
  const cudaError_t e = cudaMallocHost(&ptr_, bytes);
  if (e != cudaSuccess) ptr_ = nullptr;
  return CudaError("cudaMallocHost", e);
}

Graph::~Graph() { Reset(); }

void Graph::Reset() {
  if (exec_ != nullptr) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  exec_ = nullptr;
}

std::string Context::BeginCapture() {
  return CudaError("begin capture",
                   cudaStreamBeginCapture(StreamOf(*this), cudaStreamCaptureModeThreadLocal));
}

std::string Context::Zero(void* dst, size_t bytes) {
  return CudaError("memset", cudaMemsetAsync(dst, 0, bytes, StreamOf(*this)));
}

std::string Context::EndCapture(Graph* graph) {
  cudaGraph_t g = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(StreamOf(*this), &g);
  (void)cudaGetLastError();  // a failed enqueue's error, already reported by the caller
  if (ended != cudaSuccess || g == nullptr) {
    if (g != nullptr) cudaGraphDestroy(g);
    graph->Reset();
    return CudaError("end capture",
                     ended != cudaSuccess ? ended : cudaErrorStreamCaptureInvalidated);
  }
  if (graph->exec_ != nullptr) {
    cudaGraphExecUpdateResultInfo info{};
    if (cudaGraphExecUpdate(static_cast<cudaGraphExec_t>(graph->exec_), g, &info) ==
        cudaSuccess) {
      cudaGraphDestroy(g);
      return {};
    }
    (void)cudaGetLastError();  // another topology: instantiate anew
    graph->Reset();
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t made = cudaGraphInstantiate(&exec, g, 0);
  cudaGraphDestroy(g);
  if (made != cudaSuccess) return CudaError("graph instantiate", made);
  graph->exec_ = exec;
  return {};
}

std::string Context::Launch(const Graph& graph) {
  return CudaError("graph launch", cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph.exec_),
                                                   StreamOf(*this)));
}

int VisibleDevices() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

std::string DeviceName() {
  cudaDeviceProp p{};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&p, dev) != cudaSuccess) {
    return {};
  }
  return std::string(p.name) + ", " + std::to_string(p.multiProcessorCount) + " SMs, " +
         std::to_string(p.totalGlobalMem >> 20) + " MiB";
}

double CopyBandwidthGBps(size_t bytes) {
  Buffer a, b;
  if (!a.Allocate(bytes).empty() || !b.Allocate(bytes).empty()) return 0;
  cudaEvent_t start = nullptr, stop = nullptr;
  if (cudaEventCreate(&start) != cudaSuccess || cudaEventCreate(&stop) != cudaSuccess) return 0;
  double best = 0;
  for (int rep = 0; rep < 4; ++rep) {  // the first copy warms up
    cudaEventRecord(start);
    cudaMemcpy(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0;
    if (rep > 0 && cudaEventElapsedTime(&ms, start, stop) == cudaSuccess && ms > 0) {
      best = std::max(best, 2.0 * static_cast<double>(bytes) / (ms * 1e-3) / 1e9);
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return best;
}

// --- ops ----------------------------------------------------------------------------------

std::string Linear(Context& ctx, const LinearWeights& lw, const float* x, int64_t n, float* y,
                   void* bf16_scratch) {
  auto handle = static_cast<cublasHandle_t>(ctx.blas());
  const float one = 1.0f, zero = 0.0f;
  if (n == 1 && GemvEnabled()) {
    const unsigned blocks = static_cast<unsigned>((lw.out + kGemvWarps - 1) / kGemvWarps);
    if (lw.bf16) {
      GemvKernel<true><<<blocks, 32 * kGemvWarps, 0, StreamOf(ctx)>>>(lw.w, lw.bias, x, lw.out,
                                                                        lw.in, y);
    } else {
      GemvKernel<false><<<blocks, 32 * kGemvWarps, 0, StreamOf(ctx)>>>(lw.w, lw.bias, x, lw.out,
                                                                         lw.in, y);
    }
    return LaunchError("gemv");
  }
  const int m = static_cast<int>(lw.out), cols = static_cast<int>(n), k = static_cast<int>(lw.in);
  // Column-major view: yᵀ[out, n] = W[out, in] (the row-major [out, in] read transposed) · xᵀ.
  if (lw.bf16) {
    ToBf16Kernel<<<Blocks(n * lw.in, 256), 256, 0, StreamOf(ctx)>>>(
        x, n * lw.in, static_cast<__nv_bfloat16*>(bf16_scratch));
    if (std::string e = LaunchError("to bf16"); !e.empty()) return e;
    const cublasStatus_t s = cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, m, cols, k, &one,
                                          lw.w, CUDA_R_16BF, k, bf16_scratch, CUDA_R_16BF, k,
                                          &zero, y, CUDA_R_32F, m, CUBLAS_COMPUTE_32F,
                                          CUBLAS_GEMM_DEFAULT);
    if (std::string e = BlasError("bf16 gemm", s); !e.empty()) return e;
  } else {
    const cublasStatus_t s = cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, m, cols, k, &one,
                                         static_cast<const float*>(lw.w), k, x, k, &zero, y, m);
    if (std::string e = BlasError("sgemm", s); !e.empty()) return e;
  }
  if (lw.bias != nullptr) {
    AddBiasKernel<<<Blocks(n * lw.out, 256), 256, 0, StreamOf(ctx)>>>(y, lw.bias, n, lw.out);
    return LaunchError("bias");
  }
  return {};
}

std::string AddRmsNorm(Context& ctx, float* x, const float* add, const float* w, int64_t rows,
                       int64_t cols, float eps, float* out) {
  AddRmsNormKernel<<<static_cast<unsigned>(rows), kNormThreads, 0, StreamOf(ctx)>>>(
      x, add, w, cols, eps, out);
  return LaunchError("rms norm");
}

std::string SiluMul(Context& ctx, const float* gate_up, int64_t rows, int64_t f, float* out) {
  SiluMulKernel<<<Blocks(rows * f, 256), 256, 0, StreamOf(ctx)>>>(gate_up, rows, f, out);
  return LaunchError("silu mul");
}

std::string RopeAppendKv(Context& ctx, const AttentionShape& s, float* qkv, int64_t n,
                         int64_t pos0, const int64_t* pos_dev, const float* cos,
                         const float* sin, float* k_cache, float* v_cache) {
  RopeAppendKvKernel<<<static_cast<unsigned>(n), 128, 0, StreamOf(ctx)>>>(
      qkv, s.heads, s.kv_heads, s.head_dim, s.capacity, pos0, pos_dev, cos, sin, k_cache,
      v_cache);
  return LaunchError("rope");
}

int64_t MaxAttentionKeys(int64_t hd) {
  const int64_t floats = static_cast<int64_t>(MaxSharedBytes() / sizeof(float));
  return floats - hd - AttentionGroups(hd) * hd;
}

std::string PrepareKernels() {
  static const cudaError_t raised = cudaFuncSetAttribute(
      CausalAttentionKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
      static_cast<int>(MaxSharedBytes()));
  return CudaError("attention shared memory", raised);
}

std::string CausalAttention(Context& ctx, const AttentionShape& s, const float* qkv, int64_t n,
                            int64_t pos0, const int64_t* pos_dev, const float* k_cache,
                            const float* v_cache, float* out) {
  const int64_t keys = pos_dev != nullptr ? s.capacity : pos0 + n;
  if (keys > MaxAttentionKeys(s.head_dim)) {
    return "cuda: attention over " + std::to_string(keys) + " keys exceeds the " +
           std::to_string(MaxAttentionKeys(s.head_dim)) + " that fit in shared memory";
  }
  const size_t shared = AttentionSharedBytes(keys, s.head_dim);
  if (shared > kDefaultSharedBytes) {
    if (std::string e = PrepareKernels(); !e.empty()) return e;
  }
  const dim3 grid(static_cast<unsigned>(s.heads), static_cast<unsigned>(n));
  CausalAttentionKernel<<<grid, kAttentionThreads, shared, StreamOf(ctx)>>>(
      qkv, s.heads, s.kv_heads, s.head_dim, s.capacity, pos0, pos_dev, k_cache, v_cache, out);
  return LaunchError("attention");
}

}  // namespace cosyflow::cuda
