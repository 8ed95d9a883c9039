// HiftVocoder: CosyVoice2's HiFTGenerator (NSF source + HiFi-GAN decoder + iSTFT head), mel ->
// 24 kHz waveform. Immutable after Create; all per-call memory lives in HiftScratch.
//
// Contract of Inference (= the reference's `hift.inference(speech_feat, cache_source)`):
//   mel:          [in_channels, frames] f32 channel-major (row stride mel_ld), frames >= 1
//   noise:        SineGen2's random draws: rand_ini [harmonics+1] initial phase offsets in cycles
//                 (column 0 zero) and sine_noise [frames*spf, harmonics+1] standard normal;
//                 nullptr = zero (the fixtures' zero mode)
//   cache_source: [cache_len] f32, overwrites the first cache_len source samples (streaming
//                 continuity); cache_len <= frames*spf
//   outputs:      speech [frames*spf] in [-audio_limit, audio_limit], source [frames*spf]
// spf = SamplesPerFrame() (480 for CosyVoice2). Optional captures: f0 [frames] and conv_post
// [n_fft+2, frames*spf/hop+1] for parity tests.
// Threads: up to omp_get_max_threads() (OMP_NUM_THREADS, kernels::cpu::SetDnnlNumThreads on the
// calling thread): convolutions split their output columns (rows when short), a stage's three
// resblocks run side by side (one thread each) with the next source branch's resblock split by
// columns to even the loads, or, when that is cheaper (last stage), every worker runs all
// resblocks on its own columns plus a halo; elementwise passes split rows; the output does not
// depend on the count (bit-identical 1/2/3 threads in hift_vocoder_test).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "nodes/hift/hift_config.h"
#include "nodes/hift/hift_layers.h"
#include "runtime/io/checkpoint.h"
#include "runtime/kernels/cpu/stft.h"
#include "runtime/status.h"

namespace cosyflow::hift {

// ResBlock(C, k, dilations): x += conv2(snake2(conv1(snake1(x)))) per dilation.
struct HiftResBlock {
  int channels = 0;
  int kernel = 0;
  std::vector<int> dilations;
  std::vector<Conv1dLayer> convs1, convs2;
  std::vector<std::vector<float>> alpha1, alpha2;
};

// Grow-only scratch for one Inference call at a given length (reused across calls). Every
// activation is channel-major [C, T] contiguous.
struct HiftScratch {
  std::vector<float> mel, f0_a, f0_b, f0;
  std::vector<float> sine, stft, stft_work;
  std::vector<float> x, y, up, t1, t2, post;
  std::vector<float> istft;
  // Per resblock of a stage: its output; per worker thread: two work buffers.
  // work_c: the column-split schedule's input window (see RunStageResBlocks).
  std::vector<std::vector<float>> rb_out, work_a, work_b, work_c;
  std::vector<std::vector<float>> src;  // per stage: the source branch [C_i, T_i]
  std::vector<float> src_tmp;           // column-split source resblock output, swapped in
  std::vector<float> noise;             // a session's SineGen2 noise draws for one call
  std::vector<uint64_t> draws;          // the generator output behind `noise`
  // Bytes of capacity held by all the buffers above.
  size_t Bytes() const;
};

// SineGen2's random draws for one call (see Inference); nullptr members mean zeros.
struct HiftNoise {
  const float* rand_ini = nullptr;
  const float* sine_noise = nullptr;
};

// Optional intermediates a parity test can ask for.
struct HiftCapture {
  std::vector<float>* f0 = nullptr;         // [frames]
  std::vector<float>* conv_post = nullptr;  // [n_fft+2, stft frames] row-major
};

// Arithmetic of the vocoder's convolutions. kF32: the reference's. kBF16: the decoder's
// stride-1 convolutions (conv_pre, every resblock and source resblock, conv_post) take
// bf16-rounded weights and inputs with f32 sums (cpu::ConvMath::kBF16: vdpbf16ps where the CPU
// has AVX512_BF16, emulated elsewhere); the f0 predictor (whose error would shift the
// harmonic source's phase for the rest of the stream), the source downsampling, the transposed
// convolutions and everything outside convolutions stay f32.
enum class HiftPrecision { kF32, kBF16 };
const char* HiftPrecisionName(HiftPrecision p);

class HiftVocoder {
 public:
  // Loads `model_dir`/hift.pt with HiftConfig::ForModelDir(model_dir).
  static Result<std::shared_ptr<const HiftVocoder>> Create(
      const std::string& model_dir, HiftPrecision precision = HiftPrecision::kF32);
  // Loads a hift.pt (or safetensors) file: strips a leading "generator.", folds weight norm,
  // shape-checks every tensor against `cfg` and rejects extra tensors.
  static Result<std::shared_ptr<const HiftVocoder>> Load(
      const std::string& path, const HiftConfig& cfg,
      HiftPrecision precision = HiftPrecision::kF32);
  static Result<std::shared_ptr<const HiftVocoder>> FromCheckpoint(
      Checkpoint ckpt, const HiftConfig& cfg, HiftPrecision precision = HiftPrecision::kF32);

