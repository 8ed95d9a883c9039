// SpeechLm on a CUDA device (built only when COSYFLOW_WITH_CUDA): the layer weights live on the
// GPU (f32, or bf16 with f32 accumulation), each request's state holds its KV cache, RoPE tables
// and scratch there plus its own stream and cuBLAS handle. The embedding tables, sampling and
// the generator stay on the host: a forward call uploads the input rows and downloads the
// last row's logits (and, when hooked, the tapped intermediates).
//
// The arithmetic is the CPU path's (spec §5.3) in another summation order: parity against the
// goldens holds at the same tolerances (tests/cuda, cosyflow-parity --llm-device cuda).
//
// Decode steps (one row, no hook) replay a CUDA graph captured at the state's first step: the
// input row, position and logits go through page-locked staging buffers that the graph copies
// from and to, and the RoPE / attention kernels read the position from device memory, so one
// launch runs the whole step (~250 kernels at release shapes). COSYFLOW_CUDA_GRAPHS=0 (read when
// a state is made) launches the kernels one by one instead.
#pragma once

#ifdef COSYFLOW_WITH_CUDA

#include <cstdint>
#include <memory>
#include <vector>

#include "nodes/llm/speech_lm.h"
#include "runtime/kernels/cuda/llm_ops.h"

namespace cosyflow {

class SpeechLmCudaState;

struct SpeechLmCudaLinear {
  cuda::Buffer w, bias;
  cuda::LinearWeights view;  // points into w / bias
};

class SpeechLmCuda {
 public:
  struct Layer {
    cuda::Buffer input_norm, post_norm;
    SpeechLmCudaLinear qkv, o, gate_up, down;
  };

  explicit SpeechLmCuda(const SpeechLmConfig& config, bool bf16)
      : config_(config), bf16_(bf16) {}

  // Uploads one linear ([out, in] row-major f32, bias optional) in this model's weight type.
  Status UploadLinear(const float* w, const float* bias, int64_t out, int64_t in,
                      SpeechLmCudaLinear* lin) const;
  Status UploadVector(const Tensor& t, cuda::Buffer* buf) const;

  std::vector<Layer>& layers() { return layers_; }
  SpeechLmCudaLinear& decoder() { return decoder_; }
  cuda::Buffer& final_norm() { return final_norm_; }
  size_t weight_bytes() const;

  Result<std::unique_ptr<SpeechLmCudaState>> NewState(int64_t capacity, int64_t chunk,
                                                      const float* rope_cos,
                                                      const float* rope_sin) const;
  Status Forward(SpeechLmCudaState* s, int64_t pos0, const float* x, int64_t n, float* logits,
                 const SpeechLmHook* hook) const;
  Status SavePrefix(SpeechLmCudaState* s, int64_t length, float* k, float* v) const;
  Status LoadPrefix(SpeechLmCudaState* s, int64_t length, const float* k, const float* v) const;

 private:
  Status ForwardChunk(SpeechLmCudaState* s, int64_t pos0, const float* x, int64_t n,
                      bool last_chunk, float* logits, const SpeechLmHook* hook) const;
  // Queues the layers, final norm and head for n rows already in s->x (the decode graph's body
  // when pos_dev is set); taps intermediates when hooked; logits land in s->logits.
  Status Enqueue(SpeechLmCudaState* s, int64_t pos0, const int64_t* pos_dev, int64_t n,
                 bool last_chunk, const SpeechLmHook* hook) const;
  Status DecodeGraph(SpeechLmCudaState* s, int64_t pos0, const float* x, float* logits) const;

  SpeechLmConfig config_;
  bool bf16_ = false;
  std::vector<Layer> layers_;
  cuda::Buffer final_norm_;
  SpeechLmCudaLinear decoder_;
};

class SpeechLmCudaState {
 public:
  std::unique_ptr<cuda::Context> ctx;
  int64_t capacity = 0, chunk = 0;
  cuda::Buffer k_cache, v_cache;  // [layers, kv_heads, capacity, head_dim]
  cuda::Buffer rope_cos, rope_sin;
  cuda::Buffer x, h, qkv, attn, proj, gate_up, act, bf16, last, logits;
  std::vector<float> tap;  // host copy of a hooked intermediate
  // Decode graph: staging (input row, position, logits) and the device position it reads.
  bool use_graphs = true;
  cuda::Graph decode_graph;
  cuda::HostBuffer stage_x, stage_pos, stage_logits;
  cuda::Buffer pos;
};

}  // namespace cosyflow

#endif  // COSYFLOW_WITH_CUDA
