// HiftVocoderNode ("HiftVocoder"): mel spectrogram chunks -> 24 kHz waveform chunks.
//
// Ports:   in  mel    Mel [frames, 80] f32 log-mel chunks of one session, in order (new frames
//                     only: the node keeps the token2wav mel overlap itself)
//          out audio  Audio [n] f32 mono at the vocoder's sampling_rate (24000 for CosyVoice2)
// Options: checkpoint  string, default "hift.pt", resolved against model_dir; the HiFT config
//                      is the "hift" dict of config.json next to it (release values otherwise)
//          noise       "random" (default) | "zero": SineGen2's additive noise; zero reproduces
//                      the reference fixtures exactly
//          seed        int >= 0, default 0; session s draws its noise from seed + s
//          streaming   bool, default true: every chunk is vocoded as it arrives (token2wav
//                      path: mel cache 8 frames, source cache 3840 samples, Hamming cross-fade)
//                      and its audio is emitted at once, except the last 3840 samples, which
//                      wait for the next chunk's fade; false: chunks are collected and the
//                      whole mel is vocoded at end of stream (one Audio message)
//          precision   "f32" (default) | "bf16" (the decoder's convolutions on bf16 products,
//                      ~42 dB SNR against f32; docs/kernels.md) | "auto" (bf16 where the CPU
//                      multiplies bf16 in hardware, else f32: ResolveHiftPrecision)
// Session: a HiftSession (noise generator, streaming caches, scratch) opened per request.
//          A Mel marked end_of_segment ends one utterance: its held tail is emitted as at end
//          of stream and the caches start afresh for the next segment (noise continues); the
//          session's audio stays one contiguous stream.
//          Frames arriving before the session has mel_cache (8) frames are held until it does.
// Flush:   end of stream emits the held tail (streaming: the cached 3840 samples, or the held
//          frames vocoded as the final call; non-streaming: the whole utterance);
//          cancel/error emit nothing.
//          A session that received no frames emits nothing.
// Errors:  wrong payload, dtype or mel width fail the session (others are untouched);
//          checkpoint file/shape problems fail Create.
#pragma once

#include <memory>
#include <string>

#include "nodes/core/node.h"
#include "nodes/hift/hift_vocoder.h"

namespace cosyflow {

struct HiftVocoderOptions {
  std::string checkpoint = "hift.pt";
  std::string noise = "random";
  int64_t seed = 0;
  bool streaming = true;
  std::string precision = "f32";  // f32 | bf16 (hift::HiftPrecision) | auto

  void Parse(const nlohmann::json& j, const std::string& path, ErrorList* errors);
  void Validate(const std::string& path, ErrorList* errors) const;
  std::string ToString() const;
};

// HiftVocoder `precision` "auto": bf16 where the selected kernels multiply bf16 in hardware
// (cpu::NativeBf16Products: ~1.8x the f32 convolutions), f32 elsewhere (emulated bf16 is no
// faster). Other values are returned as they are.
std::string ResolveHiftPrecision(const std::string& precision);

class HiftVocoderNode : public Node {
 public:
  using Options = HiftVocoderOptions;
  static NodeSpec Spec();
  static Result<std::unique_ptr<Node>> Create(const Options& options, const NodeContext& ctx);
  // Wraps an already loaded vocoder (tests, embedding).
  static std::unique_ptr<Node> FromVocoder(const Options& options,
                                           std::shared_ptr<const hift::HiftVocoder> vocoder);

  Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo& info) override;
  // The precision the vocoder was loaded with ("auto" resolved).
  hift::HiftPrecision precision() const { return vocoder_->precision(); }

 private:
  HiftVocoderNode(const Options& options, std::shared_ptr<const hift::HiftVocoder> vocoder)
      : options_(options), vocoder_(std::move(vocoder)) {}
  Options options_;
  std::shared_ptr<const hift::HiftVocoder> vocoder_;
};

}  // namespace cosyflow
