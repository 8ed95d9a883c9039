// SpeechLm: the CosyVoice2 Qwen2LM (Qwen2 body + speech embedding + speech head) as an immutable
// model with a per-request SpeechLmState (KV cache + scratch), forward per spec §5.3.
//
// Weights come from llm.pt with the official key names (spec §5.2): all tensors are shape-checked
// against the config, unknown keys are rejected (the reference loads strictly), the text lm_head
// is checked when present but never used. Linear layers (cpu::Linear) are created once (q/k/v
// fused into one [H + 2·kv_dim, H] layer, gate/up into one [2F, H] layer), f32 or bf16. The
// embedding tables stay f32 (gathers are exact copies of checkpoint rows).
//
// Forward(state, x[n, H]) runs n rows at positions state.length() .. + n - 1 through every layer
// (appending to the KV cache; inputs longer than the state's chunk size are processed in chunks,
// which is exact for causal attention) and returns the speech-head logits of the last row.
// A hook sees the named intermediates (llama.cpp qwen2 builder style).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/llm/speech_lm_config.h"
#include "nodes/llm/speech_lm_prefix_cache.h"
#include "runtime/dtype.h"
#include "runtime/kernels/cpu/attention.h"
#include "runtime/kernels/cpu/linear.h"
#include "runtime/status.h"
#include "runtime/tensor.h"

namespace cosyflow {

// Which embedding table an input row comes from (the fixture's `_fed` table numbers).
enum class SpeechLmTable : uint8_t { kLlmEmbedding = 0, kText = 1, kSpeech = 2 };
inline constexpr int32_t kSpeechLmSos = 0;     // llm_embedding row 0
inline constexpr int32_t kSpeechLmTaskId = 1;  // llm_embedding row 1

struct SpeechLmRow {
  SpeechLmTable table;
  int32_t id;
  bool operator==(const SpeechLmRow&) const = default;
};

// A named intermediate: data is [rows, cols] f32 row-major for positions pos0 .. pos0 + rows - 1.
// Names: "embeds" (layer input), "layer_out" (residual stream after layer `layer`), "final_norm"
// (normed hidden of every row, = Qwen2Encoder output), "logits" (1 row, last position).
struct SpeechLmTap {
  std::string_view name;
  int layer = -1;
  int64_t pos0 = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  const float* data = nullptr;
};
using SpeechLmHook = std::function<void(const SpeechLmTap&)>;

struct SpeechLmLoadOptions {
  kernels::cpu::WeightType weight_type = kernels::cpu::WeightType::kF32;
  // kCuda: the layers run on CUDA device 0 (f32 or bf16 weights; builds with the CUDA backend
  // only, see speech_lm_cuda.h).
  Device device = Device::kCpu;
};

class SpeechLm;
class SpeechLmCuda;
class SpeechLmCudaState;
// Deleters of the CUDA parts (defined where they are complete; null in a build without CUDA).
struct SpeechLmCudaDeleter {
  void operator()(SpeechLmCuda* p) const;
  void operator()(SpeechLmCudaState* p) const;
};

// Per-request mutable state: KV cache [layers][kv_heads][capacity][head_dim] for K and V, the
// RoPE table for `capacity` positions and activation scratch for `chunk` rows. Everything is
// allocated here, once; Forward never allocates.
class SpeechLmState {
 public:
  int64_t length() const { return length_; }      // positions already in the KV cache
  int64_t capacity() const { return capacity_; }  // most positions this state can hold
  int64_t chunk() const { return chunk_; }
  void Reset() { length_ = 0; }
  // Key cache rows of one layer / kv head: [length, head_dim] (for tests; null for a state on a
  // CUDA device, whose cache lives there).
  const float* keys(int64_t layer, int64_t kv_head) const;
  const float* values(int64_t layer, int64_t kv_head) const;

 private:
  friend class SpeechLm;
  SpeechLmState() = default;
  std::unique_ptr<SpeechLmCudaState, SpeechLmCudaDeleter> cuda_;  // set on a CUDA model

  int64_t capacity_ = 0, chunk_ = 0, length_ = 0;
  int64_t layers_ = 0, kv_heads_ = 0, head_dim_ = 0;
  Tensor k_cache_, v_cache_;  // [layers, kv_heads, capacity, head_dim]
  Tensor rope_cos_, rope_sin_;  // [capacity, head_dim / 2]
  Tensor x_, h_, qkv_, attn_, proj_, gate_up_, act_;  // [chunk, ...] scratch
  // Attention scratch: attention_threads_ slices of attention_scratch_ floats (cpu::Attention's
  // scratch for `capacity` keys), one per OpenMP thread of the attention loop.
  static constexpr int64_t kMaxAttentionThreads = 64;
  Tensor scores_;
  int64_t attention_threads_ = 1, attention_scratch_ = 0;
  Tensor last_;                                       // [hidden]
};

class SpeechLm {
 public:
  // Returns a weight by its llm.pt name, shape-checked against `shape`.
  using WeightGetter = std::function<Result<Tensor>(const std::string& name, const Dims& shape)>;

