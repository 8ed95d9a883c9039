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

namespace cosyflow::flow {

struct FlowOptions {
  WeightType weight_type = WeightType::kF32;  // bf16: GEMM weights in bf16, activations f32
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
  const std::vector<float>& noise() const { return noise_; }  // [80, 15000]

  // spk = Linear(e / max(|e|, 1e-12)); embedding [192] -> out [80].
  Status SpeakerVector(std::span<const float> embedding, float* out) const;

  // flow.inference(token, prompt, streaming, finalize) on B = 1 (spec §4.2): `tokens` are the
  // generated tokens only. Non-finalize calls hold back the last 3 tokens as lookahead context.
  // Returns the mel after the prompt frames. `arena` is the caller's (session's) scratch.
  Result<FlowMel> Inference(const FlowPrompt& prompt, const float* spk, std::span<const int32_t> tokens,
                        bool streaming, bool finalize, Arena& arena, const FlowHook& hook = {},
                        FlowProfile* prof = nullptr) const;

 private:
  FlowModel() = default;
  FlowConfig cfg_;
  std::unique_ptr<FlowWeights> w_;
  std::vector<float> noise_;
};

}  // namespace cosyflow::flow
