// HiftVocoder forward pass: f0 predictor, harmonic source, decoder with source fusion, iSTFT
// head; threading (column-split convolutions, resblocks side by side) as in hift_vocoder.h.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "nodes/hift/hift_dsp.h"
#include "nodes/hift/hift_vocoder.h"
#include "runtime/kernels/cpu/activation.h"

namespace cosyflow::hift {
namespace {

float* Ensure(std::vector<float>* v, int64_t n) {
  if (static_cast<int64_t>(v->size()) < n) v->resize(static_cast<size_t>(n));
  return v->data();
}

// The mel as a contiguous [channels, frames] array: `mel` itself when its rows are packed,
// otherwise a copy into `buf`.
const float* ContiguousMel(const float* mel, int64_t ld, int64_t frames, int channels,
                           std::vector<float>* buf) {
  if (ld == frames) return mel;
  float* d = Ensure(buf, channels * frames);
  for (int c = 0; c < channels; ++c)
    std::memcpy(d + c * frames, mel + c * ld, sizeof(float) * frames);
  return d;
}

void AddInto(const float* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

// Runs fn(r0, r1) -> Status over row blocks of a [rows, cols] elementwise operation, split
// across the OpenMP threads when called outside a parallel region and the array is large.
template <typename Fn>
Status ForRowBlocks(int64_t rows, int64_t cols, Fn&& fn) {
  constexpr int64_t kMinParallelElems = 1 << 15;
  constexpr int kMaxThreads = 16;
  const int nt = (omp_in_parallel() || rows * cols < kMinParallelElems)
                     ? 1
                     : static_cast<int>(std::min<int64_t>(
                           {static_cast<int64_t>(omp_get_max_threads()), rows, kMaxThreads}));
  if (nt <= 1) return fn(int64_t{0}, rows);
  std::array<Status, kMaxThreads> status;
#pragma omp parallel num_threads(nt)
  {
    const int id = omp_get_thread_num(), n = omp_get_num_threads();
    status[static_cast<size_t>(id)] = fn(rows * id / n, rows * (id + 1) / n);
  }
  for (const Status& st : status) COSY_RETURN_IF_ERROR(st);
  return OkStatus();
}

// y = snake(x) (y may alias x); x, y: [channels, t].
Status SnakeRows(const float* x, const float* alpha, int64_t channels, int64_t t, float* y) {
  return ForRowBlocks(channels, t, [&](int64_t r0, int64_t r1) {
    return kernels::cpu::Snake(x + r0 * t, alpha + r0, r1 - r0, t, y + r0 * t);
  });
}

// dst += src over [rows, cols].
Status AddRows(const float* src, int64_t rows, int64_t cols, float* dst) {
  return ForRowBlocks(rows, cols, [&](int64_t r0, int64_t r1) {
    AddInto(src + r0 * cols, (r1 - r0) * cols, dst + r0 * cols);
    return OkStatus();
  });
}

// y = leaky_relu(x) over [rows, cols] (y may alias x).
Status LeakyReluRows(const float* x, int64_t rows, int64_t cols, float slope, float* y) {
  return ForRowBlocks(rows, cols, [&](int64_t r0, int64_t r1) {
    return kernels::cpu::LeakyRelu(x + r0 * cols, (r1 - r0) * cols, slope, y + r0 * cols);
  });
}

}  // namespace

Status HiftVocoder::PredictF0(const float* mel, int64_t mel_ld, int64_t frames, HiftScratch* s,
                              float* f0) const {
  const int cc = cfg_.f0_cond_channels;
  const float* in = ContiguousMel(mel, mel_ld, frames, cfg_.f0_in_channels, &s->mel);
  float* a = Ensure(&s->f0_a, cc * frames);
  float* b = Ensure(&s->f0_b, cc * frames);
  // 5 x (Conv1d k3 pad 1 -> ELU(alpha = 1)), ping-pong between a and b.
  for (const Conv1dLayer& conv : f0_convs_) {
    COSY_RETURN_IF_ERROR(conv->Forward(in, 1, frames, a));
    COSY_RETURN_IF_ERROR(ForRowBlocks(cc, frames, [&](int64_t r0, int64_t r1) {
      return kernels::cpu::Elu(a + r0 * frames, (r1 - r0) * frames, a + r0 * frames);
    }));
    in = a;
    std::swap(a, b);
  }
  // Classifier Linear(cond -> 1), then |.|.
  for (int64_t t = 0; t < frames; ++t) {
    float acc = 0.0f;
    for (int c = 0; c < cc; ++c) acc += f0_cls_w_[static_cast<size_t>(c)] * in[c * frames + t];
    f0[t] = std::fabs(acc + f0_cls_b_);
  }
  return OkStatus();
}

Status HiftVocoder::RunResBlock(const HiftResBlock& rb, float* x, int64_t t, float* a,
                                float* b) const {
  for (size_t j = 0; j < rb.dilations.size(); ++j) {
    COSY_RETURN_IF_ERROR(SnakeRows(x, rb.alpha1[j].data(), rb.channels, t, a));
    COSY_RETURN_IF_ERROR(rb.convs1[j]->Forward(a, 1, t, b));
    COSY_RETURN_IF_ERROR(SnakeRows(b, rb.alpha2[j].data(), rb.channels, t, a));
    COSY_RETURN_IF_ERROR(rb.convs2[j]->Forward(a, 1, t, b));
    COSY_RETURN_IF_ERROR(AddRows(b, rb.channels, t, x));
  }
  return OkStatus();
}

Status HiftVocoder::SourceBranch(int stage, const float* stft, int64_t nst, HiftScratch* s,
                                 float* a, float* b) const {
  const kernels::cpu::Conv1d& down = *source_downs_[static_cast<size_t>(stage)];
  COSY_ASSIGN_OR_RETURN(const int64_t t, down.OutputLength(nst));
  float* si = Ensure(&s->src[static_cast<size_t>(stage)], down.params().out_channels * t);
  COSY_RETURN_IF_ERROR(down.Forward(stft, 1, nst, si));
  return RunResBlock(source_resblocks_[static_cast<size_t>(stage)], si, t, a, b);
}

Status HiftVocoder::RunStageResBlocks(int stage, const float* y, int64_t channels, int64_t t,
                                      const float* stft, int64_t nst, HiftScratch* s,
                                      float* out) const {
  const int nk = static_cast<int>(cfg_.resblock_kernel_sizes.size());
  const int64_t n = channels * t;
  // Tasks 0..nk-1: the stage's resblocks; task nk: the next stage's source branch, which only
  // needs the STFT. Greedy schedule by cost (MACs), largest first, onto the least loaded worker;
  // inside a worker the convolutions run single-threaded, so the workers meet only at the end.
  const bool next_source = stage + 1 < cfg_.num_stages();
  const int tasks = nk + (next_source ? 1 : 0);
  std::vector<double> cost(static_cast<size_t>(tasks));
  auto rb_cost = [](const HiftResBlock& rb, double c, double len) {
    return 2.0 * static_cast<double>(rb.dilations.size()) * rb.kernel * c * c * len;
  };
  for (int m = 0; m < nk; ++m) {
    cost[static_cast<size_t>(m)] =
        rb_cost(resblocks_[static_cast<size_t>(stage * nk + m)], double(channels), double(t));
  }
  int64_t next_n = 0;
  if (next_source) {
    const kernels::cpu::Conv1d& down = *source_downs_[static_cast<size_t>(stage + 1)];
    COSY_ASSIGN_OR_RETURN(const int64_t tn, down.OutputLength(nst));
    const int64_t cn = down.params().out_channels;
    next_n = cn * tn;
    cost[static_cast<size_t>(nk)] =
        rb_cost(source_resblocks_[static_cast<size_t>(stage + 1)], double(cn), double(tn));
  }
  const int workers = std::max(1, std::min(omp_get_max_threads(), tasks));
  std::vector<int> order(static_cast<size_t>(tasks));
  for (int k = 0; k < tasks; ++k) order[static_cast<size_t>(k)] = k;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return cost[static_cast<size_t>(a)] > cost[static_cast<size_t>(b)];
  });
  std::vector<int> owner(static_cast<size_t>(tasks));
  std::vector<double> load(static_cast<size_t>(workers), 0.0);
  for (int k : order) {
    const int w = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    owner[static_cast<size_t>(k)] = w;
    load[static_cast<size_t>(w)] += cost[static_cast<size_t>(k)];
  }
  s->rb_out.resize(static_cast<size_t>(nk));
  s->work_a.resize(static_cast<size_t>(workers));
  s->work_b.resize(static_cast<size_t>(workers));
  for (int m = 0; m < nk; ++m) Ensure(&s->rb_out[static_cast<size_t>(m)], n);
  for (int w = 0; w < workers; ++w) {
    Ensure(&s->work_a[static_cast<size_t>(w)], std::max(n, next_n));
    Ensure(&s->work_b[static_cast<size_t>(w)], std::max(n, next_n));
  }
  if (next_source) Ensure(&s->src[static_cast<size_t>(stage + 1)], next_n);
  std::vector<Status> status(static_cast<size_t>(workers));
  // Shared source: the resblocks keep the greedy schedule among themselves, and the next
  // source branch's resblock is split by columns (plus its halo) to even out the workers' loads;
  // its down conv runs first, threaded. Used when it beats the plain greedy schedule.
  bool split_src = false;
  std::vector<int64_t> src_lo(static_cast<size_t>(workers), 0), src_hi = src_lo;
  int64_t src_halo = 0, src_t = 0, src_c = 0;
  if (next_source && workers > 1) {
    const HiftResBlock& srb = source_resblocks_[static_cast<size_t>(stage + 1)];
    src_halo = ResBlockHalo(srb);
    const kernels::cpu::Conv1d& down = *source_downs_[static_cast<size_t>(stage + 1)];
    COSY_ASSIGN_OR_RETURN(src_t, down.OutputLength(nst));
    src_c = down.params().out_channels;
    std::vector<double> rb_load(static_cast<size_t>(workers), 0.0);
    std::vector<int> rb_owner(static_cast<size_t>(tasks), -1);
    for (int k : order) {
      if (k == nk) continue;
      const int w =
          static_cast<int>(std::min_element(rb_load.begin(), rb_load.end()) - rb_load.begin());
      rb_owner[static_cast<size_t>(k)] = w;
      rb_load[static_cast<size_t>(w)] += cost[static_cast<size_t>(k)];
    }
    const double csrc = cost[static_cast<size_t>(nk)];
    double total = csrc;
    for (double l : rb_load) total += l;
    std::vector<double> share(static_cast<size_t>(workers));
    double share_sum = 0.0;
    for (int w = 0; w < workers; ++w) {
      share[static_cast<size_t>(w)] =
          std::max(0.0, total / workers - rb_load[static_cast<size_t>(w)]);
      share_sum += share[static_cast<size_t>(w)];
    }
    double split_max = 0.0, acc = 0.0;
    for (int w = 0; w < workers; ++w) {
      src_lo[static_cast<size_t>(w)] = static_cast<int64_t>(acc / share_sum * src_t);
      acc += share[static_cast<size_t>(w)];
      src_hi[static_cast<size_t>(w)] =
          w + 1 == workers ? src_t : static_cast<int64_t>(acc / share_sum * src_t);
      const int64_t cols = src_hi[static_cast<size_t>(w)] - src_lo[static_cast<size_t>(w)];
      const double piece =
          cols > 0 ? csrc * static_cast<double>(cols + 2 * src_halo) / static_cast<double>(src_t)
                   : 0.0;
      split_max = std::max(split_max, rb_load[static_cast<size_t>(w)] + piece);
    }
    if (split_max < *std::max_element(load.begin(), load.end())) {
      split_src = true;
      owner = rb_owner;
      int64_t win = 0;
      for (int w = 0; w < workers; ++w) {
        win = std::max(win, src_hi[static_cast<size_t>(w)] - src_lo[static_cast<size_t>(w)]);
      }
      win = std::min(src_t, win + 2 * src_halo);
      s->work_c.resize(static_cast<size_t>(workers));
      for (int w = 0; w < workers; ++w) Ensure(&s->work_c[static_cast<size_t>(w)], src_c * win);
      Ensure(&s->src_tmp, next_n);
      COSY_RETURN_IF_ERROR(
          down.Forward(stft, 1, nst, s->src[static_cast<size_t>(stage + 1)].data()));
    }
  }
  // Column-split alternative: every worker runs all the resblocks on its own column range plus
  // a halo (the resblock's receptive field), zero-padded only at the true edges; no barriers
  // and even load at the cost of the halo columns. Used when no source task rides along and
  // it beats the greedy task schedule.
  if (!next_source && workers > 1) {
    std::vector<int64_t> halo(static_cast<size_t>(nk), 0);
    double split_load = 0.0;
    for (int m = 0; m < nk; ++m) {
      const HiftResBlock& rb = resblocks_[static_cast<size_t>(stage * nk + m)];
      const int64_t hm = ResBlockHalo(rb);
      halo[static_cast<size_t>(m)] = hm;
      split_load += cost[static_cast<size_t>(m)] *
                    (static_cast<double>(t) / workers + 2.0 * static_cast<double>(hm)) /
                    static_cast<double>(t);
    }
    if (split_load < *std::max_element(load.begin(), load.end())) {
      const int64_t max_halo = *std::max_element(halo.begin(), halo.end());
      const int64_t win = (t + workers - 1) / workers + 2 * max_halo;
      for (int w = 0; w < workers; ++w) {
        Ensure(&s->work_a[static_cast<size_t>(w)], channels * win);
        Ensure(&s->work_b[static_cast<size_t>(w)], channels * win);
      }
      s->work_c.resize(static_cast<size_t>(workers));
      for (int w = 0; w < workers; ++w) Ensure(&s->work_c[static_cast<size_t>(w)], channels * win);
#pragma omp parallel num_threads(workers)
      {
        const int w = omp_get_thread_num(), nw = omp_get_num_threads();
        float* a = s->work_a[static_cast<size_t>(w)].data();
        float* b = s->work_b[static_cast<size_t>(w)].data();
        float* xl = s->work_c[static_cast<size_t>(w)].data();
        Status& st = status[static_cast<size_t>(w)];
        const int64_t lo = t * w / nw, hi = t * (w + 1) / nw;
        for (int m = 0; m < nk && st.ok(); ++m) {
          st = ResBlockColumns(resblocks_[static_cast<size_t>(stage * nk + m)],
                               halo[static_cast<size_t>(m)], y, channels, t, lo, hi, xl, a, b,
                               s->rb_out[static_cast<size_t>(m)].data());
        }
      }
      for (const Status& st : status) COSY_RETURN_IF_ERROR(st);
      return MeanOfResBlocks(s, nk, channels, t, out);
    }
  }
#pragma omp parallel num_threads(workers) if (workers > 1)
  {
    const int w = omp_get_thread_num();
    float* a = s->work_a[static_cast<size_t>(w)].data();
    float* b = s->work_b[static_cast<size_t>(w)].data();
    Status& st = status[static_cast<size_t>(w)];
    if (split_src) {
      st = ResBlockColumns(source_resblocks_[static_cast<size_t>(stage + 1)], src_halo,
                           s->src[static_cast<size_t>(stage + 1)].data(), src_c, src_t,
                           src_lo[static_cast<size_t>(w)], src_hi[static_cast<size_t>(w)],
                           s->work_c[static_cast<size_t>(w)].data(), a, b, s->src_tmp.data());
    }
    for (int k = 0; k < tasks && st.ok(); ++k) {
      if (owner[static_cast<size_t>(k)] != w) continue;
      if (k == nk) {
        st = SourceBranch(stage + 1, stft, nst, s, a, b);
        continue;
      }
      float* dst = s->rb_out[static_cast<size_t>(k)].data();
      std::memcpy(dst, y, sizeof(float) * n);
      st = RunResBlock(resblocks_[static_cast<size_t>(stage * nk + k)], dst, t, a, b);
    }
  }
  for (const Status& st : status) COSY_RETURN_IF_ERROR(st);
  if (split_src) std::swap(s->src[static_cast<size_t>(stage + 1)], s->src_tmp);
  return MeanOfResBlocks(s, nk, channels, t, out);
}

