// Resampler: streaming mono f32 sample-rate conversion (libsoxr), usable without any graph.
#pragma once

#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "runtime/status.h"

namespace cosyflow {

enum class ResampleQuality { kQuick, kLow, kMedium, kHigh, kVeryHigh };

// "quick" | "low" | "medium" | "high" | "very_high".
Result<ResampleQuality> ParseResampleQuality(std::string_view name);

// Converts a stream of chunks: the output of Process(c1), Process(c2), ..., Flush() equals the
// one-shot conversion of c1+c2+... whatever the chunk boundaries. When the rates are equal the
// samples pass through unchanged. State: the filter history (soxr), one instance per stream.
class Resampler {
 public:
  static Result<std::unique_ptr<Resampler>> Create(int input_rate, int output_rate,
                                                   ResampleQuality quality);
  ~Resampler();
  Resampler(const Resampler&) = delete;
  Resampler& operator=(const Resampler&) = delete;

  int input_rate() const { return input_rate_; }
  int output_rate() const { return output_rate_; }
  // in: [n] f32 samples; appends the converted samples available so far to *out.
  Status Process(std::span<const float> in, std::vector<float>* out);
  // Appends the tail held in the filter; afterwards the stream is finished.
  Status Flush(std::vector<float>* out);

 private:
  Resampler(int input_rate, int output_rate) : input_rate_(input_rate), output_rate_(output_rate) {}
  Status Run(const float* in, size_t n, std::vector<float>* out);

  int input_rate_;
  int output_rate_;
  void* soxr_ = nullptr;  // soxr_t; null for identity
  bool flushed_ = false;
};

}  // namespace cosyflow
