// RealFft: float64 real-input FFT (kissfft's C++ template) for the prompt feature extractors.
#pragma once

#include <complex>
#include <memory>
#include <vector>

#include "runtime/status.h"

template <typename scalar_t>
class kissfft;

namespace cosyflow::prompt_audio {

// Forward DFT of n real samples, X[f] = Σ x[i]·e^{−2πi·f·i/n}, f in [0, n/2]. Double precision
// keeps the features' error far below the float32 reference's own rounding (the reference
// itself runs float32 FFTs). n must be even and n/2 a product of 2, 3 and 5 (400, 512, 1920):
// kissfft's generic radix keeps a mutable scratch buffer, and refusing it keeps Forward
// thread-safe and allocation-free.
class RealFft {
 public:
  static Result<RealFft> Create(int n);
  RealFft();  // empty until assigned from Create
  RealFft(RealFft&&) noexcept;
  RealFft& operator=(RealFft&&) noexcept;
  ~RealFft();

  int n() const { return n_; }
  int bins() const { return n_ / 2 + 1; }
  // in: [n] f64 -> out: [n/2 + 1] complex f64.
  void Forward(const double* in, std::complex<double>* out) const;

 private:
  int n_ = 0;
  std::unique_ptr<kissfft<double>> fft_;  // complex FFT of size n/2
};

}  // namespace cosyflow::prompt_audio
