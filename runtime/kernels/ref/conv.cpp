// Reference 1-D convolution and transposed convolution: direct loops, double accumulation.
#include "runtime/kernels/ref/conv.h"

#include <algorithm>
#include <vector>

namespace cosyflow::kernels {

Status ValidateConv1dParams(const Conv1dParams& p) {
  if (p.in_channels <= 0 || p.out_channels <= 0 || p.kernel_size <= 0) {
    return InvalidArgument(
        "conv1d: in_channels, out_channels, kernel_size must be > 0, got {}, "
        "{}, {}",
        p.in_channels, p.out_channels, p.kernel_size);
  }
  if (p.stride <= 0 || p.dilation <= 0 || p.groups <= 0) {
    return InvalidArgument("conv1d: stride, dilation, groups must be > 0, got {}, {}, {}", p.stride,
                           p.dilation, p.groups);
  }
  if (p.pad_left < 0 || p.pad_right < 0) {
    return InvalidArgument("conv1d: padding must be >= 0, got left={} right={}", p.pad_left,
                           p.pad_right);
  }
  if (p.in_channels % p.groups != 0 || p.out_channels % p.groups != 0) {
    return InvalidArgument(
        "conv1d: groups ({}) must divide in_channels ({}) and out_channels "
        "({})",
        p.groups, p.in_channels, p.out_channels);
  }
  return OkStatus();
}

Status ValidateConvTranspose1dParams(const ConvTranspose1dParams& p) {
  if (p.in_channels <= 0 || p.out_channels <= 0 || p.kernel_size <= 0) {
    return InvalidArgument(
        "conv_transpose1d: in_channels, out_channels, kernel_size must be > "
        "0, got {}, {}, {}",
        p.in_channels, p.out_channels, p.kernel_size);
  }
  if (p.stride <= 0 || p.dilation <= 0 || p.groups <= 0) {
    return InvalidArgument(
        "conv_transpose1d: stride, dilation, groups must be > 0, got {}, "
        "{}, {}",
        p.stride, p.dilation, p.groups);
  }
  if (p.padding < 0) {
    return InvalidArgument("conv_transpose1d: padding must be >= 0, got {}", p.padding);
  }
  if (p.output_padding < 0 || p.output_padding >= std::max(p.stride, p.dilation)) {
    return InvalidArgument(
        "conv_transpose1d: output_padding must be in [0, max(stride, "
        "dilation) = {}), got {}",
        std::max(p.stride, p.dilation), p.output_padding);
  }
  if (p.in_channels % p.groups != 0 || p.out_channels % p.groups != 0) {
    return InvalidArgument(
        "conv_transpose1d: groups ({}) must divide in_channels ({}) and "
        "out_channels ({})",
        p.groups, p.in_channels, p.out_channels);
  }
  return OkStatus();
}

Result<int64_t> Conv1dOutputLength(const Conv1dParams& p, int64_t t_in) {
  COSY_RETURN_IF_ERROR(ValidateConv1dParams(p));
  if (t_in <= 0) return InvalidArgument("conv1d: input length must be > 0, got {}", t_in);
  const int64_t span = p.dilation * (p.kernel_size - 1) + 1;
  const int64_t padded = t_in + p.pad_left + p.pad_right;
  if (padded < span) {
    return InvalidArgument("conv1d: padded input length {} is shorter than the kernel span {}",
                           padded, span);
  }
  return (padded - span) / p.stride + 1;
}

Result<int64_t> ConvTranspose1dOutputLength(const ConvTranspose1dParams& p, int64_t t_in) {
  COSY_RETURN_IF_ERROR(ValidateConvTranspose1dParams(p));
  if (t_in <= 0) {
    return InvalidArgument("conv_transpose1d: input length must be > 0, got {}", t_in);
  }
  const int64_t t_out = (t_in - 1) * p.stride - 2 * p.padding + p.dilation * (p.kernel_size - 1) +
                        p.output_padding + 1;
  if (t_out < 1) {
    return InvalidArgument("conv_transpose1d: output length {} < 1 (input {}, padding {})", t_out,
                           t_in, p.padding);
  }
  return t_out;
}

namespace ref {

Status Conv1dForward(const Conv1dParams& p, const float* x, int64_t batch, int64_t t_in,
                     const float* w, const float* bias, float* y) {
  COSY_ASSIGN_OR_RETURN(const int64_t t_out, Conv1dOutputLength(p, t_in));
  if (batch <= 0) return InvalidArgument("conv1d: batch must be > 0, got {}", batch);
  if (x == nullptr || w == nullptr || y == nullptr) {
    return InvalidArgument("conv1d: x, w and y must not be null");
  }
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kk = p.kernel_size;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t oc = 0; oc < p.out_channels; ++oc) {
      const int64_t g = oc / ocg;
      for (int64_t t = 0; t < t_out; ++t) {
        double acc = bias != nullptr ? bias[oc] : 0.0;
        for (int64_t ic = 0; ic < icg; ++ic) {
          const float* xrow = x + (b * p.in_channels + g * icg + ic) * t_in;
          const float* wrow = w + (oc * icg + ic) * kk;
          for (int64_t k = 0; k < kk; ++k) {
            const int64_t src = t * p.stride - p.pad_left + k * p.dilation;
            if (src >= 0 && src < t_in) acc += static_cast<double>(wrow[k]) * xrow[src];
          }
        }
        y[(b * p.out_channels + oc) * t_out + t] = static_cast<float>(acc);
      }
    }
  }
  return OkStatus();
}

Status ConvTranspose1dForward(const ConvTranspose1dParams& p, const float* x, int64_t batch,
                              int64_t t_in, const float* w, const float* bias, float* y) {
  COSY_ASSIGN_OR_RETURN(const int64_t t_out, ConvTranspose1dOutputLength(p, t_in));
  if (batch <= 0) return InvalidArgument("conv_transpose1d: batch must be > 0, got {}", batch);
  if (x == nullptr || w == nullptr || y == nullptr) {
    return InvalidArgument("conv_transpose1d: x, w and y must not be null");
  }
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kk = p.kernel_size;
  // Each input sample scatters into output position i*stride - padding + k*dilation.
  std::vector<double> acc(t_out);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t oc = 0; oc < p.out_channels; ++oc) {
      const int64_t g = oc / ocg, ocl = oc % ocg;
      std::fill(acc.begin(), acc.end(), bias != nullptr ? bias[oc] : 0.0);
      for (int64_t icl = 0; icl < icg; ++icl) {
        const int64_t ic = g * icg + icl;
        const float* xrow = x + (b * p.in_channels + ic) * t_in;
        const float* wrow = w + (ic * ocg + ocl) * kk;
        for (int64_t i = 0; i < t_in; ++i) {
          for (int64_t k = 0; k < kk; ++k) {
            const int64_t dst = i * p.stride - p.padding + k * p.dilation;
            if (dst >= 0 && dst < t_out) acc[dst] += static_cast<double>(xrow[i]) * wrow[k];
          }
        }
      }
      float* yrow = y + (b * p.out_channels + oc) * t_out;
      for (int64_t t = 0; t < t_out; ++t) yrow[t] = static_cast<float>(acc[t]);
    }
  }
  return OkStatus();
}

}  // namespace ref
}  // namespace cosyflow::kernels