int64_t HiftVocoder::ResBlockHalo(const HiftResBlock& rb) {
  int64_t h = 0;
  for (size_t j = 0; j < rb.dilations.size(); ++j) {
    for (const Conv1dLayer* cv : {&rb.convs1[j], &rb.convs2[j]})
      h += std::max((*cv)->params().pad_left, (*cv)->params().pad_right);
  }
  return h;
}

Status HiftVocoder::ResBlockColumns(const HiftResBlock& rb, int64_t halo, const float* x,
                                    int64_t channels, int64_t t, int64_t lo, int64_t hi,
                                    float* xl, float* a, float* b, float* out) const {
  if (hi <= lo) return OkStatus();
  const int64_t w0 = std::max<int64_t>(0, lo - halo), w1 = std::min(t, hi + halo);
  const int64_t tl = w1 - w0;
  for (int64_t r = 0; r < channels; ++r)
    std::memcpy(xl + r * tl, x + r * t + w0, sizeof(float) * tl);
  COSY_RETURN_IF_ERROR(RunResBlock(rb, xl, tl, a, b));
  for (int64_t r = 0; r < channels; ++r)
    std::memcpy(out + r * t + lo, xl + r * tl + (lo - w0), sizeof(float) * (hi - lo));
  return OkStatus();
}

