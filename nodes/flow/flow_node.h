// FlowNode ("Flow"): speech tokens -> 80-bin mel (50 Hz) with the CosyVoice2 flow model.
//
// Ports:   in  tokens SpeechTokens (chunks of the session's generated speech tokens, 0..6560)
//          out mel    Mel [frames, 80] f32 log-mel; frames after the prompt only, each frame
//                     emitted once, in order
// Options: flow_pt        string, default "flow.pt" (relative to model_dir)
//          config         string, default "" = CosyVoice2-0.5B constants; else a config.json
//                         with a "flow" dict (fixture layout)
//          precision      "f32" | "bf16" | "int16", default "f32" (bf16: GEMM weights only;
//                         int16: GEMM weights as 12-bit integers per output row, activations
//                         as 14-bit integers per row, exact integer sums, about 1.6x the f32
//                         GEMM rate on AVX2, the attention's products in integers too,
//                         mel within ~3e-3 of f32 (bf16: ~2e-2);
//                         docs/kernels.md; int8 is not offered: the flow is compute bound;
//                         "auto": bf16 where the CPU multiplies bf16 in hardware, else int16,
//                         f32 on cuda: ResolveFlowPrecision)
//          stream         bool, default true: chunked schedule; false: one call at end of stream
//          token_hop      int, default 25, > 3; max_token_hop int, default 100, >= token_hop
//          incremental    bool, default true: streaming chunks compute only their new frames
//                         from the estimator's K/V cache (exact; docs/flow-streaming.md)
//          stream_cache_mb int, default 4096 (0 = unlimited): per-session cache budget; an
//                         utterance that would pass it continues by prefix recompute
//          stream_final   bool, default false: the last streaming call stays chunk-causal
//                         (computes only its new frames) instead of the reference's
//                         full-attention pass over the utterance; its frames then differ from
//                         the reference's last chunk (docs/flow-streaming.md)
//          prompt_cache   int, default 4 (0 = off): voices whose prompt blocks' estimator state
//                         is kept (streaming sessions start from it; FlowPromptCache)
//          prompt_cache_mb int, default 1024: bytes those states may hold together
//          prompt_tokens / prompt_feat / embedding: .npy files of the voice ([1,T1] int32,
//                         [1,2 T1,80] f32, [1,192] f32); default "" = no prompt, zero x-vector
// Segments: SpeechTokens marked end_of_segment end one utterance: the finalize call emits its
//          last frames in a Mel marked end_of_segment (empty when nothing is left), then the
//          token buffer and hop schedule restart, so each segment is conditioned on the prompt
//          only, as the reference's per-segment token2wav.
// Session: FlowSession (token buffer, per-session hop schedule, estimator cache, scratch).
//          A request with speed != 1 runs its session non-streaming (as the reference).
// Flush:   end of stream runs the finalize call (full attention, or chunk-causal with
//          stream_final) and emits the remaining
//          frames; cancel/error emit nothing.
// Errors:  token outside the vocabulary, too long (> 15000 frames with prompt) -> that session.
#pragma once

#include <memory>
#include <string>

#include "nodes/core/node.h"
#include "nodes/flow/flow_model.h"
#include "nodes/flow/flow_prompt_cache.h"

namespace cosyflow {

struct FlowNodeOptions {
  std::string flow_pt = "flow.pt";
  std::string config;
  std::string precision = "f32";
  bool stream = true;
  int64_t token_hop = 25;
  int64_t max_token_hop = 100;
  bool incremental = true;
  int64_t stream_cache_mb = 4096;
  bool stream_final = false;
  // ODE (Euler) steps of the flow matching; 0 = the config's n_timesteps (10, as the
  // reference). Fewer steps cost proportionally less and change the output.
  int64_t n_timesteps = 0;
  int64_t prompt_cache = 4;
  int64_t prompt_cache_mb = 1024;
  std::string prompt_tokens, prompt_feat, embedding;

  void Parse(const nlohmann::json& j, const std::string& path, ErrorList* errors);
  void Validate(const std::string& path, ErrorList* errors) const;
  std::string ToString() const;
};

// Flow `precision` "auto": bf16 where the selected kernels multiply bf16 in hardware
// (cpu::NativeBf16Products: AVX512_BF16 / AMX), int16 elsewhere (AVX2, AVX-512 without BF16),
// f32 on a cuda device. Other values are returned as they are.
std::string ResolveFlowPrecision(const std::string& precision, Device device);

class FlowNode : public Node {
 public:
  using Options = FlowNodeOptions;
  static NodeSpec Spec();
  static Result<std::unique_ptr<Node>> Create(const Options& options, const NodeContext& ctx);

  Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo& info) override;
  flow::FlowPromptCache::Stats prompt_cache_stats() const { return prompt_cache_->stats(); }
  // The precision the model was loaded with ("auto" resolved).
  const std::string& precision() const { return precision_; }

 private:
  FlowNode() = default;
  Options options_;
  std::string precision_;
  std::unique_ptr<flow::FlowModel> model_;
  flow::FlowPrompt prompt_;
  std::unique_ptr<flow::FlowPromptCache> prompt_cache_;
};

}  // namespace cosyflow
