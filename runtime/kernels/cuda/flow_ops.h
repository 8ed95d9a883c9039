// CUDA building blocks of the flow estimator (compiled only when COSYFLOW_WITH_CUDA): the
// time-major kernels of a CausalConditionalDecoder forward and of the CFM Euler sampler, on
// top of llm_ops.h's Context / Buffer / Linear. Plain C++ (no CUDA types); errors as in llm_ops.h
// ("" or a one-line reason; asynchronous faults surface at Context::Sync).
#pragma once

#include <cstdint>
#include <string>

#include "runtime/kernels/cuda/llm_ops.h"

namespace cosyflow::cuda {

// out[rows, cols] = LayerNorm(x) · w + b (biased variance, eps), then Mish when `mish`, then
// + add[cols] when `add` is not null (the resnet's time bias). out may be x.
std::string LayerNorm(Context& ctx, const float* x, const float* w, const float* b, int64_t rows,
                      int64_t cols, float eps, bool mish, const float* add, float* out);

// y[i] += a[i], i < n.
std::string AddInPlace(Context& ctx, float* y, const float* a, int64_t n);

// x = GELU(x) (erf form), n values in place.
std::string GeluErf(Context& ctx, float* x, int64_t n);

// Causal conv im2col, time-major: x [batch, t, cin] -> col [batch, t, k · cin], where row i's
// tap j holds frame i + j - (k - 1) (zeros before frame 0): with a weight re-ordered to
// [cout, k · cin] (tap-major) one GEMM gives the conv.
std::string CausalIm2col(Context& ctx, const float* x, int64_t batch, int64_t t, int64_t cin,
                         int64_t k, float* col);

// out[r] = [a[r, :ca] | b[r, :cb]] for r < rows.
std::string ConcatColumns(Context& ctx, const float* a, int64_t ca, const float* b, int64_t cb,
                          int64_t rows, float* out);

// Estimator self-attention (diffusers Attention, SDPA scale 1/sqrt(dh)) on `batch` sequences:
// qkv [batch, t, 3 · heads · dh] (q | k | v, head h at channels h · dh), out [batch, t, heads · dh].
// chunk > 0: row i sees columns < (i / chunk + 1) · chunk (masked probabilities exactly 0, as
// the reference's additive -1e10 mask gives in f32); chunk == 0: every column. Scores go
// through `scores` (score_floats floats, at least heads · t): query rows are taken in blocks
// that fit. Q·Kᵀ and P·V are cuBLAS strided-batched SGEMMs over the heads.
std::string ChunkAttention(Context& ctx, const float* qkv, int64_t batch, int64_t t,
                           int64_t heads, int64_t dh, int64_t chunk, float* scores,
                           int64_t score_floats, float* out);

// CFM sampler steps on x [n, nb] (time-major): SetCfmInput copies x into columns 0 .. nb of
// both CFG rows of in [2, n, cin]; CfmEulerStep does x += dt · (w_cond · v[0] - w_uncond · v[1])
// with v [2, n, nb].
std::string SetCfmInput(Context& ctx, const float* x, int64_t n, int64_t nb, int64_t cin,
                        float* in);
std::string CfmEulerStep(Context& ctx, float* x, const float* v, int64_t n, int64_t nb, float dt,
                         float w_cond, float w_uncond);

// Sampler steps replayed from one CUDA graph read the step index from device memory (*step):
// SelectRow copies row *step of table [rows, width] to cur; CfmEulerStepAt is CfmEulerStep with
// dt = dt_table[*step]; AdvanceStep increments *step.
std::string SelectRow(Context& ctx, const int* step, const float* table, int64_t width,
                      float* cur);
std::string CfmEulerStepAt(Context& ctx, float* x, const float* v, int64_t n, int64_t nb,
                           const float* dt_table, const int* step, float w_cond, float w_uncond);
std::string AdvanceStep(Context& ctx, int* step);

}  // namespace cosyflow::cuda
