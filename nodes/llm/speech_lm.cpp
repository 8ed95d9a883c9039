// SpeechLm: weight loading (llm.pt, strict key set, shape checks), embeddings and state setup.
#include "nodes/llm/speech_lm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <unordered_set>

#include "nodes/llm/speech_lm_cuda.h"
#include "runtime/io/checkpoint.h"
#include "runtime/kernels/cpu/attention.h"

namespace cosyflow {
namespace {

namespace cpu = kernels::cpu;

std::string LayerKey(int64_t i, const char* rest) {
  return fmt::format("llm.model.model.layers.{}.{}", i, rest);
}

// A contiguous f32 tensor (checkpoints may hold f16/bf16 or strided views).
Result<Tensor> AsF32(const std::string& name, Tensor t) {
  if (t.dtype() == DType::kF32 && t.is_contiguous()) return t;
  if (t.dtype() != DType::kF32 && t.dtype() != DType::kF16 && t.dtype() != DType::kBF16) {
    return Unsupported("tensor '{}': dtype {} is not a float type", name, DTypeName(t.dtype()));
  }
  return t.To(DType::kF32);
}

Result<Tensor> GetF32(const SpeechLm::WeightGetter& get, const std::string& name,
                      const Dims& shape) {
  COSY_ASSIGN_OR_RETURN(Tensor t, get(name, shape));
  if (t.shape() != shape) {
    return InvalidArgument("tensor '{}' has shape {}, expected {}", name, t.shape().ToString(),
                           shape.ToString());
  }
  return AsF32(name, std::move(t));
}

// Concatenates row blocks [n_i, k] into one [sum n_i, k] buffer (fused projections).
std::vector<float> ConcatRows(std::initializer_list<const Tensor*> parts) {
  size_t total = 0;
  for (const Tensor* p : parts) total += static_cast<size_t>(p->numel());
  std::vector<float> out(total);
  size_t at = 0;
  for (const Tensor* p : parts) {
    std::memcpy(out.data() + at, p->data<float>(), p->nbytes());
    at += static_cast<size_t>(p->numel());
  }
  return out;
}

// RoPE table as Hugging Face computes it in f32: inv_freq[j] = 1 / theta^(2j / hd),
// angle = f32(pos) * inv_freq[j] (f32 product), then cos / sin. cs, sn: [capacity, hd / 2].
void FillRope(const Qwen2Config& q, int64_t capacity, float* cs, float* sn) {
  const int64_t hd = q.head_dim(), half = hd / 2;
  std::vector<float> inv_freq(static_cast<size_t>(half));
  for (int64_t j = 0; j < half; ++j) {
    const float e = static_cast<float>(2 * j) / static_cast<float>(hd);
    inv_freq[static_cast<size_t>(j)] = 1.0f / std::pow(q.rope_theta, e);
  }
  for (int64_t p = 0; p < capacity; ++p) {
    for (int64_t j = 0; j < half; ++j) {
      const float angle = static_cast<float>(p) * inv_freq[static_cast<size_t>(j)];
      cs[p * half + j] = static_cast<float>(std::cos(static_cast<double>(angle)));
      sn[p * half + j] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
}

}  // namespace

#ifdef COSYFLOW_WITH_CUDA
void SpeechLmCudaDeleter::operator()(SpeechLmCuda* p) const { delete p; }
void SpeechLmCudaDeleter::operator()(SpeechLmCudaState* p) const { delete p; }
#else
// Never set in a build without CUDA (Create refuses the device).
void SpeechLmCudaDeleter::operator()(SpeechLmCuda*) const {}
void SpeechLmCudaDeleter::operator()(SpeechLmCudaState*) const {}
#endif

SpeechLm::~SpeechLm() = default;

std::vector<std::pair<std::string, Dims>> SpeechLm::ExpectedWeights(const SpeechLmConfig& c) {
  const Qwen2Config& q = c.qwen;
  const int64_t h = q.hidden_size, kv = q.kv_dim(), f = q.intermediate_size;
  std::vector<std::pair<std::string, Dims>> w;
  w.emplace_back("llm_embedding.weight", Dims{2, h});
  w.emplace_back("llm.model.model.embed_tokens.weight", Dims{q.vocab_size, h});
  for (int64_t i = 0; i < q.num_hidden_layers; ++i) {
    w.emplace_back(LayerKey(i, "input_layernorm.weight"), Dims{h});
    w.emplace_back(LayerKey(i, "self_attn.q_proj.weight"), Dims{h, h});
    w.emplace_back(LayerKey(i, "self_attn.q_proj.bias"), Dims{h});
    w.emplace_back(LayerKey(i, "self_attn.k_proj.weight"), Dims{kv, h});
    w.emplace_back(LayerKey(i, "self_attn.k_proj.bias"), Dims{kv});
    w.emplace_back(LayerKey(i, "self_attn.v_proj.weight"), Dims{kv, h});
    w.emplace_back(LayerKey(i, "self_attn.v_proj.bias"), Dims{kv});
    w.emplace_back(LayerKey(i, "self_attn.o_proj.weight"), Dims{h, h});
    w.emplace_back(LayerKey(i, "post_attention_layernorm.weight"), Dims{h});
    w.emplace_back(LayerKey(i, "mlp.gate_proj.weight"), Dims{f, h});
    w.emplace_back(LayerKey(i, "mlp.up_proj.weight"), Dims{f, h});
    w.emplace_back(LayerKey(i, "mlp.down_proj.weight"), Dims{h, f});
  }
  w.emplace_back("llm.model.model.norm.weight", Dims{h});
  w.emplace_back("llm_decoder.weight", Dims{c.speech_vocab(), h});
  w.emplace_back("llm_decoder.bias", Dims{c.speech_vocab()});
  w.emplace_back("speech_embedding.weight", Dims{c.speech_vocab(), h});
  w.emplace_back("llm.model.lm_head.weight", Dims{q.vocab_size, h});
  return w;
}

Result<std::unique_ptr<SpeechLm>> SpeechLm::Create(const SpeechLmConfig& config,
                                                   const WeightGetter& get,
                                                   const SpeechLmLoadOptions& options) {
  COSY_RETURN_IF_ERROR(config.Validate());
  const Qwen2Config& q = config.qwen;
  const int64_t h = q.hidden_size, kv = q.kv_dim(), f = q.intermediate_size;
  std::unique_ptr<SpeechLm> m(new SpeechLm());
  m->config_ = config;
  m->options_ = options;
  if (options.weight_type == cpu::WeightType::kInt16) {
    // The decode reads each weight once per token (memory bound): int16 panels would move as
    // many bytes as bf16 and have no row products for the decode's threads.
    return InvalidArgument("llm: precision int16 is for the flow; use f32, bf16 or int8");
  }
  const bool on_cuda = options.device == Device::kCuda;
  if (on_cuda) {
#ifdef COSYFLOW_WITH_CUDA
    if (options.weight_type == cpu::WeightType::kInt8) {
      return Unsupported("llm: int8 weights run on the cpu only; on cuda use f32 or bf16");
    }
    if (cuda::VisibleDevices() == 0) {
      return MakeError(StatusCode::kUnavailable,
                       "llm: device cuda asked for, but no CUDA device is visible");
    }
    m->cuda_.reset(new SpeechLmCuda(config, options.weight_type == cpu::WeightType::kBF16));
#else
    return Unsupported("llm: device cuda asked for, but this build has no CUDA backend");
#endif
  }
  // One linear, on the CPU (cpu::Linear in the load's weight type) or uploaded to the device
  // into layer `layer`'s slot `cuda_slot` (0 q|k|v, 1 o, 2 gate|up, 3 down; layer < 0: head).
  auto linear = [&](const float* w, const float* b, int64_t out, int64_t in,
                    std::unique_ptr<cpu::Linear>* cpu_linear,
                    [[maybe_unused]] int cuda_slot, [[maybe_unused]] int64_t layer) -> Status {
#ifdef COSYFLOW_WITH_CUDA
    if (m->cuda_) {
      SpeechLmCudaLinear* dst = nullptr;
      if (layer < 0) {
        dst = &m->cuda_->decoder();
      } else {
        SpeechLmCuda::Layer& cl = m->cuda_->layers()[static_cast<size_t>(layer)];
        SpeechLmCudaLinear* slots[] = {&cl.qkv, &cl.o, &cl.gate_up, &cl.down};
        dst = slots[cuda_slot];
      }
      return m->cuda_->UploadLinear(w, b, out, in, dst);
    }
#endif
    COSY_ASSIGN_OR_RETURN(*cpu_linear, cpu::Linear::Create(w, b, out, in, options.weight_type));
    return OkStatus();
  };
  COSY_ASSIGN_OR_RETURN(m->llm_embedding_, GetF32(get, "llm_embedding.weight", Dims{2, h}));
  COSY_ASSIGN_OR_RETURN(m->text_embedding_,
                        GetF32(get, "llm.model.model.embed_tokens.weight", Dims{q.vocab_size, h}));
  COSY_ASSIGN_OR_RETURN(m->speech_embedding_,
                        GetF32(get, "speech_embedding.weight", Dims{config.speech_vocab(), h}));
  COSY_ASSIGN_OR_RETURN(m->final_norm_, GetF32(get, "llm.model.model.norm.weight", Dims{h}));
  for (int64_t i = 0; i < q.num_hidden_layers; ++i) {
    Layer l;
    COSY_ASSIGN_OR_RETURN(l.input_norm, GetF32(get, LayerKey(i, "input_layernorm.weight"), {h}));
    COSY_ASSIGN_OR_RETURN(l.post_norm,
                          GetF32(get, LayerKey(i, "post_attention_layernorm.weight"), {h}));
#ifdef COSYFLOW_WITH_CUDA
    if (m->cuda_) {
      m->cuda_->layers().emplace_back();
      SpeechLmCuda::Layer& cl = m->cuda_->layers().back();
      COSY_RETURN_IF_ERROR(m->cuda_->UploadVector(l.input_norm, &cl.input_norm));
      COSY_RETURN_IF_ERROR(m->cuda_->UploadVector(l.post_norm, &cl.post_norm));
    }
#endif
    {
      COSY_ASSIGN_OR_RETURN(Tensor wq, GetF32(get, LayerKey(i, "self_attn.q_proj.weight"), {h, h}));
      COSY_ASSIGN_OR_RETURN(Tensor bq, GetF32(get, LayerKey(i, "self_attn.q_proj.bias"), {h}));
      COSY_ASSIGN_OR_RETURN(Tensor wk, GetF32(get, LayerKey(i, "self_attn.k_proj.weight"), {kv, h}));
      COSY_ASSIGN_OR_RETURN(Tensor bk, GetF32(get, LayerKey(i, "self_attn.k_proj.bias"), {kv}));
      COSY_ASSIGN_OR_RETURN(Tensor wv, GetF32(get, LayerKey(i, "self_attn.v_proj.weight"), {kv, h}));
      COSY_ASSIGN_OR_RETURN(Tensor bv, GetF32(get, LayerKey(i, "self_attn.v_proj.bias"), {kv}));
      const std::vector<float> w = ConcatRows({&wq, &wk, &wv});
      const std::vector<float> b = ConcatRows({&bq, &bk, &bv});
      COSY_RETURN_IF_ERROR(linear(w.data(), b.data(), h + 2 * kv, h, &l.qkv, 0, i));
    }
    {
      COSY_ASSIGN_OR_RETURN(Tensor wo, GetF32(get, LayerKey(i, "self_attn.o_proj.weight"), {h, h}));
      COSY_RETURN_IF_ERROR(linear(wo.data<float>(), nullptr, h, h, &l.o, 1, i));
    }
    {
      COSY_ASSIGN_OR_RETURN(Tensor wg, GetF32(get, LayerKey(i, "mlp.gate_proj.weight"), {f, h}));
      COSY_ASSIGN_OR_RETURN(Tensor wu, GetF32(get, LayerKey(i, "mlp.up_proj.weight"), {f, h}));
      const std::vector<float> w = ConcatRows({&wg, &wu});
      COSY_RETURN_IF_ERROR(linear(w.data(), nullptr, 2 * f, h, &l.gate_up, 2, i));
    }
    {
      COSY_ASSIGN_OR_RETURN(Tensor wd, GetF32(get, LayerKey(i, "mlp.down_proj.weight"), {h, f}));
      COSY_RETURN_IF_ERROR(linear(wd.data<float>(), nullptr, h, f, &l.down, 3, i));
    }
    m->layers_.push_back(std::move(l));
  }
  COSY_ASSIGN_OR_RETURN(Tensor wdec,
                        GetF32(get, "llm_decoder.weight", Dims{config.speech_vocab(), h}));
  COSY_ASSIGN_OR_RETURN(Tensor bdec, GetF32(get, "llm_decoder.bias", Dims{config.speech_vocab()}));
  COSY_RETURN_IF_ERROR(linear(wdec.data<float>(), bdec.data<float>(), config.speech_vocab(), h,
                              &m->decoder_, 0, -1));
#ifdef COSYFLOW_WITH_CUDA
  if (m->cuda_) {
    COSY_RETURN_IF_ERROR(m->cuda_->UploadVector(m->final_norm_, &m->cuda_->final_norm()));
  }
#endif
  return m;
}

Result<std::unique_ptr<SpeechLm>> SpeechLm::Load(const std::string& model_dir,
                                                 const SpeechLmLoadOptions& options) {
  SpeechLmConfig config;
  COSY_ASSIGN_OR_RETURN(config.qwen, Qwen2Config::FromModelDir(model_dir));
  const std::string path =
      (std::filesystem::path(model_dir.empty() ? "." : model_dir) / "llm.pt").string();
  COSY_ASSIGN_OR_RETURN(Checkpoint ckpt, Checkpoint::Open(path));
  // Strict key set, like the reference's load_state_dict(strict=True); lm_head may be absent
  // (tied to embed_tokens) and is only shape-checked.
  const auto expected = ExpectedWeights(config);
  std::unordered_set<std::string> names;
  for (const auto& [name, shape] : expected) {
    names.insert(name);
    if (name == "llm.model.lm_head.weight" && ckpt.Find(name) == nullptr) continue;
    COSY_ASSIGN_OR_RETURN(Tensor t, ckpt.Get(name, shape));
    (void)t;
  }
  for (const auto& e : ckpt.entries()) {
    if (!names.count(e.name)) {
      return InvalidArgument("{}: unexpected tensor '{}' (not a CosyVoice2 Qwen2LM weight for {})",
                             path, e.name, config.qwen.ToString());
    }
  }
  auto get = [&ckpt](const std::string& name, const Dims& shape) { return ckpt.Get(name, shape); };
  auto m = Create(config, get, options);
  if (!m.ok()) return m.status().WithContext(path);
  // The linears were converted (packed f32, bf16 or int8 copies): the file's pages they were
  // read from go; the embedding tables stay views and fault in the rows requests use.
  ckpt.ReleaseResidentPages();
  return m;
}

size_t SpeechLm::decode_weight_bytes() const {
#ifdef COSYFLOW_WITH_CUDA
  if (cuda_) return cuda_->weight_bytes();
#endif
  size_t bytes = 0;
  for (const Layer& l : layers_) {
    bytes += l.qkv->packed_weight_bytes() + l.o->packed_weight_bytes() +
             l.gate_up->packed_weight_bytes() + l.down->packed_weight_bytes();
  }
  return bytes + decoder_->packed_weight_bytes();
}

Status SpeechLm::Embed(std::span<const SpeechLmRow> rows, float* out) const {
  const int64_t h = config_.qwen.hidden_size;
  for (size_t r = 0; r < rows.size(); ++r) {
    const Tensor* table = nullptr;
    const char* table_name = "";
    switch (rows[r].table) {
      case SpeechLmTable::kLlmEmbedding:
        table = &llm_embedding_;
        table_name = "llm_embedding";
        break;
      case SpeechLmTable::kText:
        table = &text_embedding_;
        table_name = "embed_tokens";
        break;
      case SpeechLmTable::kSpeech:
        table = &speech_embedding_;
        table_name = "speech_embedding";
        break;
    }
    if (table == nullptr) return InvalidArgument("llm: embedding row {}: unknown table", r);
    const int32_t id = rows[r].id;
    if (id < 0 || id >= table->size(0)) {
      return OutOfRange("llm: {} id {} out of range [0, {})", table_name, id, table->size(0));
    }
    std::memcpy(out + static_cast<int64_t>(r) * h, table->data<float>() + id * h,
                static_cast<size_t>(h) * sizeof(float));
  }
  return OkStatus();
}

const float* SpeechLmState::keys(int64_t layer, int64_t kv_head) const {
  if (cuda_) return nullptr;
  return k_cache_.data<float>() + (layer * kv_heads_ + kv_head) * capacity_ * head_dim_;
}
const float* SpeechLmState::values(int64_t layer, int64_t kv_head) const {
  if (cuda_) return nullptr;
  return v_cache_.data<float>() + (layer * kv_heads_ + kv_head) * capacity_ * head_dim_;
}

Result<SpeechLmPrefix> SpeechLm::SavePrefix(const SpeechLmState& s, int64_t length) const {
  if (length < 0 || length > s.length_) {
    return InvalidArgument("llm: prefix of {} positions from a state holding {}", length,
                           s.length_);
  }
  SpeechLmPrefix p;
  p.length = length;
  const int64_t hd = s.head_dim_, blocks = s.layers_ * s.kv_heads_;
  p.k.resize(static_cast<size_t>(blocks * length * hd));
  p.v.resize(p.k.size());
#ifdef COSYFLOW_WITH_CUDA
  if (s.cuda_) {
    COSY_RETURN_IF_ERROR(cuda_->SavePrefix(s.cuda_.get(), length, p.k.data(), p.v.data()));
    return p;
  }
#endif
  const float* k = s.k_cache_.data<float>();
  const float* v = s.v_cache_.data<float>();
  for (int64_t b = 0; b < blocks; ++b) {
    std::copy_n(k + b * s.capacity_ * hd, length * hd, p.k.data() + b * length * hd);
    std::copy_n(v + b * s.capacity_ * hd, length * hd, p.v.data() + b * length * hd);
  }
  return p;
}

Status SpeechLm::LoadPrefix(const SpeechLmPrefix& p, SpeechLmState* s) const {
  const int64_t hd = s->head_dim_, blocks = s->layers_ * s->kv_heads_;
  if (s->length_ != 0 || p.length > s->capacity_ ||
      static_cast<int64_t>(p.k.size()) != blocks * p.length * hd || p.v.size() != p.k.size()) {
    return InvalidArgument("llm: cannot load a {}-position prefix into a state of {}/{}",
                           p.length, s->length_, s->capacity_);
  }
#ifdef COSYFLOW_WITH_CUDA
  if (s->cuda_) {
    COSY_RETURN_IF_ERROR(cuda_->LoadPrefix(s->cuda_.get(), p.length, p.k.data(), p.v.data()));
    s->length_ = p.length;
    return OkStatus();
  }
#endif
  float* k = s->k_cache_.data<float>();
  float* v = s->v_cache_.data<float>();
  for (int64_t b = 0; b < blocks; ++b) {
    std::copy_n(p.k.data() + b * p.length * hd, p.length * hd, k + b * s->capacity_ * hd);
    std::copy_n(p.v.data() + b * p.length * hd, p.length * hd, v + b * s->capacity_ * hd);
  }
  s->length_ = p.length;
  return OkStatus();
}

Result<std::unique_ptr<SpeechLmState>> SpeechLm::NewState(int64_t capacity, int64_t chunk) const {
  if (capacity <= 0 || chunk <= 0) {
    return InvalidArgument("llm: state capacity and chunk must be > 0, got {} / {}", capacity,
                           chunk);
  }
  const Qwen2Config& q = config_.qwen;
  chunk = std::min(chunk, capacity);
  std::unique_ptr<SpeechLmState> s(new SpeechLmState());
  s->capacity_ = capacity;
  s->chunk_ = chunk;
  s->layers_ = q.num_hidden_layers;
  s->kv_heads_ = q.num_key_value_heads;
  s->head_dim_ = q.head_dim();
  const int64_t h = q.hidden_size, hd = q.head_dim(), f = q.intermediate_size;
  COSY_ASSIGN_OR_RETURN(s->rope_cos_, Tensor::Empty({capacity, hd / 2}, DType::kF32));
  COSY_ASSIGN_OR_RETURN(s->rope_sin_, Tensor::Empty({capacity, hd / 2}, DType::kF32));
  FillRope(q, capacity, s->rope_cos_.data<float>(), s->rope_sin_.data<float>());
#ifdef COSYFLOW_WITH_CUDA
  if (cuda_) {
    // Everything else lives on the device.
    COSY_ASSIGN_OR_RETURN(auto cs, cuda_->NewState(capacity, chunk, s->rope_cos_.data<float>(),
                                                   s->rope_sin_.data<float>()));
    s->cuda_.reset(cs.release());
    return s;
  }
#endif
  const Dims cache{q.num_hidden_layers, q.num_key_value_heads, capacity, hd};
  COSY_ASSIGN_OR_RETURN(s->k_cache_, Tensor::Empty(cache, DType::kF32));
  COSY_ASSIGN_OR_RETURN(s->v_cache_, Tensor::Empty(cache, DType::kF32));
  COSY_ASSIGN_OR_RETURN(s->x_, Tensor::Empty({chunk, h}, DType::kF32));
  COSY_ASSIGN_OR_RETURN(s->h_, Tensor::Empty({chunk, h}, DType::kF32));
  COSY_ASSIGN_OR_RETURN(s->qkv_, Tensor::Empty({chunk, h + 2 * q.kv_dim()}, DType::kF32));
  COSY_ASSIGN_OR_RETURN(s->attn_, Tensor::Empty({chunk, h}, DType::kF32));
  COSY_ASSIGN_OR_RETURN(s->proj_, Tensor::Empty({chunk, h}, DType::kF32));
  COSY_ASSIGN_OR_RETURN(s->gate_up_, Tensor::Empty({chunk, 2 * f}, DType::kF32));
  COSY_ASSIGN_OR_RETURN(s->act_, Tensor::Empty({chunk, f}, DType::kF32));
  {
    kernels::cpu::AttentionParams ap;  // the largest call: every cached key visible
    ap.q_heads = q.num_attention_heads / q.num_key_value_heads;
    ap.kv_heads = 1;
    ap.q_len = std::min(chunk, kAttentionRowBlock);
    ap.kv_len = capacity;
    ap.head_dim = hd;
    s->attention_scratch_ = kernels::cpu::AttentionScratchFloats(ap);
    s->attention_threads_ = std::clamp<int64_t>(omp_get_max_threads(), 1,
                                                SpeechLmState::kMaxAttentionThreads);
  }
  COSY_ASSIGN_OR_RETURN(s->scores_, Tensor::Empty({s->attention_threads_ * s->attention_scratch_},
                                                  DType::kF32));
  COSY_ASSIGN_OR_RETURN(s->last_, Tensor::Empty({h}, DType::kF32));
  return s;
}

Result<std::unique_ptr<SpeechLmState>> SpeechLm::AcquireState(int64_t capacity,
                                                              int64_t chunk) const {
  if (capacity > 0 && chunk > 0) {
    const int64_t want_chunk = std::min(chunk, capacity);
    std::lock_guard<std::mutex> lock(idle_mu_);
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
      const SpeechLmState& s = **it;
      const bool same_chunks =
          s.chunk() == want_chunk || (s.chunk() >= capacity && want_chunk >= capacity);
      if (s.capacity() >= capacity && same_chunks) {
        std::unique_ptr<SpeechLmState> state = std::move(*it);
        idle_.erase(it);
        state->Reset();
        return state;
      }
    }
  }
  return NewState(capacity, chunk);
}

void SpeechLm::ReleaseState(std::unique_ptr<SpeechLmState> state) const {
  if (state == nullptr || state->cuda_ != nullptr) return;  // device states are not kept
  state->Reset();
  std::lock_guard<std::mutex> lock(idle_mu_);
  idle_.push_back(std::move(state));
  if (idle_.size() > kIdleStates) {  // drop the smallest
    auto smallest = std::min_element(idle_.begin(), idle_.end(), [](const auto& a, const auto& b) {
      return a->capacity() < b->capacity();
    });
    idle_.erase(smallest);
  }
}

size_t SpeechLm::idle_states() const {
  std::lock_guard<std::mutex> lock(idle_mu_);
  return idle_.size();
}

}  // namespace cosyflow
