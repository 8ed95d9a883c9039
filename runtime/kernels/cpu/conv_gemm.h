// GEMM formulation of Conv1d / ConvTranspose1d (groups = 1): the hot-loop path behind the
// cpu::Conv1d / cpu::ConvTranspose1d layers (conv.h). Internal to the cpu kernels.
//
// Why not oneDNN's convolution primitive: in the plain ncw layout the models use, oneDNN 2.6
// runs an im2col + gemm convolution that measured 1.5-3x slower on the HiFT shapes (C 64..512,
// K 3..11, T 100..12000) than one sgemm per kernel tap on shifted column ranges, which needs no
// im2col copy at stride 1. Threads split the output columns (one OpenMP fork/join per call,
// single-threaded sgemm inside), instead of one fork/join per tap inside sgemm: on a loaded
// machine the per-call barriers of a threaded sgemm dominated (see bench/hift). Conv1d outputs
// too short for useful column blocks (e.g. 512 x 100) split the output rows instead.
#pragma once

#include <cstdint>

#include "runtime/kernels/ref/conv.h"
#include "runtime/status.h"

namespace cosyflow::kernels::cpu::detail {

// w_taps: [C_out, K, C_in] f32 (tap-major rows: tap k is the [C_out, C_in] matrix at
// w_taps + k*C_in, row stride K*C_in); bias: [C_out] or null; x: [batch, C_in, t_in];
// y: [batch, C_out, t_out], t_out = Conv1dOutputLength(p, t_in). p.groups must be 1.
Status GemmConv1d(const Conv1dParams& p, const float* w_taps, const float* bias, const float* x,
                  int64_t batch, int64_t t_in, int64_t t_out, float* y);

// w: [C_in, C_out, K] f32 (PyTorch layout, read as the [C_in, C_out*K] matrix); bias: [C_out]
// or null; x: [batch, C_in, t_in]; y: [batch, C_out, t_out], t_out =
// ConvTranspose1dOutputLength(p, t_in). p.groups must be 1.
Status GemmConvTranspose1d(const ConvTranspose1dParams& p, const float* w, const float* bias,
                           const float* x, int64_t batch, int64_t t_in, int64_t t_out, float* y);

// ConvMath::kBF16 (conv.h) for p.groups = 1, p.stride = 1: wp in kernel_table.h's
// Conv1dBf16WeightIndex layout; x: [batch, C_in, t_in]; y: [batch, C_out, t_out]. Runs the
// selected variant's conv1d_bf16 when it has one, else the sgemm path on bf16-rounded inputs
// and the weights of wp widened (w_taps: BF16TapMajorWeights(wp) made once, or null: widened
// per call).
Status Bf16Conv1d(const Conv1dParams& p, const uint32_t* wp, const float* w_taps, const float* bias,
                  const float* x, int64_t batch, int64_t t_in, int64_t t_out, float* y);
// wp (Conv1dBf16WeightIndex layout) -> [C_out, K, C_in] f32 (the w_taps layout).
void BF16TapMajorWeights(const uint32_t* wp, int64_t c_out, int64_t c_in, int64_t k, float* w_taps);
// w: [C_out, C_in, K] f32 -> the Conv1dBf16WeightIndex layout (wp: Bf16Conv1dWeightWords
// words, zero-filled here).
int64_t Bf16Conv1dWeightWords(int64_t c_out, int64_t c_in, int64_t k);
void PackBf16Conv1dWeights(const float* w, int64_t c_out, int64_t c_in, int64_t k, uint32_t* wp);

// [C_out, C_in, K] -> [C_out, K, C_in] (the w_taps layout).
void ToTapMajor(const float* w, int64_t c_out, int64_t c_in, int64_t k, float* w_taps);

}  // namespace cosyflow::kernels::cpu::detail
