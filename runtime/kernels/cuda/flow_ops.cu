// CUDA kernels and launchers of flow_ops.h (f32 throughout).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "runtime/kernels/cuda/common.cuh"
#include "runtime/kernels/cuda/flow_ops.h"

namespace cosyflow::cuda {
namespace {

using namespace detail;  // NOLINT: the shared helpers of common.cuh

constexpr int kRowThreads = 256;

__device__ __forceinline__ float Mish(float v) {
  // softplus saturates to v well before tanh(v) leaves 1 in f32.
  const float sp = v > 20.0f ? v : log1pf(expf(v));
  return v * tanhf(sp);
}

// One block per row; two passes over the row (mean, then centred variance) as the reference.
__global__ void LayerNormKernel(const float* x, const float* w, const float* b, int64_t cols,
                                float eps, bool mish, const float* add, float* out) {
  __shared__ float red[32];
  const float* xr = x + blockIdx.x * cols;
  float* orow = out + blockIdx.x * cols;
  float s = 0.0f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += xr[j];
  const float mean = BlockSum(s, red) / static_cast<float>(cols);
  float ss = 0.0f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    const float d = xr[j] - mean;
    ss += d * d;
  }
  const float var = BlockSum(ss, red) / static_cast<float>(cols);
  const float inv = rsqrtf(var + eps);
  __syncthreads();  // every thread has read x before an in-place write
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    float v = (xr[j] - mean) * inv * w[j] + b[j];
    if (mish) v = Mish(v);
    if (add != nullptr) v += add[j];
    orow[j] = v;
  }
}

__global__ void AddKernel(float* y, const float* a, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    y[i] += a[i];
  }
}

__global__ void GeluErfKernel(float* x, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = x[i];
    x[i] = 0.5f * v * erfcf(-v * 0.70710678118654752f);  // erfc keeps the negative tail
  }
}

// col[(b, i), j · cin + c] = x[b, i + j - (k - 1), c] (0 before frame 0).
__global__ void CausalIm2colKernel(const float* x, int64_t batch, int64_t t, int64_t cin,
                                   int64_t k, float* col) {
  const int64_t width = k * cin, n = batch * t * width;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = e / width, rem = e % width;
    const int64_t b = row / t, i = row % t, j = rem / cin, c = rem % cin;
    const int64_t src = i + j - (k - 1);
    col[e] = src >= 0 ? x[(b * t + src) * cin + c] : 0.0f;
  }
}

__global__ void ConcatColumnsKernel(const float* a, int64_t ca, const float* b, int64_t cb,
                                    int64_t rows, float* out) {
  const int64_t width = ca + cb, n = rows * width;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = e / width, c = e % width;
    out[e] = c < ca ? a[r * ca + c] : b[r * cb + c - ca];
  }
}

// grid (query rows of the block, heads): softmax of row i of head h over its visible columns
// [0, lim), zeros after. s: [heads, qb, keys] row-major.
__global__ void MaskedSoftmaxKernel(float* s, int64_t qb, int64_t keys, int64_t q0,
                                    int64_t chunk) {
  __shared__ float red[32];
  const int64_t i = blockIdx.x, h = blockIdx.y;
  float* row = s + (h * qb + i) * keys;
  const int64_t lim = chunk > 0 ? min(keys, ((q0 + i) / chunk + 1) * chunk) : keys;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < lim; j += blockDim.x) m = fmaxf(m, row[j]);
  m = BlockMax(m, red);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < lim; j += blockDim.x) {
    const float e = expf(row[j] - m);
    row[j] = e;
    sum += e;
  }
  sum = BlockSum(sum, red);
  const float inv = 1.0f / sum;
  for (int64_t j = threadIdx.x; j < keys; j += blockDim.x) row[j] = j < lim ? row[j] * inv : 0.0f;
}

__global__ void SetCfmInputKernel(const float* x, int64_t n, int64_t nb, int64_t cin, float* in) {
  const int64_t total = 2 * n * nb;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = e / nb, c = e % nb;  // r: CFG row · n + frame
    in[r * cin + c] = x[(r % n) * nb + c];
  }
}

__global__ void CfmEulerKernel(float* x, const float* v, int64_t count, float dt, float wc,
                               float wu) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] = x[i] + dt * (wc * v[i] - wu * v[count + i]);
  }
}

__global__ void SelectRowKernel(const int* step, const float* table, int64_t width, float* cur) {
  const float* row = table + static_cast<int64_t>(*step) * width;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < width;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    cur[i] = row[i];
  }
}

__global__ void CfmEulerAtKernel(float* x, const float* v, int64_t count, const float* dt_table,
                                 const int* step, float wc, float wu) {
  const float dt = dt_table[*step];
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] = x[i] + dt * (wc * v[i] - wu * v[count + i]);
  }
}

__global__ void AdvanceStepKernel(int* step) { *step += 1; }

}  // namespace

std::string SelectRow(Context& ctx, const int* step, const float* table, int64_t width,
                      float* cur) {
  SelectRowKernel<<<Blocks(width, 256), 256, 0, StreamOf(ctx)>>>(step, table, width, cur);
  return LaunchError("select step");
}

std::string CfmEulerStepAt(Context& ctx, float* x, const float* v, int64_t n, int64_t nb,
                           const float* dt_table, const int* step, float w_cond, float w_uncond) {
  CfmEulerAtKernel<<<Blocks(n * nb, 256), 256, 0, StreamOf(ctx)>>>(x, v, n * nb, dt_table, step,
                                                                    w_cond, w_uncond);
  return LaunchError("cfm step");
}

