// Mel filter banks: librosa's Slaney filters (whisper, Matcha) and Kaldi's triangular banks.
#pragma once

#include <vector>

#include "runtime/status.h"

namespace cosyflow::prompt_audio {

// librosa 0.10 `filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm='slaney',
// dtype=float32)` -> [n_mels, n_fft/2 + 1] f32 row-major. fmax <= 0 means sr/2.
// Same operation order as librosa, which is what makes it bit-exact: band edges from
// np.linspace over Slaney mels, triangles min(−ramp_i/fdiff_i, ramp_{i+2}/fdiff_{i+1}) clipped
// at 0 in float64 and stored into float32, then multiplied in place by the float64 area norm
// 2/(f_{i+2} − f_i) and rounded to float32 again.
// Reproduces whisper's stored mel_128 bit for bit and Matcha's 24 kHz basis.
Result<std::vector<float>> SlaneyMelFilters(int sample_rate, int n_fft, int n_mels,
                                            double fmin = 0.0, double fmax = 0.0);

// torchaudio.compliance.kaldi.get_mel_banks (no VTLN), padded with a zero last column as fbank
// does -> [num_bins, padded_window/2 + 1] f32 row-major. mel(f) = 1127·ln(1 + f/700); bins
// evenly spaced in mel between low_freq and high_freq (high_freq <= 0: nyquist + high_freq);
// triangles evaluated at bin k·sample_freq/padded_window, k < padded_window/2. Everything in
// float32 like torchaudio (its tensors are float32; the Python scalars are rounded on use).
Result<std::vector<float>> KaldiMelBanks(int num_bins, int padded_window, double sample_freq,
                                         double low_freq = 20.0, double high_freq = 0.0);

}  // namespace cosyflow::prompt_audio
