// FlowModel: CosyVoice2 CausalMaskedDiffWithXvec (speech tokens -> 80-bin mel at 50 Hz) from
// flow.pt: conformer encoder, chunk-causal CFM estimator, 10 Euler steps with CFG 0.7 and the
// fixed torch-seeded noise. Immutable after Create; all per-request state lives in FlowSession.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "nodes/flow/flow_config.h"
#include "nodes/flow/flow_forward.h"
#include "nodes/flow/flow_weights.h"
#include "runtime/dtype.h"

namespace cosyflow::flow {

struct FlowOptions {
  WeightType weight_type = WeightType::kF32;  // bf16: GEMM weights in bf16, activations f32
  // cuda: the CFM sampler (estimator + Euler steps) runs on CUDA device 0 (f32 weights only;
  // flow_cuda.h); the encoder stays on the CPU. The sampler then recomputes every frame of a
  // streaming chunk, as the reference does (the incremental cache keeps only the encoder's
  // state and mu rows; no per-voice prompt state).
  Device device = Device::kCpu;
};

class FlowEstimatorCuda;
struct FlowEstimatorCudaDeleter {
  void operator()(FlowEstimatorCuda* p) const;
};

// The conditioning of one request (spec §4.2). feat must have exactly 2 frames per prompt token
// (M1 = 2 T1, spec §7.3); all may be empty (no prompt) except the embedding.
struct FlowPrompt {
  std::vector<int32_t> tokens;   // [T1]
  std::vector<float> feat;       // [2 T1, 80] time-major log-mel
  std::vector<float> embedding;  // [192] speaker x-vector (un-normalised)
};

// One flow.inference call's result: mel [80, frames] channel-major, prompt frames removed.
struct FlowMel {
  std::vector<float> data;
  int64_t frames = 0;
};

class FlowModel {
 public:
  static Result<std::unique_ptr<FlowModel>> Create(const std::string& flow_pt,
                                                   const FlowConfig& config,
                                                   const FlowOptions& options = {});
  static Result<std::unique_ptr<FlowModel>> FromCheckpoint(Checkpoint ckpt,
                                                           const FlowConfig& config,
                                                           const FlowOptions& options = {});

  const FlowConfig& config() const { return cfg_; }
  const FlowWeights& weights() const { return *w_; }
  // bf16 flows keep their streaming K/V cache in bf16 (EstimatorCache: no output changes).
  bool cache_kv_bf16() const { return w_->weight_type == WeightType::kBF16; }
  const std::vector<float>& noise() const { return noise_; }  // [80, 15000]
  Device device() const { return cuda_ != nullptr ? Device::kCuda : Device::kCpu; }
  // The device sampler (null on the cpu); tests call its estimator directly.
  const FlowEstimatorCuda* estimator_cuda() const { return cuda_.get(); }

  // spk = Linear(e / max(|e|, 1e-12)); embedding [192] -> out [80].
  Status SpeakerVector(std::span<const float> embedding, float* out) const;

  // flow.inference(token, prompt, streaming, finalize) on B = 1 (spec §4.2): `tokens` are the
  // generated tokens only. Non-finalize calls hold back the last 3 tokens as lookahead context.
  // Returns the mel after the prompt frames. `arena` is the caller's (session's) scratch.
  Result<FlowMel> Inference(const FlowPrompt& prompt, const float* spk, std::span<const int32_t> tokens,
                        bool streaming, bool finalize, Arena& arena, const FlowHook& hook = {},
                        FlowProfile* prof = nullptr) const;

  // A streaming chunk call that computes only the frames after cache.frames() (the estimator's
  // committed prefix) and commits the completed est_chunk blocks: equal to
  // Inference(streaming = true, finalize) on those frames (docs/flow-streaming.md). finalize:
  // every token gives frames (no lookahead context: the reference's zero extension).
  // Returns the frames after max(cache frames, prompt frames); *first_frame = the first one's
  // index after the prompt. Fails (cache unchanged) when the cache would pass max_cache_bytes.
  // On a cuda model only the encoder is incremental (the device sampler recomputes every
  // frame; the cache holds the encoder state and the committed mu rows).
  Result<FlowMel> InferenceIncremental(const FlowPrompt& prompt, const float* spk,
                                       std::span<const int32_t> tokens, EstimatorCache& cache,
                                       size_t max_cache_bytes, Arena& arena, int64_t* first_frame,
                                       const FlowHook& hook = {}, FlowProfile* prof = nullptr,
                                       bool finalize = false) const;

  // The estimator cache of the blocks that depend on `prompt` alone (frames before the last
  // stream_block() boundary whose tokens and lookahead are all prompt tokens): what every
  // streaming request with this voice computes first. Null when the prompt has no such block,
  // and on a cuda model (whose streaming chunks do not use the cache).
  Result<std::shared_ptr<const EstimatorCache>> PromptState(const FlowPrompt& prompt,
                                                            size_t max_cache_bytes,
                                                            Arena& arena) const;

 private:
  FlowModel() = default;
  Result<FlowMel> Run(const FlowPrompt& prompt, const float* spk, std::span<const int32_t> tokens,
                      bool streaming, bool finalize, EstimatorCache* cache, size_t max_cache_bytes,
                      Arena& arena, const FlowHook& hook, FlowProfile* prof,
                      int64_t* first_frame) const;
  FlowConfig cfg_;
  std::unique_ptr<FlowWeights> w_;
  std::vector<float> noise_;
  std::unique_ptr<FlowEstimatorCuda, FlowEstimatorCudaDeleter> cuda_;
};

}  // namespace cosyflow::flow