// out = mean of s->rb_out[0..nk) over [channels, t].
Status HiftVocoder::MeanOfResBlocks(HiftScratch* s, int nk, int64_t channels, int64_t t,
                                    float* out) const {
  // Sum in resblock order whatever the schedule, so the result does not depend on threads.
  return ForRowBlocks(channels, t, [&](int64_t r0, int64_t r1) {
    const int64_t q0 = r0 * t, q1 = r1 * t;
    std::memcpy(out + q0, s->rb_out[0].data() + q0, sizeof(float) * (q1 - q0));
    for (int m = 1; m < nk; ++m) {
      AddInto(s->rb_out[static_cast<size_t>(m)].data() + q0, q1 - q0, out + q0);
    }
    for (int64_t q = q0; q < q1; ++q) out[q] = out[q] / static_cast<float>(nk);
    return OkStatus();
  });
}

Status HiftVocoder::Decode(const float* mel, int64_t mel_ld, int64_t frames, const float* source,
                           HiftScratch* s, float* speech, std::vector<float>* conv_post) const {
  const HiftConfig& c = cfg_;
  const int64_t samples = frames * c.SamplesPerFrame();
  // Source STFT: [Re; Im] = [n_fft + 2, nst].
  const int64_t nst = stft_plan_.Frames(samples);
  const int stft_ch = c.n_fft + 2;
  float* stft = Ensure(&s->stft, stft_ch * nst);
  const int64_t work = stft_plan_.StftScratchFloats();
  COSY_RETURN_IF_ERROR(kernels::cpu::Stft(stft_plan_, source, samples, stft,
                                          stft + c.num_freq() * nst, Ensure(&s->stft_work, work),
                                          work));
  // conv_pre: [in, frames] -> [base, frames].
  const float* mel_c = ContiguousMel(mel, mel_ld, frames, c.in_channels, &s->mel);
  float* x = Ensure(&s->x, c.base_channels * frames);
  COSY_RETURN_IF_ERROR(conv_pre_->Forward(mel_c, 1, frames, x));
  int64_t t = frames;
  int64_t ch = c.base_channels;
  // Stage 0's source branch (later ones run inside RunStageResBlocks).
  s->src.resize(static_cast<size_t>(c.num_stages()));
  {
    const kernels::cpu::Conv1d& down0 = *source_downs_[0];
    COSY_ASSIGN_OR_RETURN(const int64_t t0, down0.OutputLength(nst));
    const int64_t n0 = down0.params().out_channels * t0;
    COSY_RETURN_IF_ERROR(SourceBranch(0, stft, nst, s, Ensure(&s->t1, n0), Ensure(&s->t2, n0)));
  }

  for (int i = 0; i < c.num_stages(); ++i) {
    const bool last = i == c.num_stages() - 1;
    // LeakyReLU -> upsample; the last stage adds ReflectionPad1d((1, 0)).
    COSY_RETURN_IF_ERROR(LeakyReluRows(x, ch, t, c.lrelu_slope, x));
    const kernels::cpu::ConvTranspose1d& up = *ups_[static_cast<size_t>(i)];
    const int64_t cout = up.params().out_channels;
    COSY_ASSIGN_OR_RETURN(const int64_t tu, up.OutputLength(t));
    const int64_t tt = tu + (last ? 1 : 0);
    float* y = Ensure(&s->y, cout * tt);
    if (!last) {
      COSY_RETURN_IF_ERROR(up.Forward(x, 1, t, y));
    } else {
      float* u = Ensure(&s->up, cout * tu);
      COSY_RETURN_IF_ERROR(up.Forward(x, 1, t, u));
      for (int64_t r = 0; r < cout; ++r) {
        y[r * tt] = u[r * tu + 1];
        std::memcpy(y + r * tt + 1, u + r * tu, sizeof(float) * tu);
      }
    }
    // Source fusion: y += source_resblock(source_down(stft)) (computed ahead, see below).
    const kernels::cpu::Conv1d& down = *source_downs_[static_cast<size_t>(i)];
    COSY_ASSIGN_OR_RETURN(const int64_t td, down.OutputLength(nst));
    if (td != tt || down.params().out_channels != cout) {
      return Internal("hift: stage {} source branch is [{}, {}] but the upsampled mel is [{}, {}]",
                      i, down.params().out_channels, td, cout, tt);
    }
    COSY_RETURN_IF_ERROR(AddRows(s->src[static_cast<size_t>(i)].data(), cout, tt, y));
    // x = mean of the stage's resblocks applied to y; the next stage's source branch runs
    // alongside them.
    x = Ensure(&s->x, cout * tt);
    COSY_RETURN_IF_ERROR(RunStageResBlocks(i, y, cout, tt, stft, nst, s, x));
    t = tt;
    ch = cout;
  }
  if (t != nst) return Internal("hift: decoder produced {} frames, the iSTFT expects {}", t, nst);
  // LeakyReLU(0.01) -> conv_post (k7 pad 3) -> [n_fft + 2, nst] -> iSTFT head.
  float* pin = Ensure(&s->t1, ch * nst);
  COSY_RETURN_IF_ERROR(LeakyReluRows(x, ch, nst, 0.01f, pin));
  float* post = Ensure(&s->post, stft_ch * nst);
  COSY_RETURN_IF_ERROR(conv_post_->Forward(pin, 1, nst, post));
  if (conv_post != nullptr) conv_post->assign(post, post + stft_ch * nst);
  return IstftHead(c, stft_plan_, post, nst, speech, &s->istft);
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
