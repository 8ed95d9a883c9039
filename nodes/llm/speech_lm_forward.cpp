// SpeechLm forward (spec §5.3): pre-norm Qwen2 layers with GQA, RoPE and a per-state KV cache.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "nodes/llm/speech_lm.h"
#include "runtime/kernels/cpu/activation.h"
#include "runtime/kernels/cpu/norm.h"
#include "runtime/kernels/cpu/softmax.h"

namespace cosyflow {
namespace {

namespace cpu = kernels::cpu;

// x: [head_dim] f32, rotated in place by the rotate-half RoPE; cos, sin: [head_dim / 2].
// out[j] = x[j]·c[j] − x[j+half]·s[j]; out[j+half] = x[j+half]·c[j] + x[j]·s[j].
inline void RopeRotateHalf(float* x, const float* cos, const float* sin, int64_t half) {
  for (int64_t j = 0; j < half; ++j) {
    const float x1 = x[j], x2 = x[j + half];
    x[j] = x1 * cos[j] - x2 * sin[j];
    x[j + half] = x2 * cos[j] + x1 * sin[j];
  }
}

// a, b: [n] f32; n a multiple of 16 is fastest (16 partial sums vectorise).
inline float Dot(const float* a, const float* b, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int l = 0; l < 16; ++l) acc[l] += a[i + l] * b[i + l];
  }
  float s = 0;
  for (; i < n; ++i) s += a[i] * b[i];
  for (int l = 0; l < 16; ++l) s += acc[l];
  return s;
}

