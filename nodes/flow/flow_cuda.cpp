// The flow's CFM sampler on a CUDA device (flow_cuda.h): the estimator forward of
// flow_estimator.cpp, whole-sequence, as cuBLAS GEMMs and the kernels of flow_ops.h.
#ifdef COSYFLOW_WITH_CUDA

#include "nodes/flow/flow_cuda.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include "runtime/kernels/cuda/cuda_status.h"

namespace cosyflow::flow {

// One call's device memory, stream and cuBLAS handle; sized for `frames` frames per CFG row.
struct FlowCudaScratch {
  std::unique_ptr<cuda::Context> ctx;
  int64_t frames = 0;
  int64_t score_floats = 0;
  cuda::Buffer in, x, v, h, h2, skip, cat, a, col, nrm, qkv, o, f, scores;
  cuda::Buffer step, tb_cur;  // the graph's step counter and that step's time biases
  cuda::Graph graph;          // one sampler step at graph_n frames (graph_n < 0: none)
  int64_t graph_n = -1;
  bool graph_streaming = false;
  std::vector<float> tap;
};

namespace {

using Clock = std::chrono::steady_clock;

Status Check(const std::string& error, std::string_view what) {
  return cuda::ToStatus(error, "flow", what);
}

#define COSY_CUDA(expr, what) COSY_RETURN_IF_ERROR(Check((expr), (what)))

class Uploader {
 public:
  explicit Uploader(const Checkpoint& ckpt, size_t* bytes) : ckpt_(ckpt), bytes_(bytes) {}

  Result<const float*> Raw(const std::string& name, const Dims& shape) const {
    COSY_ASSIGN_OR_RETURN(Tensor t, ckpt_.Get(name, shape));
    if (t.dtype() != DType::kF32 || !t.is_contiguous()) {
      return Unsupported("{}: tensor '{}' must be contiguous float32, got {}", ckpt_.path(), name,
                         t.ToString());
    }
    return static_cast<const float*>(t.data<float>());
  }

  Status Norm(const std::string& p, int64_t dim, FlowEstimatorCuda::Norm* n) const {
    COSY_ASSIGN_OR_RETURN(const float* w, Raw(p + ".weight", {dim}));
    COSY_ASSIGN_OR_RETURN(const float* b, Raw(p + ".bias", {dim}));
    const size_t bytes = static_cast<size_t>(dim) * sizeof(float);
    COSY_CUDA(n->w.Upload(w, bytes), p);
    COSY_CUDA(n->b.Upload(b, bytes), p);
    return OkStatus();
  }

  // [out, k · cin] row-major (k = 1: a dense layer), bias optional.
  Status Put(const std::string& what, const float* w, const float* b, int64_t out, int64_t cin,
             int64_t k, FlowEstimatorCuda::Linear* l) const {
    const size_t n = static_cast<size_t>(out * k * cin);
    COSY_CUDA(l->w.Upload(w, n * sizeof(float)), what);
    if (b != nullptr) COSY_CUDA(l->bias.Upload(b, static_cast<size_t>(out) * sizeof(float)), what);
    l->view.w = l->w.get();
    l->view.bias = b != nullptr ? l->bias.f32() : nullptr;
    l->view.out = out;
    l->view.in = k * cin;
    l->view.bf16 = false;
    l->k = k;
    l->cin = cin;
    *bytes_ += n * sizeof(float);
    return OkStatus();
  }

  Status Dense(const std::string& p, int64_t out, int64_t in, bool bias,
               FlowEstimatorCuda::Linear* l) const {
    COSY_ASSIGN_OR_RETURN(const float* w, Raw(p + ".weight", {out, in}));
    const float* b = nullptr;
    if (bias) {
      COSY_ASSIGN_OR_RETURN(b, Raw(p + ".bias", {out}));
    }
    return Put(p, w, b, out, in, 1, l);
  }

  // torch Conv1d weight [out, cin, k] -> tap-major [out, k · cin] (the im2col row order).
  Status Conv(const std::string& p, int64_t out, int64_t cin, int64_t k,
              FlowEstimatorCuda::Linear* l) const {
    COSY_ASSIGN_OR_RETURN(const float* w, Raw(p + ".weight", {out, cin, k}));
    COSY_ASSIGN_OR_RETURN(const float* b, Raw(p + ".bias", {out}));
    std::vector<float> re(static_cast<size_t>(out * cin * k));
    for (int64_t o = 0; o < out; ++o) {
      for (int64_t c = 0; c < cin; ++c) {
        for (int64_t j = 0; j < k; ++j) re[(o * k + j) * cin + c] = w[(o * cin + c) * k + j];
      }
    }
    return Put(p, re.data(), b, out, cin, k, l);
  }

