// HiftVocoder: weight loading (weight-norm folding, shape checks, parameter accounting).
#include "nodes/hift/hift_vocoder.h"

#include <algorithm>
#include <cmath>

#include "runtime/io/weight_norm.h"
#include "runtime/warm_pages.h"

namespace cosyflow::hift {
namespace {

Result<HiftResBlock> LoadResBlock(const Checkpoint& ckpt, const std::string& name, int channels,
                                  int kernel, const std::vector<int>& dilations,
                                  kernels::cpu::ConvMath math, int64_t* params) {
  HiftResBlock rb;
  rb.channels = channels;
  rb.kernel = kernel;
  rb.dilations = dilations;
  for (size_t j = 0; j < dilations.size(); ++j) {
    const int d = dilations[j];
    const std::string js = std::to_string(j);
    COSY_ASSIGN_OR_RETURN(Conv1dLayer c1,
                          LoadConv1d(ckpt, name + ".convs1." + js, channels, channels, kernel, 1,
                                     d * (kernel - 1) / 2, d, math));
    COSY_ASSIGN_OR_RETURN(Conv1dLayer c2,
                          LoadConv1d(ckpt, name + ".convs2." + js, channels, channels, kernel, 1,
                                     (kernel - 1) / 2, 1, math));
    COSY_ASSIGN_OR_RETURN(auto a1,
                          LoadAlpha(ckpt, name + ".activations1." + js + ".alpha", channels));
    COSY_ASSIGN_OR_RETURN(auto a2,
                          LoadAlpha(ckpt, name + ".activations2." + js + ".alpha", channels));
    *params += ParamCount(*c1) + ParamCount(*c2) + 2 * channels;
    rb.convs1.push_back(std::move(c1));
    rb.convs2.push_back(std::move(c2));
    rb.alpha1.push_back(std::move(a1));
    rb.alpha2.push_back(std::move(a2));
  }
  return rb;
}

Result<std::vector<float>> ReadVector(const Checkpoint& ckpt, const std::string& name,
                                      const Dims& shape) {
  COSY_ASSIGN_OR_RETURN(Tensor t, ckpt.Get(name, shape));
  COSY_ASSIGN_OR_RETURN(Tensor f, t.To(DType::kF32));
  const float* p = f.data<float>();
  return std::vector<float>(p, p + f.numel());
}

// Source downsampling rate of stage i: cumulative product of the later upsample rates.
int SourceDownRate(const HiftConfig& cfg, int i) {
  int r = 1;
  for (int s = i + 1; s < cfg.num_stages(); ++s) r *= cfg.upsample_rates[static_cast<size_t>(s)];
  return r;
}

}  // namespace

const char* HiftPrecisionName(HiftPrecision p) {
  return p == HiftPrecision::kBF16 ? "bf16" : "f32";
}

Result<std::shared_ptr<const HiftVocoder>> HiftVocoder::Create(const std::string& model_dir,
                                                               HiftPrecision precision) {
  COSY_ASSIGN_OR_RETURN(HiftConfig cfg, HiftConfig::ForModelDir(model_dir));
  return Load(model_dir + "/hift.pt", cfg, precision);
}

Result<std::shared_ptr<const HiftVocoder>> HiftVocoder::Load(const std::string& path,
                                                             const HiftConfig& cfg,
                                                             HiftPrecision precision) {
  COSY_ASSIGN_OR_RETURN(Checkpoint ckpt, Checkpoint::Open(path));
  return FromCheckpoint(std::move(ckpt), cfg, precision);
}

Result<std::shared_ptr<const HiftVocoder>> HiftVocoder::FromCheckpoint(Checkpoint ckpt,
                                                                       const HiftConfig& cfg,
                                                                       HiftPrecision precision) {
  COSY_RETURN_IF_ERROR(cfg.Validate());
  COSY_RETURN_IF_ERROR(ckpt.StripPrefix("generator."));
  COSY_RETURN_IF_ERROR(FoldWeightNorm(&ckpt));
  std::shared_ptr<HiftVocoder> v(new HiftVocoder());
  v->cfg_ = cfg;
  v->precision_ = precision;
  COSY_ASSIGN_OR_RETURN(v->stft_plan_,
                        kernels::cpu::StftPlan::Create({.n_fft = cfg.n_fft, .hop = cfg.hop_len}));
  COSY_RETURN_IF_ERROR(v->LoadWeights(ckpt));
  if (ckpt.total_params() != v->num_params_) {
    return InvalidArgument(
        "{}: holds {} parameters after weight-norm folding but the config ({}) "
        "uses {}: extra or missing tensors",
        ckpt.path(), ckpt.total_params(), cfg.ToString(), v->num_params_);
  }
  ckpt.ReleaseResidentPages();  // the weights were copied out (weight-norm folding, packing)
  return std::shared_ptr<const HiftVocoder>(std::move(v));
}

Status HiftVocoder::LoadWeights(const Checkpoint& ckpt) {
  const HiftConfig& c = cfg_;
  const kernels::cpu::ConvMath math = precision_ == HiftPrecision::kBF16
                                          ? kernels::cpu::ConvMath::kBF16
                                          : kernels::cpu::ConvMath::kF32;
  int64_t params = 0;
  // F0 predictor: 5 x (Conv1d k3 pad1 + ELU), classifier Linear(cond -> 1).
  for (int i = 0; i < 5; ++i) {
    const int cin = i == 0 ? c.f0_in_channels : c.f0_cond_channels;
    COSY_ASSIGN_OR_RETURN(Conv1dLayer conv,
                          LoadConv1d(ckpt, "f0_predictor.condnet." + std::to_string(2 * i), cin,
                                     c.f0_cond_channels, 3, 1, 1, 1));
    params += ParamCount(*conv);
    f0_convs_.push_back(std::move(conv));
  }
  COSY_ASSIGN_OR_RETURN(
      f0_cls_w_, ReadVector(ckpt, "f0_predictor.classifier.weight", Dims{1, c.f0_cond_channels}));
  COSY_ASSIGN_OR_RETURN(auto cls_b, ReadVector(ckpt, "f0_predictor.classifier.bias", Dims{1}));
  f0_cls_b_ = cls_b[0];
  const int h = harmonics();
  COSY_ASSIGN_OR_RETURN(lin_w_, ReadVector(ckpt, "m_source.l_linear.weight", Dims{1, h}));
  COSY_ASSIGN_OR_RETURN(auto lin_b, ReadVector(ckpt, "m_source.l_linear.bias", Dims{1}));
  lin_b_ = lin_b[0];
  params += c.f0_cond_channels + 1 + h + 1;
  // Decoder.
  COSY_ASSIGN_OR_RETURN(
      conv_pre_, LoadConv1d(ckpt, "conv_pre", c.in_channels, c.base_channels, 7, 1, 3, 1, math));
  params += ParamCount(*conv_pre_);
  const int stft_ch = c.n_fft + 2;
  for (int i = 0; i < c.num_stages(); ++i) {
    const int u = c.upsample_rates[static_cast<size_t>(i)];
    const int k = c.upsample_kernel_sizes[static_cast<size_t>(i)];
    const int cin = c.base_channels >> i, cout = c.StageChannels(i);
    const std::string is = std::to_string(i);
    COSY_ASSIGN_OR_RETURN(auto up,
                          LoadConvTranspose1d(ckpt, "ups." + is, cin, cout, k, u, (k - u) / 2));
    params += ParamCount(*up);
    ups_.push_back(std::move(up));
    const int r = SourceDownRate(c, i);
    COSY_ASSIGN_OR_RETURN(
        Conv1dLayer down,
        r == 1 ? LoadConv1d(ckpt, "source_downs." + is, stft_ch, cout, 1, 1, 0, 1)
               : LoadConv1d(ckpt, "source_downs." + is, stft_ch, cout, 2 * r, r, r / 2, 1));
    params += ParamCount(*down);
    source_downs_.push_back(std::move(down));
    COSY_ASSIGN_OR_RETURN(
        HiftResBlock srb,
        LoadResBlock(ckpt, "source_resblocks." + is, cout,
                     c.source_resblock_kernel_sizes[static_cast<size_t>(i)],
                     c.source_resblock_dilation_sizes[static_cast<size_t>(i)], math, &params));
    source_resblocks_.push_back(std::move(srb));
    const int nk = static_cast<int>(c.resblock_kernel_sizes.size());
    for (int m = 0; m < nk; ++m) {
      COSY_ASSIGN_OR_RETURN(
          HiftResBlock rb,
          LoadResBlock(ckpt, "resblocks." + std::to_string(i * nk + m), cout,
                       c.resblock_kernel_sizes[static_cast<size_t>(m)],
                       c.resblock_dilation_sizes[static_cast<size_t>(m)], math, &params));
      resblocks_.push_back(std::move(rb));
    }
  }
  COSY_ASSIGN_OR_RETURN(
      conv_post_, LoadConv1d(ckpt, "conv_post", c.StageChannels(c.num_stages() - 1), stft_ch, 7, 1,
                             3, 1, math));
  params += ParamCount(*conv_post_);
  num_params_ = params;
  return OkStatus();
}

size_t HiftScratch::Bytes() const {
  size_t b = 0;
  for (const auto* v : {&mel, &f0_a, &f0_b, &f0, &sine, &stft, &stft_work, &x, &y, &up, &t1, &t2,
                        &post, &istft, &src_tmp, &noise}) {
    b += v->capacity() * sizeof(float);
  }
  for (const auto* vv : {&rb_out, &work_a, &work_b, &work_c, &src}) {
    for (const auto& v : *vv) b += v.capacity() * sizeof(float);
  }
  return b + draws.capacity() * sizeof(uint64_t);
}

std::unique_ptr<HiftScratch> HiftVocoder::AcquireScratch() const {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!pool_.empty()) {
      std::unique_ptr<HiftScratch> s = std::move(pool_.back());
      pool_.pop_back();
      return s;
    }
  }
  return std::make_unique<HiftScratch>();
}

void HiftVocoder::ReleaseScratch(std::unique_ptr<HiftScratch> scratch) const {
  if (scratch == nullptr) return;
  const size_t bytes = scratch->Bytes();
  std::lock_guard<std::mutex> lock(pool_mu_);
  size_t idle = bytes;
  for (const auto& s : pool_) idle += s->Bytes();
  if (pool_.size() < kMaxIdleScratch && idle <= WarmPages::idle_limit() / 8) {
    pool_.push_back(std::move(scratch));
  }
}

}  // namespace cosyflow::hift
