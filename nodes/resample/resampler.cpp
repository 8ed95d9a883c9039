// Resampler: libsoxr streaming conversion.
#include "nodes/resample/resampler.h"

#include <soxr.h>

#include <cmath>

namespace cosyflow {

Result<ResampleQuality> ParseResampleQuality(std::string_view name) {
  if (name == "quick") return ResampleQuality::kQuick;
  if (name == "low") return ResampleQuality::kLow;
  if (name == "medium") return ResampleQuality::kMedium;
  if (name == "high") return ResampleQuality::kHigh;
  if (name == "very_high") return ResampleQuality::kVeryHigh;
  return InvalidArgument("resampler: quality must be quick|low|medium|high|very_high, got '{}'",
                         name);
}

namespace {
unsigned long SoxrRecipe(ResampleQuality q) {  // NOLINT(runtime/int): soxr API type
  switch (q) {
    case ResampleQuality::kQuick: return SOXR_QQ;
    case ResampleQuality::kLow: return SOXR_LQ;
    case ResampleQuality::kMedium: return SOXR_MQ;
    case ResampleQuality::kHigh: return SOXR_HQ;
    case ResampleQuality::kVeryHigh: return SOXR_VHQ;
  }
  return SOXR_HQ;
}
constexpr int kMinRate = 1000;
constexpr int kMaxRate = 768000;
}  // namespace

Result<std::unique_ptr<Resampler>> Resampler::Create(int input_rate, int output_rate,
                                                     ResampleQuality quality) {
  for (int r : {input_rate, output_rate}) {
    if (r < kMinRate || r > kMaxRate) {
      return InvalidArgument("resampler: rates must be in [{}, {}] Hz, got {} -> {}", kMinRate,
                             kMaxRate, input_rate, output_rate);
    }
  }
  std::unique_ptr<Resampler> r(new Resampler(input_rate, output_rate));
  if (input_rate == output_rate) return r;
  soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  soxr_quality_spec_t q = soxr_quality_spec(SoxrRecipe(quality), 0);
  soxr_error_t err = nullptr;
  soxr_t s = soxr_create(input_rate, output_rate, 1, &err, &io, &q, nullptr);
  if (err != nullptr || s == nullptr) {
    return Internal("resampler: soxr_create {} -> {} failed: {}", input_rate, output_rate,
                    err ? err : "null");
  }
  r->soxr_ = s;
  return r;
}

Resampler::~Resampler() {
  if (soxr_) soxr_delete(static_cast<soxr_t>(soxr_));
}

Status Resampler::Run(const float* in, size_t n, std::vector<float>* out) {
  auto* s = static_cast<soxr_t>(soxr_);
  const double ratio = static_cast<double>(output_rate_) / input_rate_;
  // Feeding: loop until soxr has consumed all input. Flushing (in == nullptr): loop until
  // soxr has nothing more to give.
  for (int guard = 0; guard < 1 << 20; ++guard) {
    size_t room = static_cast<size_t>(std::ceil(n * ratio)) + 1024;
    size_t old = out->size();
    out->resize(old + room);
    size_t idone = 0, odone = 0;
    soxr_error_t err = soxr_process(s, in, n, in ? &idone : nullptr, out->data() + old, room, &odone);
    out->resize(old + odone);
    if (err != nullptr) return Internal("resampler: soxr_process failed: {}", err);
    if (in) {
      in += idone;
      n -= idone;
      if (n == 0) return OkStatus();
    } else if (odone == 0) {
      return OkStatus();
    }
  }
  return Internal("resampler: soxr made no progress");
}

Status Resampler::Process(std::span<const float> in, std::vector<float>* out) {
  if (flushed_) return InvalidArgument("resampler: Process after Flush");
  if (!soxr_) {
    out->insert(out->end(), in.begin(), in.end());
    return OkStatus();
  }
  if (in.empty()) return OkStatus();
  return Run(in.data(), in.size(), out);
}

Status Resampler::Flush(std::vector<float>* out) {
  if (flushed_) return OkStatus();
  flushed_ = true;
  if (!soxr_) return OkStatus();
  return Run(nullptr, 0, out);
}

}  // namespace cosyflow
