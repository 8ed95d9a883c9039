// HiftConfig: the HiFTGenerator constructor arguments (cosyvoice2.yaml "hift" section).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/status.h"

namespace cosyflow::hift {

// Every hyper-parameter of the vocoder lives here; kernels and layers read it, never constants.
// Release() holds the CosyVoice2-0.5B values; FromJson reads the same keys as the yaml section
// (the tiny fixtures' config.json "hift" dict uses them verbatim).
struct HiftConfig {
  int in_channels = 80;
  int base_channels = 512;
  int nb_harmonics = 8;
  int sampling_rate = 24000;
  float nsf_alpha = 0.1f;
  float nsf_sigma = 0.003f;
  float nsf_voiced_threshold = 10.0f;
  std::vector<int> upsample_rates = {8, 5, 3};
  std::vector<int> upsample_kernel_sizes = {16, 11, 7};
  int n_fft = 16;
  int hop_len = 4;
  std::vector<int> resblock_kernel_sizes = {3, 7, 11};
  std::vector<std::vector<int>> resblock_dilation_sizes = {{1, 3, 5}, {1, 3, 5}, {1, 3, 5}};
  std::vector<int> source_resblock_kernel_sizes = {7, 7, 11};
  std::vector<std::vector<int>> source_resblock_dilation_sizes = {{1, 3, 5}, {1, 3, 5}, {1, 3, 5}};
  float lrelu_slope = 0.1f;
  float audio_limit = 0.99f;
  int f0_in_channels = 80;
  int f0_cond_channels = 512;
  int f0_num_class = 1;

  static HiftConfig Release() { return HiftConfig(); }
  // Reads a "hift" dict; missing keys keep the release value, unknown keys are errors.
  static Result<HiftConfig> FromJson(const nlohmann::json& j);
  // `model_dir`/config.json's "hift" dict when that file exists, else Release().
  static Result<HiftConfig> ForModelDir(const std::string& model_dir);

  // Ranges and cross-field rules (no I/O).
  Status Validate() const;
  std::string ToString() const;

  int num_stages() const { return static_cast<int>(upsample_rates.size()); }
  int num_freq() const { return n_fft / 2 + 1; }
  // Channels after upsampling stage i: base / 2^(i+1).
  int StageChannels(int i) const { return base_channels >> (i + 1); }
  // Waveform samples per mel frame: prod(upsample_rates) * hop_len (480 for the release).
  int SamplesPerFrame() const;
};

}  // namespace cosyflow::hift
