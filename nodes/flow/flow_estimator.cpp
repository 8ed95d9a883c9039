// CausalConditionalDecoder forward (spec §4.7) on a CFG batch of 2, time-major [2, m, C].
#include <chrono>
#include <cmath>
#include <cstring>

#include "nodes/flow/flow_forward.h"
#include "runtime/kernels/cpu/activation.h"
#include "runtime/kernels/cpu/elementwise.h"
#include "runtime/kernels/cpu/norm.h"

namespace cosyflow::flow {
namespace {

namespace cpu = kernels::cpu;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Shared state of one estimator call.
struct EstCtx {
  const FlowConfig& c;
  int64_t m;              // frames per batch row
  int64_t chunk;          // attention chunk (frames) when streaming, 0 = full attention
  const float* mish_temb;    // [2, time_dim] = Mish(time_mlp(t)); null when time_biases is set
  const float* time_biases;  // [resnets, ch]: ResnetTimeBiases at t, or null
  Arena& arena;
  FlowProfile* prof;
  EstimatorIncremental* inc;  // null: whole sequence (m frames from frame 0)
  int64_t nb;                 // CFG rows in this call: 2, or 1 (row b0 alone)
  int64_t b0;                 // first CFG row (index into the cache's per-row state)
  AttentionProducts products;  // bf16 / int16 weights: attention with bf16 / int16 products
  size_t conv_i = 0;          // causal convs and transformer blocks seen so far (cache slots)
  size_t block_i = 0;
  size_t resnet_i = 0;  // resnets seen so far (rows of time_biases)
};

// Causal conv (left context k - 1): zeros before frame 0, or the cached input frames before
// the new ones (incremental), staging the context at the commit point. in: [2, m, cin].
Status CausalConv(const Conv1dTm& conv, EstCtx& x, const float* in, float* out) {
  const int64_t kc = conv.k() - 1;
  if (x.inc == nullptr || kc == 0) return conv.Forward(in, x.nb, x.m, kc, x.arena, out);
  EstimatorCache::Step& st = *x.inc->step;
  const size_t i = x.conv_i++;
  const int64_t cin = conv.cin();
  const size_t need = static_cast<size_t>(2 * kc * cin);  // both CFG rows, whatever nb
  if (x.nb == 2) {
    if (st.conv.size() <= i) st.conv.resize(i + 1);
    if (st.conv_next.size() <= i) st.conv_next.resize(i + 1);
    if (st.conv[i].size() != need) st.conv[i].assign(need, 0.0f);
    st.conv_next[i].resize(need);
  } else if (st.conv.size() <= i || st.conv_next.size() <= i || st.conv[i].size() != need ||
             st.conv_next[i].size() != need) {
    // One CFG row per thread shares the step's vectors: they must have been sized already.
    return Internal("flow estimator: conv context {} not sized before a per-row call", i);
  }
  std::vector<float>& next = st.conv_next[i];
  // Rows of [context; new frames] ending at the commit point: combined row q = commit + r.
  for (int64_t b = 0; b < x.nb; ++b) {
    const int64_t cb = x.b0 + b;  // CFG row of the cached context
    for (int64_t r = 0; r < kc; ++r) {
      const int64_t q = x.inc->commit + r;
      const float* src = q < kc ? st.conv[i].data() + (cb * kc + q) * cin
                                : in + (b * x.m + q - kc) * cin;
      std::memcpy(next.data() + (cb * kc + r) * cin, src, static_cast<size_t>(cin) * sizeof(float));
    }
  }
  return conv.ForwardWithContext(in, x.nb, x.m, st.conv[i].data() + x.b0 * kc * cin, x.arena, out);
}

// Self-attention core of one transformer block: whole-sequence SDPA, or the new frames against
// the cached K/V (their own K/V rows appended to the cache first).
Status BlockAttention(EstCtx& x, const float* qkv, float* o) {
  const FlowConfig& c = x.c;
  if (x.inc == nullptr) {
    return SdpaAttention(qkv, x.nb, x.m, c.est_heads, c.est_head_dim, x.chunk, x.products, x.arena,
                         o);
  }
  const int64_t inner = c.est_inner(), cap = x.inc->cap, ctx = x.inc->ctx_frames;
  void* kv_rows = x.inc->step->kv[x.block_i++];
  if (x.inc->kv_bf16) {  // a bf16 flow's cache: rows narrowed as the attention would round them
    if (x.products != AttentionProducts::kBf16) {
      return InvalidArgument("flow estimator: bf16 K/V cache without bf16 attention products");
    }
    auto* k = static_cast<uint16_t*>(kv_rows) + x.b0 * cap * inner;
    auto* v = static_cast<uint16_t*>(kv_rows) + (2 + x.b0) * cap * inner;
    for (int64_t b = 0; b < x.nb; ++b) {
      for (int64_t i = 0; i < x.m; ++i) {
        const float* row = qkv + (b * x.m + i) * 3 * inner;
        COSY_RETURN_IF_ERROR(cpu::NarrowBf16(row + inner, inner, k + (b * cap + ctx + i) * inner));
        COSY_RETURN_IF_ERROR(cpu::NarrowBf16(row + 2 * inner, inner, v + (b * cap + ctx + i) * inner));
      }
    }
    return CachedChunkAttention(qkv, x.nb, x.m, c.est_heads, c.est_head_dim, k, v, cap, ctx,
                                c.est_chunk, x.arena, o);
  }
  float* kv = static_cast<float*>(kv_rows);
  float* k = kv + x.b0 * cap * inner;  // K rows of CFG row b0, then b0 + 1
  float* v = kv + (2 + x.b0) * cap * inner;
  for (int64_t b = 0; b < x.nb; ++b) {
    for (int64_t i = 0; i < x.m; ++i) {
      const float* row = qkv + (b * x.m + i) * 3 * inner;
      std::memcpy(k + (b * cap + ctx + i) * inner, row + inner, static_cast<size_t>(inner) * sizeof(float));
      std::memcpy(v + (b * cap + ctx + i) * inner, row + 2 * inner, static_cast<size_t>(inner) * sizeof(float));
    }
  }
  return CachedChunkAttention(qkv, x.nb, x.m, c.est_heads, c.est_head_dim, k, v, cap, ctx,
                              c.est_chunk, x.products, x.arena, o);
}

// Frees a layer's scratch when it returns: its output lives in the caller's buffers, so the
// arena's high water is one layer's temporaries, not the whole forward's (the final
// full-sequence call over 650 frames held ~420 MB per CFG row before).
class ArenaScope {
 public:
  explicit ArenaScope(Arena& a) : arena_(a), mark_(a.GetMark()) {}
  ~ArenaScope() { arena_.Rewind(mark_); }
  ArenaScope(const ArenaScope&) = delete;
  ArenaScope& operator=(const ArenaScope&) = delete;

