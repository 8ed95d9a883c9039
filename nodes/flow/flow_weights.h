// FlowWeights: every tensor of flow.pt (official keys), shape-checked and packed for the kernels.
#pragma once

#include <memory>
#include <vector>

#include "nodes/flow/flow_config.h"
#include "nodes/flow/flow_ops.h"
#include "runtime/io/checkpoint.h"
#include "runtime/kernels/cpu/linear.h"

namespace cosyflow::flow {

using LinearPtr = std::unique_ptr<kernels::cpu::Linear>;

struct LayerNormW {
  const float* w = nullptr;  // [dim] (views into the checkpoint, which the weights keep alive)
  const float* b = nullptr;
};

// LinearNoSubsampling: Linear -> LayerNorm(1e-5) -> * sqrt(d) (encoder.embed / up_embed).
struct LinearEmbedW {
  LinearPtr lin;
  LayerNormW ln;
};

// ConformerEncoderLayer with RelPositionMultiHeadedAttention (q|k|v fused into one GEMM).
struct ConformerLayerW {
  LayerNormW norm_mha, norm_ff;  // eps 1e-12
  LinearPtr qkv, out, pos, ff1, ff2;
  const float* pos_bias_u = nullptr;  // [heads, dk]
  const float* pos_bias_v = nullptr;
};

struct EncoderW {
  LinearEmbedW embed, up_embed;
  Conv1dTm lookahead_conv1, lookahead_conv2, up_conv;
  std::vector<ConformerLayerW> encoders, up_encoders;
  LayerNormW after_norm;
};

// diffusers BasicTransformerBlock (self-attention only, GELU-erf feed-forward).
struct TransformerBlockW {
  LayerNormW norm1, norm3;
  LinearPtr qkv, out, ff_in, ff_out;
};

// CausalResnetBlock1D.
struct ResnetW {
  LinearPtr mlp;  // Linear(Mish(temb))
  Conv1dTm conv1, conv2, res_conv;
  LayerNormW ln1, ln2;
};

struct StageW {
  ResnetW resnet;
  std::vector<TransformerBlockW> blocks;
  Conv1dTm conv;  // down / up stages only: causal k3 "downsample" / "upsample"
};

struct EstimatorW {
  LinearPtr time_1, time_2;
  StageW down;
  std::vector<StageW> mid;
  StageW up;
  Conv1dTm final_conv;
  LayerNormW final_ln;
  LinearPtr final_proj;
};

struct FlowWeights {
  Checkpoint ckpt;                     // keeps the raw views alive
  const float* embedding = nullptr;    // input_embedding [vocab, input_size]
  LinearPtr spk_affine, encoder_proj;  // 192 -> 80, d -> 80
  EncoderW encoder;
  EstimatorW estimator;
  WeightType weight_type = WeightType::kF32;
  size_t packed_bytes = 0;
  // The resnets' time biases (ResnetTimeBiases) at each time of the model's ODE schedule,
  // computed once at load (PrecomputeTimeBiases): the estimator takes row `t`'s instead of
  // running the time MLP and 14 resnet MLPs (~10 MB of bf16 weights read) per call.
  struct TimeBiases {
    float t = 0.0f;
    std::vector<float> rows;  // [2 + est_mid_blocks, est_channels]
  };
  std::vector<TimeBiases> time_biases;

  // Checks every expected tensor (name, shape, f32) and that no tensor is left over.
  static Result<std::unique_ptr<FlowWeights>> Load(Checkpoint ckpt, const FlowConfig& cfg,
                                                   WeightType wt);
  // The number of tensors flow.pt holds for `cfg` (1121 for the release).
  static int64_t ExpectedTensorCount(const FlowConfig& cfg);
};

}  // namespace cosyflow::flow