inline void AddInPlace(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace

Status SpeechLm::Forward(SpeechLmState* state, const float* x, int64_t n, float* logits,
                         const SpeechLmHook* hook) const {
  if (n <= 0) return InvalidArgument("llm: forward needs at least one input row, got {}", n);
  if (state->length_ + n > state->capacity_) {
    return OutOfRange("llm: KV cache full: {} cached + {} new positions > capacity {}",
                      state->length_, n, state->capacity_);
  }
  const int64_t h = config_.qwen.hidden_size;
  for (int64_t start = 0; start < n; start += state->chunk_) {
    const int64_t rows = std::min(state->chunk_, n - start);
    COSY_RETURN_IF_ERROR(
        ForwardChunk(state, x + start * h, rows, start + rows == n, logits, hook));
  }
  return OkStatus();
}

Status SpeechLm::ForwardChunk(SpeechLmState* s, const float* input, int64_t n, bool last_chunk,
                              float* logits, const SpeechLmHook* hook) const {
  const Qwen2Config& q = config_.qwen;
  const int64_t h = q.hidden_size, f = q.intermediate_size;
  const int64_t qkv_dim = h + 2 * q.kv_dim();
  const int64_t pos0 = s->length_;
  float* x = s->x_.data<float>();      // [n, H] residual stream
  float* hn = s->h_.data<float>();     // [n, H] normed input of a sub-layer
  float* qkv = s->qkv_.data<float>();  // [n, H + 2·kv_dim] = q | k | v
  float* attn = s->attn_.data<float>();
  float* proj = s->proj_.data<float>();
  float* gate_up = s->gate_up_.data<float>();  // [n, 2F] = gate | up
  float* act = s->act_.data<float>();          // [n, F]
  auto tap = [&](std::string_view name, int layer, const float* data, int64_t rows,
                 int64_t cols, int64_t p0) {
    if (hook != nullptr && *hook) (*hook)(SpeechLmTap{name, layer, p0, rows, cols, data});
  };

  std::memcpy(x, input, static_cast<size_t>(n * h) * sizeof(float));
  tap("embeds", -1, x, n, h, pos0);
  for (int64_t l = 0; l < q.num_hidden_layers; ++l) {
    const Layer& layer = layers_[static_cast<size_t>(l)];
    // --- self-attention block: x += o(attn(rope(q), rope(k), v)) of RMSNorm1(x) ---
    COSY_RETURN_IF_ERROR(cpu::RmsNorm(x, layer.input_norm.data<float>(), n, h, q.rms_norm_eps, hn));
    COSY_RETURN_IF_ERROR(layer.qkv->Forward(hn, n, qkv));
    Attention(s, l, n);  // reads qkv, writes attn and the KV cache rows pos0 .. pos0 + n - 1
    COSY_RETURN_IF_ERROR(layer.o->Forward(attn, n, proj));
    AddInPlace(x, proj, n * h);
    // --- MLP block: x += down(silu(gate(h)) * up(h)), h = RMSNorm2(x) ---
    COSY_RETURN_IF_ERROR(cpu::RmsNorm(x, layer.post_norm.data<float>(), n, h, q.rms_norm_eps, hn));
    COSY_RETURN_IF_ERROR(layer.gate_up->Forward(hn, n, gate_up));
    for (int64_t i = 0; i < n; ++i) {
      const float* g = gate_up + i * 2 * f;
      float* a = act + i * f;
      COSY_RETURN_IF_ERROR(cpu::Silu(g, f, a));
      for (int64_t j = 0; j < f; ++j) a[j] *= g[f + j];
    }
    COSY_RETURN_IF_ERROR(layer.down->Forward(act, n, proj));
    AddInPlace(x, proj, n * h);
    tap("layer_out", static_cast<int>(l), x, n, h, pos0);
  }
  (void)qkv_dim;
  s->length_ += n;
  if (!last_chunk && !(hook != nullptr && *hook)) return OkStatus();

  // --- final RMSNorm (every row when hooked, else only the last) and the speech head ---
  const float* last = nullptr;
  if (hook != nullptr && *hook) {
    COSY_RETURN_IF_ERROR(cpu::RmsNorm(x, final_norm_.data<float>(), n, h, q.rms_norm_eps, hn));
    tap("final_norm", -1, hn, n, h, pos0);
    last = hn + (n - 1) * h;
  } else {
    float* out = s->last_.data<float>();
    COSY_RETURN_IF_ERROR(
        cpu::RmsNorm(x + (n - 1) * h, final_norm_.data<float>(), 1, h, q.rms_norm_eps, out));
    last = out;
  }
  if (!last_chunk) return OkStatus();
  COSY_RETURN_IF_ERROR(decoder_->Forward(last, 1, logits));
  tap("logits", -1, logits, 1, config_.speech_vocab(), pos0 + n - 1);
  return OkStatus();
}

// Causal GQA attention for the n new rows of s->qkv_ (positions pos0 .. pos0 + n - 1):
// RoPE on q and k, K/V appended to the cache, softmax(q·kᵀ / sqrt(hd)) · v per query head with
// kv head ⌊head / group⌋. Output: s->attn_ [n, H], heads concatenated.
void SpeechLm::Attention(SpeechLmState* s, int64_t layer, int64_t n) const {
  const Qwen2Config& q = config_.qwen;
  const int64_t h = q.hidden_size, hd = q.head_dim(), half = hd / 2;
  const int64_t heads = q.num_attention_heads, kv_heads = q.num_key_value_heads;
  const int64_t group = heads / kv_heads, qkv_dim = h + 2 * q.kv_dim();
  const int64_t pos0 = s->length_, cap = s->capacity_;
  float* qkv = s->qkv_.data<float>();
  float* attn = s->attn_.data<float>();
  float* scores = s->scores_.data<float>();
  float* kc = s->k_cache_.data<float>() + layer * kv_heads * cap * hd;
  float* vc = s->v_cache_.data<float>() + layer * kv_heads * cap * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));

  for (int64_t i = 0; i < n; ++i) {
    const int64_t pos = pos0 + i;
    float* row = qkv + i * qkv_dim;
    const float* cs = s->rope_cos_.data<float>() + pos * half;
    const float* sn = s->rope_sin_.data<float>() + pos * half;
    for (int64_t hh = 0; hh < heads; ++hh) RopeRotateHalf(row + hh * hd, cs, sn, half);
    for (int64_t g = 0; g < kv_heads; ++g) {
      float* k = row + h + g * hd;
      RopeRotateHalf(k, cs, sn, half);
      std::memcpy(kc + (g * cap + pos) * hd, k, static_cast<size_t>(hd) * sizeof(float));
      std::memcpy(vc + (g * cap + pos) * hd, row + h + q.kv_dim() + g * hd,
                  static_cast<size_t>(hd) * sizeof(float));
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    const int64_t len = pos0 + i + 1;  // causal: keys 0 .. pos
    for (int64_t hh = 0; hh < heads; ++hh) {
      const float* qh = qkv + i * qkv_dim + hh * hd;
      const float* kh = kc + (hh / group) * cap * hd;
      const float* vh = vc + (hh / group) * cap * hd;
      for (int64_t t = 0; t < len; ++t) scores[t] = Dot(qh, kh + t * hd, hd) * scale;
      (void)cpu::Softmax(scores, 1, len, scores);
      float* out = attn + i * h + hh * hd;
      std::fill(out, out + hd, 0.0f);
      for (int64_t t = 0; t < len; ++t) {
        const float p = scores[t];
        const float* v = vh + t * hd;
        for (int64_t d = 0; d < hd; ++d) out[d] += p * v[d];
      }
    }
  }
}

}  // namespace cosyflow
