// HiFT layer loading: checkpoint tensors -> the shared cpu conv layers
// (runtime/kernels/cpu/conv.h), plus the Snake alpha reader. All activations are channel-major [C,
// T] contiguous f32.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/io/checkpoint.h"
#include "runtime/kernels/cpu/conv.h"
#include "runtime/status.h"

namespace cosyflow::hift {

using Conv1dLayer = std::unique_ptr<kernels::cpu::Conv1d>;
using ConvTranspose1dLayer = std::unique_ptr<kernels::cpu::ConvTranspose1d>;

// Conv1d(cin, cout, k, stride, padding, dilation) with bias from `<name>.weight` [cout, cin, k]
// and `<name>.bias` [cout] (shape-checked; errors name the file and tensor); `math` as in
// cpu::Conv1d::Create.
Result<Conv1dLayer> LoadConv1d(const Checkpoint& ckpt, const std::string& name, int cin, int cout,
                               int k, int stride, int padding, int dilation,
                               kernels::cpu::ConvMath math = kernels::cpu::ConvMath::kF32);
// ConvTranspose1d(cin, cout, k, stride, padding) with bias; weight [cin, cout, k].
Result<ConvTranspose1dLayer> LoadConvTranspose1d(const Checkpoint& ckpt, const std::string& name,
                                                 int cin, int cout, int k, int stride, int padding);
// Weights + bias of a loaded layer (for parameter accounting).
int64_t ParamCount(const kernels::cpu::Conv1d& c);
int64_t ParamCount(const kernels::cpu::ConvTranspose1d& c);

// Reads a Snake alpha stored as [C] or [C, 1].
Result<std::vector<float>> LoadAlpha(const Checkpoint& ckpt, const std::string& name, int c);

}  // namespace cosyflow::hift
