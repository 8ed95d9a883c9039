// The flow's CFM sampler on a CUDA device (built only when COSYFLOW_WITH_CUDA): the estimator
// (CausalConditionalDecoder, spec §4.7) with f32 weights on the GPU and the 10 Euler steps with
// classifier-free guidance kept there, so one sampler run uploads its conditioning and noise
// once and downloads the mel once. The encoder, the speaker vector and the resnets' time biases
// (which depend only on the fixed ODE grid: a table made at load) are the CPU path's.
//
// Streaming calls sample every frame of the prefix chunk-causally, as the reference does (the
// CPU path's incremental K/V cache is not used on the device; FlowModel keeps the encoder
// incremental on the CPU and hands the sampler the whole mu).
// A call borrows a scratch (its own stream, cuBLAS handle and buffers) from the model's pool and
// gives it back: no request state lives on the device between calls, and concurrent calls use
// different scratches.
//
// The sampler's steps replay one CUDA graph per call (~1,100 launches a step at release shapes
// otherwise): captured at the call's frame count, it reads the step's time biases and dt from
// device memory by a step counter; a scratch keeps its graph and updates it in place for the
// next call's shapes (cudaGraphExecUpdate). COSYFLOW_CUDA_GRAPHS=0 (read at load) launches the
// kernels one by one; a hooked call does too.
#pragma once

#ifdef COSYFLOW_WITH_CUDA

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "nodes/flow/flow_forward.h"
#include "runtime/kernels/cuda/flow_ops.h"

namespace cosyflow::flow {

struct FlowCudaScratch;

class FlowEstimatorCuda {
 public:
  // Uploads the estimator's weights from `w`'s checkpoint (f32 only) and the time-bias table of
  // the n_timesteps schedule.
  static Result<std::unique_ptr<FlowEstimatorCuda>> Load(const FlowWeights& w, const FlowConfig& c);
  ~FlowEstimatorCuda();

  // The sampler on n frames: cond_rows [2, n, est_in] host rows [· | mu | spk | cond] and
  // [· | 0 | 0 | 0] (columns 0 .. 80 are ignored: they get x), x [n, 80] the noise in, the mel
  // out (time-major). streaming: chunk-causal attention. hook: "est0_out" [2, n, 80] after the
  // first step. prof: estimator time and calls.
  Status Sample(const float* cond_rows, int64_t n, bool streaming, float* x, const FlowHook& hook,
                FlowProfile* prof) const;

  // One estimator call at schedule step `step` (tests): in [2, n, est_in] -> out [2, n, 80].
  Status Estimate(const float* in, int64_t n, int step, bool streaming, float* out) const;

  size_t weight_bytes() const { return weight_bytes_; }
  // Whether Sample replays a captured step (default: unless COSYFLOW_CUDA_GRAPHS=0 at load).
  void set_use_graphs(bool on) const { use_graphs_ = on; }
  // Attention scratch of the scratch sets made after the call (floats; query rows go in blocks
  // that fit; default 256 MB). Tests lower it to exercise the blocking.
  void set_score_floats(int64_t floats) const { score_floats_ = floats; }

  struct Linear {
    cuda::Buffer w, bias;
    cuda::LinearWeights view;
    int64_t k = 1;    // conv taps (the weight is tap-major [cout, k · cin])
    int64_t cin = 0;  // conv input channels
  };
  struct Norm {
    cuda::Buffer w, b;
  };
  struct Resnet {
    Linear conv1, conv2, res;
    Norm ln1, ln2;
  };
  struct Block {
    Norm norm1, norm3;
    Linear qkv, out, ff_in, ff_out;
  };
  struct Stage {
    Resnet resnet;
    std::vector<Block> blocks;
    Linear conv;  // down / up only
  };

 private:
  explicit FlowEstimatorCuda(const FlowConfig& c);
  struct Lease;
  Result<Lease> Acquire(int64_t n) const;
  void Return(std::unique_ptr<FlowCudaScratch> s) const;
  // Queues one estimator call: s.in [2, n, est_in] -> s.v [2, n, 80] with the resnets' time
  // biases at `time_bias` (device, [resnets, channels]).
  Status Enqueue(FlowCudaScratch& s, int64_t n, const float* time_bias, bool streaming) const;
  // Queues one sampler step that reads its index from s.step (the graph's body).
  Status EnqueueIndexedStep(FlowCudaScratch& s, int64_t n, bool streaming) const;
  Status ConvForward(FlowCudaScratch& s, const Linear& conv, const float* x, int64_t n,
                     float* y) const;
  Status ResnetForward(FlowCudaScratch& s, const Resnet& r, const float* x, int64_t n,
                       const float* time_bias, float* y) const;
  Status BlockForward(FlowCudaScratch& s, const Block& b, int64_t n, int64_t chunk,
                      float* h) const;
  Status StageForward(FlowCudaScratch& s, const Stage& st, const float* x, int64_t n,
                      int64_t chunk, const float* time_bias, float* h) const;

  FlowConfig c_;
  Stage down_, up_;
  std::vector<Stage> mid_;
  Linear final_conv_, final_proj_;
  Norm final_ln_;
  cuda::Buffer time_bias_;  // [steps, 2 + mid, channels]
  cuda::Buffer dt_;         // [steps]
  OdeSchedule ode_;
  size_t weight_bytes_ = 0;
  mutable std::atomic<int64_t> score_floats_{int64_t{64} << 20};
  mutable std::atomic<bool> use_graphs_{true};
  mutable std::mutex mu_;
  mutable std::vector<std::unique_ptr<FlowCudaScratch>> idle_;
};

}  // namespace cosyflow::flow

#endif  // COSYFLOW_WITH_CUDA