  // to_q | to_k | to_v rows fused into one [3 · inner, ch] weight (no bias).
  Status Qkv(const std::string& p, int64_t inner, int64_t ch, FlowEstimatorCuda::Linear* l) const {
    std::vector<float> w;
    for (const char* part : {".attn1.to_q", ".attn1.to_k", ".attn1.to_v"}) {
      COSY_ASSIGN_OR_RETURN(const float* x, Raw(p + part + ".weight", {inner, ch}));
      w.insert(w.end(), x, x + inner * ch);
    }
    return Put(p + ".attn1.qkv", w.data(), nullptr, 3 * inner, ch, 1, l);
  }

 private:
  const Checkpoint& ckpt_;
  size_t* bytes_;
};

Status LoadResnet(const Uploader& up, const std::string& p, int64_t cin, const FlowConfig& c,
                  FlowEstimatorCuda::Resnet* r) {
  const int64_t ch = c.est_channels;
  COSY_RETURN_IF_ERROR(up.Conv(p + ".block1.block.0", ch, cin, 3, &r->conv1));
  COSY_RETURN_IF_ERROR(up.Norm(p + ".block1.block.2", ch, &r->ln1));
  COSY_RETURN_IF_ERROR(up.Conv(p + ".block2.block.0", ch, ch, 3, &r->conv2));
  COSY_RETURN_IF_ERROR(up.Norm(p + ".block2.block.2", ch, &r->ln2));
  return up.Conv(p + ".res_conv", ch, cin, 1, &r->res);
}

Status LoadStage(const Uploader& up, const std::string& p, int64_t cin, bool has_conv,
                 const FlowConfig& c, FlowEstimatorCuda::Stage* s) {
  const int64_t ch = c.est_channels, inner = c.est_inner();
  COSY_RETURN_IF_ERROR(LoadResnet(up, p + ".0", cin, c, &s->resnet));
  s->blocks.resize(static_cast<size_t>(c.est_blocks_per_stage));
  for (int64_t j = 0; j < c.est_blocks_per_stage; ++j) {
    const std::string b = fmt::format("{}.1.{}", p, j);
    FlowEstimatorCuda::Block& bw = s->blocks[static_cast<size_t>(j)];
    COSY_RETURN_IF_ERROR(up.Norm(b + ".norm1", ch, &bw.norm1));
    COSY_RETURN_IF_ERROR(up.Norm(b + ".norm3", ch, &bw.norm3));
    COSY_RETURN_IF_ERROR(up.Qkv(b, inner, ch, &bw.qkv));
    COSY_RETURN_IF_ERROR(up.Dense(b + ".attn1.to_out.0", ch, inner, true, &bw.out));
    COSY_RETURN_IF_ERROR(up.Dense(b + ".ff.net.0.proj", 4 * ch, ch, true, &bw.ff_in));
    COSY_RETURN_IF_ERROR(up.Dense(b + ".ff.net.2", ch, 4 * ch, true, &bw.ff_out));
  }
  if (has_conv) COSY_RETURN_IF_ERROR(up.Conv(p + ".2", ch, ch, 3, &s->conv));
  return OkStatus();
}

}  // namespace

// A borrowed scratch; handed back to the pool when the call succeeded (a failed one may have
// left its stream in an error state: it is dropped).
struct FlowEstimatorCuda::Lease {
  const FlowEstimatorCuda* owner = nullptr;
  std::unique_ptr<FlowCudaScratch> s;
  bool ok = false;
  Lease(const FlowEstimatorCuda* o, std::unique_ptr<FlowCudaScratch> sc)
      : owner(o), s(std::move(sc)) {}
  Lease(Lease&& o) noexcept : owner(o.owner), s(std::move(o.s)), ok(o.ok) {}
  Lease& operator=(Lease&&) = delete;
  Lease(const Lease&) = delete;
  ~Lease() {
    if (s == nullptr) return;
    if (ok) {
      owner->Return(std::move(s));
    } else if (s->ctx != nullptr) {
      // Dropped after a failure: let queued work finish before its buffers are freed (freed
      // memory may go to another call at once).
      (void)s->ctx->Sync();
    }
  }
};

FlowEstimatorCuda::FlowEstimatorCuda(const FlowConfig& c) : c_(c) {}
FlowEstimatorCuda::~FlowEstimatorCuda() = default;

Result<std::unique_ptr<FlowEstimatorCuda>> FlowEstimatorCuda::Load(const FlowWeights& w,
                                                                   const FlowConfig& c) {
  if (w.weight_type != WeightType::kF32) {
    return Unsupported("flow: the cuda estimator takes f32 weights (use precision f32)");
  }
  std::unique_ptr<FlowEstimatorCuda> m(new FlowEstimatorCuda(c));
  const Uploader up(w.ckpt, &m->weight_bytes_);
  const std::string p = "decoder.estimator";
  const int64_t ch = c.est_channels;
  COSY_RETURN_IF_ERROR(LoadStage(up, p + ".down_blocks.0", c.est_in, true, c, &m->down_));
  m->mid_.resize(static_cast<size_t>(c.est_mid_blocks));
  for (int64_t i = 0; i < c.est_mid_blocks; ++i) {
    COSY_RETURN_IF_ERROR(LoadStage(up, fmt::format("{}.mid_blocks.{}", p, i), ch, false, c,
                                   &m->mid_[static_cast<size_t>(i)]));
  }
  COSY_RETURN_IF_ERROR(LoadStage(up, p + ".up_blocks.0", 2 * ch, true, c, &m->up_));
  COSY_RETURN_IF_ERROR(up.Conv(p + ".final_block.block.0", ch, ch, 3, &m->final_conv_));
  COSY_RETURN_IF_ERROR(up.Norm(p + ".final_block.block.2", ch, &m->final_ln_));
  COSY_ASSIGN_OR_RETURN(const float* fw, up.Raw(p + ".final_proj.weight", {c.output_size, ch, 1}));
  COSY_ASSIGN_OR_RETURN(const float* fb, up.Raw(p + ".final_proj.bias", {c.output_size}));
  COSY_RETURN_IF_ERROR(up.Put(p + ".final_proj", fw, fb, c.output_size, ch, 1, &m->final_proj_));

  // The time biases depend on t alone, and the sampler visits the same n_timesteps values of t.
  m->ode_ = MakeOdeSchedule(c.n_timesteps);
  const int64_t resnets = 2 + c.est_mid_blocks;
  std::vector<float> table(static_cast<size_t>(c.n_timesteps * resnets * ch));
  Arena arena;
  for (int s = 0; s < c.n_timesteps; ++s) {
    COSY_RETURN_IF_ERROR(ResnetTimeBiases(w, c, m->ode_.t[static_cast<size_t>(s)], arena,
                                          table.data() + s * resnets * ch));
  }
  COSY_CUDA(m->time_bias_.Upload(table.data(), table.size() * sizeof(float)), "time biases");
  COSY_CUDA(m->dt_.Upload(m->ode_.dt.data(), m->ode_.dt.size() * sizeof(float)), "ode steps");
  const char* graphs = std::getenv("COSYFLOW_CUDA_GRAPHS");
  m->use_graphs_ = graphs == nullptr || std::string_view(graphs) != "0";
  return m;
}

Result<FlowEstimatorCuda::Lease> FlowEstimatorCuda::Acquire(int64_t n) const {
  std::unique_ptr<FlowCudaScratch> s;
  {
    const std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      s = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (s == nullptr) {
    s = std::make_unique<FlowCudaScratch>();
    std::string error;
    s->ctx = cuda::Context::Create(&error);
    if (s->ctx == nullptr) return Check(error, "new stream");
    COSY_CUDA(s->step.Allocate(sizeof(int)), "scratch");
    COSY_CUDA(s->tb_cur.Allocate(static_cast<size_t>((2 + c_.est_mid_blocks) * c_.est_channels) *
                                 sizeof(float)),
              "scratch");
  }
  if (s->frames < n) {
    // Grown in steps of 256 frames: a stream's calls reallocate a few times, not every chunk.
    const int64_t frames = (n + 255) / 256 * 256, rows = 2 * frames;
    const int64_t ch = c_.est_channels, inner = c_.est_inner();
    const int64_t widest_col = 3 * std::max(c_.est_in, 2 * ch);
    const auto f = [](int64_t count) { return static_cast<size_t>(count) * sizeof(float); };
    s->frames = 0;
    s->graph.Reset();  // it points into the buffers replaced here
    s->graph_n = -1;
    COSY_CUDA(s->in.Allocate(f(rows * c_.est_in)), "scratch");
    COSY_CUDA(s->x.Allocate(f(frames * c_.output_size)), "scratch");
    COSY_CUDA(s->v.Allocate(f(rows * c_.output_size)), "scratch");
    for (cuda::Buffer* b : {&s->h, &s->h2, &s->skip, &s->a, &s->nrm}) {
      COSY_CUDA(b->Allocate(f(rows * ch)), "scratch");
    }
    COSY_CUDA(s->cat.Allocate(f(rows * 2 * ch)), "scratch");
    COSY_CUDA(s->col.Allocate(f(rows * widest_col)), "scratch");
    COSY_CUDA(s->qkv.Allocate(f(rows * 3 * inner)), "scratch");
    COSY_CUDA(s->o.Allocate(f(rows * inner)), "scratch");
    COSY_CUDA(s->f.Allocate(f(rows * 4 * ch)), "scratch");
    // Scores: one block of query rows at a time; never more than all rows need.
    const int64_t heads = c_.est_heads;
    s->score_floats =
        std::max(heads * frames, std::min(score_floats_.load(), heads * frames * frames));
    COSY_CUDA(s->scores.Allocate(f(s->score_floats)), "attention scratch");
    s->frames = frames;
  }
  return Lease(this, std::move(s));
}

void FlowEstimatorCuda::Return(std::unique_ptr<FlowCudaScratch> s) const {
  const std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(std::move(s));
}

Status FlowEstimatorCuda::ConvForward(FlowCudaScratch& s, const Linear& conv, const float* x,
                                      int64_t n, float* y) const {
  cuda::Context& ctx = *s.ctx;
  if (conv.k == 1) {
    COSY_CUDA(cuda::Linear(ctx, conv.view, x, 2 * n, y, nullptr), "1x1 conv");
    return OkStatus();
  }
  COSY_CUDA(cuda::CausalIm2col(ctx, x, 2, n, conv.cin, conv.k, s.col.f32()), "conv");
  COSY_CUDA(cuda::Linear(ctx, conv.view, s.col.f32(), 2 * n, y, nullptr), "conv");
  return OkStatus();
}

Status FlowEstimatorCuda::ResnetForward(FlowCudaScratch& s, const Resnet& r, const float* x,
                                        int64_t n, const float* time_bias, float* y) const {
  cuda::Context& ctx = *s.ctx;
  const int64_t ch = c_.est_channels, rows = 2 * n;
  float* a = s.a.f32();
  COSY_RETURN_IF_ERROR(ConvForward(s, r.conv1, x, n, a));
  COSY_CUDA(cuda::LayerNorm(ctx, a, r.ln1.w.f32(), r.ln1.b.f32(), rows, ch, 1e-5f, true,
                            time_bias, a), "resnet");
  COSY_RETURN_IF_ERROR(ConvForward(s, r.conv2, a, n, y));
  COSY_CUDA(cuda::LayerNorm(ctx, y, r.ln2.w.f32(), r.ln2.b.f32(), rows, ch, 1e-5f, true, nullptr,
                            y), "resnet");
  COSY_RETURN_IF_ERROR(ConvForward(s, r.res, x, n, a));
  COSY_CUDA(cuda::AddInPlace(ctx, y, a, rows * ch), "resnet");
  return OkStatus();
}

Status FlowEstimatorCuda::BlockForward(FlowCudaScratch& s, const Block& b, int64_t n,
                                       int64_t chunk, float* h) const {
  cuda::Context& ctx = *s.ctx;
  const int64_t ch = c_.est_channels, rows = 2 * n;
  float* nrm = s.nrm.f32();
  COSY_CUDA(cuda::LayerNorm(ctx, h, b.norm1.w.f32(), b.norm1.b.f32(), rows, ch, 1e-5f, false,
                            nullptr, nrm), "block norm");
  COSY_CUDA(cuda::Linear(ctx, b.qkv.view, nrm, rows, s.qkv.f32(), nullptr), "block q|k|v");
  COSY_CUDA(cuda::ChunkAttention(ctx, s.qkv.f32(), 2, n, c_.est_heads, c_.est_head_dim, chunk,
                                 s.scores.f32(), s.score_floats, s.o.f32()), "block attention");
  COSY_CUDA(cuda::Linear(ctx, b.out.view, s.o.f32(), rows, nrm, nullptr), "block out");
  COSY_CUDA(cuda::AddInPlace(ctx, h, nrm, rows * ch), "block");
  COSY_CUDA(cuda::LayerNorm(ctx, h, b.norm3.w.f32(), b.norm3.b.f32(), rows, ch, 1e-5f, false,
                            nullptr, nrm), "block norm");
  COSY_CUDA(cuda::Linear(ctx, b.ff_in.view, nrm, rows, s.f.f32(), nullptr), "block ff");
  COSY_CUDA(cuda::GeluErf(ctx, s.f.f32(), rows * 4 * ch), "block ff");
  COSY_CUDA(cuda::Linear(ctx, b.ff_out.view, s.f.f32(), rows, nrm, nullptr), "block ff");
  COSY_CUDA(cuda::AddInPlace(ctx, h, nrm, rows * ch), "block");
  return OkStatus();
}

Status FlowEstimatorCuda::StageForward(FlowCudaScratch& s, const Stage& st, const float* x,
                                       int64_t n, int64_t chunk, const float* time_bias,
                                       float* h) const {
  COSY_RETURN_IF_ERROR(ResnetForward(s, st.resnet, x, n, time_bias, h));
  for (const Block& b : st.blocks) COSY_RETURN_IF_ERROR(BlockForward(s, b, n, chunk, h));
  return OkStatus();
}

Status FlowEstimatorCuda::Enqueue(FlowCudaScratch& s, int64_t n, const float* tb,
                                  bool streaming) const {
  cuda::Context& ctx = *s.ctx;
  const int64_t ch = c_.est_channels, rows = 2 * n, chunk = streaming ? c_.est_chunk : 0;
  const int64_t resnets = 2 + c_.est_mid_blocks;
  float* h = s.h.f32();
  float* h2 = s.h2.f32();
  COSY_RETURN_IF_ERROR(StageForward(s, down_, s.in.f32(), n, chunk, tb, h));
  COSY_CUDA(ctx.CopyOnDevice(s.skip.get(), h, static_cast<size_t>(rows * ch) * sizeof(float)),
            "skip");
  COSY_RETURN_IF_ERROR(ConvForward(s, down_.conv, h, n, h2));
  for (size_t i = 0; i < mid_.size(); ++i) {
    COSY_RETURN_IF_ERROR(StageForward(s, mid_[i], h2, n, chunk,
                                      tb + static_cast<int64_t>(1 + i) * ch, h));
    std::swap(h, h2);
  }
  COSY_CUDA(cuda::ConcatColumns(ctx, h2, ch, s.skip.f32(), ch, rows, s.cat.f32()), "skip");
  COSY_RETURN_IF_ERROR(StageForward(s, up_, s.cat.f32(), n, chunk, tb + (resnets - 1) * ch, h));
  COSY_RETURN_IF_ERROR(ConvForward(s, up_.conv, h, n, h2));
  COSY_RETURN_IF_ERROR(ConvForward(s, final_conv_, h2, n, h));
  COSY_CUDA(cuda::LayerNorm(ctx, h, final_ln_.w.f32(), final_ln_.b.f32(), rows, ch, 1e-5f, true,
                            nullptr, h), "final block");
  COSY_CUDA(cuda::Linear(ctx, final_proj_.view, h, rows, s.v.f32(), nullptr), "final proj");
  return OkStatus();
}

Status FlowEstimatorCuda::EnqueueIndexedStep(FlowCudaScratch& s, int64_t n,
                                             bool streaming) const {
  cuda::Context& ctx = *s.ctx;
  const int64_t nb = c_.output_size, resnets = 2 + c_.est_mid_blocks;
  int* step = static_cast<int*>(s.step.get());
  COSY_CUDA(cuda::SelectRow(ctx, step, time_bias_.f32(), resnets * c_.est_channels, s.tb_cur.f32()),
            "sampler");
  COSY_CUDA(cuda::SetCfmInput(ctx, s.x.f32(), n, nb, c_.est_in, s.in.f32()), "sampler");
  COSY_RETURN_IF_ERROR(Enqueue(s, n, s.tb_cur.f32(), streaming));
  COSY_CUDA(cuda::CfmEulerStepAt(ctx, s.x.f32(), s.v.f32(), n, nb, dt_.f32(), step,
                                 1.0f + c_.cfg_rate, c_.cfg_rate),
            "sampler");
  COSY_CUDA(cuda::AdvanceStep(ctx, step), "sampler");
  return OkStatus();
}

Status FlowEstimatorCuda::Sample(const float* cond_rows, int64_t n, bool streaming, float* x,
                                 const FlowHook& hook, FlowProfile* prof) const {
  const auto t0 = Clock::now();
  COSY_ASSIGN_OR_RETURN(Lease lease, Acquire(n));
  FlowCudaScratch& s = *lease.s;
  cuda::Context& ctx = *s.ctx;
  const int64_t nb = c_.output_size;
  const size_t x_bytes = static_cast<size_t>(n * nb) * sizeof(float);
  COSY_CUDA(ctx.CopyToDevice(s.in.get(), cond_rows,
                             static_cast<size_t>(2 * n * c_.est_in) * sizeof(float)),
            "upload conditioning");
  COSY_CUDA(ctx.CopyToDevice(s.x.get(), x, x_bytes), "upload noise");
  const float w_cond = 1.0f + c_.cfg_rate, w_uncond = c_.cfg_rate;
  const int64_t resnets = 2 + c_.est_mid_blocks;
  const bool graphs = use_graphs_ && !hook;
  if (graphs) {
    if (!s.graph.ready() || s.graph_n != n || s.graph_streaming != streaming) {
      s.graph_n = -1;
      COSY_CUDA(ctx.BeginCapture(), "sampler capture");
      const Status queued = EnqueueIndexedStep(s, n, streaming);
      const std::string ended = ctx.EndCapture(&s.graph);
      COSY_RETURN_IF_ERROR(queued);
      COSY_CUDA(ended, "sampler capture");
      s.graph_n = n;
      s.graph_streaming = streaming;
    }
    COSY_CUDA(ctx.Zero(s.step.get(), sizeof(int)), "sampler");
    for (int step = 0; step < c_.n_timesteps; ++step) {
      COSY_CUDA(ctx.Launch(s.graph), "sampler step");
    }
  }
  for (int step = 0; step < c_.n_timesteps && !graphs; ++step) {
    COSY_CUDA(cuda::SetCfmInput(ctx, s.x.f32(), n, nb, c_.est_in, s.in.f32()), "sampler");
    COSY_RETURN_IF_ERROR(
        Enqueue(s, n, time_bias_.f32() + static_cast<int64_t>(step) * resnets * c_.est_channels,
                streaming));
    if (hook && step == 0) {
      s.tap.resize(static_cast<size_t>(2 * n * nb));
      COSY_CUDA(ctx.CopyToHost(s.tap.data(), s.v.get(), 2 * x_bytes), "tap");
      COSY_CUDA(ctx.Sync(), "estimator");
      hook("est0_out", s.tap.data(), Dims{2, n, nb});
    }
    COSY_CUDA(cuda::CfmEulerStep(ctx, s.x.f32(), s.v.f32(), n, nb,
                                 ode_.dt[static_cast<size_t>(step)], w_cond, w_uncond),
              "sampler");
  }
  COSY_CUDA(ctx.CopyToHost(x, s.x.get(), x_bytes), "download mel");
  COSY_CUDA(ctx.Sync(), "sampler");
  lease.ok = true;
  if (prof != nullptr) {
    prof->estimator += std::chrono::duration<double>(Clock::now() - t0).count();
    prof->estimator_calls += c_.n_timesteps;
  }
  return OkStatus();
}

Status FlowEstimatorCuda::Estimate(const float* in, int64_t n, int step, bool streaming,
                                   float* out) const {
  if (step < 0 || step >= c_.n_timesteps) {
    return InvalidArgument("flow (cuda): schedule step {} outside [0, {})", step, c_.n_timesteps);
  }
  COSY_ASSIGN_OR_RETURN(Lease lease, Acquire(n));
  FlowCudaScratch& s = *lease.s;
  cuda::Context& ctx = *s.ctx;
  COSY_CUDA(ctx.CopyToDevice(s.in.get(), in,
                             static_cast<size_t>(2 * n * c_.est_in) * sizeof(float)),
            "upload input");
  const int64_t resnets = 2 + c_.est_mid_blocks;
  COSY_RETURN_IF_ERROR(
      Enqueue(s, n, time_bias_.f32() + static_cast<int64_t>(step) * resnets * c_.est_channels,
              streaming));
  COSY_CUDA(ctx.CopyToHost(out, s.v.get(),
                           static_cast<size_t>(2 * n * c_.output_size) * sizeof(float)),
            "download output");
  COSY_CUDA(ctx.Sync(), "estimator");
  lease.ok = true;
  return OkStatus();
}

}  // namespace cosyflow::flow

#endif  // COSYFLOW_WITH_CUDA
