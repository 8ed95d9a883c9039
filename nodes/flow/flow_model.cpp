// FlowModel: loading, conditioning, encoder + CFM Euler sampler with classifier-free guidance.
#include "nodes/flow/flow_model.h"

#include <omp.h>

#include <array>
#include <exception>

#include <chrono>
#include <cmath>
#include <algorithm>
#include <cstring>

#include "nodes/flow/cfm_noise.h"
#include "runtime/kernels/cpu/linear.h"

#ifdef COSYFLOW_WITH_CUDA
#include "nodes/flow/flow_cuda.h"
#endif

namespace cosyflow::flow {
namespace {

// Cosine ODE grid in f32 as torch: t = 1 - cos(linspace(0, 1, n + 1) * 0.5 * pi).
std::vector<float> CosineGrid(int n) {
  std::vector<float> t(static_cast<size_t>(n + 1));
  const float step = 1.0f / static_cast<float>(n);
  for (int i = 0; i <= n; ++i) {
    // torch.linspace fills the first half from the start and the second half from the end.
    const float lin = i < (n + 1) / 2 ? step * static_cast<float>(i)
                                      : 1.0f - step * static_cast<float>(n - i);
    const float a = lin * 0.5f * static_cast<float>(M_PI);
    t[i] = 1.0f - static_cast<float>(std::cos(static_cast<double>(a)));
  }
  return t;
}

}  // namespace

OdeSchedule MakeOdeSchedule(int n) {
  const std::vector<float> grid = CosineGrid(n);
  OdeSchedule s;
  float t = grid[0], dt = grid[1] - grid[0];
  for (int step = 1; step <= n; ++step) {
    s.t.push_back(t);
    s.dt.push_back(dt);
    t = t + dt;
    if (step < n) dt = grid[step + 1] - t;
  }
  return s;
}

void FlowEstimatorCudaDeleter::operator()(FlowEstimatorCuda* p) const {
#ifdef COSYFLOW_WITH_CUDA
  delete p;
#else
  (void)p;  // never made in a build without CUDA
#endif
}

Result<std::unique_ptr<FlowModel>> FlowModel::Create(const std::string& flow_pt,
                                                     const FlowConfig& config,
                                                     const FlowOptions& options) {
  COSY_ASSIGN_OR_RETURN(Checkpoint ckpt, Checkpoint::Open(flow_pt));
  return FromCheckpoint(std::move(ckpt), config, options);
}

Result<std::unique_ptr<FlowModel>> FlowModel::FromCheckpoint(Checkpoint ckpt,
                                                             const FlowConfig& config,
                                                             const FlowOptions& options) {
  std::unique_ptr<FlowModel> m(new FlowModel());
  m->cfg_ = config;
  if (options.device == Device::kCuda) {
#ifdef COSYFLOW_WITH_CUDA
    if (options.weight_type != WeightType::kF32) {
      return Unsupported("flow: {}: {} weights run on the cpu only; on cuda use f32", ckpt.path(),
                         kernels::cpu::WeightTypeName(options.weight_type));
    }
    if (cuda::VisibleDevices() == 0) {
      return MakeError(StatusCode::kUnavailable,
                       "flow: {}: device cuda asked for, but no CUDA device is visible",
                       ckpt.path());
    }
#else
    return Unsupported("flow: {}: device cuda asked for, but this build has no CUDA backend",
                       ckpt.path());
#endif
  }
  COSY_ASSIGN_OR_RETURN(m->w_, FlowWeights::Load(std::move(ckpt), config, options.weight_type));
  if (Status st = PrecomputeTimeBiases(config, m->w_.get()); !st.ok()) {
    return st.WithContext(m->w_->ckpt.path());
  }
  COSY_ASSIGN_OR_RETURN(m->noise_, MakeCfmNoise());
#ifdef COSYFLOW_WITH_CUDA
  if (options.device == Device::kCuda) {
    auto est = FlowEstimatorCuda::Load(*m->w_, config);
    if (!est.ok()) return est.status().WithContext(m->w_->ckpt.path());
    m->cuda_.reset(est->release());
  }
#endif
  // The f32 sources of the packed / bf16 weights were read once: let their pages go (the raw
  // views the model keeps fault theirs back in).
  m->w_->ckpt.ReleaseResidentPages();
  return m;
}

Status FlowModel::SpeakerVector(std::span<const float> embedding, float* out) const {
  if (static_cast<int64_t>(embedding.size()) != cfg_.spk_embed_dim) {
    return InvalidArgument("flow: speaker embedding must have {} values, got {}",
                           cfg_.spk_embed_dim, embedding.size());
  }
  double ss = 0;
  for (float v : embedding) ss += static_cast<double>(v) * v;
  const float norm = std::max(static_cast<float>(std::sqrt(ss)), 1e-12f);
  std::vector<float> e(embedding.begin(), embedding.end());
  for (float& v : e) v /= norm;
  return w_->spk_affine->Forward(e.data(), 1, out);
}

Result<FlowMel> FlowModel::Inference(const FlowPrompt& prompt, const float* spk,
                                 std::span<const int32_t> tokens, bool streaming, bool finalize,
                                 Arena& arena, const FlowHook& hook, FlowProfile* prof) const {
  return Run(prompt, spk, tokens, streaming, finalize, nullptr, 0, arena, hook, prof, nullptr);
}

Result<FlowMel> FlowModel::InferenceIncremental(const FlowPrompt& prompt, const float* spk,
                                                std::span<const int32_t> tokens,
                                                EstimatorCache& cache, size_t max_cache_bytes,
                                                Arena& arena, int64_t* first_frame,
                                                const FlowHook& hook, FlowProfile* prof,
                                                bool finalize) const {
  return Run(prompt, spk, tokens, /*streaming=*/true, finalize, &cache, max_cache_bytes,
             arena, hook, prof, first_frame);
}

Result<std::shared_ptr<const EstimatorCache>> FlowModel::PromptState(const FlowPrompt& prompt,
                                                                    size_t max_cache_bytes,
                                                                    Arena& arena) const {
  const int64_t t1 = static_cast<int64_t>(prompt.tokens.size());
  const int64_t block = cfg_.stream_block();
  if (cuda_ != nullptr || t1 <= cfg_.pre_lookahead_len ||
      cfg_.token_mel_ratio * (t1 - cfg_.pre_lookahead_len) < block) {
    return std::shared_ptr<const EstimatorCache>();  // no complete block depends on the prompt only
  }
  std::vector<float> spk(static_cast<size_t>(cfg_.output_size));
  COSY_RETURN_IF_ERROR(SpeakerVector(prompt.embedding, spk.data()));
  auto state = std::make_shared<EstimatorCache>(cfg_, cache_kv_bf16());
  COSY_ASSIGN_OR_RETURN(FlowMel unused, Run(prompt, spk.data(), {}, /*streaming=*/true,
                                            /*finalize=*/false, state.get(), max_cache_bytes,
                                            arena, {}, nullptr, nullptr));
  (void)unused;
  COSY_RETURN_IF_ERROR(state->ShrinkToFit());
  return std::shared_ptr<const EstimatorCache>(std::move(state));
}

namespace {

// Causal convs per estimator forward (2 per resnet, plus the down, up and final convs).
size_t EstimatorConvCount(const FlowConfig& c) {
  return static_cast<size_t>(2 * (2 + c.est_mid_blocks) + 3);
}

// With a team of two threads, oneDNN's GEMMs at the flow's shapes gain little from the second
// thread (a 56-frame chunk: 1.61 s on 1 thread, 1.53-1.70 s on 2), while the two CFG rows are
// independent through the whole estimator: run them on the two threads, one row each (that
// chunk 1.19-1.23 s; the final full pass over 650 frames 9.8-11.0 s instead of 11.8-14.3 s).
// Larger teams keep the batched call (nested regions would run oneDNN on one thread each).
bool SplitCfgRows(const FlowConfig& c, const EstimatorIncremental* inc) {
  if (omp_in_parallel() || omp_get_max_threads() != 2) return false;
  if (inc == nullptr) return true;
  // The per-row calls share the step's conv-context vectors: they must be sized already.
  return inc->step->conv.size() >= EstimatorConvCount(c) &&
         inc->step->conv_next.size() >= EstimatorConvCount(c);
}

// Gives `st` the conv-context vectors of `like` (same sizes, zero contexts) where it has none.
void SizeConvContextsLike(const EstimatorCache::Step& like, EstimatorCache::Step& st) {
  if (st.conv.size() >= like.conv.size() && st.conv_next.size() >= like.conv_next.size()) return;
  st.conv.resize(like.conv.size());
  st.conv_next.resize(like.conv_next.size());
  for (size_t i = 0; i < like.conv.size(); ++i) {
    if (st.conv[i].size() != like.conv[i].size()) st.conv[i].assign(like.conv[i].size(), 0.0f);
  }
  for (size_t i = 0; i < like.conv_next.size(); ++i) {
    st.conv_next[i].resize(like.conv_next[i].size());
  }
}

// The helper thread's scratch (each OpenMP thread of a session call keeps its own).
Arena& HelperArena() {
  thread_local Arena arena;
  return arena;
}

Status EstimatorRowsInParallel(const FlowWeights& w, const FlowConfig& c, const float* in,
                               int64_t n, float t, bool streaming, Arena& arena,
                               FlowProfile* prof, float* v, EstimatorIncremental* inc) {
  const int64_t cin = c.est_in, nb = c.output_size;
  std::array<Status, 2> status;
#pragma omp parallel num_threads(2)
  {
    // Fewer threads than asked (OMP_DYNAMIC, a thread limit): the rows are shared out anyway.
    for (int b = omp_get_thread_num(); b < 2; b += omp_get_num_threads()) {
      try {
        const bool helper = omp_get_thread_num() != 0;
        Arena& a = helper ? HelperArena() : arena;
        if (helper) a.Reset();
        EstimatorIncremental own;
        if (inc != nullptr) own = *inc;
        status[b] = EstimatorForward(w, c, in + b * n * cin, n, t, streaming, a,
                                     helper ? nullptr : prof, v + b * n * nb,
                                     inc != nullptr ? &own : nullptr, b);
      } catch (const std::exception& e) {
        status[b] = Internal("flow estimator (CFG row {}): {}", b, e.what());
      } catch (...) {
        status[b] = Internal("flow estimator (CFG row {}): unknown exception", b);
      }
    }
  }
  COSY_RETURN_IF_ERROR(status[0]);
  return status[1];
}

}  // namespace

Result<FlowMel> FlowModel::Run(const FlowPrompt& prompt, const float* spk,
                               std::span<const int32_t> tokens, bool streaming, bool finalize,
                               EstimatorCache* cache, size_t max_cache_bytes, Arena& arena,
                               const FlowHook& hook, FlowProfile* prof, int64_t* first_frame) const {
  using Clock = std::chrono::steady_clock;
  const FlowConfig& c = cfg_;
  const int64_t nb = c.output_size, d = c.input_size, la = c.pre_lookahead_len;
  const int64_t t1 = static_cast<int64_t>(prompt.tokens.size());
  const int64_t m1 = static_cast<int64_t>(prompt.feat.size()) / nb;
  if (m1 * nb != static_cast<int64_t>(prompt.feat.size()) || m1 != c.token_mel_ratio * t1) {
    return InvalidArgument("flow: prompt feat must be [{} x 2 frames, 80], got {} values",
                           t1, prompt.feat.size());
  }
  const int64_t t_all = t1 + static_cast<int64_t>(tokens.size());
  const int64_t t_enc = finalize ? t_all : t_all - la;  // tokens that produce frames
  const bool prompt_only = tokens.empty() && cache != nullptr && !finalize;  // PromptState
  if (prompt_only ? t_enc <= 0 : t_enc <= t1) {
    return InvalidArgument("flow: {} generated tokens give no frames ({} with {} lookahead)",
                           tokens.size(), finalize ? "finalize" : "streaming chunk", la);
  }
  const int64_t m = c.token_mel_ratio * t_enc;
  if (m > kCfmNoiseFrames) {
    return OutOfRange("flow: {} frames (prompt included) exceed the noise table's {}", m, kCfmNoiseFrames);
  }
  arena.Reset();

  // Token embeddings (ids clamped at 0, as the reference; ids >= vocab are errors).
  float* emb = arena.Alloc(static_cast<size_t>(t_all * d));
  for (int64_t i = 0; i < t_all; ++i) {
    int64_t id = i < t1 ? prompt.tokens[i] : tokens[i - t1];
    id = std::max<int64_t>(id, 0);
    if (id >= c.vocab_size) {
      return InvalidArgument("flow: token {} at position {} is >= vocab_size {}", id, i, c.vocab_size);
    }
    std::memcpy(emb + i * d, w_->embedding + id * d, static_cast<size_t>(d) * sizeof(float));
  }

  // Incremental: only frames f0.. are computed (encoder and estimator); those completing
  // stream_block() blocks are committed.
  const int64_t f0 = cache != nullptr ? cache->frames() : 0;
  const int64_t block = c.stream_block();
  const int64_t commit = cache != nullptr ? m / block * block - f0 : 0;
  if (cache != nullptr) {
    if (f0 % block != 0 || commit < 0 || f0 != c.token_mel_ratio * cache->enc.tokens) {
      return InvalidArgument("flow: stream cache holds {} frames, not a block prefix of {}", f0, m);
    }
    if (cache->kv_bf16() && !cache_kv_bf16()) {
      return InvalidArgument("flow: a bf16 K/V stream cache with an f32 model");
    }
  }
  // A voice's prompt state keeps only the committed blocks, whose frames see no later frame
  // (chunk-causal attention, causal convs): the estimator runs on those alone, not on the
  // partial block after them that every request recomputes anyway (a 3 s prompt: 100 of 144
  // frames). The encoder still runs on every prompt token (the blocks' lookahead).
  const int64_t m_est = prompt_only ? f0 + commit : m;
  // A device sampler recomputes the estimator over every frame (cheap there): the cache then
  // holds the encoder's state and the committed frames' mu rows only.
  const bool sample_all = cuda_ != nullptr;
  if (cache != nullptr && !sample_all) {
    COSY_RETURN_IF_ERROR(cache->Reserve(m_est, max_cache_bytes, /*exact=*/prompt_only));
  }
  if (cache != nullptr && sample_all &&
      static_cast<int64_t>(cache->enc.mu.size()) != f0 * nb) {
    return InvalidArgument("flow: stream cache holds {} mu rows for {} frames",
                           cache->enc.mu.size() / static_cast<size_t>(nb), f0);
  }
  const int64_t s0 = sample_all ? 0 : f0;  // first frame the sampler computes
  const int64_t n = m_est - s0;

  // Encoder -> mu [m - f0, 80] (frames f0 .. m; the estimator reads the first n).
  auto t0 = Clock::now();
  float* mu = arena.Alloc(static_cast<size_t>((m - f0) * nb));
  if (cache != nullptr) {
    COSY_RETURN_IF_ERROR(EncoderForwardCached(*w_, c, emb, t_enc, finalize ? nullptr : emb + t_enc * d, cache->enc,
                                              (f0 + commit) / c.token_mel_ratio, arena, mu));
  } else {
    COSY_RETURN_IF_ERROR(EncoderForward(*w_, c, emb, t_enc, finalize ? nullptr : emb + t_enc * d,
                                        streaming, arena, hook, mu));
  }
  if (prof) prof->encoder += std::chrono::duration<double>(Clock::now() - t0).count();

  // CFM: x0 = noise[:, s0:m]; estimator input rows [x | mu | spk | cond] and [x | 0 | 0 | 0]
  // (mu of frames before f0 from the cache's rows when the sampler starts before them).
  const int64_t cin = c.est_in;
  float* x = arena.Alloc(static_cast<size_t>(n * nb));
  for (int64_t f = 0; f < n; ++f) {
    for (int64_t b = 0; b < nb; ++b) x[f * nb + b] = noise_[b * kCfmNoiseFrames + s0 + f];
  }
  float* in = arena.AllocZero(static_cast<size_t>(2 * n * cin));
  for (int64_t f = 0; f < n; ++f) {
    float* row = in + f * cin;
    const int64_t frame = s0 + f;
    const float* mu_row = frame < f0 ? cache->enc.mu.data() + frame * nb : mu + (frame - f0) * nb;
    std::memcpy(row + nb, mu_row, static_cast<size_t>(nb) * sizeof(float));
    std::memcpy(row + 2 * nb, spk, static_cast<size_t>(nb) * sizeof(float));
    if (frame < m1) {
      std::memcpy(row + 3 * nb, prompt.feat.data() + frame * nb, static_cast<size_t>(nb) * sizeof(float));
    }
  }
#ifdef COSYFLOW_WITH_CUDA
  if (cuda_ != nullptr) {
    // The whole sampler on the device, over every frame.
    COSY_RETURN_IF_ERROR(cuda_->Sample(in, n, streaming, x, hook, prof));
  } else
#endif
  {
    float* v = arena.Alloc(static_cast<size_t>(2 * n * nb));
    const OdeSchedule ode = MakeOdeSchedule(c.n_timesteps);
    const float w_cond = 1.0f + c.cfg_rate, w_uncond = c.cfg_rate;
    const Arena::Mark mark = arena.GetMark();
    for (int step = 1; step <= c.n_timesteps; ++step) {
      arena.Rewind(mark);
      for (int64_t f = 0; f < n; ++f) {
        std::memcpy(in + f * cin, x + f * nb, static_cast<size_t>(nb) * sizeof(float));
        std::memcpy(in + (n + f) * cin, x + f * nb, static_cast<size_t>(nb) * sizeof(float));
      }
      EstimatorIncremental inc;
      if (cache != nullptr) {
        inc = {&cache->step(step - 1), f0, commit, cache->capacity(), cache->kv_bf16()};
        // A fresh cache learns its conv-context sizes in the first step's (batched) call; the
        // steps after it take the same sizes (zero context: the sequence starts here) so that
        // they can run the CFG rows on two threads (SplitCfgRows).
        if (step > 1) SizeConvContextsLike(cache->step(0), cache->step(step - 1));
      }
      const float t = ode.t[step - 1], dt = ode.dt[step - 1];
      if (SplitCfgRows(c, cache != nullptr ? &inc : nullptr) && !hook) {
        COSY_RETURN_IF_ERROR(EstimatorRowsInParallel(*w_, c, in, n, t, streaming, arena, prof, v,
                                                     cache != nullptr ? &inc : nullptr));
      } else {
        COSY_RETURN_IF_ERROR(EstimatorForward(*w_, c, in, n, t, streaming, arena, prof, v,
                                              cache != nullptr ? &inc : nullptr));
      }
      if (hook && step == 1) hook("est0_out", v, Dims{2, n, nb});
      for (int64_t i = 0; i < n * nb; ++i) {
        x[i] = x[i] + dt * (w_cond * v[i] - w_uncond * v[n * nb + i]);
      }
    }
  }

  if (cache != nullptr) {
    if (sample_all) cache->enc.mu.insert(cache->enc.mu.end(), mu, mu + commit * nb);
    cache->Commit(f0 + commit);
  }

  // Output: frames after the prompt (and after f0), channel-major [80, m - max(f0, m1)].
  const int64_t from = std::max(f0, m1);
  if (first_frame != nullptr) *first_frame = from - m1;
  FlowMel mel;
  mel.frames = std::max<int64_t>(m_est - from, 0);
  mel.data.resize(static_cast<size_t>(nb * mel.frames));
  for (int64_t b = 0; b < nb; ++b) {
    for (int64_t f = 0; f < mel.frames; ++f) mel.data[b * mel.frames + f] = x[(from - s0 + f) * nb + b];
  }
  return mel;
}

}  // namespace cosyflow::flow
