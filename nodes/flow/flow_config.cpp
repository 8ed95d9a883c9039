// FlowConfig parsing and validation.
#include "nodes/flow/flow_config.h"

#include "nodes/core/json_file.h"

#include <fstream>
#include <numeric>

#include <fmt/format.h>

namespace cosyflow::flow {
namespace {

// A required integer; errors name the key and the value (1.5 or 1e30 is not an int64).
Status ReadInt(const nlohmann::json& j, const char* path, const char* key, int64_t* out) {
  if (!j.is_object() || !j.contains(key)) return NotFound("flow config: missing {}.{}", path, key);
  return JsonToValue(j[key], out).WithContext(fmt::format("flow config: {}.{}", path, key));
}

}  // namespace

FlowConfig FlowConfig::Release() { return FlowConfig{}; }

Result<FlowConfig> FlowConfig::FromJson(const nlohmann::json& flow) {
  FlowConfig c;
  COSY_RETURN_IF_ERROR(ReadInt(flow, "flow", "input_size", &c.input_size));
  COSY_RETURN_IF_ERROR(ReadInt(flow, "flow", "output_size", &c.output_size));
  COSY_RETURN_IF_ERROR(ReadInt(flow, "flow", "vocab_size", &c.vocab_size));
  COSY_RETURN_IF_ERROR(ReadInt(flow, "flow", "pre_lookahead_len", &c.pre_lookahead_len));
  if (!flow.contains("encoder") || !flow.contains("estimator")) {
    return NotFound("flow config: needs flow.encoder and flow.estimator");
  }
  const auto& enc = flow["encoder"];
  COSY_RETURN_IF_ERROR(ReadInt(enc, "flow.encoder", "output_size", &c.enc_dim));
  COSY_RETURN_IF_ERROR(ReadInt(enc, "flow.encoder", "attention_heads", &c.enc_heads));
  COSY_RETURN_IF_ERROR(ReadInt(enc, "flow.encoder", "linear_units", &c.enc_ffn));
  COSY_RETURN_IF_ERROR(ReadInt(enc, "flow.encoder", "num_blocks", &c.enc_blocks));
  if (enc.contains("num_up_blocks")) {
    COSY_RETURN_IF_ERROR(ReadInt(enc, "flow.encoder", "num_up_blocks", &c.enc_up_blocks));
  }
  COSY_RETURN_IF_ERROR(ReadInt(enc, "flow.encoder", "static_chunk_size", &c.enc_chunk));
  const auto& est = flow["estimator"];
  COSY_RETURN_IF_ERROR(ReadInt(est, "flow.estimator", "in_channels", &c.est_in));
  if (!est.contains("channels") || !est["channels"].is_array() || est["channels"].size() != 1) {
    return InvalidArgument("flow config: flow.estimator.channels must be a list of one integer");
  }
  COSY_RETURN_IF_ERROR(JsonToValue(est["channels"][0], &c.est_channels)
                           .WithContext("flow config: flow.estimator.channels[0]"));
  COSY_RETURN_IF_ERROR(ReadInt(est, "flow.estimator", "attention_head_dim", &c.est_head_dim));
  COSY_RETURN_IF_ERROR(ReadInt(est, "flow.estimator", "num_heads", &c.est_heads));
  COSY_RETURN_IF_ERROR(ReadInt(est, "flow.estimator", "n_blocks", &c.est_blocks_per_stage));
  COSY_RETURN_IF_ERROR(ReadInt(est, "flow.estimator", "num_mid_blocks", &c.est_mid_blocks));
  COSY_RETURN_IF_ERROR(ReadInt(est, "flow.estimator", "static_chunk_size", &c.est_chunk));
  if (flow.contains("cfm")) {
    const auto& cfm = flow["cfm"];
    COSY_RETURN_IF_ERROR(
        ReadJsonField(cfm, "inference_cfg_rate", "flow config: flow.cfm", &c.cfg_rate));
    COSY_RETURN_IF_ERROR(
        ReadJsonField(cfm, "n_timesteps", "flow config: flow.cfm", &c.n_timesteps));
  }
  COSY_RETURN_IF_ERROR(c.Validate());
  return c;
}

Result<FlowConfig> FlowConfig::FromFile(const std::string& path) {
  COSY_ASSIGN_OR_RETURN(nlohmann::json j, ReadJsonFile(path));
  if (!j.contains("flow")) return NotFound("{}: no \"flow\" dict", path);
  auto c = FromJson(j["flow"]);
  if (!c.ok()) return c.status().WithContext(path);
  return c;
}

int64_t FlowConfig::stream_block() const {
  const int64_t a = est_chunk, b = token_mel_ratio * enc_chunk;
  if (a <= 0 || b <= 0) return 0;
  return a / std::gcd(a, b) * b;
}

Status FlowConfig::Validate() const {
  if (output_size != 80) return InvalidArgument("flow: output_size must be 80, got {}", output_size);
  if (est_in != 4 * output_size) {
    return InvalidArgument("flow: estimator in_channels must be 4 x {} , got {}", output_size, est_in);
  }
  if (enc_heads <= 0 || enc_dim % enc_heads != 0) {
    return InvalidArgument("flow: encoder output_size {} not divisible by attention_heads {}",
                           enc_dim, enc_heads);
  }
  if (enc_dim != input_size) {
    return InvalidArgument("flow: encoder output_size {} must equal input_size {}", enc_dim, input_size);
  }
  if (pre_lookahead_len != 3) {
    return InvalidArgument("flow: pre_lookahead_len must be 3, got {}", pre_lookahead_len);
  }
  if (token_mel_ratio != 2) return InvalidArgument("flow: token_mel_ratio must be 2, got {}", token_mel_ratio);
  if (enc_chunk <= 0 || est_chunk <= 0) return InvalidArgument("flow: chunk sizes must be > 0");
  if (est_heads <= 0 || est_head_dim <= 0 || est_channels <= 0 || est_blocks_per_stage <= 0) {
    return InvalidArgument("flow: estimator sizes must be > 0");
  }
  if (n_timesteps <= 0) return InvalidArgument("flow: n_timesteps must be > 0, got {}", n_timesteps);
  return OkStatus();
}

std::string FlowConfig::ToString() const {
  return fmt::format(
      "flow(vocab {}, d {}, encoder {}x{} heads {} ffn {}, estimator ch {} heads {}x{} blocks {} mid "
      "{}, chunk {}/{}, steps {}, cfg {})",
      vocab_size, input_size, enc_blocks, enc_up_blocks, enc_heads, enc_ffn, est_channels,
      est_heads, est_head_dim, est_blocks_per_stage, est_mid_blocks, enc_chunk, est_chunk,
      n_timesteps, cfg_rate);
}

}  // namespace cosyflow::flow
