// HiFT layer loading onto the shared cpu::Conv1d / cpu::ConvTranspose1d layers.
#include "nodes/hift/hift_layers.h"

namespace cosyflow::hift {
namespace {

Result<std::vector<float>> CopyF32(const Tensor& t, const std::string& what) {
  auto c = t.To(DType::kF32);
  if (!c.ok()) return c.status().WithContext(what);
  const float* p = c->data<float>();
  return std::vector<float>(p, p + c->numel());
}

}  // namespace

Result<Conv1dLayer> LoadConv1d(const Checkpoint& ckpt, const std::string& name, int cin, int cout,
                               int k, int stride, int padding, int dilation,
                               kernels::cpu::ConvMath math) {
  COSY_ASSIGN_OR_RETURN(Tensor w, ckpt.Get(name + ".weight", Dims{cout, cin, k}));
  COSY_ASSIGN_OR_RETURN(Tensor b, ckpt.Get(name + ".bias", Dims{cout}));
  COSY_ASSIGN_OR_RETURN(std::vector<float> wf, CopyF32(w, ckpt.path() + ": " + name));
  COSY_ASSIGN_OR_RETURN(std::vector<float> bf, CopyF32(b, ckpt.path() + ": " + name));
  const kernels::Conv1dParams p{.in_channels = cin,
                                .out_channels = cout,
                                .kernel_size = k,
                                .stride = stride,
                                .dilation = dilation,
                                .pad_left = padding,
                                .pad_right = padding};
  auto layer = kernels::cpu::Conv1d::Create(p, wf.data(), bf.data(), math);
  if (!layer.ok()) return layer.status().WithContext(ckpt.path() + ": " + name);
  return std::move(*layer);
}

Result<ConvTranspose1dLayer> LoadConvTranspose1d(const Checkpoint& ckpt, const std::string& name,
                                                 int cin, int cout, int k, int stride,
                                                 int padding) {
  COSY_ASSIGN_OR_RETURN(Tensor w, ckpt.Get(name + ".weight", Dims{cin, cout, k}));
  COSY_ASSIGN_OR_RETURN(Tensor b, ckpt.Get(name + ".bias", Dims{cout}));
  COSY_ASSIGN_OR_RETURN(std::vector<float> wf, CopyF32(w, ckpt.path() + ": " + name));
  COSY_ASSIGN_OR_RETURN(std::vector<float> bf, CopyF32(b, ckpt.path() + ": " + name));
  const kernels::ConvTranspose1dParams p{.in_channels = cin,
                                         .out_channels = cout,
                                         .kernel_size = k,
                                         .stride = stride,
                                         .padding = padding};
  auto layer = kernels::cpu::ConvTranspose1d::Create(p, wf.data(), bf.data());
  if (!layer.ok()) return layer.status().WithContext(ckpt.path() + ": " + name);
  return std::move(*layer);
}

int64_t ParamCount(const kernels::cpu::Conv1d& c) {
  const auto& p = c.params();
  return p.out_channels * (p.in_channels / p.groups) * p.kernel_size + p.out_channels;
}

int64_t ParamCount(const kernels::cpu::ConvTranspose1d& c) {
  const auto& p = c.params();
  return p.in_channels * (p.out_channels / p.groups) * p.kernel_size + p.out_channels;
}

Result<std::vector<float>> LoadAlpha(const Checkpoint& ckpt, const std::string& name, int c) {
  COSY_ASSIGN_OR_RETURN(Tensor a, ckpt.Get(name));
  const bool ok_shape =
      (a.dim() == 1 && a.size(0) == c) || (a.dim() == 2 && a.size(0) == c && a.size(1) == 1);
  if (!ok_shape) {
    return InvalidArgument("{}: tensor '{}' has shape {}, expected [{}] or [{},1]", ckpt.path(),
                           name, a.shape().ToString(), c, c);
  }
  return CopyF32(a, ckpt.path() + ": " + name);
}

}  // namespace cosyflow::hift
