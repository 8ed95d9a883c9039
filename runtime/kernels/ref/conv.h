// Reference (plain-loop) 1-D convolutions with PyTorch semantics: the oracle for cpu/conv.h.
#pragma once

#include <cstdint>

#include "runtime/status.h"

namespace cosyflow::kernels {

// nn.Conv1d with asymmetric padding (causal = all on the left, e.g. (K-1)*dilation).
struct Conv1dParams {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t kernel_size = 0;
  int64_t stride = 1;
  int64_t dilation = 1;
  int64_t groups = 1;
  int64_t pad_left = 0;
  int64_t pad_right = 0;
};

// nn.ConvTranspose1d: padding trims both ends, output_padding extends the right end.
struct ConvTranspose1dParams {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t kernel_size = 0;
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t output_padding = 0;
  int64_t dilation = 1;
  int64_t groups = 1;
};

// Checks the layer parameters (sizes > 0, pads >= 0, groups dividing both channel counts,
// output_padding < max(stride, dilation) as PyTorch requires).
Status ValidateConv1dParams(const Conv1dParams& p);
Status ValidateConvTranspose1dParams(const ConvTranspose1dParams& p);

// T_out = floor((T + pad_left + pad_right - dilation*(K-1) - 1) / stride) + 1; error if < 1.
Result<int64_t> Conv1dOutputLength(const Conv1dParams& p, int64_t t_in);
// T_out = (T-1)*stride - 2*padding + dilation*(K-1) + output_padding + 1; error if < 1.
Result<int64_t> ConvTranspose1dOutputLength(const ConvTranspose1dParams& p, int64_t t_in);

namespace ref {

// x: [batch, C_in, T] f32 row-major; w: [C_out, C_in/groups, K]; bias: [C_out] or null;
// y: [batch, C_out, T_out] (T_out from Conv1dOutputLength).
Status Conv1dForward(const Conv1dParams& p, const float* x, int64_t batch, int64_t t_in,
                     const float* w, const float* bias, float* y);

// x: [batch, C_in, T] f32 row-major; w: [C_in, C_out/groups, K] (PyTorch ConvTranspose1d
// layout); bias: [C_out] or null; y: [batch, C_out, T_out] (T_out from
// ConvTranspose1dOutputLength).
Status ConvTranspose1dForward(const ConvTranspose1dParams& p, const float* x, int64_t batch,
                              int64_t t_in, const float* w, const float* bias, float* y);

}  // namespace ref
}  // namespace cosyflow::kernels
