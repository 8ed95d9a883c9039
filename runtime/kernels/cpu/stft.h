// Fast STFT / iSTFT on kissfft real FFTs; same contract as ref/stft.h.
// Why kissfft: BSD-licensed, tiny, packaged in Debian (libkissfft-dev), has a real-input FFT,
// and handles any even n_fft including non-powers of two (1920 for the 24 kHz mel, 400 for
// Whisper, 16 for HiFT) without a planner or global state.
#pragma once

#include <cstdint>

#include "runtime/kernels/ref/stft.h"
#include "runtime/status.h"

namespace cosyflow::kernels::cpu {

using ref::ComplexToPolar;
using ref::HannWindow;
using ref::PolarToComplex;
using ref::StftConfig;
using ref::StftPlan;

// x: [samples] f32 -> re, im: [bins, frames] f32 (see ref::Stft).
// scratch: plan.StftScratchFloats() floats.
Status Stft(const StftPlan& plan, const float* x, int64_t samples, float* re, float* im,
            float* scratch, int64_t scratch_floats);

// re, im: [bins, frames] f32 -> out: [plan.IstftLength(frames)] f32 (see ref::Istft).
// scratch: plan.IstftScratchFloats(frames) floats.
Status Istft(const StftPlan& plan, const float* re, const float* im, int64_t frames, float* out,
             float* scratch, int64_t scratch_floats);

}  // namespace cosyflow::kernels::cpu
