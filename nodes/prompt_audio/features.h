// Prompt-audio features: whisper log-mel (tokenizer), Kaldi fbank (CAM++), Matcha mel (flow).
#pragma once

#include <complex>
#include <span>
#include <vector>

#include "nodes/prompt_audio/real_fft.h"
#include "runtime/status.h"
#include "runtime/tensor.h"

namespace cosyflow::prompt_audio {

// A mel matrix [rows, cols] stored as each row's non-zero run (the triangles are narrow, so a
// frame costs ~2·cols multiply-adds instead of rows·cols).
struct SparseMelRows {
  int rows = 0, cols = 0;
  std::vector<int> first, len;  // per row: columns [first, first + len)
  std::vector<size_t> offset;   // per row: start in weights
  std::vector<float> weights;
  static SparseMelRows FromDense(const std::vector<float>& dense, int rows, int cols);
  // out[r] = Σ_c W[r, c]·x[c] in float64.
  void Apply(const double* x, double* out) const;
};

// whisper.log_mel_spectrogram(x16k, n_mels) of openai-whisper 20231117 (the speech tokenizer's
// input): n_fft 400, hop 160, periodic Hann(400), center=True with reflect padding of 200,
// |X|², the last STFT frame dropped, × librosa Slaney mel filters (sr 16000, n_fft 400),
// log10(max(·, 1e-10)), floored at (global max − 8), then (v + 4)/4.
// x16k: [N] f32 at 16 kHz, N > 200 -> [n_mels, N/160] f32.
class WhisperLogMel {
 public:
  static Result<WhisperLogMel> Create(int n_mels = 128);
  int n_mels() const { return mel_.rows; }
  static int64_t Frames(int64_t samples) { return samples / kHop; }
  Result<Tensor> Compute(std::span<const float> x16k) const;

  static constexpr int kNfft = 400;
  static constexpr int kHop = 160;

 private:
  WhisperLogMel() = default;
  RealFft fft_;
  std::vector<double> window_;  // [400] periodic Hann (float32 values, as torch's)
  SparseMelRows mel_;
};

// torchaudio.compliance.kaldi.fbank(x16k, num_mel_bins, dither=0, sample_frequency=16000) with
// every other argument at its default: 25 ms frames (400), 10 ms shift (160), snip_edges
// (T = 1 + (N − 400)/160), per-frame DC removal, pre-emphasis 0.97 (x[−1] := x[0]), Povey window
// (symmetric Hann^0.85), zero-padded to 512, |X|², Kaldi mel banks 20 Hz .. 8 kHz, then
// log(max(·, float32 eps)). No energy column. The CAM++ input is ComputeMeanNormalized.
// x16k: [N] f32, N >= 400 -> [T, num_bins] f32.
class KaldiFbank {
 public:
  static Result<KaldiFbank> Create(int num_bins = 80, int sample_rate = 16000);
  int num_bins() const { return mel_.rows; }
  int64_t Frames(int64_t samples) const {
    return samples < frame_ ? 0 : 1 + (samples - frame_) / shift_;
  }
  Result<Tensor> Compute(std::span<const float> x16k) const;
  // Compute minus its per-bin mean over time (CosyVoice's `feat - feat.mean(dim=0)`).
  Result<Tensor> ComputeMeanNormalized(std::span<const float> x16k) const;

 private:
  KaldiFbank() = default;
  int frame_ = 0, shift_ = 0;
  RealFft fft_;                  // padded frame (512)
  std::vector<float> window_f_;  // [frame_] Povey window
  SparseMelRows mel_;
};

// Matcha-TTS `mel_spectrogram(x24k, n_fft=1920, num_mels=80, sampling_rate=24000,
// hop_size=480, win_size=1920, fmin=0, fmax=8000, center=False)` (CosyVoice2's prompt_feat):
// reflect-pad (n_fft − hop)/2 = 720 each side, periodic Hann(1920), sqrt(re² + im² + 1e-9),
// × librosa Slaney mel basis [80, 961], ln(max(·, 1e-5)), time-major.
// x24k: [N] f32, N > 720 -> [N/480, 80] f32.
struct MatchaMelConfig {
  int sample_rate = 24000;
  int n_fft = 1920;
  int hop = 480;
  int n_mels = 80;
  double fmin = 0.0;
  double fmax = 8000.0;
};

class MatchaMel {
 public:
  static Result<MatchaMel> Create(const MatchaMelConfig& config = {});
  const MatchaMelConfig& config() const { return config_; }
  int64_t Frames(int64_t samples) const {
    int64_t padded = samples + 2 * Pad();
    return padded < config_.n_fft ? 0 : 1 + (padded - config_.n_fft) / config_.hop;
  }
  Result<Tensor> Compute(std::span<const float> x24k) const;

 private:
  MatchaMel() = default;
  int Pad() const { return (config_.n_fft - config_.hop) / 2; }
  MatchaMelConfig config_;
  RealFft fft_;
  std::vector<double> window_;  // [n_fft] periodic Hann (float32 values)
  SparseMelRows mel_;
};

}  // namespace cosyflow::prompt_audio
