// SpeechLm forward (spec §5.3): pre-norm Qwen2 layers with GQA, RoPE and a per-state KV cache.
#include <omp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>

#include "nodes/llm/speech_lm.h"
#include "nodes/llm/speech_lm_cuda.h"
#include "runtime/kernels/cpu/activation.h"
#include "runtime/kernels/cpu/attention.h"
#include "runtime/kernels/cpu/norm.h"
#include "runtime/kernels/cpu/softmax.h"
#include "runtime/spin_barrier.h"
#include "runtime/work_share.h"

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

inline void AddInPlace(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

// Blocks per chunk of a decode-step product: about 32 KB of weights (a few microseconds of
// streaming, against a compare-and-swap on a cache line the thread already holds).
int64_t DecodeChunkBlocks(const kernels::cpu::Linear& lin) {
  const int64_t bytes = lin.weight_type() == kernels::cpu::WeightType::kInt8   ? 1
                        : lin.weight_type() == kernels::cpu::WeightType::kBF16 ? 2
                                                                               : 4;
  return std::max<int64_t>(1, (int64_t{32} << 10) / (4 * lin.k() * bytes));
}

}  // namespace

Status SpeechLm::Forward(SpeechLmState* state, const float* x, int64_t n, float* logits,
                         const SpeechLmHook* hook) const {
  if (n <= 0) return InvalidArgument("llm: forward needs at least one input row, got {}", n);
  if (state->length_ + n > state->capacity_) {
    return OutOfRange("llm: KV cache full: {} cached + {} new positions > capacity {}",
                      state->length_, n, state->capacity_);
  }
#ifdef COSYFLOW_WITH_CUDA
  if (cuda_) {
    COSY_RETURN_IF_ERROR(cuda_->Forward(state->cuda_.get(), state->length_, x, n, logits, hook));
    state->length_ += n;
    return OkStatus();
  }
#endif
  const int64_t h = config_.qwen.hidden_size;
  if (n == 1 && !(hook != nullptr && *hook) && !omp_in_parallel() && omp_get_max_threads() > 1) {
    return DecodeStep(state, x, logits,
                      std::min(omp_get_max_threads(), kMaxDecodeThreads));
  }
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
  const bool hooked = hook != nullptr && *hook;
  for (int64_t l = 0; l < q.num_hidden_layers; ++l) {
    const Layer& layer = layers_[static_cast<size_t>(l)];
    // Rows whose output this layer computes: all, except in the last layer without a hook,
    // where only the K/V rows of every position and the chunk's last row (the one the head
    // reads, in the last chunk) are used: the rows before `r0` stop after their K/V.
    const int64_t r0 = (hooked || l + 1 < q.num_hidden_layers) ? 0 : (last_chunk ? n - 1 : n);
    const int64_t m = n - r0;
    // --- self-attention block: x += o(attn(rope(q), rope(k), v)) of RMSNorm1(x) ---
    COSY_RETURN_IF_ERROR(cpu::RmsNorm(x, layer.input_norm.data<float>(), n, h, q.rms_norm_eps, hn));
    COSY_RETURN_IF_ERROR(layer.qkv->Forward(hn, n, qkv));
    // reads qkv, writes attn rows r0 .. n - 1 and the KV cache rows pos0 .. pos0 + n - 1
    COSY_RETURN_IF_ERROR(Attention(s, l, n, r0));
    if (m == 0) continue;
    float* xr = x + r0 * h;
    COSY_RETURN_IF_ERROR(layer.o->Forward(attn + r0 * h, m, proj));
    AddInPlace(xr, proj, m * h);
    // --- MLP block: x += down(silu(gate(h)) * up(h)), h = RMSNorm2(x) ---
    COSY_RETURN_IF_ERROR(cpu::RmsNorm(xr, layer.post_norm.data<float>(), m, h, q.rms_norm_eps, hn));
    COSY_RETURN_IF_ERROR(layer.gate_up->Forward(hn, m, gate_up));
    for (int64_t i = 0; i < m; ++i) {
      const float* g = gate_up + i * 2 * f;
      float* a = act + i * f;
      COSY_RETURN_IF_ERROR(cpu::Silu(g, f, a));
      for (int64_t j = 0; j < f; ++j) a[j] *= g[f + j];
    }
    COSY_RETURN_IF_ERROR(layer.down->Forward(act, m, proj));
    AddInPlace(xr, proj, m * h);
    tap("layer_out", static_cast<int>(l), x, n, h, pos0);
  }
  (void)qkv_dim;
  s->length_ += n;
  if (!last_chunk && !hooked) return OkStatus();

  // --- final RMSNorm (every row when hooked, else only the last) and the speech head ---
  const float* last = nullptr;
  if (hooked) {
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

Status SpeechLm::DecodeStep(SpeechLmState* s, const float* input, float* logits,
                           int threads) const {
  const Qwen2Config& q = config_.qwen;
  const int64_t h = q.hidden_size, f = q.intermediate_size;
  const float eps = q.rms_norm_eps;
  float* x = s->x_.data<float>();
  float* hn = s->h_.data<float>();
  float* qkv = s->qkv_.data<float>();
  float* attn = s->attn_.data<float>();
  float* proj = s->proj_.data<float>();
  float* gate_up = s->gate_up_.data<float>();
  float* act = s->act_.data<float>();
  float* last = s->last_.data<float>();

  SpinBarrier barrier(threads);
  std::atomic<bool> failed{false};
  std::array<Status, kMaxDecodeThreads> status;
  // Rows [j0, j1) of an n-row product for thread t of nt: whole row blocks of rb rows (4, the
  // GEMV's; 16 for int8 rows on the AMX-INT8 tile unit, Linear::row_block), so every row is
  // computed exactly as the single-call GEMV computes it, and once.
  auto slice = [](int64_t n, int t, int nt, int64_t* j0, int64_t* j1, int64_t rb = 4) {
    const int64_t blocks = (n + rb - 1) / rb, per = (blocks + nt - 1) / nt;
    *j0 = std::min(n, per * rb * t);
    *j1 = std::min(n, per * rb * (t + 1));
  };
  // The threads' shares of the current product, all empty between products.
  std::array<WorkShare, kMaxDecodeThreads> shares;

#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    // A team smaller than asked for (OMP_DYNAMIC, thread limits) would never fill the barrier:
    // then thread 0 alone does everything, without barriers.
    const bool team = nt == threads;
    if (team || t == 0) {
      const int tt = team ? t : 0, nn = team ? nt : 1;
      // One phase: its work (on every thread, or on thread 0), then the barrier. Every thread
      // passes every barrier whatever fails: a failing phase records its error (exceptions
      // included) and the remaining phases skip their work.
      auto run = [&](bool all_threads, auto&& work) {
        if ((all_threads || tt == 0) && !failed.load(std::memory_order_relaxed)) {
          Status st;
          try {
            st = work();
          } catch (const std::exception& e) {
            st = Internal("llm decode: {}", e.what());
          } catch (...) {
            st = Internal("llm decode: unknown exception");
          }
          if (!st.ok()) {
            status[static_cast<size_t>(tt)] = st;
            failed.store(true, std::memory_order_relaxed);
          }
        }
        if (team) barrier.Wait();
      };
      // One product: x prepared once per thread, then the thread's share of the 4-row blocks
      // chunk by chunk, then chunks taken from the back of the shares of slower threads (the
      // two vCPUs of a shared VM differ by 10-20 % for seconds at a time; a static split left
      // the faster thread waiting at every barrier). Which thread computes a block does not
      // change its bits.
      auto rows = [&](const kernels::cpu::Linear& lin, const float* in, float* out) -> Status {
        COSY_ASSIGN_OR_RETURN(const kernels::cpu::Linear::PreparedRow row, lin.PrepareRow(in));
        const int64_t n = lin.n();
        if (nn == 1) return lin.ForwardPreparedRows(row, 0, n, out);
        const int64_t rb = lin.row_block();
        int64_t j0 = 0, j1 = 0;
        slice(n, tt, nn, &j0, &j1, rb);
        const int64_t chunk = std::max<int64_t>(1, DecodeChunkBlocks(lin) * 4 / rb);
        auto blocks = [&](int64_t b0, int64_t b1) {
          return lin.ForwardPreparedRows(row, std::min(n, b0 * rb), std::min(n, b1 * rb), out);
        };
        WorkShare& own = shares[static_cast<size_t>(tt)];
        own.Reset(j0 / rb, (j1 + rb - 1) / rb);
        for (int64_t b0 = 0, b1 = 0; own.TakeFront(chunk, &b0, &b1);) {
          COSY_RETURN_IF_ERROR(blocks(b0, b1));
        }
        for (int v = 1; v < nn; ++v) {
          WorkShare& other = shares[static_cast<size_t>((tt + v) % nn)];
          for (int64_t b0 = 0, b1 = 0; other.TakeBack(chunk, &b0, &b1);) {
            COSY_RETURN_IF_ERROR(blocks(b0, b1));
          }
        }
        return OkStatus();
      };
      for (int64_t l = 0; l < q.num_hidden_layers; ++l) {
        const Layer& layer = layers_[static_cast<size_t>(l)];
        run(false, [&]() -> Status {
          if (l == 0) {
            std::memcpy(x, input, static_cast<size_t>(h) * sizeof(float));
          } else {
            AddInPlace(x, proj, h);  // the previous layer's MLP output
          }
          return cpu::RmsNorm(x, layer.input_norm.data<float>(), 1, h, eps, hn);
        });
        run(true, [&] { return rows(*layer.qkv, hn, qkv); });
        // Attention per KV head: the team splits the KV heads (each thread's query group, RoPE,
        // cache rows and scratch slice are its own), the same per-head arithmetic as Attention.
        run(true, [&]() -> Status {
          const int64_t kvh = q.num_key_value_heads;
          const int64_t na = std::min<int64_t>({nn, s->attention_threads_, kvh});
          for (int64_t g = tt; g < kvh && tt < na; g += na) {
            COSY_RETURN_IF_ERROR(DecodeAttentionGroup(s, l, g, tt));
          }
          return OkStatus();
        });
        run(true, [&] { return rows(*layer.o, attn, proj); });
        run(false, [&]() -> Status {
          AddInPlace(x, proj, h);
          return cpu::RmsNorm(x, layer.post_norm.data<float>(), 1, h, eps, hn);
        });
        run(true, [&] { return rows(*layer.gate_up, hn, gate_up); });
        run(true, [&]() -> Status {
          int64_t j0 = 0, j1 = 0;
          slice(f, tt, nn, &j0, &j1);
          if (j0 == j1) return OkStatus();
          COSY_RETURN_IF_ERROR(cpu::Silu(gate_up + j0, j1 - j0, act + j0));
          for (int64_t j = j0; j < j1; ++j) act[j] *= gate_up[f + j];
          return OkStatus();
        });
        run(true, [&] { return rows(*layer.down, act, proj); });
      }
      run(false, [&]() -> Status {
        AddInPlace(x, proj, h);
        return cpu::RmsNorm(x, final_norm_.data<float>(), 1, h, eps, last);
      });
      run(true, [&] { return rows(*decoder_, last, logits); });
    }
  }
  for (const Status& st : status) {
    if (!st.ok()) return st;
  }
  s->length_ += 1;
  return OkStatus();
}

// RoPE on the n new rows' query heads of KV group g and on its key head, then the key and value
// rows appended to the layer's cache. Touches group g's slices only, so groups can run on
// different threads.
void SpeechLm::RopeAndCache(SpeechLmState* s, int64_t layer, int64_t n, int64_t g) const {
  const Qwen2Config& q = config_.qwen;
  const int64_t h = q.hidden_size, hd = q.head_dim(), half = hd / 2;
  const int64_t kv_heads = q.num_key_value_heads, group = q.num_attention_heads / kv_heads;
  const int64_t qkv_dim = h + 2 * q.kv_dim(), pos0 = s->length_, cap = s->capacity_;
  float* kc = s->k_cache_.data<float>() + (layer * kv_heads + g) * cap * hd;
  float* vc = s->v_cache_.data<float>() + (layer * kv_heads + g) * cap * hd;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t pos = pos0 + i;
    float* row = s->qkv_.data<float>() + i * qkv_dim;
    const float* cs = s->rope_cos_.data<float>() + pos * half;
    const float* sn = s->rope_sin_.data<float>() + pos * half;
    for (int64_t hh = g * group; hh < (g + 1) * group; ++hh) {
      RopeRotateHalf(row + hh * hd, cs, sn, half);
    }
    float* k = row + h + g * hd;
    RopeRotateHalf(k, cs, sn, half);
    std::memcpy(kc + pos * hd, k, static_cast<size_t>(hd) * sizeof(float));
    std::memcpy(vc + pos * hd, row + h + q.kv_dim() + g * hd,
                static_cast<size_t>(hd) * sizeof(float));
  }
}

