// CUDA smoke kernel and device query: proves the toolkit, nvcc and cuBLAS link (real kernels later).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "runtime/kernels/cuda/cuda_info.h"

namespace cosyflow::cuda {
namespace {

// y: [n] f32, y[i] = a * x[i] + y[i]
__global__ void AxpyKernel(int n, float a, const float* x, float* y) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

}  // namespace

int DeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

bool SmokeTest(std::string* error) {
  const int n = 1000;
  float* x = nullptr;
  float* y = nullptr;
  if (cudaMalloc(&x, n * sizeof(float)) != cudaSuccess ||
      cudaMalloc(&y, n * sizeof(float)) != cudaSuccess) {
    *error = "cudaMalloc failed";
    cudaFree(x);
    return false;
  }
  float hx[n], hy[n];
  for (int i = 0; i < n; ++i) {
    hx[i] = static_cast<float>(i);
    hy[i] = 1.0f;
  }
  cudaMemcpy(x, hx, sizeof(hx), cudaMemcpyHostToDevice);
  cudaMemcpy(y, hy, sizeof(hy), cudaMemcpyHostToDevice);
  AxpyKernel<<<(n + 255) / 256, 256>>>(n, 2.0f, x, y);
  // Same operation through cuBLAS: y += 1 * x  => y = 3x + 1.
  cublasHandle_t handle;
  bool ok = cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS;
  if (ok) {
    const float one = 1.0f;
    ok = cublasSaxpy(handle, n, &one, x, 1, y, 1) == CUBLAS_STATUS_SUCCESS;
    cublasDestroy(handle);
  }
  cudaMemcpy(hy, y, sizeof(hy), cudaMemcpyDeviceToHost);
  cudaFree(x);
  cudaFree(y);
  if (!ok) {
    *error = "cuBLAS saxpy failed";
    return false;
  }
  for (int i = 0; i < n; ++i) {
    if (hy[i] != 3.0f * static_cast<float>(i) + 1.0f) {
      *error = "wrong result at " + std::to_string(i);
      return false;
    }
  }
  return true;
}

}  // namespace cosyflow::cuda
