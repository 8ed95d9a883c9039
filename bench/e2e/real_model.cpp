// Random-weight CosyVoice2-0.5B checkpoints in the official torch.save format (see real_model.h).
#include "bench/e2e/real_model.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "runtime/io/torch_save.h"
#include "runtime/tensor.h"

namespace cosyflow::bench {
namespace {

// Fills `t` (f32) by the key's role; a per-key xorshift stream keeps it deterministic.
void FillByRole(const std::string& key, Tensor* t) {
  float* p = t->data<float>();
  const int64_t n = t->numel();
  const Dims& shape = t->shape();
  const bool vector = shape.size() == 1;
  if (key.ends_with(".weight_g") || (vector && key.ends_with(".weight"))) {
    std::fill(p, p + n, 1.0f);  // norm scales, weight-norm magnitudes
    return;
  }
  float offset = 0.0f, scale = 0.0f;
  if (key.ends_with(".alpha")) {
    offset = 1.0f, scale = 0.1f;  // Snake: alpha near 0 would divide by ~0
  } else if (!vector) {
    scale = 1.0f / std::sqrt(static_cast<float>(std::max<int64_t>(n / shape[0], 1)));
  }
  if (scale == 0.0f) {
    std::fill(p, p + n, offset);  // biases
    return;
  }
  uint64_t s = std::hash<std::string>{}(key) | 1;
  for (int64_t i = 0; i < n; ++i) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    p[i] = offset + scale * (static_cast<float>(s >> 40) * 0x1.0p-23f - 1.0f);
  }
}

Status WriteOne(const nlohmann::json& listing, const std::string& file, const std::string& dir) {
  if (!listing.contains(file) || !listing[file].is_array()) {
    return NotFound("state-dict listing has no \"{}\" array", file);
  }
  io::TorchDict dict;
  for (const auto& e : listing[file]) {
    const std::string key = e.at("key").get<std::string>();
    if (key == "llm.model.lm_head.weight") continue;  // tied to embed_tokens; never used
    const auto shape_v = e.at("shape").get<std::vector<int64_t>>();
    COSY_ASSIGN_OR_RETURN(Dims shape, Dims::From(shape_v));
    COSY_ASSIGN_OR_RETURN(Tensor t, Tensor::Empty(shape, DType::kF32));
    FillByRole(key, &t);
    dict.items.emplace_back(key, std::move(t));
  }
  const std::string stem = file.substr(0, file.find('.'));
  return io::SaveTorchDict(dir + "/" + file, dict, stem);
}

}  // namespace

Status WriteRandomModelDir(const std::string& keys_json, const std::string& dir) {
  std::ifstream in(keys_json);
  if (!in) return NotFound("{}: cannot open the state-dict key listing", keys_json);
  nlohmann::json listing;
  try {
    listing = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    return DataLoss("{}: {}", keys_json, e.what());
  }
  for (const char* file : {"llm.pt", "flow.pt", "hift.pt"}) {
    try {
      COSY_RETURN_IF_ERROR_CTX(WriteOne(listing, file, dir), file);
    } catch (const nlohmann::json::exception& e) {
      return DataLoss("{}: {}: {}", keys_json, file, e.what());
    } catch (const std::bad_alloc&) {
      return Internal("{}: out of memory writing {}", dir, file);
    }
  }
  return OkStatus();
}

Status WriteRandomModelDirInChild(const std::string& keys_json, const std::string& dir) {
  int fds[2];
  if (pipe(fds) != 0) return Internal("pipe: {}", std::strerror(errno));
  const pid_t pid = fork();
  if (pid < 0) return Internal("fork: {}", std::strerror(errno));
  if (pid == 0) {
    close(fds[0]);
    const Status st = WriteRandomModelDir(keys_json, dir);
    const std::string msg = st.ok() ? "" : st.ToString();
    if (!msg.empty()) (void)!write(fds[1], msg.data(), msg.size());
    close(fds[1]);
    _exit(st.ok() ? 0 : 1);
  }
  close(fds[1]);
  std::string msg;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) msg.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int ws = 0;
  if (waitpid(pid, &ws, 0) != pid) return Internal("waitpid: {}", std::strerror(errno));
  if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) return OkStatus();
  return Internal("writing the random model into {} failed: {}", dir,
                  msg.empty() ? "child ended with status " + std::to_string(ws) : msg);
}

}  // namespace cosyflow::bench