// cpu::Attention's layout for one KV head's query group over s->qkv_ rows and the cache.
cpu::AttentionParams SpeechLm::GroupAttentionParams(int64_t cap) const {
  const Qwen2Config& q = config_.qwen;
  const int64_t h = q.hidden_size, hd = q.head_dim();
  cpu::AttentionParams p;
  p.q_heads = q.num_attention_heads / q.num_key_value_heads;
  p.kv_heads = 1;
  p.head_dim = hd;
  p.mask = cpu::AttentionMask::kCausal;
  p.q_head_stride = hd;
  p.q_row_stride = h + 2 * q.kv_dim();
  p.k_head_stride = p.v_head_stride = cap * hd;
  p.k_row_stride = p.v_row_stride = hd;
  p.out_head_stride = hd;
  p.out_row_stride = h;
  return p;
}

// A decode position's attention for KV group g on scratch slice `slot`: RoPE and cache rows of
// the group, then its query heads over keys 0 .. pos (the arithmetic of Attention with n = 1).
Status SpeechLm::DecodeAttentionGroup(SpeechLmState* s, int64_t layer, int64_t g,
                                      int64_t slot) const {
  const Qwen2Config& q = config_.qwen;
  const int64_t hd = q.head_dim(), kv_heads = q.num_key_value_heads;
  const int64_t group = q.num_attention_heads / kv_heads, pos0 = s->length_, cap = s->capacity_;
  RopeAndCache(s, layer, 1, g);
  cpu::AttentionParams p = GroupAttentionParams(cap);
  p.q_len = 1;
  p.kv_len = pos0 + 1;
  p.q_offset = pos0;
  const float* kc = s->k_cache_.data<float>() + (layer * kv_heads + g) * cap * hd;
  const float* vc = s->v_cache_.data<float>() + (layer * kv_heads + g) * cap * hd;
  return cpu::Attention(p, s->qkv_.data<float>() + g * group * hd, kc, vc,
                        s->attn_.data<float>() + g * group * hd,
                        s->scores_.data<float>() + s->attention_scratch_ * slot,
                        s->attention_scratch_);
}

