// HiftVocoder: weight loading and the forward pass (f0 predictor, source, decoder, iSTFT).
#include "nodes/hift/hift_vocoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "nodes/hift/hift_dsp.h"
#include "runtime/io/weight_norm.h"

namespace cosyflow::hift {
namespace {

float* Ensure(std::vector<float>* v, int64_t n) {
  if (static_cast<int64_t>(v->size()) < n) v->resize(static_cast<size_t>(n));
  return v->data();
}

int64_t ConvParams(const Conv1d& c) {
  return static_cast<int64_t>(c.cout()) * c.cin() * c.kernel() + c.cout();
}

Result<HiftResBlock> LoadResBlock(const Checkpoint& ckpt, const std::string& name, int channels,
                                  int kernel, const std::vector<int>& dilations,
                                  int64_t* params) {
  HiftResBlock rb;
  rb.channels = channels;
  rb.kernel = kernel;
  rb.dilations = dilations;
  for (size_t j = 0; j < dilations.size(); ++j) {
    const int d = dilations[j];
    const std::string js = std::to_string(j);
    COSY_ASSIGN_OR_RETURN(Conv1d c1, Conv1d::Load(ckpt, name + ".convs1." + js, channels,
                                                  channels, kernel, 1, d * (kernel - 1) / 2, d));
    COSY_ASSIGN_OR_RETURN(Conv1d c2, Conv1d::Load(ckpt, name + ".convs2." + js, channels,
                                                  channels, kernel, 1, (kernel - 1) / 2, 1));
    COSY_ASSIGN_OR_RETURN(auto a1, LoadAlpha(ckpt, name + ".activations1." + js + ".alpha",
                                             channels));
    COSY_ASSIGN_OR_RETURN(auto a2, LoadAlpha(ckpt, name + ".activations2." + js + ".alpha",
                                             channels));
    *params += ConvParams(c1) + ConvParams(c2) + 2 * channels;
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

int HiftResBlock::MaxPad() const {
  int p = (kernel - 1) / 2;
  for (int d : dilations) p = std::max(p, d * (kernel - 1) / 2);
  return p;
}

Result<std::shared_ptr<const HiftVocoder>> HiftVocoder::Create(const std::string& model_dir) {
  COSY_ASSIGN_OR_RETURN(HiftConfig cfg, HiftConfig::ForModelDir(model_dir));
  return Load(model_dir + "/hift.pt", cfg);
}

Result<std::shared_ptr<const HiftVocoder>> HiftVocoder::Load(const std::string& path,
                                                             const HiftConfig& cfg) {
  COSY_ASSIGN_OR_RETURN(Checkpoint ckpt, Checkpoint::Open(path));
  return FromCheckpoint(std::move(ckpt), cfg);
}

Result<std::shared_ptr<const HiftVocoder>> HiftVocoder::FromCheckpoint(Checkpoint ckpt,
                                                                       const HiftConfig& cfg) {
  COSY_RETURN_IF_ERROR(cfg.Validate());
  COSY_RETURN_IF_ERROR(ckpt.StripPrefix("generator."));
  COSY_RETURN_IF_ERROR(FoldWeightNorm(&ckpt));
  std::shared_ptr<HiftVocoder> v(new HiftVocoder());
  v->cfg_ = cfg;
  COSY_RETURN_IF_ERROR(v->LoadWeights(ckpt));
  if (ckpt.total_params() != v->num_params_) {
    return InvalidArgument("{}: holds {} parameters after weight-norm folding but the config ({}) "
                           "uses {}: extra or missing tensors", ckpt.path(), ckpt.total_params(),
                           cfg.ToString(), v->num_params_);
  }
  return std::shared_ptr<const HiftVocoder>(std::move(v));
}

Status HiftVocoder::LoadWeights(const Checkpoint& ckpt) {
  const HiftConfig& c = cfg_;
  int64_t params = 0;
  // F0 predictor: 5 x (Conv1d k3 pad1 + ELU), classifier Linear(cond -> 1).
  for (int i = 0; i < 5; ++i) {
    const int cin = i == 0 ? c.f0_in_channels : c.f0_cond_channels;
    COSY_ASSIGN_OR_RETURN(Conv1d conv,
                          Conv1d::Load(ckpt, "f0_predictor.condnet." + std::to_string(2 * i), cin,
                                       c.f0_cond_channels, 3, 1, 1, 1));
    params += ConvParams(conv);
    f0_convs_.push_back(std::move(conv));
  }
  COSY_ASSIGN_OR_RETURN(f0_cls_w_, ReadVector(ckpt, "f0_predictor.classifier.weight",
                                              Dims{1, c.f0_cond_channels}));
  COSY_ASSIGN_OR_RETURN(auto cls_b, ReadVector(ckpt, "f0_predictor.classifier.bias", Dims{1}));
  f0_cls_b_ = cls_b[0];
  const int h = harmonics();
  COSY_ASSIGN_OR_RETURN(lin_w_, ReadVector(ckpt, "m_source.l_linear.weight", Dims{1, h}));
  COSY_ASSIGN_OR_RETURN(auto lin_b, ReadVector(ckpt, "m_source.l_linear.bias", Dims{1}));
  lin_b_ = lin_b[0];
  params += c.f0_cond_channels + 1 + h + 1;
  // Decoder.
  COSY_ASSIGN_OR_RETURN(conv_pre_,
                        Conv1d::Load(ckpt, "conv_pre", c.in_channels, c.base_channels, 7, 1, 3, 1));
  params += ConvParams(conv_pre_);
  const int stft_ch = c.n_fft + 2;
  for (int i = 0; i < c.num_stages(); ++i) {
    const int u = c.upsample_rates[static_cast<size_t>(i)];
    const int k = c.upsample_kernel_sizes[static_cast<size_t>(i)];
    const int cin = c.base_channels >> i, cout = c.StageChannels(i);
    const std::string is = std::to_string(i);
    COSY_ASSIGN_OR_RETURN(auto up,
                          ConvTranspose1d::Load(ckpt, "ups." + is, cin, cout, k, u, (k - u) / 2));
    params += static_cast<int64_t>(cin) * cout * k + cout;
    ups_.push_back(std::move(up));
    const int r = SourceDownRate(c, i);
    COSY_ASSIGN_OR_RETURN(Conv1d down,
                          r == 1 ? Conv1d::Load(ckpt, "source_downs." + is, stft_ch, cout, 1, 1, 0,
                                                1)
                                 : Conv1d::Load(ckpt, "source_downs." + is, stft_ch, cout, 2 * r,
                                                r, r / 2, 1));
    params += ConvParams(down);
    source_downs_.push_back(std::move(down));
    COSY_ASSIGN_OR_RETURN(
        HiftResBlock srb,
        LoadResBlock(ckpt, "source_resblocks." + is, cout,
                     c.source_resblock_kernel_sizes[static_cast<size_t>(i)],
                     c.source_resblock_dilation_sizes[static_cast<size_t>(i)], &params));
    source_resblocks_.push_back(std::move(srb));
    const int nk = static_cast<int>(c.resblock_kernel_sizes.size());
    for (int m = 0; m < nk; ++m) {
      COSY_ASSIGN_OR_RETURN(
          HiftResBlock rb,
          LoadResBlock(ckpt, "resblocks." + std::to_string(i * nk + m), cout,
                       c.resblock_kernel_sizes[static_cast<size_t>(m)],
                       c.resblock_dilation_sizes[static_cast<size_t>(m)], &params));
      resblocks_.push_back(std::move(rb));
    }
  }
  COSY_ASSIGN_OR_RETURN(conv_post_, Conv1d::Load(ckpt, "conv_post",
                                                 c.StageChannels(c.num_stages() - 1), stft_ch, 7,
                                                 1, 3, 1));
  params += ConvParams(conv_post_);
  num_params_ = params;
  return OkStatus();
}

Status HiftVocoder::PredictF0(const float* mel, int64_t mel_ld, int64_t frames, HiftScratch* s,
                              float* f0) const {
  // Padded ping-pong buffers [C, frames + 2]; real column 0 at offset 1.
  const int64_t ld = frames + 2;
  const int cin0 = cfg_.f0_in_channels, cc = cfg_.f0_cond_channels;
  float* a = Ensure(&s->f0_a, std::max(cin0, cc) * ld);
  float* b = Ensure(&s->f0_b, std::max(cin0, cc) * ld);
  Planar in{a + 1, cin0, frames, ld};
  for (int c = 0; c < cin0; ++c) std::memcpy(in.row(c), mel + c * mel_ld, sizeof(float) * frames);
  ZeroPadColumns(in, 1);
  for (size_t i = 0; i < f0_convs_.size(); ++i) {
    Planar out{b + 1, cc, frames, ld};
    COSY_RETURN_IF_ERROR(
        f0_convs_[i].Forward(Planar{in.data - 1, in.channels, frames, ld}, out, false));
    for (int c = 0; c < cc; ++c) {  // ELU(alpha = 1)
      float* r = out.row(c);
      for (int64_t t = 0; t < frames; ++t) r[t] = r[t] > 0.0f ? r[t] : std::expm1(r[t]);
    }
    ZeroPadColumns(out, 1);
    in = out;
    std::swap(a, b);
  }
  for (int64_t t = 0; t < frames; ++t) {
    float acc = 0.0f;
    for (int c = 0; c < cc; ++c) acc += f0_cls_w_[static_cast<size_t>(c)] * in.row(c)[t];
    f0[t] = std::fabs(acc + f0_cls_b_);
  }
  return OkStatus();
}

Status HiftVocoder::RunResBlock(const HiftResBlock& rb, const Planar& x, HiftScratch* s) const {
  const int mp = rb.MaxPad();
  const int64_t ld = x.time + 2 * mp;
  float* pad_base = Ensure(&s->pad, rb.channels * ld);
  float* t1 = Ensure(&s->t1, rb.channels * x.time);
  const Planar tp{t1, rb.channels, x.time, x.time};
  for (size_t j = 0; j < rb.dilations.size(); ++j) {
    const Conv1d& c1 = rb.convs1[j];
    const Conv1d& c2 = rb.convs2[j];
    Planar p1{pad_base + c1.padding(), rb.channels, x.time, ld};
    COSY_RETURN_IF_ERROR(SnakeRows(x, rb.alpha1[j].data(), p1));
    ZeroPadColumns(p1, c1.padding());
    COSY_RETURN_IF_ERROR(c1.Forward(Planar{p1.data - c1.padding(), p1.channels, x.time, ld}, tp,
                                    false));
    Planar p2{pad_base + c2.padding(), rb.channels, x.time, ld};
    COSY_RETURN_IF_ERROR(SnakeRows(tp, rb.alpha2[j].data(), p2));
    ZeroPadColumns(p2, c2.padding());
    COSY_RETURN_IF_ERROR(c2.Forward(Planar{p2.data - c2.padding(), p2.channels, x.time, ld}, x,
                                    true));
  }
  return OkStatus();
}

Status HiftVocoder::Decode(const float* mel, int64_t mel_ld, int64_t frames, const float* source,
                           HiftScratch* s, float* speech, std::vector<float>* conv_post) const {
  const HiftConfig& c = cfg_;
  const int64_t samples = frames * c.SamplesPerFrame();
  // Source STFT: [n_fft + 2, nst].
  const int64_t nst = StftFrames(c, samples);
  const int stft_ch = c.n_fft + 2;
  float* stft = Ensure(&s->stft, stft_ch * nst);
  COSY_RETURN_IF_ERROR(SourceStft(c, source, samples, stft, nst));
  const Planar sp{stft, stft_ch, nst, nst};

  // conv_pre: [in, frames] -> [base, frames].
  const int64_t mld = frames + 6;
  float* mp = Ensure(&s->mel_pad, c.in_channels * mld);
  Planar mel_in{mp + 3, c.in_channels, frames, mld};
  for (int ch = 0; ch < c.in_channels; ++ch) {
    std::memcpy(mel_in.row(ch), mel + ch * mel_ld, sizeof(float) * frames);
  }
  ZeroPadColumns(mel_in, 3);
  Planar x{Ensure(&s->x, c.base_channels * frames), c.base_channels, frames, frames};
  COSY_RETURN_IF_ERROR(conv_pre_.Forward(Planar{mp, c.in_channels, frames, mld}, x, false));

  const int nk = static_cast<int>(c.resblock_kernel_sizes.size());
  for (int i = 0; i < c.num_stages(); ++i) {
    const bool last = i == c.num_stages() - 1;
    const ConvTranspose1d& up = ups_[static_cast<size_t>(i)];
    const int ch = up.cout();
    LeakyReluRows(x, c.lrelu_slope, x);
    const int64_t tu = up.OutLength(x.time);
    const int64_t t = tu + (last ? 1 : 0);  // ReflectionPad1d((1, 0)) on the last stage
    float* yb = Ensure(&s->y, ch * t);
    float* z = Ensure(&s->z, static_cast<int64_t>(ch) * c.upsample_kernel_sizes[i] * x.time);
    Planar y{yb, ch, t, t};
    COSY_RETURN_IF_ERROR(up.Forward(x, z, Planar{yb + (last ? 1 : 0), ch, tu, t}));
    if (last) {
      for (int r = 0; r < ch; ++r) y.row(r)[0] = y.row(r)[2];
    }
    // Source fusion: si = source_resblock(source_down(stft)); x = y + si.
    const Conv1d& down = source_downs_[static_cast<size_t>(i)];
    if (down.OutLength(nst) != t) {
      return Internal("hift: stage {} source branch has {} frames but the upsampled mel has {}",
                      i, down.OutLength(nst), t);
    }
    Planar si{Ensure(&s->s, ch * t), ch, t, t};
    if (down.stride() == 1 && down.kernel() == 1) {
      COSY_RETURN_IF_ERROR(down.Forward(sp, si, false));
    } else {
      float* col = Ensure(&s->col, static_cast<int64_t>(stft_ch) * down.kernel() * t);
      COSY_RETURN_IF_ERROR(down.ForwardStrided(sp, col, si));
    }
    COSY_RETURN_IF_ERROR(RunResBlock(source_resblocks_[static_cast<size_t>(i)], si, s));
    for (int r = 0; r < ch; ++r) {
      float* yr = y.row(r);
      const float* sr = si.row(r);
      for (int64_t q = 0; q < t; ++q) yr[q] += sr[q];
    }
    // x = mean of the resblocks applied to y.
    Planar acc{Ensure(&s->acc, ch * t), ch, t, t};
    Planar rr{Ensure(&s->r, ch * t), ch, t, t};
    for (int m = 0; m < nk; ++m) {
      const Planar& dst = m == 0 ? acc : rr;
      std::memcpy(dst.data, y.data, sizeof(float) * ch * t);
      COSY_RETURN_IF_ERROR(RunResBlock(resblocks_[static_cast<size_t>(i * nk + m)], dst, s));
      if (m > 0) {
        for (int64_t q = 0; q < ch * t; ++q) acc.data[q] += rr.data[q];
      }
    }
    x = Planar{Ensure(&s->x, ch * t), ch, t, t};
    for (int64_t q = 0; q < ch * t; ++q) x.data[q] = acc.data[q] / static_cast<float>(nk);
  }
  if (x.time != nst) {
    return Internal("hift: decoder produced {} frames, the iSTFT expects {}", x.time, nst);
  }
  // LeakyReLU(0.01) -> conv_post (k7 pad3) -> [n_fft + 2, nst].
  const int64_t pld = nst + 6;
  float* pb = Ensure(&s->pad, x.channels * pld);
  Planar pin{pb + 3, x.channels, nst, pld};
  LeakyReluRows(x, 0.01f, pin);
  ZeroPadColumns(pin, 3);
  Planar post{Ensure(&s->post, stft_ch * nst), stft_ch, nst, nst};
  COSY_RETURN_IF_ERROR(conv_post_.Forward(Planar{pb, x.channels, nst, pld}, post, false));
  if (conv_post != nullptr) conv_post->assign(post.data, post.data + stft_ch * nst);
  return IstftHead(c, post.data, nst, nst, speech, &s->istft);
}

Status HiftVocoder::Inference(const float* mel, int64_t mel_ld, int64_t frames,
                              const HiftNoise& noise, const float* cache_source, int64_t cache_len,
                              HiftScratch* s, std::vector<float>* speech,
                              std::vector<float>* source, const HiftCapture* capture) const {
  if (frames < 1) return InvalidArgument("hift: mel needs at least 1 frame, got {}", frames);
  const int64_t samples = frames * cfg_.SamplesPerFrame();
  if (cache_len < 0 || cache_len > samples) {
    return InvalidArgument("hift: cache_source has {} samples but the call makes only {}",
                           cache_len, samples);
  }
  // mel -> f0 [frames].
  float* f0 = Ensure(&s->f0, frames);
  COSY_RETURN_IF_ERROR(PredictF0(mel, mel_ld, frames, s, f0));
  if (capture != nullptr && capture->f0 != nullptr) capture->f0->assign(f0, f0 + frames);
  // f0 -> harmonic source [samples].
  const int h = harmonics();
  float* sine = Ensure(&s->sine, samples * h);
  SineGen2(cfg_, f0, frames, noise.rand_ini, noise.sine_noise, sine);
  source->resize(static_cast<size_t>(samples));
  MergeHarmonics(sine, samples, h, lin_w_.data(), lin_b_, source->data());
  if (cache_len > 0) std::memcpy(source->data(), cache_source, sizeof(float) * cache_len);
  // mel + source -> speech.
  speech->resize(static_cast<size_t>(samples));
  return Decode(mel, mel_ld, frames, source->data(), s, speech->data(),
                capture != nullptr ? capture->conv_post : nullptr);
}

}  // namespace cosyflow::hift
