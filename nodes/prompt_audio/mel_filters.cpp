// librosa Slaney mel filters and Kaldi mel banks, in the reference implementations' arithmetic.
#include "nodes/prompt_audio/mel_filters.h"

#include <algorithm>
#include <cmath>

namespace cosyflow::prompt_audio {
namespace {

// librosa hz_to_mel / mel_to_hz with htk=False (Slaney): linear below 1 kHz, log above.
constexpr double kFSp = 200.0 / 3;
constexpr double kMinLogHz = 1000.0;
constexpr double kMinLogMel = (kMinLogHz - 0.0) / kFSp;
double LogStep() { return std::log(6.4) / 27.0; }

double HzToMelSlaney(double f) {
  double mel = (f - 0.0) / kFSp;
  if (f >= kMinLogHz) mel = kMinLogMel + std::log(f / kMinLogHz) / LogStep();
  return mel;
}

double MelToHzSlaney(double m) {
  double f = 0.0 + kFSp * m;
  if (m >= kMinLogMel) f = kMinLogHz * std::exp(LogStep() * (m - kMinLogMel));
  return f;
}

}  // namespace

Result<std::vector<float>> SlaneyMelFilters(int sample_rate, int n_fft, int n_mels, double fmin,
                                            double fmax) {
  if (sample_rate <= 0 || n_fft < 2 || n_mels < 1) {
    return InvalidArgument(
        "mel filters: need sample_rate > 0, n_fft >= 2, n_mels >= 1; got {}, "
        "{}, {}",
        sample_rate, n_fft, n_mels);
  }
  if (fmax <= 0) fmax = static_cast<double>(sample_rate) / 2;
  if (fmin < 0 || fmin >= fmax) {
    return InvalidArgument("mel filters: need 0 <= fmin < fmax, got {} and {}", fmin, fmax);
  }
  const int bins = n_fft / 2 + 1;
  // np.fft.rfftfreq(n_fft, d=1/sr): k * (1 / (n_fft * (1/sr))).
  const double val = 1.0 / (n_fft * (1.0 / sample_rate));
  std::vector<double> fft_freqs(bins);
  for (int k = 0; k < bins; ++k) fft_freqs[k] = k * val;
  // np.linspace(mel(fmin), mel(fmax), n_mels + 2): i·step + start, the last point = stop.
  const double start = HzToMelSlaney(fmin), stop = HzToMelSlaney(fmax);
  const int points = n_mels + 2;
  const double step = (stop - start) / (points - 1);
  std::vector<double> mel_f(points);
  for (int i = 0; i < points; ++i) {
    double m = (i == points - 1) ? stop : static_cast<double>(i) * step + start;
    mel_f[i] = MelToHzSlaney(m);
  }
  std::vector<float> w(static_cast<size_t>(n_mels) * bins);
  for (int i = 0; i < n_mels; ++i) {
    const double fdiff_lo = mel_f[i + 1] - mel_f[i];
    const double fdiff_hi = mel_f[i + 2] - mel_f[i + 1];
    const double enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
    for (int k = 0; k < bins; ++k) {
      double lower = -(mel_f[i] - fft_freqs[k]) / fdiff_lo;
      double upper = (mel_f[i + 2] - fft_freqs[k]) / fdiff_hi;
      float tri = static_cast<float>(std::max(0.0, std::min(lower, upper)));
      w[static_cast<size_t>(i) * bins + k] = static_cast<float>(static_cast<double>(tri) * enorm);
    }
  }
  return w;
}

Result<std::vector<float>> KaldiMelBanks(int num_bins, int padded_window, double sample_freq,
                                         double low_freq, double high_freq) {
  if (num_bins < 3 || padded_window < 2 || padded_window % 2 != 0 || sample_freq <= 0) {
    return InvalidArgument(
        "kaldi mel banks: need num_bins >= 3, even padded_window >= 2, "
        "sample_freq > 0; got {}, {}, {}",
        num_bins, padded_window, sample_freq);
  }
  const double nyquist = 0.5 * sample_freq;
  if (high_freq <= 0.0) high_freq += nyquist;
  if (!(0.0 <= low_freq && low_freq < nyquist && 0.0 < high_freq && high_freq <= nyquist &&
        low_freq < high_freq)) {
    return InvalidArgument("kaldi mel banks: bad frequency range [{}, {}] for nyquist {}", low_freq,
                           high_freq, nyquist);
  }
  const int fft_bins = padded_window / 2;
  const double fft_bin_width = sample_freq / padded_window;
  // Python scalars (float64) ...
  const double mel_low = 1127.0 * std::log(1.0 + low_freq / 700.0);
  const double mel_high = 1127.0 * std::log(1.0 + high_freq / 700.0);
  const double mel_delta = (mel_high - mel_low) / (num_bins + 1);
  // ... meet float32 tensors: each scalar is rounded to float32 and every op rounds to float32.
  const float low_f = static_cast<float>(mel_low), delta_f = static_cast<float>(mel_delta);
  const float width_f = static_cast<float>(fft_bin_width);
  std::vector<float> mel(fft_bins);
  for (int k = 0; k < fft_bins; ++k) {
    float f = width_f * static_cast<float>(k);
    mel[k] = 1127.0f * std::log(1.0f + f / 700.0f);
  }
  std::vector<float> banks(static_cast<size_t>(num_bins) * (fft_bins + 1), 0.0f);
  for (int b = 0; b < num_bins; ++b) {
    const float bf = static_cast<float>(b);
    const float left = low_f + bf * delta_f;
    const float center = low_f + (bf + 1.0f) * delta_f;
    const float right = low_f + (bf + 2.0f) * delta_f;
    for (int k = 0; k < fft_bins; ++k) {
      float up = (mel[k] - left) / (center - left);
      float down = (right - mel[k]) / (right - center);
      banks[static_cast<size_t>(b) * (fft_bins + 1) + k] = std::max(0.0f, std::min(up, down));
    }
  }
  return banks;
}

}  // namespace cosyflow::prompt_audio
