// SpeechLm forward on a CUDA device (spec §5.3, the layer loop of speech_lm_forward.cpp).
#ifdef COSYFLOW_WITH_CUDA

#include "nodes/llm/speech_lm_cuda.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>

#include "runtime/kernels/cuda/cuda_status.h"

namespace cosyflow {
namespace {

Status Check(const std::string& error, std::string_view what) {
  return cuda::ToStatus(error, "llm", what);
}

#define COSY_CUDA(expr, what) COSY_RETURN_IF_ERROR(Check((expr), (what)))

}  // namespace

Status SpeechLmCuda::UploadLinear(const float* w, const float* bias, int64_t out, int64_t in,
                                  SpeechLmCudaLinear* lin) const {
  const size_t n = static_cast<size_t>(out * in);
  COSY_CUDA(bf16_ ? lin->w.UploadBf16(w, n) : lin->w.Upload(w, n * sizeof(float)),
            fmt::format("upload a [{}, {}] weight", out, in));
  if (bias != nullptr) {
    COSY_CUDA(lin->bias.Upload(bias, static_cast<size_t>(out) * sizeof(float)), "upload a bias");
  }
  lin->view.w = lin->w.get();
  lin->view.bias = bias != nullptr ? lin->bias.f32() : nullptr;
  lin->view.out = out;
  lin->view.in = in;
  lin->view.bf16 = bf16_;
  return OkStatus();
}

Status SpeechLmCuda::UploadVector(const Tensor& t, cuda::Buffer* buf) const {
  COSY_CUDA(buf->Upload(t.data<float>(), t.nbytes()), "upload a norm weight");
  return OkStatus();
}

size_t SpeechLmCuda::weight_bytes() const {
  size_t bytes = decoder_.w.bytes();
  for (const Layer& l : layers_) {
    bytes += l.qkv.w.bytes() + l.o.w.bytes() + l.gate_up.w.bytes() + l.down.w.bytes();
  }
  return bytes;
}

Result<std::unique_ptr<SpeechLmCudaState>> SpeechLmCuda::NewState(int64_t capacity, int64_t chunk,
                                                                  const float* rope_cos,
                                                                  const float* rope_sin) const {
  const Qwen2Config& q = config_.qwen;
  const int64_t h = q.hidden_size, hd = q.head_dim(), f = q.intermediate_size;
  const int64_t qkv_dim = h + 2 * q.kv_dim(), vocab = config_.speech_vocab();
  if (capacity > cuda::MaxAttentionKeys(hd)) {
    return OutOfRange(
        "llm (cuda): a KV capacity of {} positions exceeds the {} the attention kernel holds "
        "(lower max_context)",
        capacity, cuda::MaxAttentionKeys(hd));
  }
  auto s = std::make_unique<SpeechLmCudaState>();
  std::string error;
  s->ctx = cuda::Context::Create(&error);
  if (s->ctx == nullptr) return Check(error, "new state");
  s->capacity = capacity;
  s->chunk = chunk;
  const size_t f32 = sizeof(float);
  const size_t cache = static_cast<size_t>(q.num_hidden_layers * q.num_key_value_heads *
                                           capacity * hd) * f32;
  const size_t widest_in = static_cast<size_t>(std::max(h, f));
  const size_t rope = static_cast<size_t>(capacity * (hd / 2)) * f32;
  COSY_CUDA(s->k_cache.Allocate(cache), "KV cache");
  COSY_CUDA(s->v_cache.Allocate(cache), "KV cache");
  COSY_CUDA(s->rope_cos.Upload(rope_cos, rope), "RoPE table");
  COSY_CUDA(s->rope_sin.Upload(rope_sin, rope), "RoPE table");
  const size_t rows = static_cast<size_t>(chunk);
  COSY_CUDA(s->x.Allocate(rows * h * f32), "scratch");
  COSY_CUDA(s->h.Allocate(rows * h * f32), "scratch");
  COSY_CUDA(s->qkv.Allocate(rows * qkv_dim * f32), "scratch");
  COSY_CUDA(s->attn.Allocate(rows * h * f32), "scratch");
  COSY_CUDA(s->proj.Allocate(rows * h * f32), "scratch");
  COSY_CUDA(s->gate_up.Allocate(rows * 2 * f * f32), "scratch");
  COSY_CUDA(s->act.Allocate(rows * f * f32), "scratch");
  if (bf16_) COSY_CUDA(s->bf16.Allocate(rows * widest_in * sizeof(uint16_t)), "scratch");
  COSY_CUDA(s->last.Allocate(h * f32), "scratch");
  COSY_CUDA(s->logits.Allocate(vocab * f32), "scratch");
  s->tap.resize(rows * static_cast<size_t>(h));
  const char* graphs = std::getenv("COSYFLOW_CUDA_GRAPHS");
  s->use_graphs = graphs == nullptr || std::string_view(graphs) != "0";
  COSY_CUDA(s->stage_x.Allocate(h * f32), "staging");
  COSY_CUDA(s->stage_pos.Allocate(sizeof(int64_t)), "staging");
  COSY_CUDA(s->stage_logits.Allocate(vocab * f32), "staging");
  COSY_CUDA(s->pos.Allocate(sizeof(int64_t)), "staging");
  COSY_CUDA(cuda::PrepareKernels(), "kernel set-up");
  return s;
}

Status SpeechLmCuda::Forward(SpeechLmCudaState* s, int64_t pos0, const float* x, int64_t n,
                             float* logits, const SpeechLmHook* hook) const {
  const int64_t h = config_.qwen.hidden_size;
  for (int64_t start = 0; start < n; start += s->chunk) {
    const int64_t rows = std::min(s->chunk, n - start);
    COSY_RETURN_IF_ERROR(ForwardChunk(s, pos0 + start, x + start * h, rows, start + rows == n,
                                      logits, hook));
  }
  return OkStatus();
}

Status SpeechLmCuda::ForwardChunk(SpeechLmCudaState* s, int64_t pos0, const float* input,
                                  int64_t n, bool last_chunk, float* logits,
                                  const SpeechLmHook* hook) const {
  const bool hooked = hook != nullptr && *hook;
  if (n == 1 && last_chunk && !hooked && s->use_graphs) return DecodeGraph(s, pos0, input, logits);
  const int64_t h = config_.qwen.hidden_size;
  cuda::Context& ctx = *s->ctx;
  COSY_CUDA(ctx.CopyToDevice(s->x.f32(), input, static_cast<size_t>(n * h) * sizeof(float)),
            "input");
  COSY_RETURN_IF_ERROR(Enqueue(s, pos0, nullptr, n, last_chunk, hook));
  if (last_chunk) {
    COSY_CUDA(ctx.CopyToHost(logits, s->logits.f32(),
                             static_cast<size_t>(config_.speech_vocab()) * sizeof(float)),
              "logits");
  }
  COSY_CUDA(ctx.Sync(), "forward");
  if (last_chunk && hooked) {
    (*hook)(SpeechLmTap{"logits", -1, pos0 + n - 1, 1, config_.speech_vocab(), logits});
  }
  return OkStatus();
}

Status SpeechLmCuda::DecodeGraph(SpeechLmCudaState* s, int64_t pos0, const float* input,
                                 float* logits) const {
  const int64_t h = config_.qwen.hidden_size, vocab = config_.speech_vocab();
  cuda::Context& ctx = *s->ctx;
  if (!s->decode_graph.ready()) {
    COSY_CUDA(ctx.BeginCapture(), "decode graph");
    Status st = Check(ctx.CopyToDevice(s->pos.get(), s->stage_pos.get(), sizeof(int64_t)),
                      "decode graph position");
    if (st.ok()) {
      st = Check(ctx.CopyToDevice(s->x.f32(), s->stage_x.f32(), static_cast<size_t>(h) * 4),
                 "decode graph input");
    }
    if (st.ok()) {
      st = Enqueue(s, pos0, static_cast<const int64_t*>(s->pos.get()), 1, true, nullptr);
    }
    if (st.ok()) {
      st = Check(ctx.CopyToHost(s->stage_logits.f32(), s->logits.f32(),
                                static_cast<size_t>(vocab) * sizeof(float)),
                 "decode graph logits");
    }
    const std::string ended = ctx.EndCapture(&s->decode_graph);
    COSY_RETURN_IF_ERROR(st);
    COSY_CUDA(ended, "decode graph");
  }
  *static_cast<int64_t*>(s->stage_pos.get()) = pos0;
  std::copy_n(input, h, s->stage_x.f32());
  COSY_CUDA(ctx.Launch(s->decode_graph), "decode step");
  COSY_CUDA(ctx.Sync(), "decode step");
  std::copy_n(s->stage_logits.f32(), vocab, logits);
  return OkStatus();
}

Status SpeechLmCuda::Enqueue(SpeechLmCudaState* s, int64_t pos0, const int64_t* pos_dev,
                             int64_t n, bool last_chunk, const SpeechLmHook* hook) const {
  const Qwen2Config& q = config_.qwen;
  const int64_t h = q.hidden_size, f = q.intermediate_size, hd = q.head_dim();
  const float eps = q.rms_norm_eps;
  const bool hooked = hook != nullptr && *hook;
  cuda::Context& ctx = *s->ctx;
  const cuda::AttentionShape shape{q.num_attention_heads, q.num_key_value_heads, hd,
                                   s->capacity};
  const size_t layer_cache = static_cast<size_t>(q.num_key_value_heads * s->capacity * hd);
  float* x = s->x.f32();
  float* hn = s->h.f32();
  float* qkv = s->qkv.f32();
  float* attn = s->attn.f32();
  float* proj = s->proj.f32();
  float* gate_up = s->gate_up.f32();
  float* act = s->act.f32();
  void* bf16 = s->bf16.get();
  // A hooked intermediate: copied to the host and shown (test and parity path only).
  auto tap = [&](std::string_view name, int layer, const float* data, int64_t rows,
                 int64_t p0) -> Status {
    if (!hooked) return OkStatus();
    COSY_CUDA(ctx.CopyToHost(s->tap.data(), data, static_cast<size_t>(rows * h) * sizeof(float)),
              name);
    COSY_CUDA(ctx.Sync(), name);
    (*hook)(SpeechLmTap{name, layer, p0, rows, h, s->tap.data()});
    return OkStatus();
  };

  COSY_RETURN_IF_ERROR(tap("embeds", -1, x, n, pos0));
  for (int64_t l = 0; l < q.num_hidden_layers; ++l) {
    const Layer& layer = layers_[static_cast<size_t>(l)];
    float* kc = s->k_cache.f32() + static_cast<size_t>(l) * layer_cache;
    float* vc = s->v_cache.f32() + static_cast<size_t>(l) * layer_cache;
    // The previous layer's MLP output is added here (fused with the norm).
    COSY_CUDA(cuda::AddRmsNorm(ctx, x, l == 0 ? nullptr : proj, layer.input_norm.f32(), n, h,
                               eps, hn),
              "input norm");
    if (l > 0) COSY_RETURN_IF_ERROR(tap("layer_out", static_cast<int>(l - 1), x, n, pos0));
    COSY_CUDA(cuda::Linear(ctx, layer.qkv.view, hn, n, qkv, bf16), "qkv");
    COSY_CUDA(cuda::RopeAppendKv(ctx, shape, qkv, n, pos0, pos_dev, s->rope_cos.f32(),
                                 s->rope_sin.f32(), kc, vc),
              "rope");
    COSY_CUDA(cuda::CausalAttention(ctx, shape, qkv, n, pos0, pos_dev, kc, vc, attn),
              "attention");
    COSY_CUDA(cuda::Linear(ctx, layer.o.view, attn, n, proj, bf16), "o_proj");
    COSY_CUDA(cuda::AddRmsNorm(ctx, x, proj, layer.post_norm.f32(), n, h, eps, hn),
              "post-attention norm");
    COSY_CUDA(cuda::Linear(ctx, layer.gate_up.view, hn, n, gate_up, bf16), "gate/up");
    COSY_CUDA(cuda::SiluMul(ctx, gate_up, n, f, act), "silu");
    COSY_CUDA(cuda::Linear(ctx, layer.down.view, act, n, proj, bf16), "down_proj");
  }
  if (!last_chunk && !hooked) return OkStatus();
  // The last layer's MLP output, then the final norm (every row when hooked, else the last).
  const int64_t norm_rows = hooked ? n : 1;
  float* norm_in = hooked ? x : x + (n - 1) * h;
  COSY_CUDA(cuda::AddRmsNorm(ctx, norm_in, hooked ? proj : proj + (n - 1) * h,
                             final_norm_.f32(), norm_rows, h, eps, hooked ? hn : s->last.f32()),
            "final norm");
  if (hooked) {
    COSY_RETURN_IF_ERROR(
        tap("layer_out", static_cast<int>(q.num_hidden_layers - 1), x, n, pos0));
    COSY_RETURN_IF_ERROR(tap("final_norm", -1, hn, n, pos0));
  }
  if (last_chunk) {
    const float* last = hooked ? hn + (n - 1) * h : s->last.f32();
    COSY_CUDA(cuda::Linear(ctx, decoder_.view, last, 1, s->logits.f32(), bf16), "speech head");
  }
  return OkStatus();
}

// The prefix layout is [layers · kv_heads, length, hd]; the cache's [.., capacity, hd].
Status SpeechLmCuda::SavePrefix(SpeechLmCudaState* s, int64_t length, float* k, float* v) const {
  const Qwen2Config& q = config_.qwen;
  const size_t row = static_cast<size_t>(q.head_dim()) * sizeof(float);
  const size_t blocks = static_cast<size_t>(q.num_hidden_layers * q.num_key_value_heads);
  const size_t src_pitch = static_cast<size_t>(s->capacity) * row;
  const size_t width = static_cast<size_t>(length) * row;
  COSY_CUDA(s->ctx->Copy2D(k, width, s->k_cache.get(), src_pitch, width, blocks), "save prefix");
  COSY_CUDA(s->ctx->Copy2D(v, width, s->v_cache.get(), src_pitch, width, blocks), "save prefix");
  COSY_CUDA(s->ctx->Sync(), "save prefix");
  return OkStatus();
}

Status SpeechLmCuda::LoadPrefix(SpeechLmCudaState* s, int64_t length, const float* k,
                                const float* v) const {
  const Qwen2Config& q = config_.qwen;
  const size_t row = static_cast<size_t>(q.head_dim()) * sizeof(float);
  const size_t blocks = static_cast<size_t>(q.num_hidden_layers * q.num_key_value_heads);
  const size_t dst_pitch = static_cast<size_t>(s->capacity) * row;
  const size_t width = static_cast<size_t>(length) * row;
  COSY_CUDA(s->ctx->Copy2D(s->k_cache.get(), dst_pitch, k, width, width, blocks), "load prefix");
  COSY_CUDA(s->ctx->Copy2D(s->v_cache.get(), dst_pitch, v, width, width, blocks), "load prefix");
  COSY_CUDA(s->ctx->Sync(), "load prefix");
  return OkStatus();
}

}  // namespace cosyflow

#endif  // COSYFLOW_WITH_CUDA
