// SpeechLmConfig: the Qwen2 backbone shape and the CosyVoice2 speech-LM constants (spec §5.1).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/status.h"

namespace cosyflow {

// Qwen2 backbone hyper-parameters (Hugging Face config.json field names).
struct Qwen2Config {
  int64_t hidden_size = 896;
  int64_t num_hidden_layers = 24;
  int64_t num_attention_heads = 14;
  int64_t num_key_value_heads = 2;
  int64_t intermediate_size = 4864;
  int64_t vocab_size = 151936;
  float rms_norm_eps = 1e-6f;
  float rope_theta = 1e6f;
  bool tie_word_embeddings = true;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t kv_dim() const { return head_dim() * num_key_value_heads; }

  // Release defaults of CosyVoice-BlankEN (spec §5.1).
  static Qwen2Config Release() { return Qwen2Config(); }
  // Fields present in `j` override the release defaults; "hidden_act" must be "silu".
  static Result<Qwen2Config> FromJson(const nlohmann::json& j, const std::string& what);
  // Reads `path` (a Hugging Face config.json).
  static Result<Qwen2Config> FromFile(const std::string& path);
  // <model_dir>/CosyVoice-BlankEN/config.json when present, else Release().
  static Result<Qwen2Config> FromModelDir(const std::string& model_dir);

  // Ranges and cross-field rules (head_dim even, heads divisible by kv heads, ...).
  Status Validate() const;
  std::string ToString() const;
};

// The speech-token side of Qwen2LM (cosyvoice2.yaml constants).
struct SpeechLmConfig {
  Qwen2Config qwen;
  int32_t speech_token_size = 6561;  // EOS id; decoder/embedding vocab = speech_token_size + 3
  int32_t mix_text = 5;              // mix_ratio[0]: text tokens per bi-stream group
  int32_t mix_speech = 15;           // mix_ratio[1]: speech tokens per bi-stream group

  int32_t eos_id() const { return speech_token_size; }
  int32_t unused_stop_id() const { return speech_token_size + 1; }
  int32_t fill_id() const { return speech_token_size + 2; }
  int64_t speech_vocab() const { return speech_token_size + 3; }
  bool IsStopId(int32_t id) const { return id >= speech_token_size && id < speech_vocab(); }

  Status Validate() const;
};

}  // namespace cosyflow