 private:
  Arena& arena_;
  Arena::Mark mark_;
};

// CausalBlock1D tail: y = Mish(LayerNorm(y)) over channels, in place. y: [rows, ch].
Status NormMish(const LayerNormW& ln, float* y, int64_t rows, int64_t ch) {
  COSY_RETURN_IF_ERROR(cpu::LayerNorm(y, ln.w, ln.b, rows, ch, 1e-5f, y));
  return cpu::Mish(y, rows * ch, y);
}

// CausalResnetBlock1D. h: [2, m, cin] -> out: [2, m, ch].
Status Resnet(const ResnetW& r, EstCtx& x, const float* h, int64_t cin, float* out) {
  const auto t0 = Clock::now();
  const ArenaScope scope(x.arena);
  const int64_t ch = x.c.est_channels, rows = x.nb * x.m;
  float* a = x.arena.Alloc(static_cast<size_t>(rows * ch));
  COSY_RETURN_IF_ERROR(CausalConv(r.conv1, x, h, a));
  COSY_RETURN_IF_ERROR(NormMish(r.ln1, a, rows, ch));
  // mlp(Mish(temb)), per batch row (the rows are equal), or the load-time table's row
  const size_t resnet_i = x.resnet_i++;
  const float* tb = nullptr;
  int64_t tb_stride = ch;
  if (x.time_biases != nullptr) {
    tb = x.time_biases + static_cast<int64_t>(resnet_i) * ch;
    tb_stride = 0;
  } else {
    float* own = x.arena.Alloc(static_cast<size_t>(x.nb * ch));
    COSY_RETURN_IF_ERROR(r.mlp->Forward(x.mish_temb, x.nb, own));
    tb = own;
  }
  for (int64_t b = 0; b < x.nb; ++b) {
    for (int64_t i = 0; i < x.m; ++i) {
      float* row = a + (b * x.m + i) * ch;
      for (int64_t k = 0; k < ch; ++k) row[k] += tb[b * tb_stride + k];
    }
  }
  COSY_RETURN_IF_ERROR(CausalConv(r.conv2, x, a, out));
  COSY_RETURN_IF_ERROR(NormMish(r.ln2, out, rows, ch));
  COSY_RETURN_IF_ERROR(r.res_conv.Forward(h, x.nb, x.m, 0, x.arena, a));
  for (int64_t i = 0; i < rows * ch; ++i) out[i] += a[i];
  (void)cin;
  if (x.prof) x.prof->est_conv += Since(t0);
  return OkStatus();
}

// BasicTransformerBlock. h: [2, m, ch] updated in place.
Status TransformerBlock(const TransformerBlockW& tb, EstCtx& x, float* h) {
  const int64_t ch = x.c.est_channels, inner = x.c.est_inner(), rows = x.nb * x.m;
  const ArenaScope scope(x.arena);
  auto t0 = Clock::now();
  float* n = x.arena.Alloc(static_cast<size_t>(rows * ch));
  COSY_RETURN_IF_ERROR(cpu::LayerNorm(h, tb.norm1.w, tb.norm1.b, rows, ch, 1e-5f, n));
  if (x.prof) x.prof->est_other += Since(t0);
  t0 = Clock::now();
  float* qkv = x.arena.Alloc(static_cast<size_t>(rows * 3 * inner));
  COSY_RETURN_IF_ERROR(tb.qkv->Forward(n, rows, qkv));
  if (x.prof) x.prof->est_linear += Since(t0);
  t0 = Clock::now();
  float* o = x.arena.Alloc(static_cast<size_t>(rows * inner));
  COSY_RETURN_IF_ERROR(BlockAttention(x, qkv, o));
  if (x.prof) x.prof->est_attention += Since(t0);
  t0 = Clock::now();
  COSY_RETURN_IF_ERROR(tb.out->Forward(o, rows, h, cpu::LinearEpilogue::kAccumulate));  // h += .
  if (x.prof) x.prof->est_linear += Since(t0);
  t0 = Clock::now();
  COSY_RETURN_IF_ERROR(cpu::LayerNorm(h, tb.norm3.w, tb.norm3.b, rows, ch, 1e-5f, n));
  if (x.prof) x.prof->est_other += Since(t0);
  t0 = Clock::now();
  if (tb.ff_in->bf16_activations() && tb.ff_out->bf16_activations()) {
    // bf16 weights: ff_out rounds its input to bf16 anyway, so ff_in writes those bits directly.
    auto* f16 = reinterpret_cast<uint16_t*>(x.arena.Alloc(static_cast<size_t>(rows * 2 * ch)));
    COSY_RETURN_IF_ERROR(tb.ff_in->ForwardToBf16(n, rows, f16, cpu::LinearEpilogue::kGeluErf));
    COSY_RETURN_IF_ERROR(
        tb.ff_out->ForwardFromBf16(f16, rows, h, cpu::LinearEpilogue::kAccumulate));
  } else {
    float* f = x.arena.Alloc(static_cast<size_t>(rows * 4 * ch));
    COSY_RETURN_IF_ERROR(tb.ff_in->Forward(n, rows, f, cpu::LinearEpilogue::kGeluErf));
    COSY_RETURN_IF_ERROR(tb.ff_out->Forward(f, rows, h, cpu::LinearEpilogue::kAccumulate));
  }
  if (x.prof) x.prof->est_linear += Since(t0);
  return OkStatus();
}

// SinusoidalPosEmb(dim, scale 1000) then time_mlp: out [2, time_dim] = Mish(linear_2(SiLU(linear_1(.)))).
Status TimeEmbedding(const EstimatorW& w, const FlowConfig& c, float t_value, Arena& arena, float* out) {
  const int64_t dim = c.est_in, half = dim / 2;
  float* emb = arena.Alloc(static_cast<size_t>(2 * dim));
  const float k = static_cast<float>(std::log(10000.0) / static_cast<double>(half - 1));
  const float st = 1000.0f * t_value;
  for (int64_t i = 0; i < half; ++i) {
    const float f = std::exp(static_cast<float>(i) * -k);
    const float a = st * f;
    emb[i] = static_cast<float>(std::sin(static_cast<double>(a)));
    emb[half + i] = static_cast<float>(std::cos(static_cast<double>(a)));
  }
  std::memcpy(emb + dim, emb, static_cast<size_t>(dim) * sizeof(float));
  float* hid = arena.Alloc(static_cast<size_t>(2 * c.time_dim()));
  COSY_RETURN_IF_ERROR(w.time_1->Forward(emb, 2, hid));
  COSY_RETURN_IF_ERROR(cpu::Silu(hid, 2 * c.time_dim(), hid));
  COSY_RETURN_IF_ERROR(w.time_2->Forward(hid, 2, out));
  return cpu::Mish(out, 2 * c.time_dim(), out);
}

Status Stage(const StageW& s, EstCtx& x, const float* h_in, int64_t cin, float* h) {
  COSY_RETURN_IF_ERROR(Resnet(s.resnet, x, h_in, cin, h));
  for (const auto& b : s.blocks) COSY_RETURN_IF_ERROR(TransformerBlock(b, x, h));
  return OkStatus();
}

}  // namespace

Status ResnetTimeBiases(const FlowWeights& w, const FlowConfig& c, float t_value, Arena& arena,
                        float* out) {
  const EstimatorW& e = w.estimator;
  const Arena::Mark mark = arena.GetMark();
  float* mish_temb = arena.Alloc(static_cast<size_t>(2 * c.time_dim()));
  float* tb = arena.Alloc(static_cast<size_t>(2 * c.est_channels));
  Status st = TimeEmbedding(e, c, t_value, arena, mish_temb);
  std::vector<const ResnetW*> resnets{&e.down.resnet};
  for (const auto& s : e.mid) resnets.push_back(&s.resnet);
  resnets.push_back(&e.up.resnet);
  for (size_t i = 0; i < resnets.size() && st.ok(); ++i) {
    // Both CFG rows, as the estimator computes them (the rows are equal).
    st = resnets[i]->mlp->Forward(mish_temb, 2, tb);
    std::memcpy(out + static_cast<int64_t>(i) * c.est_channels, tb,
                static_cast<size_t>(c.est_channels) * sizeof(float));
  }
  arena.Rewind(mark);
  return st;
}

Status PrecomputeTimeBiases(const FlowConfig& c, FlowWeights* w) {
  w->time_biases.clear();
  const int64_t resnets = 2 + static_cast<int64_t>(w->estimator.mid.size()), ch = c.est_channels;
  Arena arena;
  for (const float t : MakeOdeSchedule(c.n_timesteps).t) {
    FlowWeights::TimeBiases tb{t, std::vector<float>(static_cast<size_t>(resnets * ch))};
    COSY_RETURN_IF_ERROR(ResnetTimeBiases(*w, c, t, arena, tb.rows.data()));
    w->time_biases.push_back(std::move(tb));
  }
  return OkStatus();
}

Status EstimatorForward(const FlowWeights& w, const FlowConfig& c, const float* in, int64_t m,
                        float t_value, bool streaming, Arena& arena, FlowProfile* prof, float* out,
                        EstimatorIncremental* inc, int cfg_row) {
  const auto t_start = Clock::now();
  const EstimatorW& e = w.estimator;
  if (cfg_row < -1 || cfg_row > 1) return InvalidArgument("flow estimator: CFG row {}", cfg_row);
  const int64_t nb = cfg_row < 0 ? 2 : 1, b0 = cfg_row < 0 ? 0 : cfg_row;
  const int64_t ch = c.est_channels, rows = nb * m;
  const float* time_biases = nullptr;
  for (const FlowWeights::TimeBiases& tb : w.time_biases) {
    if (tb.t == t_value) time_biases = tb.rows.data();
  }
  float* mish_temb = nullptr;
  if (time_biases == nullptr) {
    mish_temb = arena.Alloc(static_cast<size_t>(2 * c.time_dim()));
    COSY_RETURN_IF_ERROR(TimeEmbedding(e, c, t_value, arena, mish_temb));
  }

  // Attention: row i may see columns < (i / chunk + 1) * chunk (streaming), else all.
  if (inc != nullptr && (!streaming || inc->step == nullptr || inc->ctx_frames + m > inc->cap ||
                         inc->commit < 0 || inc->commit > m)) {
    return InvalidArgument("flow estimator: inconsistent incremental call ({} cached + {} new "
                           "frames, capacity {}, commit {})", inc->ctx_frames, m, inc->cap, inc->commit);
  }
  const int64_t chunk = streaming ? c.est_chunk : 0;
  const AttentionProducts products = w.weight_type == WeightType::kBF16 ? AttentionProducts::kBf16
                                     : w.weight_type == WeightType::kInt16
                                         ? AttentionProducts::kInt16
                                         : AttentionProducts::kF32;
  EstCtx x{c, m, chunk, mish_temb, time_biases, arena, prof, inc, nb, b0, products};

  // Down stage: resnet + blocks, skip, causal conv.
  float* h = arena.Alloc(static_cast<size_t>(rows * ch));
  COSY_RETURN_IF_ERROR(Stage(e.down, x, in, c.est_in, h));
  float* skip = arena.Alloc(static_cast<size_t>(rows * ch));
  std::memcpy(skip, h, static_cast<size_t>(rows * ch) * sizeof(float));
  float* h2 = arena.Alloc(static_cast<size_t>(rows * ch));
  auto t0 = Clock::now();
  COSY_RETURN_IF_ERROR(CausalConv(e.down.conv, x, h, h2));
  if (prof) prof->est_conv += Since(t0);

  // Mid stages.
  for (const auto& s : e.mid) {
    COSY_RETURN_IF_ERROR(Stage(s, x, h2, ch, h));
    std::swap(h, h2);
  }

  // Up stage: [h | skip] per frame, resnet + blocks, causal conv.
  float* cat = arena.Alloc(static_cast<size_t>(rows * 2 * ch));
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(cat + r * 2 * ch, h2 + r * ch, static_cast<size_t>(ch) * sizeof(float));
    std::memcpy(cat + r * 2 * ch + ch, skip + r * ch, static_cast<size_t>(ch) * sizeof(float));
  }
  COSY_RETURN_IF_ERROR(Stage(e.up, x, cat, 2 * ch, h));
  t0 = Clock::now();
  COSY_RETURN_IF_ERROR(CausalConv(e.up.conv, x, h, h2));

  // Final causal block and 1x1 projection to 80 bins.
  COSY_RETURN_IF_ERROR(CausalConv(e.final_conv, x, h2, h));
  COSY_RETURN_IF_ERROR(NormMish(e.final_ln, h, rows, ch));
  COSY_RETURN_IF_ERROR(e.final_proj->Forward(h, rows, out));
  if (prof) {
    prof->est_conv += Since(t0);
    prof->estimator += Since(t_start);
    prof->estimator_calls += 1;
  }
  return OkStatus();
}

}  // namespace cosyflow::flow
