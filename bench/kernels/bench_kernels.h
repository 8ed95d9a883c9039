// Kernel benchmark sections: each checks its kernels against the reference, then times them.
#pragma once

#include <nlohmann/json.hpp>

namespace cosyflow::bench {

struct KernelBenchOptions {
  double min_seconds = 0.2;  // time each case for at least this long
  int threads = 0;           // 0 = library default
};

// Matmul / inner product (f32 and bf16 weights, Qwen2 decode shapes), batched matmul,
// conv1d and conv_transpose1d on oneDNN. Returns a JSON array of case objects:
// {"kernel":..., "shape":..., "dtype":..., "max_abs_err":..., "ok":bool, "ms":..., "gflops":...}
nlohmann::json BenchDnnlKernels(const KernelBenchOptions& options);
// Norms, activations, softmax, attention, rope, embedding, STFT/iSTFT: same case format
// ("gbps" instead of "gflops" for memory-bound kernels).
nlohmann::json BenchPointwiseKernels(const KernelBenchOptions& options);
// The vector FMA peak of the kernel variant in force (f32, and vdpbf16ps where the CPU has
// it), on 1 thread and on oneDNN's team: {"isa", "threads", "f32_fma_gflops[_1_thread]",
// "bf16_dot_gflops[_1_thread]"}.
nlohmann::json MeasurePeak();
// Adds "peak_fraction" (gflops / the matching peak) to the compute-bound cases.
void AddPeakFractions(const nlohmann::json& peak, nlohmann::json& cases);

}  // namespace cosyflow::bench