  const HiftConfig& config() const { return cfg_; }
  HiftPrecision precision() const { return precision_; }
  int64_t num_params() const { return num_params_; }
  int harmonics() const { return cfg_.nb_harmonics + 1; }

  Status Inference(const float* mel, int64_t mel_ld, int64_t frames, const HiftNoise& noise,
                   const float* cache_source, int64_t cache_len, HiftScratch* scratch,
                   std::vector<float>* speech, std::vector<float>* source,
                   const HiftCapture* capture = nullptr) const;

  // Scratch for a session: a finished session's (pages already faulted in, sized for the
  // chunks it saw) when one is idle, else a new one. ReleaseScratch keeps at most
  // kMaxIdleScratch idle, together within an eighth of WarmPages::idle_limit() (512 MiB of the
  // default 4 GiB; COSYFLOW_WARM_POOL_MB=0 keeps none); null is ignored. Thread-safe.
  std::unique_ptr<HiftScratch> AcquireScratch() const;
  void ReleaseScratch(std::unique_ptr<HiftScratch> scratch) const;
  static constexpr size_t kMaxIdleScratch = 4;

  // Parts, public for tests: f0 [frames] from mel; decode(mel, source) -> speech.
  Status PredictF0(const float* mel, int64_t mel_ld, int64_t frames, HiftScratch* s,
                   float* f0) const;
  Status Decode(const float* mel, int64_t mel_ld, int64_t frames, const float* source,
                HiftScratch* s, float* speech, std::vector<float>* conv_post) const;

 private:
  HiftVocoder() = default;
  Status LoadWeights(const Checkpoint& ckpt);
  // x: [rb.channels, t], updated in place; a, b: work buffers of rb.channels * t floats.
  Status RunResBlock(const HiftResBlock& rb, float* x, int64_t t, float* a, float* b) const;
  // s->src[stage] = source_resblock(source_down(stft)); a, b: work buffers of the branch's size.
  Status SourceBranch(int stage, const float* stft, int64_t nst, HiftScratch* s, float* a,
                      float* b) const;
  // out = mean over the stage's resblocks m of resblock_m(y); y, out: [channels, t]; also fills
  // s->src[stage + 1]. With several threads these tasks run side by side (one thread each).
  Status RunStageResBlocks(int stage, const float* y, int64_t channels, int64_t t,
                           const float* stft, int64_t nst, HiftScratch* s, float* out) const;
  Status MeanOfResBlocks(HiftScratch* s, int nk, int64_t channels, int64_t t, float* out) const;
  // Columns [lo, hi) of rb applied to x [channels, t], computed on the window widened by `halo`
  // (the resblock's one-sided receptive field, ResBlockHalo) and copied into out [channels, t];
  // xl, a, b: scratch of channels * (hi - lo + 2 * halo) floats.
  static int64_t ResBlockHalo(const HiftResBlock& rb);
  Status ResBlockColumns(const HiftResBlock& rb, int64_t halo, const float* x, int64_t channels,
                         int64_t t, int64_t lo, int64_t hi, float* xl, float* a, float* b,
                         float* out) const;

  HiftConfig cfg_;
  HiftPrecision precision_ = HiftPrecision::kF32;
  int64_t num_params_ = 0;
  std::vector<Conv1dLayer> f0_convs_;
  std::vector<float> f0_cls_w_;
  float f0_cls_b_ = 0;
  std::vector<float> lin_w_;
  float lin_b_ = 0;
  Conv1dLayer conv_pre_;
  std::vector<ConvTranspose1dLayer> ups_;
  std::vector<Conv1dLayer> source_downs_;
  std::vector<HiftResBlock> source_resblocks_;
  std::vector<HiftResBlock> resblocks_;  // stage-major: [stage * num_kernels + m]
  Conv1dLayer conv_post_;
  kernels::cpu::StftPlan stft_plan_;  // n_fft, hop, periodic Hann: source STFT and iSTFT head
  mutable std::mutex pool_mu_;
  mutable std::vector<std::unique_ptr<HiftScratch>> pool_;  // idle session scratch
};

}  // namespace cosyflow::hift
