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
class Conv1d {
 public:
  // w: [C_out, C_in/groups, K] f32, bias: [C_out] or null; both copied.
  static Result<std::unique_ptr<Conv1d>> Create(const Conv1dParams& p, const float* w,
                                                const float* bias);
  ~Conv1d();
  // x: [batch, C_in, t_in] f32 -> y: [batch, C_out, OutputLength(t_in)] f32.
  Status Forward(const float* x, int64_t batch, int64_t t_in, float* y) const;
  Result<int64_t> OutputLength(int64_t t_in) const { return Conv1dOutputLength(params_, t_in); }
  const Conv1dParams& params() const { return params_; }

 private:
  Conv1d() = default;
  Conv1dParams params_;
  AlignedFloats weights_;
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
