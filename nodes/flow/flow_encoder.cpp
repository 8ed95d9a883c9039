// UpsampleConformerEncoder forward (spec §4.3-§4.4), time-major [t, d] activations.
#include <cmath>
#include <cstring>

#include "nodes/flow/flow_forward.h"
#include "runtime/kernels/cpu/activation.h"
#include "runtime/kernels/cpu/norm.h"

namespace cosyflow::flow {
namespace {

namespace cpu = kernels::cpu;

// LinearNoSubsampling: y = LayerNorm_1e-5(x W^T + b) * sqrt(d). x, y: [t, d].
Status LinearEmbed(const LinearEmbedW& e, const float* x, int64_t t, int64_t d, float* y) {
  COSY_RETURN_IF_ERROR(e.lin->Forward(x, t, y));
  COSY_RETURN_IF_ERROR(cpu::LayerNorm(y, e.ln.w, e.ln.b, t, d, 1e-5f, y));
  const float xscale = std::sqrt(static_cast<float>(d));
  for (int64_t i = 0; i < t * d; ++i) y[i] *= xscale;
  return OkStatus();
}

// Output projection + residual, then the feed-forward block w_2(SiLU(w_1(LN(x)))) + residual.
// x: [t, d] updated in place; att: the attention output; y: [t, d] scratch.
Status LayerTail(const ConformerLayerW& l, const FlowConfig& c, float* x, const float* att,
                 int64_t t, float* y, Arena& arena) {
  const int64_t d = c.enc_dim;
  COSY_RETURN_IF_ERROR(l.out->Forward(att, t, y));
  for (int64_t i = 0; i < t * d; ++i) x[i] += y[i];
  COSY_RETURN_IF_ERROR(cpu::LayerNorm(x, l.norm_ff.w, l.norm_ff.b, t, d, 1e-12f, y));
  float* hid = arena.Alloc(static_cast<size_t>(t * c.enc_ffn));
  COSY_RETURN_IF_ERROR(l.ff1->Forward(y, t, hid));
  COSY_RETURN_IF_ERROR(cpu::Silu(hid, t * c.enc_ffn, hid));
  COSY_RETURN_IF_ERROR(l.ff2->Forward(hid, t, y));
  for (int64_t i = 0; i < t * d; ++i) x[i] += y[i];
  return OkStatus();
}

// ConformerEncoderLayer (normalize_before, no macaron/conv). x: [t, d] updated in place.
// pos_table: [2t - 1, d] relative positional rows; chunk: 0 = full attention.
Status ConformerLayer(const ConformerLayerW& l, const FlowConfig& c, float* x, int64_t t,
                      const float* pos_table, int64_t chunk, Arena& arena) {
  const int64_t d = c.enc_dim;
  float* y = arena.Alloc(static_cast<size_t>(t * d));
  COSY_RETURN_IF_ERROR(cpu::LayerNorm(x, l.norm_mha.w, l.norm_mha.b, t, d, 1e-12f, y));
  float* qkv = arena.Alloc(static_cast<size_t>(t * 3 * d));
  COSY_RETURN_IF_ERROR(l.qkv->Forward(y, t, qkv));
  float* p = arena.Alloc(static_cast<size_t>((2 * t - 1) * d));
  COSY_RETURN_IF_ERROR(l.pos->Forward(pos_table, 2 * t - 1, p));
  float* att = arena.Alloc(static_cast<size_t>(t * d));
  COSY_RETURN_IF_ERROR(RelPosAttention(qkv, p, l.pos_bias_u, l.pos_bias_v, t, c.enc_heads,
                                       d / c.enc_heads, chunk, arena, att));
  return LayerTail(l, c, x, att, t, y, arena);
}

// The same layer on `n` new rows at absolute positions t0.., chunk-causal (chunk > 0), with the
// earlier rows' keys/values in layer l of stage s of `ec` (the new rows written there) and the
// positional projections there (rows from r = -(chunk - 1), extended here).
Status ConformerLayerCached(const ConformerLayerW& l, const FlowConfig& c, float* x, int64_t n,
                            int64_t t0, int64_t chunk, EncoderCache& ec, int s, size_t li,
                            Arena& arena) {
  const int64_t d = c.enc_dim, rows = t0 + n;
  const int64_t p_first = -(chunk - 1), p_count = rows - p_first;  // r = -(chunk - 1) .. rows - 1
  if (rows > ec.rows_capacity(s) || p_count > ec.p_capacity(s)) {
    return OutOfRange("flow encoder: {} rows exceed the cache's {}", rows, ec.rows_capacity(s));
  }
  float* y = arena.Alloc(static_cast<size_t>(n * d));
  COSY_RETURN_IF_ERROR(cpu::LayerNorm(x, l.norm_mha.w, l.norm_mha.b, n, d, 1e-12f, y));
  float* qkv = arena.Alloc(static_cast<size_t>(n * 3 * d));
  COSY_RETURN_IF_ERROR(l.qkv->Forward(y, n, qkv));
  float* k = ec.k(s, li);
  float* v = ec.v(s, li);
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(k + (t0 + i) * d, qkv + i * 3 * d + d, static_cast<size_t>(d) * sizeof(float));
    std::memcpy(v + (t0 + i) * d, qkv + i * 3 * d + 2 * d, static_cast<size_t>(d) * sizeof(float));
  }
  ec.Wrote(s, rows);
  float* p = ec.p(s, li);
  int64_t& have = ec.p_rows(s, li);
  if (have < p_count) {
    float* pe = arena.Alloc(static_cast<size_t>((p_count - have) * d));
    RelPositionRows(p_first + have, p_count - have, d, pe);
    COSY_RETURN_IF_ERROR(l.pos->Forward(pe, p_count - have, p + have * d));
    have = p_count;
  }
  float* att = arena.Alloc(static_cast<size_t>(n * d));
  COSY_RETURN_IF_ERROR(RelPosAttentionCached(qkv, k, v, p, p_first, p_count, l.pos_bias_u,
                                             l.pos_bias_v, t0, n, c.enc_heads, d / c.enc_heads,
                                             chunk, arena, att));
  return LayerTail(l, c, x, att, n, y, arena);
}

}  // namespace

