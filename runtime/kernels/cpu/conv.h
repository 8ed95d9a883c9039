// Fast 1-D convolutions: one-shot functions and create-once layers for the hot loops. groups = 1
// runs as sgemm calls (conv_gemm.h); grouped convolutions use oneDNN's primitives.
#pragma once

#include <cstdint>
#include <memory>

#include "runtime/kernels/ref/conv.h"
#include "runtime/status.h"

namespace cosyflow::kernels::cpu {

// Owned 64-byte aligned f32 array (layer weights).
struct AlignedFloatDeleter {
  void operator()(float* p) const;
};
using AlignedFloats = std::unique_ptr<float[], AlignedFloatDeleter>;

// x: [batch, C_in, T] f32 row-major; w: [C_out, C_in/groups, K]; bias: [C_out] or null;
// y: [batch, C_out, T_out]. groups = 1: the GEMM path of conv_gemm.h on a per-call tap-major
// copy of w (a create-once Conv1d layer skips the copy); grouped: oneDNN primitives, cached
// process-wide per (params, batch, T) so repeated shapes cost no primitive creation.
// Thread-safe.
Status Conv1dForward(const Conv1dParams& p, const float* x, int64_t batch, int64_t t_in,
                     const float* w, const float* bias, float* y);

// x: [batch, C_in, T] f32 row-major; w: [C_in, C_out/groups, K] (PyTorch layout, used in
// place); bias: [C_out] or null; y: [batch, C_out, T_out]. groups = 1: GEMM + scatter
// (conv_gemm.h); grouped: cached oneDNN primitives as above. Thread-safe.
Status ConvTranspose1dForward(const ConvTranspose1dParams& p, const float* x, int64_t batch,
                              int64_t t_in, const float* w, const float* bias, float* y);

// A Conv1d layer that owns a copy of its weights. Forward is const and thread-safe. With
// groups = 1 it runs one sgemm per kernel tap (im2col + one sgemm when strided) on weights
// rearranged at Create, threaded over output columns (conv_gemm.h: faster than the oneDNN
// primitive on plain-layout shapes); grouped layers use the primitive cache above. Scratch comes
// from per-thread buffers, so a hot loop allocates nothing after the first call per shape and
// thread (apart from the few small allocations inside oneDNN's execute).
//
// ConvMath::kBF16 (groups = 1 and stride 1; other layers stay f32): the products are those of
// the weights and the inputs rounded to bf16 (round to nearest even), summed in f32, as
// vdpbf16ps computes them: on CPUs with AVX512_BF16 a direct convolution kernel
// (kernel_table.h's conv1d_bf16) on weights packed at Create; elsewhere the same products
// through the sgemm path on rounded copies (no faster than f32; for agreement only).
enum class ConvMath { kF32, kBF16 };

class Conv1d {
 public:
  // w: [C_out, C_in/groups, K] f32, bias: [C_out] or null; both copied.
  static Result<std::unique_ptr<Conv1d>> Create(const Conv1dParams& p, const float* w,
                                                const float* bias, ConvMath math = ConvMath::kF32);
  ~Conv1d();
  // x: [batch, C_in, t_in] f32 -> y: [batch, C_out, OutputLength(t_in)] f32.
  Status Forward(const float* x, int64_t batch, int64_t t_in, float* y) const;
  Result<int64_t> OutputLength(int64_t t_in) const { return Conv1dOutputLength(params_, t_in); }
  const Conv1dParams& params() const { return params_; }
  // kBF16 only where Create could honour it (groups = 1, stride 1).
  ConvMath math() const { return math_; }

 private:
  Conv1d() = default;
  Conv1dParams params_;
  ConvMath math_ = ConvMath::kF32;
  // f32: tap-major (groups = 1) or PyTorch layout. kBF16: the rounded weights tap-major where
  // the kernels at Create had no conv1d_bf16 (the emulation's), else null.
  AlignedFloats weights_;
  AlignedFloats bf16_weights_;  // kBF16: Conv1dBf16WeightIndex layout (uint32 in float storage)
  AlignedFloats bias_;
};

// A ConvTranspose1d layer that owns a copy of its weights; same contract as Conv1d (groups = 1:
// one sgemm into a [C_out*K, T] scratch, then an overlap-add scatter; see conv_gemm.h).
class ConvTranspose1d {
 public:
  // w: [C_in, C_out/groups, K] f32 (PyTorch layout), bias: [C_out] or null; both copied.
  static Result<std::unique_ptr<ConvTranspose1d>> Create(const ConvTranspose1dParams& p,
                                                         const float* w, const float* bias);
  ~ConvTranspose1d();
  // x: [batch, C_in, t_in] f32 -> y: [batch, C_out, OutputLength(t_in)] f32.
  Status Forward(const float* x, int64_t batch, int64_t t_in, float* y) const;
  Result<int64_t> OutputLength(int64_t t_in) const {
    return ConvTranspose1dOutputLength(params_, t_in);
  }
  const ConvTranspose1dParams& params() const { return params_; }

 private:
  ConvTranspose1d() = default;
  ConvTranspose1dParams params_;
  AlignedFloats weights_;
  AlignedFloats bias_;
};

}  // namespace cosyflow::kernels::cpu
