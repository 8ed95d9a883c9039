// Conv1d / ConvTranspose1d entry points: the GEMM path (conv_gemm.cpp) for groups = 1, oneDNN
// convolution / deconvolution in plain ncw layout with a process-wide primitive cache otherwise.
#include "runtime/kernels/cpu/conv.h"

#include <algorithm>
#include <array>
#include <dnnl.hpp>
#include <map>
#include <mutex>
#include <shared_mutex>

#include "runtime/kernels/cpu/conv_gemm.h"
#include "runtime/kernels/cpu/dnnl_context.h"
#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/storage.h"

namespace cosyflow::kernels::cpu {
namespace {

using dnnl::memory;
using Dt = memory::data_type;
using Tag = memory::format_tag;

// Everything a primitive is specialised on: kind (0 conv, 1 deconv), layer params, batch, T.
using ConvKey = std::array<int64_t, 12>;

struct ConvEntry {
  dnnl::primitive prim;
  memory::desc src, weights, bias, dst;
  dnnl_memory_desc_t scratchpad{};
};

// Shapes seen by a streaming model are few; the bound only stops a pathological caller from
// growing the cache forever (beyond it, primitives are built per call and dropped).
constexpr size_t kMaxCachedConvs = 4096;

memory::desc WeightsDesc(bool transposed, int64_t groups, int64_t out_c, int64_t in_c, int64_t k) {
  // Conv weights are PyTorch [C_out, C_in/g, K] = oiw / goiw. Deconv weights are PyTorch
  // [C_in, C_out/g, K]: oneDNN dims are (o, i, w) / (g, o, i, w), stored i-major: bac / acbd.
  if (groups == 1) return memory::desc({out_c, in_c, k}, Dt::f32, transposed ? Tag::bac : Tag::abc);
  return memory::desc({groups, out_c / groups, in_c / groups, k}, Dt::f32,
                      transposed ? Tag::acbd : Tag::abcd);
}

ConvEntry MakeConv(bool transposed, int64_t in_c, int64_t out_c, int64_t k, int64_t stride,
                   int64_t dilation, int64_t groups, int64_t pad_l, int64_t pad_r, bool has_bias,
                   int64_t batch, int64_t t_in, int64_t t_out) {
  ConvEntry e;
  e.src = memory::desc({batch, in_c, t_in}, Dt::f32, Tag::abc);
  e.dst = memory::desc({batch, out_c, t_out}, Dt::f32, Tag::abc);
  e.weights = WeightsDesc(transposed, groups, out_c, in_c, k);
  if (has_bias) e.bias = memory::desc({out_c}, Dt::f32, Tag::a);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const memory::dims strides{stride}, dil{dilation - 1}, pl{pad_l}, pr{pad_r};
  const auto prop = dnnl::prop_kind::forward_inference;
  if (transposed) {
    dnnl::deconvolution_forward::desc d(prop, dnnl::algorithm::deconvolution_direct, e.src,
                                        e.weights, e.bias, e.dst, strides, dil, pl, pr);
    dnnl::deconvolution_forward::primitive_desc pd(d, attr, DnnlEngine());
    e.prim = dnnl::deconvolution_forward(pd);
    e.scratchpad = pd.scratchpad_desc().data;
  } else {
    dnnl::convolution_forward::desc d(prop, dnnl::algorithm::convolution_direct, e.src, e.weights,
                                      e.bias, e.dst, strides, dil, pl, pr);
    dnnl::convolution_forward::primitive_desc pd(d, attr, DnnlEngine());
    e.prim = dnnl::convolution_forward(pd);
    e.scratchpad = pd.scratchpad_desc().data;
  }
  return e;
}

// Looks the key up; on a miss builds the primitive with `make` and caches it (bounded).
template <typename Make>
const ConvEntry* GetConv(const ConvKey& key, ConvEntry& uncached, Make&& make) {
  static std::shared_mutex mu;
  static std::map<ConvKey, ConvEntry> cache;
  {
    std::shared_lock lock(mu);
    auto it = cache.find(key);
    if (it != cache.end()) return &it->second;
  }
  ConvEntry e = make();
  std::unique_lock lock(mu);
  if (cache.size() >= kMaxCachedConvs) {
    uncached = std::move(e);
    return &uncached;
  }
  return &cache.try_emplace(key, std::move(e)).first->second;
}

void Execute(const ConvEntry& e, const float* x, const float* w, const float* bias, float* y) {
  dnnl_exec_arg_t args[5];
  int nargs = 0;
  args[nargs++] = {DNNL_ARG_SRC, ThreadMemory(MemRole::kSrc, e.src.data, const_cast<float*>(x))};
  args[nargs++] = {DNNL_ARG_WEIGHTS,
                   ThreadMemory(MemRole::kWeights, e.weights.data, const_cast<float*>(w))};
  if (bias != nullptr) {
    args[nargs++] = {DNNL_ARG_BIAS,
                     ThreadMemory(MemRole::kBias, e.bias.data, const_cast<float*>(bias))};
  }
  args[nargs++] = {DNNL_ARG_DST, ThreadMemory(MemRole::kDst, e.dst.data, y)};
  ExecuteOnThread(e.prim, e.scratchpad, args, nargs);
}

Status CheckBuffers(const char* what, int64_t batch, const float* x, const float* w, float* y) {
  if (batch <= 0) return InvalidArgument("{}: batch must be > 0, got {}", what, batch);
  if (x == nullptr || w == nullptr || y == nullptr) {
    return InvalidArgument("{}: x, w and y must not be null", what);
  }
  return OkStatus();
}

}  // namespace

Status Conv1dForward(const Conv1dParams& p, const float* x, int64_t batch, int64_t t_in,
                     const float* w, const float* bias, float* y) {
  COSY_ASSIGN_OR_RETURN(const int64_t t_out, Conv1dOutputLength(p, t_in));
  COSY_RETURN_IF_ERROR(CheckBuffers("conv1d", batch, x, w, y));
  if (p.groups == 1) {  // the GEMM path on a tap-major copy of the weights
    return GuardDnnl("conv1d", [&]() -> Status {
      const int64_t n = p.out_channels * p.in_channels * p.kernel_size;
      auto* taps = static_cast<float*>(ThreadScratch(ScratchSlot::kScratchpad, n * sizeof(float)));
      detail::ToTapMajor(w, p.out_channels, p.in_channels, p.kernel_size, taps);
      return detail::GemmConv1d(p, taps, bias, x, batch, t_in, t_out, y);
    });
  }
  return GuardDnnl("conv1d", [&]() -> Status {
    const ConvKey key{0,           p.in_channels,   p.out_channels, p.kernel_size,
                      p.stride,    p.dilation,      p.groups,       p.pad_left,
                      p.pad_right, bias != nullptr, batch,          t_in};
    ConvEntry uncached;
    const ConvEntry* e = GetConv(key, uncached, [&] {
      return MakeConv(false, p.in_channels, p.out_channels, p.kernel_size, p.stride, p.dilation,
                      p.groups, p.pad_left, p.pad_right, bias != nullptr, batch, t_in, t_out);
    });
    Execute(*e, x, w, bias, y);
    return OkStatus();
  });
}

Status ConvTranspose1dForward(const ConvTranspose1dParams& p, const float* x, int64_t batch,
                              int64_t t_in, const float* w, const float* bias, float* y) {
  COSY_ASSIGN_OR_RETURN(const int64_t t_out, ConvTranspose1dOutputLength(p, t_in));
  COSY_RETURN_IF_ERROR(CheckBuffers("conv_transpose1d", batch, x, w, y));
  if (p.groups == 1) return detail::GemmConvTranspose1d(p, w, bias, x, batch, t_in, t_out, y);
  // Grouped: oneDNN's deconvolution. PyTorch's output_padding extends the right end: oneDNN
  // right padding = pad - out_pad. oneDNN rejects (or runs a slow reference for) negative
  // padding, so when out_pad > pad the last `extra` outputs, which no input reaches and hold
  // just the bias, are written here.
  const int64_t extra = std::max<int64_t>(0, p.output_padding - p.padding);
  const int64_t t_calc = t_out - extra;
  return GuardDnnl("conv_transpose1d", [&]() -> Status {
    float* dst = y;
    if (extra > 0 && t_calc > 0) {
      dst = static_cast<float*>(
          ThreadScratch(ScratchSlot::kConvert, batch * p.out_channels * t_calc * sizeof(float)));
    }
    if (t_calc > 0) {
      const ConvKey key{
          1,        p.in_channels, p.out_channels,   p.kernel_size,   p.stride, p.dilation,
          p.groups, p.padding,     p.output_padding, bias != nullptr, batch,    t_in};
      ConvEntry uncached;
      const ConvEntry* e = GetConv(key, uncached, [&] {
        return MakeConv(true, p.in_channels, p.out_channels, p.kernel_size, p.stride, p.dilation,
                        p.groups, p.padding, p.padding - p.output_padding + extra, bias != nullptr,
                        batch, t_in, t_calc);
      });
      Execute(*e, x, w, bias, dst);
    }
    if (extra > 0) {
      for (int64_t r = 0; r < batch * p.out_channels; ++r) {
        float* row = y + r * t_out;
        const int64_t computed = std::max<int64_t>(t_calc, 0);
        if (computed > 0) std::copy(dst + r * computed, dst + (r + 1) * computed, row);
        std::fill(row + computed, row + t_out, bias != nullptr ? bias[r % p.out_channels] : 0.0f);
      }
    }
    return OkStatus();
  });
}

// ---- Layers ---------------------------------------------------------------------------------

namespace {

// Copies n floats (n > 0) into `out`; a null source leaves `out` empty.
Status CopyOf(const char* what, const float* src, int64_t n, AlignedFloats& out) {
  if (src == nullptr) return OkStatus();
  out.reset(static_cast<float*>(AlignedAlloc(static_cast<size_t>(n) * sizeof(float))));
  if (out == nullptr) {
    return MakeError(StatusCode::kResourceExhausted, "{}: cannot allocate {} weights", what, n);
  }
  std::copy(src, src + n, out.get());
  return OkStatus();
}

}  // namespace

void AlignedFloatDeleter::operator()(float* p) const { AlignedFree(p); }

Conv1d::~Conv1d() = default;
ConvTranspose1d::~ConvTranspose1d() = default;

Result<std::unique_ptr<Conv1d>> Conv1d::Create(const Conv1dParams& p, const float* w,
                                               const float* bias, ConvMath math) {
  COSY_RETURN_IF_ERROR(ValidateConv1dParams(p));
  if (w == nullptr) return InvalidArgument("conv1d: weight pointer is null");
  std::unique_ptr<Conv1d> layer(new Conv1d());
  layer->params_ = p;
  if (math == ConvMath::kBF16 && p.groups == 1 && p.stride == 1) {
    layer->math_ = ConvMath::kBF16;
    const int64_t words =
        detail::Bf16Conv1dWeightWords(p.out_channels, p.in_channels, p.kernel_size);
    static_assert(sizeof(float) == sizeof(uint32_t));
    layer->bf16_weights_.reset(static_cast<float*>(AlignedAlloc(sizeof(uint32_t) * words)));
    if (layer->bf16_weights_ == nullptr) {
      return MakeError(StatusCode::kResourceExhausted, "conv1d: cannot allocate {} bf16 weights",
                       words);
    }
    detail::PackBf16Conv1dWeights(w, p.out_channels, p.in_channels, p.kernel_size,
                                  reinterpret_cast<uint32_t*>(layer->bf16_weights_.get()));
    COSY_RETURN_IF_ERROR(CopyOf("conv1d", bias, p.out_channels, layer->bias_));
    if (Kernels().conv1d_bf16 == nullptr) {
      // Kernels without vdpbf16ps emulate it on f32 copies of the rounded weights, kept too.
      const int64_t n = p.out_channels * p.in_channels * p.kernel_size;
      layer->weights_.reset(static_cast<float*>(AlignedAlloc(sizeof(float) * n)));
      if (layer->weights_ == nullptr) {
        return MakeError(StatusCode::kResourceExhausted, "conv1d: cannot allocate {} weights", n);
      }
      detail::BF16TapMajorWeights(reinterpret_cast<const uint32_t*>(layer->bf16_weights_.get()),
                                  p.out_channels, p.in_channels, p.kernel_size,
                                  layer->weights_.get());
    }
    return layer;
  }
  COSY_RETURN_IF_ERROR(CopyOf(
      "conv1d", w, p.out_channels * (p.in_channels / p.groups) * p.kernel_size, layer->weights_));
  COSY_RETURN_IF_ERROR(CopyOf("conv1d", bias, p.out_channels, layer->bias_));
  if (p.groups == 1) {  // the GEMM path reads tap-major weights
    detail::ToTapMajor(w, p.out_channels, p.in_channels, p.kernel_size, layer->weights_.get());
  }
  return layer;
}

Status Conv1d::Forward(const float* x, int64_t batch, int64_t t_in, float* y) const {
  if (params_.groups != 1) {
    return Conv1dForward(params_, x, batch, t_in, weights_.get(), bias_.get(), y);
  }
  COSY_ASSIGN_OR_RETURN(const int64_t t_out, Conv1dOutputLength(params_, t_in));
  if (math_ == ConvMath::kBF16) {
    COSY_RETURN_IF_ERROR(CheckBuffers("conv1d", batch, x, bf16_weights_.get(), y));
    return detail::Bf16Conv1d(params_, reinterpret_cast<const uint32_t*>(bf16_weights_.get()),
                              weights_.get(), bias_.get(), x, batch, t_in, t_out, y);
  }
  COSY_RETURN_IF_ERROR(CheckBuffers("conv1d", batch, x, weights_.get(), y));
  return detail::GemmConv1d(params_, weights_.get(), bias_.get(), x, batch, t_in, t_out, y);
}

Result<std::unique_ptr<ConvTranspose1d>> ConvTranspose1d::Create(const ConvTranspose1dParams& p,
                                                                 const float* w,
                                                                 const float* bias) {
  COSY_RETURN_IF_ERROR(ValidateConvTranspose1dParams(p));
  if (w == nullptr) return InvalidArgument("conv_transpose1d: weight pointer is null");
  std::unique_ptr<ConvTranspose1d> layer(new ConvTranspose1d());
  layer->params_ = p;
  COSY_RETURN_IF_ERROR(CopyOf("conv_transpose1d", w,
                              p.in_channels * (p.out_channels / p.groups) * p.kernel_size,
                              layer->weights_));
  COSY_RETURN_IF_ERROR(CopyOf("conv_transpose1d", bias, p.out_channels, layer->bias_));
  return layer;
}

Status ConvTranspose1d::Forward(const float* x, int64_t batch, int64_t t_in, float* y) const {
  if (params_.groups != 1) {
    return ConvTranspose1dForward(params_, x, batch, t_in, weights_.get(), bias_.get(), y);
  }
  COSY_ASSIGN_OR_RETURN(const int64_t t_out, ConvTranspose1dOutputLength(params_, t_in));
  COSY_RETURN_IF_ERROR(CheckBuffers("conv_transpose1d", batch, x, weights_.get(), y));
  return detail::GemmConvTranspose1d(params_, weights_.get(), bias_.get(), x, batch, t_in, t_out,
                                     y);
}

}  // namespace cosyflow::kernels::cpu