// Causal GQA attention for the n new rows of s->qkv_ (positions pos0 .. pos0 + n - 1):
// RoPE on q and k, K/V appended to the cache, softmax(q·kᵀ / sqrt(hd)) · v per query head with
// kv head ⌊head / group⌋ (cpu::Attention, the whole GQA group of a KV head in one call so each
// cached K/V row serves all its query heads). Work units = KV head × block of query rows, spread
// over the OpenMP team. Output: s->attn_ rows first_out .. n - 1 of [n, H], heads concatenated
// (every row's K/V is cached whatever first_out).
Status SpeechLm::Attention(SpeechLmState* s, int64_t layer, int64_t n, int64_t first_out) const {
  const Qwen2Config& q = config_.qwen;
  const int64_t h = q.hidden_size, hd = q.head_dim();
  const int64_t heads = q.num_attention_heads, kv_heads = q.num_key_value_heads;
  const int64_t group = heads / kv_heads, qkv_dim = h + 2 * q.kv_dim();
  const int64_t pos0 = s->length_, cap = s->capacity_;
  float* qkv = s->qkv_.data<float>();
  float* attn = s->attn_.data<float>();
  float* kc = s->k_cache_.data<float>() + layer * kv_heads * cap * hd;
  float* vc = s->v_cache_.data<float>() + layer * kv_heads * cap * hd;

  for (int64_t g = 0; g < kv_heads; ++g) RopeAndCache(s, layer, n, g);
  const int64_t out_rows = n - first_out;
  if (out_rows <= 0) return OkStatus();
  const cpu::AttentionParams p = GroupAttentionParams(cap);
  const int64_t blocks = (out_rows + kAttentionRowBlock - 1) / kAttentionRowBlock;
  const int64_t units = kv_heads * blocks;
  // A decode step's attention (one row per query head) is a few microseconds: waking the team
  // would cost more than it saves, so small calls stay on this thread.
  const int64_t work = out_rows * (pos0 + n) * heads * hd;
  const int nt = omp_in_parallel() || work < kAttentionParallelMinWork
                     ? 1
                     : static_cast<int>(std::min<int64_t>(
                           {static_cast<int64_t>(omp_get_max_threads()), units,
                            s->attention_threads_}));
  float* scratch = s->scores_.data<float>();
  const int64_t per = s->attention_scratch_;
  std::array<Status, SpeechLmState::kMaxAttentionThreads> status;
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (nt > 1)
  for (int64_t u = 0; u < units; ++u) {
    const int id = omp_get_thread_num();
    if (!status[static_cast<size_t>(id)].ok()) continue;
    // Later query blocks see more keys: the last block first balances the dynamic schedule.
    const int64_t b = blocks - 1 - u / kv_heads, g = u % kv_heads;
    const int64_t i0 = first_out + b * kAttentionRowBlock;
    const int64_t rows = std::min(kAttentionRowBlock, n - i0);
    cpu::AttentionParams up = p;
    up.q_len = rows;
    up.kv_len = pos0 + i0 + rows;  // causal: the block's last row sees keys 0 .. pos0 + i0 + rows - 1
    up.q_offset = pos0 + i0;
    status[static_cast<size_t>(id)] =
        cpu::Attention(up, qkv + i0 * qkv_dim + g * group * hd, kc + g * cap * hd,
                       vc + g * cap * hd, attn + i0 * h + g * group * hd, scratch + per * id, per);
  }
  for (const Status& st : status) {
    if (!st.ok()) return st;
  }
  return OkStatus();
}

}  // namespace cosyflow
