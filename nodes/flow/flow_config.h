// FlowConfig: the shapes and constants of CausalMaskedDiffWithXvec (flow.pt), release or tiny.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/status.h"

namespace cosyflow::flow {

struct FlowConfig {
  // Top level.
  int64_t vocab_size = 6561;      // speech tokens
  int64_t input_size = 512;       // token embedding width
  int64_t output_size = 80;       // mel bins
  int64_t spk_embed_dim = 192;    // x-vector
  int64_t pre_lookahead_len = 3;  // tokens of right context
  int64_t token_mel_ratio = 2;    // mel frames per token
  // UpsampleConformerEncoder.
  int64_t enc_dim = 512;
  int64_t enc_heads = 8;
  int64_t enc_ffn = 2048;
  int64_t enc_blocks = 6;
  int64_t enc_up_blocks = 4;
  int64_t enc_chunk = 25;  // static_chunk_size (tokens); stage 2 uses enc_chunk * token_mel_ratio
  // CausalConditionalDecoder estimator.
  int64_t est_in = 320;  // x | mu | spks | cond, 80 each
  int64_t est_channels = 256;
  int64_t est_heads = 8;
  int64_t est_head_dim = 64;
  int64_t est_blocks_per_stage = 4;  // transformer blocks per down/mid/up stage (n_blocks)
  int64_t est_mid_blocks = 12;
  int64_t est_chunk = 50;  // static_chunk_size (frames)
  // CFM sampler.
  int n_timesteps = 10;
  float cfg_rate = 0.7f;

  int64_t est_inner() const { return est_heads * est_head_dim; }
  int64_t time_dim() const { return est_channels * 4; }  // time_mlp width (TimestepEmbedding)
  // Frames of the streaming block grid on which both the encoder (enc_chunk tokens) and the
  // estimator (est_chunk frames) are chunk-causal: lcm(est_chunk, token_mel_ratio * enc_chunk).
  int64_t stream_block() const;

  static FlowConfig Release();  // CosyVoice2-0.5B (cosyvoice2.yaml)
  // The "flow" dict of a fixture config.json (tiny-seed0 layout); unknown keys are ignored,
  // missing ones are errors naming the key.
  static Result<FlowConfig> FromJson(const nlohmann::json& flow);
  // config.json with a top-level "flow" dict.
  static Result<FlowConfig> FromFile(const std::string& path);
  Status Validate() const;
  std::string ToString() const;
};

}  // namespace cosyflow::flow
