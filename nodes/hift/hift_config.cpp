// HiftConfig parsing and validation.
#include "nodes/hift/hift_config.h"

#include "nodes/core/json_file.h"

#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace cosyflow::hift {
namespace {

// Reads j[key] into *out when present; errors name the section, the key and the value.
template <typename T>
Status ReadKey(const nlohmann::json& j, const char* key, T* out) {
  return ReadJsonField(j, key, "hift config", out);
}

Status CheckDilations(const char* name, const std::vector<std::vector<int>>& d, size_t n) {
  if (d.size() != n) {
    return InvalidArgument("hift config: {} needs {} lists (one per kernel size), got {}", name, n,
                           d.size());
  }
  for (const auto& l : d) {
    if (l.empty()) return InvalidArgument("hift config: {} has an empty dilation list", name);
    for (int v : l) {
      if (v < 1) return InvalidArgument("hift config: {} dilation must be >= 1, got {}", name, v);
    }
  }
  return OkStatus();
}

}  // namespace

Result<HiftConfig> HiftConfig::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return InvalidArgument("hift config: expected an object");
  static const std::set<std::string> kKnown = {
      "in_channels", "base_channels", "nb_harmonics", "sampling_rate", "nsf_alpha", "nsf_sigma",
      "nsf_voiced_threshold", "upsample_rates", "upsample_kernel_sizes", "istft_params",
      "resblock_kernel_sizes", "resblock_dilation_sizes", "source_resblock_kernel_sizes",
      "source_resblock_dilation_sizes", "lrelu_slope", "audio_limit", "f0_predictor"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!kKnown.count(it.key())) return InvalidArgument("hift config: unknown key '{}'", it.key());
  }
  HiftConfig c;
  COSY_RETURN_IF_ERROR(ReadKey(j, "in_channels", &c.in_channels));
  COSY_RETURN_IF_ERROR(ReadKey(j, "base_channels", &c.base_channels));
  COSY_RETURN_IF_ERROR(ReadKey(j, "nb_harmonics", &c.nb_harmonics));
  COSY_RETURN_IF_ERROR(ReadKey(j, "sampling_rate", &c.sampling_rate));
  COSY_RETURN_IF_ERROR(ReadKey(j, "nsf_alpha", &c.nsf_alpha));
  COSY_RETURN_IF_ERROR(ReadKey(j, "nsf_sigma", &c.nsf_sigma));
  COSY_RETURN_IF_ERROR(ReadKey(j, "nsf_voiced_threshold", &c.nsf_voiced_threshold));
  COSY_RETURN_IF_ERROR(ReadKey(j, "upsample_rates", &c.upsample_rates));
  COSY_RETURN_IF_ERROR(ReadKey(j, "upsample_kernel_sizes", &c.upsample_kernel_sizes));
  COSY_RETURN_IF_ERROR(ReadKey(j, "resblock_kernel_sizes", &c.resblock_kernel_sizes));
  COSY_RETURN_IF_ERROR(ReadKey(j, "resblock_dilation_sizes", &c.resblock_dilation_sizes));
  COSY_RETURN_IF_ERROR(
      ReadKey(j, "source_resblock_kernel_sizes", &c.source_resblock_kernel_sizes));
  COSY_RETURN_IF_ERROR(
      ReadKey(j, "source_resblock_dilation_sizes", &c.source_resblock_dilation_sizes));
  COSY_RETURN_IF_ERROR(ReadKey(j, "lrelu_slope", &c.lrelu_slope));
  COSY_RETURN_IF_ERROR(ReadKey(j, "audio_limit", &c.audio_limit));
  if (j.contains("istft_params")) {
    const auto& p = j.at("istft_params");
    COSY_RETURN_IF_ERROR(ReadJsonField(p, "n_fft", "hift config: istft_params", &c.n_fft));
    COSY_RETURN_IF_ERROR(ReadJsonField(p, "hop_len", "hift config: istft_params", &c.hop_len));
  }
  if (j.contains("f0_predictor")) {
    const auto& p = j.at("f0_predictor");
    const char* what = "hift config: f0_predictor";
    COSY_RETURN_IF_ERROR(ReadJsonField(p, "in_channels", what, &c.f0_in_channels));
    COSY_RETURN_IF_ERROR(ReadJsonField(p, "cond_channels", what, &c.f0_cond_channels));
    COSY_RETURN_IF_ERROR(ReadJsonField(p, "num_class", what, &c.f0_num_class));
  }
  COSY_RETURN_IF_ERROR(c.Validate());
  return c;
}

