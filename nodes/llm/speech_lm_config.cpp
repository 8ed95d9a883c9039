// SpeechLmConfig: Qwen2 config.json parsing with release defaults, and validation.
#include "nodes/llm/speech_lm_config.h"

#include "nodes/core/json_file.h"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

namespace cosyflow {
namespace {

template <typename T>
Status ReadField(const nlohmann::json& j, const char* key, const std::string& what, T* out) {
  return ReadJsonField(j, key, what, out);
}

}  // namespace

Result<Qwen2Config> Qwen2Config::FromJson(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object()) return InvalidArgument("{}: expected a JSON object", what);
  Qwen2Config c;
  COSY_RETURN_IF_ERROR(ReadField(j, "hidden_size", what, &c.hidden_size));
  COSY_RETURN_IF_ERROR(ReadField(j, "num_hidden_layers", what, &c.num_hidden_layers));
  COSY_RETURN_IF_ERROR(ReadField(j, "num_attention_heads", what, &c.num_attention_heads));
  COSY_RETURN_IF_ERROR(ReadField(j, "num_key_value_heads", what, &c.num_key_value_heads));
  COSY_RETURN_IF_ERROR(ReadField(j, "intermediate_size", what, &c.intermediate_size));
  COSY_RETURN_IF_ERROR(ReadField(j, "vocab_size", what, &c.vocab_size));
  COSY_RETURN_IF_ERROR(ReadField(j, "rms_norm_eps", what, &c.rms_norm_eps));
  COSY_RETURN_IF_ERROR(ReadField(j, "rope_theta", what, &c.rope_theta));
  COSY_RETURN_IF_ERROR(ReadField(j, "tie_word_embeddings", what, &c.tie_word_embeddings));
  std::string act = "silu";
  COSY_RETURN_IF_ERROR(ReadField(j, "hidden_act", what, &act));
  if (act != "silu") return Unsupported("{}: hidden_act must be \"silu\", got \"{}\"", what, act);
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    return Unsupported("{}: rope_scaling is not supported (CosyVoice2 uses plain RoPE)", what);
  }
  COSY_RETURN_IF_ERROR_CTX(c.Validate(), what);
  return c;
}

Result<Qwen2Config> Qwen2Config::FromFile(const std::string& path) {
  COSY_ASSIGN_OR_RETURN(nlohmann::json j, ReadJsonFile(path));
  return FromJson(j, path);
}

Result<Qwen2Config> Qwen2Config::FromModelDir(const std::string& model_dir) {
  const std::string path =
      (std::filesystem::path(model_dir.empty() ? "." : model_dir) / "CosyVoice-BlankEN" /
       "config.json")
          .string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Release();
  return FromFile(path);
}

Status Qwen2Config::Validate() const {
  if (hidden_size <= 0 || num_hidden_layers <= 0 || num_attention_heads <= 0 ||
      num_key_value_heads <= 0 || intermediate_size <= 0 || vocab_size <= 0) {
    return InvalidArgument("qwen2 config: every size must be positive ({})", ToString());
  }
  if (hidden_size % num_attention_heads != 0) {
    return InvalidArgument("qwen2 config: hidden_size {} not divisible by num_attention_heads {}",
                           hidden_size, num_attention_heads);
  }
  if (num_attention_heads % num_key_value_heads != 0) {
    return InvalidArgument(
        "qwen2 config: num_attention_heads {} not divisible by num_key_value_heads {}",
        num_attention_heads, num_key_value_heads);
  }
  if (head_dim() % 2 != 0) {
    return InvalidArgument("qwen2 config: head_dim must be even for RoPE, got {}", head_dim());
  }
  if (!(rms_norm_eps > 0) || !(rope_theta > 1)) {
    return InvalidArgument("qwen2 config: rms_norm_eps must be > 0 and rope_theta > 1, got {} / {}",
                           rms_norm_eps, rope_theta);
  }
  return OkStatus();
}

std::string Qwen2Config::ToString() const {
  return fmt::format(
      "hidden {} layers {} heads {} kv_heads {} head_dim {} ffn {} vocab {} eps {} theta {}",
      hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim(),
      intermediate_size, vocab_size, rms_norm_eps, rope_theta);
}

Status SpeechLmConfig::Validate() const {
  COSY_RETURN_IF_ERROR(qwen.Validate());
  if (speech_token_size <= 0) {
    return InvalidArgument("speech lm config: speech_token_size must be > 0, got {}",
                           speech_token_size);
  }
  if (mix_text <= 0 || mix_speech <= 0) {
    return InvalidArgument("speech lm config: mix_ratio must be positive, got [{}, {}]", mix_text,
                           mix_speech);
  }
  return OkStatus();
}

}  // namespace cosyflow
