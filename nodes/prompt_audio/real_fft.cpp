// RealFft on kissfft<double> (header-only C++ template from libkissfft-dev).
#include "nodes/prompt_audio/real_fft.h"

#include <kissfft/kissfft.hh>

namespace cosyflow::prompt_audio {

Result<RealFft> RealFft::Create(int n) {
  if (n < 2 || n % 2 != 0) return InvalidArgument("real fft: n must be even and >= 2, got {}", n);
  int m = n / 2;
  for (int p : {2, 3, 5}) {
    while (m % p == 0) m /= p;
  }
  if (m != 1) {
    return Unsupported("real fft: n/2 must factor into 2, 3 and 5, got n = {}", n);
  }
  RealFft f;  // NOLINT
  f.n_ = n;
  f.fft_ = std::make_unique<kissfft<double>>(static_cast<size_t>(n / 2), false);
  return f;
}

RealFft::RealFft() = default;
RealFft::RealFft(RealFft&&) noexcept = default;
RealFft& RealFft::operator=(RealFft&&) noexcept = default;
RealFft::~RealFft() = default;

void RealFft::Forward(const double* in, std::complex<double>* out) const {
  // transform_real packs DC and Nyquist into out[0] (real, imag); unpack them.
  fft_->transform_real(in, out);
  const double dc = out[0].real(), nyquist = out[0].imag();
  out[0] = {dc, 0.0};
  out[n_ / 2] = {nyquist, 0.0};
}

}  // namespace cosyflow::prompt_audio