  // From any weight source (the bench builds random weights in memory).
  static Result<std::unique_ptr<SpeechLm>> Create(const SpeechLmConfig& config,
                                                  const WeightGetter& weights,
                                                  const SpeechLmLoadOptions& options = {});
  // From <model_dir>/llm.pt with the Qwen2 config of <model_dir>/CosyVoice-BlankEN/config.json
  // (release defaults when absent). Checks the full key set (strict).
  static Result<std::unique_ptr<SpeechLm>> Load(const std::string& model_dir,
                                                const SpeechLmLoadOptions& options = {});
  // The llm.pt key names and shapes this config expects (lm_head last; it may be absent).
  static std::vector<std::pair<std::string, Dims>> ExpectedWeights(const SpeechLmConfig& config);

  ~SpeechLm();
  const SpeechLmConfig& config() const { return config_; }
  kernels::cpu::WeightType weight_type() const { return options_.weight_type; }
  Device device() const { return options_.device; }
  // Bytes of weights read by one decode step (all linears + speech head).
  size_t decode_weight_bytes() const;

  // A state for up to `capacity` positions, forwarding at most `chunk` rows at a time.
  Result<std::unique_ptr<SpeechLmState>> NewState(int64_t capacity, int64_t chunk = 128) const;
  // NewState, or an idle state that ReleaseState kept (reset to length 0) when it holds at least
  // `capacity` positions and forwards prompts in the same chunks (its chunk equals NewState's, or
  // both cover `capacity`): the same outputs as a new state (rows past length are never read),
  // without faulting in and zeroing ~30 MB per request (9-30 ms of a request's first token on the
  // 2-core Xeon VM). Thread-safe.
  Result<std::unique_ptr<SpeechLmState>> AcquireState(int64_t capacity, int64_t chunk = 128) const;
  // Keeps `state` for AcquireState (at most kIdleStates, the largest; CPU states only) or frees it.
  void ReleaseState(std::unique_ptr<SpeechLmState> state) const;
  // Idle states held now (tests).
  size_t idle_states() const;
  static constexpr size_t kIdleStates = 2;

  // The KV rows of state's first `length` positions / loads them into an empty state (whose
  // capacity must hold them).
  Result<SpeechLmPrefix> SavePrefix(const SpeechLmState& state, int64_t length) const;
  Status LoadPrefix(const SpeechLmPrefix& prefix, SpeechLmState* state) const;

  // out: [rows.size(), hidden] f32: the embedding rows (exact copies of table rows).
  Status Embed(std::span<const SpeechLmRow> rows, float* out) const;

  // x: [n, hidden] f32 row-major; logits: [speech_vocab] f32 for the last row (before
  // log-softmax). Errors (state left unchanged) when the KV cache would overflow.
  Status Forward(SpeechLmState* state, const float* x, int64_t n, float* logits,
                 const SpeechLmHook* hook = nullptr) const;

 private:
  struct Layer {
    Tensor input_norm, post_norm;  // [H]
    std::unique_ptr<kernels::cpu::Linear> qkv, o, gate_up, down;
  };

  SpeechLm() = default;
  Status ForwardChunk(SpeechLmState* s, const float* x, int64_t n, bool last_chunk, float* logits,
                      const SpeechLmHook* hook) const;
  // One decode position (n = 1, no hook) on `threads` >= 2 threads in one parallel region: each
  // linear's rows split over the threads, attention split by KV head, the serial parts (norms,
  // residuals) on thread 0, phases separated by a SpinBarrier. Same bits as ForwardChunk.
  Status DecodeStep(SpeechLmState* s, const float* x, float* logits, int threads) const;
  // Query rows per attention work unit (prefill splits KV heads x row blocks over threads).
  static constexpr int64_t kAttentionRowBlock = 16;
  // Below this many query-row x key x head_dim products per layer attention runs on one thread.
  static constexpr int64_t kAttentionParallelMinWork = int64_t{1} << 21;
  // Most threads a decode step splits its linears over.
  static constexpr int kMaxDecodeThreads = 64;
  // Appends the n new rows' K/V to the cache and writes the attention output of rows
  // [first_out, n) (the prefill's last layer needs only its last row's).
  Status Attention(SpeechLmState* s, int64_t layer, int64_t n, int64_t first_out = 0) const;
  // Pieces of Attention by KV group (the decode step splits groups over its team).
  void RopeAndCache(SpeechLmState* s, int64_t layer, int64_t n, int64_t g) const;
  kernels::cpu::AttentionParams GroupAttentionParams(int64_t cap) const;
  Status DecodeAttentionGroup(SpeechLmState* s, int64_t layer, int64_t g, int64_t slot) const;

  SpeechLmConfig config_;
  SpeechLmLoadOptions options_;
  Tensor llm_embedding_, text_embedding_, speech_embedding_;  // [2|V|6564, H] f32
  Tensor final_norm_;
  std::vector<Layer> layers_;
  std::unique_ptr<kernels::cpu::Linear> decoder_;  // [speech_vocab, H] + bias
  // On a CUDA model: the layers, final norm and head live there (the cpu::Linears above are
  // then not built; the embedding tables stay here).
  std::unique_ptr<SpeechLmCuda, SpeechLmCudaDeleter> cuda_;
  mutable std::mutex idle_mu_;
  mutable std::vector<std::unique_ptr<SpeechLmState>> idle_;  // ReleaseState's, for AcquireState
};

}  // namespace cosyflow