std::string AdvanceStep(Context& ctx, int* step) {
  AdvanceStepKernel<<<1, 1, 0, StreamOf(ctx)>>>(step);
  return LaunchError("advance step");
}

std::string LayerNorm(Context& ctx, const float* x, const float* w, const float* b, int64_t rows,
                      int64_t cols, float eps, bool mish, const float* add, float* out) {
  if (rows <= 0) return {};
  LayerNormKernel<<<static_cast<unsigned>(rows), kRowThreads, 0, StreamOf(ctx)>>>(
      x, w, b, cols, eps, mish, add, out);
  return LaunchError("layer norm");
}

std::string AddInPlace(Context& ctx, float* y, const float* a, int64_t n) {
  AddKernel<<<Blocks(n, 256), 256, 0, StreamOf(ctx)>>>(y, a, n);
  return LaunchError("add");
}

std::string GeluErf(Context& ctx, float* x, int64_t n) {
  GeluErfKernel<<<Blocks(n, 256), 256, 0, StreamOf(ctx)>>>(x, n);
  return LaunchError("gelu");
}

std::string CausalIm2col(Context& ctx, const float* x, int64_t batch, int64_t t, int64_t cin,
                         int64_t k, float* col) {
  CausalIm2colKernel<<<Blocks(batch * t * k * cin, 256), 256, 0, StreamOf(ctx)>>>(x, batch, t,
                                                                                  cin, k, col);
  return LaunchError("im2col");
}

std::string ConcatColumns(Context& ctx, const float* a, int64_t ca, const float* b, int64_t cb,
                          int64_t rows, float* out) {
  ConcatColumnsKernel<<<Blocks(rows * (ca + cb), 256), 256, 0, StreamOf(ctx)>>>(a, ca, b, cb,
                                                                                rows, out);
  return LaunchError("concat");
}

std::string ChunkAttention(Context& ctx, const float* qkv, int64_t batch, int64_t t,
                           int64_t heads, int64_t dh, int64_t chunk, float* scores,
                           int64_t score_floats, float* out) {
  if (t <= 0) return {};
  if (score_floats < heads * t) {
    return "cuda: attention scratch of " + std::to_string(score_floats) +
           " floats holds no query row over " + std::to_string(t) + " keys";
  }
  auto handle = static_cast<cublasHandle_t>(ctx.blas());
  const int64_t inner = heads * dh, ld = 3 * inner;
  const int64_t qb_max = std::min<int64_t>(t, score_floats / (heads * t));
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh)), one = 1.0f, zero = 0.0f;
  for (int64_t b = 0; b < batch; ++b) {
    const float* base = qkv + b * t * ld;
    for (int64_t q0 = 0; q0 < t; q0 += qb_max) {
      const int64_t qb = std::min(qb_max, t - q0);
      // Columns any row of the block can see (the rest would get probability 0 anyway).
      const int64_t keys = chunk > 0 ? std::min(t, ((q0 + qb - 1) / chunk + 1) * chunk) : t;
      // Column-major: S_hᵀ [keys, qb] = K_h · Q_hᵀ, i.e. row-major S_h [qb, keys].
      cublasStatus_t st = cublasSgemmStridedBatched(
          handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(keys), static_cast<int>(qb),
          static_cast<int>(dh), &scale, base + inner, static_cast<int>(ld), dh,
          base + q0 * ld, static_cast<int>(ld), dh, &zero, scores, static_cast<int>(keys),
          qb * keys, static_cast<int>(heads));
      if (std::string e = BlasError("attention scores", st); !e.empty()) return e;
      const dim3 grid(static_cast<unsigned>(qb), static_cast<unsigned>(heads));
      MaskedSoftmaxKernel<<<grid, kRowThreads, 0, StreamOf(ctx)>>>(scores, qb, keys, q0, chunk);
      if (std::string e = LaunchError("attention softmax"); !e.empty()) return e;
      // Column-major: O_hᵀ [dh, qb] = V_hᵀ [dh, keys] · P_hᵀ [keys, qb].
      st = cublasSgemmStridedBatched(
          handle, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(dh), static_cast<int>(qb),
          static_cast<int>(keys), &one, base + 2 * inner, static_cast<int>(ld), dh, scores,
          static_cast<int>(keys), qb * keys, &zero, out + (b * t + q0) * inner,
          static_cast<int>(inner), dh, static_cast<int>(heads));
      if (std::string e = BlasError("attention values", st); !e.empty()) return e;
    }
  }
  return {};
}

std::string SetCfmInput(Context& ctx, const float* x, int64_t n, int64_t nb, int64_t cin,
                        float* in) {
  SetCfmInputKernel<<<Blocks(2 * n * nb, 256), 256, 0, StreamOf(ctx)>>>(x, n, nb, cin, in);
  return LaunchError("cfm input");
}

std::string CfmEulerStep(Context& ctx, float* x, const float* v, int64_t n, int64_t nb, float dt,
                         float w_cond, float w_uncond) {
  CfmEulerKernel<<<Blocks(n * nb, 256), 256, 0, StreamOf(ctx)>>>(x, v, n * nb, dt, w_cond,
                                                                  w_uncond);
  return LaunchError("cfm step");
}

}  // namespace cosyflow::cuda