Result<HiftConfig> HiftConfig::ForModelDir(const std::string& model_dir) {
  const std::string path = model_dir + "/config.json";
  if (!std::filesystem::exists(path)) return Release();
  COSY_ASSIGN_OR_RETURN(nlohmann::json j, ReadJsonFile(path));
  if (!j.contains("hift")) return Release();
  auto c = FromJson(j["hift"]);
  if (!c.ok()) return c.status().WithContext(path);
  return c;
}

Status HiftConfig::Validate() const {
  if (in_channels < 1 || base_channels < 2) {
    return InvalidArgument("hift config: in_channels/base_channels must be positive, got {}/{}",
                           in_channels, base_channels);
  }
  if (nb_harmonics < 0) return InvalidArgument("hift config: nb_harmonics must be >= 0");
  if (sampling_rate <= 0) return InvalidArgument("hift config: sampling_rate must be > 0");
  if (sampling_rate == 22050) {
    return Unsupported("hift config: sampling_rate 22050 selects the legacy SineGen; only "
                       "SineGen2 (CosyVoice2, 24 kHz) is implemented");
  }
  const size_t n = upsample_rates.size();
  if (n == 0 || upsample_kernel_sizes.size() != n || source_resblock_kernel_sizes.size() != n) {
    return InvalidArgument(
        "hift config: upsample_rates, upsample_kernel_sizes and source_resblock_kernel_sizes "
        "need the same non-zero length, got {}, {}, {}",
        n, upsample_kernel_sizes.size(), source_resblock_kernel_sizes.size());
  }
  for (size_t i = 0; i < n; ++i) {
    const int u = upsample_rates[i], k = upsample_kernel_sizes[i];
    if (u < 1 || k < u || (k - u) % 2 != 0) {
      return InvalidArgument("hift config: upsample stage {} needs rate >= 1, kernel >= rate and "
                             "even (kernel - rate), got rate {} kernel {}", i, u, k);
    }
  }
  if ((base_channels >> n) < 1) {
    return InvalidArgument("hift config: base_channels {} too small for {} stages", base_channels,
                           n);
  }
  if (resblock_kernel_sizes.empty()) {
    return InvalidArgument("hift config: resblock_kernel_sizes is empty");
  }
  for (int k : resblock_kernel_sizes) {
    if (k < 1 || k % 2 == 0) return InvalidArgument("hift config: resblock kernel {} not odd", k);
  }
  for (int k : source_resblock_kernel_sizes) {
    if (k < 1 || k % 2 == 0) return InvalidArgument("hift config: source kernel {} not odd", k);
  }
  COSY_RETURN_IF_ERROR(CheckDilations("resblock_dilation_sizes", resblock_dilation_sizes,
                                      resblock_kernel_sizes.size()));
  COSY_RETURN_IF_ERROR(CheckDilations("source_resblock_dilation_sizes",
                                      source_resblock_dilation_sizes, n));
  if (n_fft < 2 || n_fft % 2 != 0 || hop_len < 1 || hop_len > n_fft) {
    return InvalidArgument("hift config: istft_params need even n_fft >= 2 and 1 <= hop_len <= "
                           "n_fft, got n_fft {} hop_len {}", n_fft, hop_len);
  }
  if (f0_in_channels != in_channels || f0_cond_channels < 1 || f0_num_class != 1) {
    return InvalidArgument("hift config: f0_predictor needs in_channels == {} , cond_channels "
                           ">= 1 and num_class 1, got {}, {}, {}", in_channels, f0_in_channels,
                           f0_cond_channels, f0_num_class);
  }
  if (!(audio_limit > 0)) return InvalidArgument("hift config: audio_limit must be > 0");
  return OkStatus();
}

int HiftConfig::SamplesPerFrame() const {
  int s = hop_len;
  for (int u : upsample_rates) s *= u;
  return s;
}

std::string HiftConfig::ToString() const {
  return fmt::format(
      "hift{{in {}, base {}, harmonics {}, sr {}, ups {}/{}, istft {}/{}, resblocks {}, source "
      "resblocks {}, f0 cond {}}}",
      in_channels, base_channels, nb_harmonics, sampling_rate, upsample_rates,
      upsample_kernel_sizes, n_fft, hop_len, resblock_kernel_sizes, source_resblock_kernel_sizes,
      f0_cond_channels);
}

}  // namespace cosyflow::hift