Status EncoderForwardCached(const FlowWeights& w, const FlowConfig& c, const float* emb, int64_t t,
                            const float* context, EncoderCache& ec, int64_t commit,
                            Arena& arena, float* mu) {
  const EncoderW& e = w.encoder;
  const int64_t d = c.enc_dim, din = c.input_size, la = c.pre_lookahead_len, t0 = ec.tokens;
  if (t0 < 0 || t0 >= t || t0 % c.enc_chunk != 0 || commit < t0 || commit > t) {
    return InvalidArgument("flow encoder: inconsistent cached call ({} cached, {} tokens, commit {})",
                           t0, t, commit);
  }
  const size_t nl1 = e.encoders.size(), nl2 = e.up_encoders.size();
  COSY_RETURN_IF_ERROR(ec.Prepare(c, nl1, nl2));
  if (ec.tail.size() != static_cast<size_t>(2 * d))
    ec.tail.assign(static_cast<size_t>(2 * d), 0.0f);
  const int64_t n = t - t0;
  const int64_t s = std::max<int64_t>(0, t0 - 2);  // conv2 needs two earlier rows of conv1

  // embed rows s .. t, then the lookahead context.
  float* ext = arena.Alloc(static_cast<size_t>((t - s + la) * d));
  COSY_RETURN_IF_ERROR(LinearEmbed(e.embed, emb + s * din, t - s, d, ext));
  if (context != nullptr) {
    COSY_RETURN_IF_ERROR(LinearEmbed(e.embed, context, la, d, ext + (t - s) * d));
  } else {  // finalize: the pre-lookahead layer's zero right-extension
    std::memset(ext + (t - s) * d, 0, static_cast<size_t>(la * d) * sizeof(float));
  }
  // PreLookaheadLayer on rows s .. t (conv1 reads la rows ahead), conv2 causal -> rows t0 .. t.
  float* h1 = arena.Alloc(static_cast<size_t>((t - s) * d));
  COSY_RETURN_IF_ERROR(e.lookahead_conv1.Forward(ext, 1, t - s + la, 0, arena, h1));
  COSY_RETURN_IF_ERROR(cpu::LeakyRelu(h1, (t - s) * d, 0.01f, h1));
  float* x = arena.Alloc(static_cast<size_t>(n * d));
  COSY_RETURN_IF_ERROR(e.lookahead_conv2.Forward(h1, 1, t - s, t0 == 0 ? 2 : 0, arena, x));
  for (int64_t i = 0; i < n * d; ++i) x[i] += ext[(t0 - s) * d + i];

  for (size_t l = 0; l < nl1; ++l) {
    COSY_RETURN_IF_ERROR(
        ConformerLayerCached(e.encoders[l], c, x, n, t0, c.enc_chunk, ec, 0, l, arena));
  }
  // Upsample1D x2: the conv's 4 left frames are the last two committed rows, repeated.
  ec.tail_next = ec.tail;
  if (commit > t0) {
    std::memcpy(ec.tail_next.data(), x + (commit - 2 - t0) * d, static_cast<size_t>(2 * d) * sizeof(float));
  }
  const int64_t n2 = 2 * n;
  float* rep = arena.Alloc(static_cast<size_t>(n2 * d));
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(rep + (2 * i) * d, x + i * d, static_cast<size_t>(d) * sizeof(float));
    std::memcpy(rep + (2 * i + 1) * d, x + i * d, static_cast<size_t>(d) * sizeof(float));
  }
  float* ctx = arena.Alloc(static_cast<size_t>(4 * d));
  for (int64_t r = 0; r < 4; ++r) {
    std::memcpy(ctx + r * d, ec.tail.data() + (r / 2) * d, static_cast<size_t>(d) * sizeof(float));
  }
  float* up = arena.Alloc(static_cast<size_t>(n2 * d));
  COSY_RETURN_IF_ERROR(e.up_conv.ForwardWithContext(rep, 1, n2, ctx, arena, up));

  float* x2 = arena.Alloc(static_cast<size_t>(n2 * d));
  COSY_RETURN_IF_ERROR(LinearEmbed(e.up_embed, up, n2, d, x2));
  const int64_t chunk2 = c.enc_chunk * c.token_mel_ratio;
  for (size_t l = 0; l < nl2; ++l) {
    COSY_RETURN_IF_ERROR(
        ConformerLayerCached(e.up_encoders[l], c, x2, n2, 2 * t0, chunk2, ec, 1, l, arena));
  }
  COSY_RETURN_IF_ERROR(cpu::LayerNorm(x2, e.after_norm.w, e.after_norm.b, n2, d, 1e-5f, x2));
  return w.encoder_proj->Forward(x2, n2, mu);
}

