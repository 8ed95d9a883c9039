// Helpers shared by the CUDA kernel files (device code; included by .cu files only): error
// strings of CUDA / cuBLAS calls, warp and block reductions, grid sizing.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "runtime/kernels/cuda/llm_ops.h"

namespace cosyflow::cuda::detail {

inline std::string CudaError(const char* what, cudaError_t e) {
  if (e == cudaSuccess) return {};
  return std::string("cuda: ") + what + ": " + cudaGetErrorName(e) + " (" +
         cudaGetErrorString(e) + ")";
}

inline std::string BlasError(const char* what, cublasStatus_t s) {
  if (s == CUBLAS_STATUS_SUCCESS) return {};
  return std::string("cublas: ") + what + ": " + cublasGetStatusName(s) + " (" +
         cublasGetStatusString(s) + ")";
}

// The launch's own error (bad configuration); asynchronous faults show at Context::Sync.
inline std::string LaunchError(const char* what) { return CudaError(what, cudaGetLastError()); }

inline cudaStream_t StreamOf(Context& ctx) { return static_cast<cudaStream_t>(ctx.stream()); }

// Blocks of `threads` covering n elements with a grid-stride loop (at most 4096 blocks).
inline int Blocks(int64_t n, int threads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<int>(b < 4096 ? (b < 1 ? 1 : b) : 4096);
}

__device__ __forceinline__ float WarpSum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float WarpMax(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum / max (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ __forceinline__ float BlockSum(float v, float* red) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = WarpSum(v);
  __syncthreads();  // red may still be read by a previous reduction
  if (lane == 0) red[warp] = v;
  __syncthreads();
  float t = lane < warps ? red[lane] : 0.0f;
  return WarpSum(t);
}
__device__ __forceinline__ float BlockMax(float v, float* red) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = WarpMax(v);
  __syncthreads();
  if (lane == 0) red[warp] = v;
  __syncthreads();
  float t = lane < warps ? red[lane] : -INFINITY;
  return WarpMax(t);
}

}  // namespace cosyflow::cuda::detail