Status EncoderForward(const FlowWeights& w, const FlowConfig& c, const float* emb, int64_t t,
                      const float* context, bool streaming, Arena& arena, const FlowHook& hook,
                      float* mu) {
  const EncoderW& e = w.encoder;
  const int64_t d = c.enc_dim, la = c.pre_lookahead_len;
  if (t <= 0) return InvalidArgument("flow encoder: needs at least one token, got {}", t);

  // embed (+ context through the same layer; its positional rows are never used).
  float* ext = arena.AllocZero(static_cast<size_t>((t + la) * d));  // [x; context or zeros]
  COSY_RETURN_IF_ERROR(LinearEmbed(e.embed, emb, t, d, ext));
  if (context != nullptr) COSY_RETURN_IF_ERROR(LinearEmbed(e.embed, context, la, d, ext + t * d));
  float* pos1 = arena.Alloc(static_cast<size_t>((2 * t - 1) * d));
  RelPositionTable(t, d, pos1);

  // PreLookaheadLayer: conv1 (k = la + 1) over [x; ext], LeakyReLU 0.01, causal conv2 (k 3), + x.
  float* h1 = arena.Alloc(static_cast<size_t>(t * d));
  COSY_RETURN_IF_ERROR(e.lookahead_conv1.Forward(ext, 1, t + la, 0, arena, h1));
  COSY_RETURN_IF_ERROR(cpu::LeakyRelu(h1, t * d, 0.01f, h1));
  float* x = arena.Alloc(static_cast<size_t>(t * d));
  COSY_RETURN_IF_ERROR(e.lookahead_conv2.Forward(h1, 1, t, 2, arena, x));
  for (int64_t i = 0; i < t * d; ++i) x[i] += ext[i];
  if (hook) hook("pre_lookahead_out", x, Dims{t, d});

  // Stage 1 conformer layers (chunk of enc_chunk tokens when streaming).
  const int64_t chunk1 = streaming ? c.enc_chunk : 0;
  for (const auto& l : e.encoders) COSY_RETURN_IF_ERROR(ConformerLayer(l, c, x, t, pos1, chunk1, arena));

  // Upsample1D x2: nearest repeat, 4 zeros on the left, conv k5.
  const int64_t t2 = 2 * t;
  float* rep = arena.Alloc(static_cast<size_t>(t2 * d));
  for (int64_t i = 0; i < t; ++i) {
    std::memcpy(rep + (2 * i) * d, x + i * d, static_cast<size_t>(d) * sizeof(float));
    std::memcpy(rep + (2 * i + 1) * d, x + i * d, static_cast<size_t>(d) * sizeof(float));
  }
  float* up = arena.Alloc(static_cast<size_t>(t2 * d));
  COSY_RETURN_IF_ERROR(e.up_conv.Forward(rep, 1, t2, 4, arena, up));

  // up_embed + stage 2 conformer layers (chunk of 2 x enc_chunk frames when streaming).
  float* x2 = arena.Alloc(static_cast<size_t>(t2 * d));
  COSY_RETURN_IF_ERROR(LinearEmbed(e.up_embed, up, t2, d, x2));
  float* pos2 = arena.Alloc(static_cast<size_t>((2 * t2 - 1) * d));
  RelPositionTable(t2, d, pos2);
  const int64_t chunk2 = streaming ? c.enc_chunk * c.token_mel_ratio : 0;
  for (const auto& l : e.up_encoders) COSY_RETURN_IF_ERROR(ConformerLayer(l, c, x2, t2, pos2, chunk2, arena));
  COSY_RETURN_IF_ERROR(cpu::LayerNorm(x2, e.after_norm.w, e.after_norm.b, t2, d, 1e-5f, x2));
  if (hook) hook("encoder_out", x2, Dims{t2, d});

  // encoder_proj -> mu.
  COSY_RETURN_IF_ERROR(w.encoder_proj->Forward(x2, t2, mu));
  if (hook) hook("mu", mu, Dims{t2, c.output_size});
  return OkStatus();
}

}  // namespace cosyflow::flow
