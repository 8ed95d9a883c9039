// libFuzzer target for the native ONNX executor (runtime/onnx; build: -DCOSYFLOW_FUZZ=ON).
//
// Each input is loaded with onnx::Model::LoadFromBytes (parse, validation, planning and
// constant folding run on it). When it loads, it runs once on small inputs built from the
// declared input infos: every symbolic or unknown dim becomes 1..8 (chosen from the input's
// bytes), fixed dims are kept up to 64; models with more than 4096 elements in one input,
// a non-f32/i32/i64 input, more than 256 nodes' worth of plan steps or more than 8 inputs are
// only loaded. f32 inputs hold small values, integer inputs 0..3 (often lengths or indices).
// Any error must be a Status whose message names the model ("fuzz.onnx"); outputs are touched
// at both ends so an out-of-bounds view trips AddressSanitizer.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "runtime/onnx/model.h"

namespace {

using cosyflow::Dims;
using cosyflow::DType;
using cosyflow::Tensor;

constexpr int64_t kMaxDim = 8;           // symbolic dims
constexpr int64_t kMaxFixedDim = 64;     // declared dims above this: load only
constexpr int64_t kMaxInputElems = 4096;
constexpr int64_t kMaxSteps = 256;
constexpr size_t kMaxInputs = 8;

// COSYFLOW_FUZZ_VERBOSE=1 prints what each input did (to check that seeds load and run).
const bool kVerbose = std::getenv("COSYFLOW_FUZZ_VERBOSE") != nullptr;

void CheckMessage(const cosyflow::Status& s) {
  // Errors from Load/Run name the model or the failing node; an empty message is a bug.
  if (s.message().empty()) std::abort();
  if (kVerbose) std::fprintf(stderr, "onnx_fuzzer: %s\n", s.ToString().c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cosyflow;
  const std::span<const uint8_t> bytes(data, size);
  auto model = onnx::Model::LoadFromBytes(bytes, "fuzz.onnx");
  if (!model.ok()) {
    CheckMessage(model.status());
    return 0;
  }
  const onnx::Model& m = **model;
  (void)m.Describe();
  if (m.num_steps() > kMaxSteps || m.inputs().size() > kMaxInputs) return 0;

  uint32_t h = 2166136261u;  // FNV-1a of the input: sizes and values vary with the bytes
  for (size_t i = 0; i < size; i += 1 + size / 64) h = (h ^ data[i]) * 16777619u;
  auto next = [&h]() {
    h ^= h << 13, h ^= h >> 17, h ^= h << 5;
    return h;
  };
  std::vector<Tensor> inputs;
  for (const onnx::ValueInfo& vi : m.inputs()) {
    if (vi.dtype != DType::kF32 && vi.dtype != DType::kI32 && vi.dtype != DType::kI64) return 0;
    Dims dims;
    int64_t n = 1;
    for (int64_t d : vi.dims) {
      if (d < 0) d = 1 + static_cast<int64_t>(next() % kMaxDim);
      if (d > kMaxFixedDim) return 0;
      dims.push_back(d);
      n *= d;
      if (n > kMaxInputElems) return 0;
    }
    auto t = Tensor::Empty(dims, vi.dtype);
    if (!t.ok()) std::abort();
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t r = next();
      if (vi.dtype == DType::kF32)
        t->data<float>()[i] = static_cast<float>(static_cast<int32_t>(r % 2001) - 1000) / 250.0f;
      else if (vi.dtype == DType::kI32)
        t->data<int32_t>()[i] = static_cast<int32_t>(r % 4);
      else
        t->data<int64_t>()[i] = static_cast<int64_t>(r % 4);
    }
    inputs.push_back(*t);
  }
  auto out = m.Run(inputs);
  if (!out.ok()) {
    CheckMessage(out.status());
    return 0;
  }
  if (out->size() != m.outputs().size()) std::abort();
  if (kVerbose) std::fprintf(stderr, "onnx_fuzzer: ran, %zu output(s)\n", out->size());
  volatile uint8_t sink = 0;
  for (const Tensor& t : *out) {
    if (!t.defined() || t.numel() == 0) continue;
    int64_t last = 0;
    for (int d = 0; d < t.dim(); ++d) last += (t.size(d) - 1) * t.stride(d);
    const auto* p = static_cast<const uint8_t*>(t.raw());
    sink = sink ^ p[0] ^ p[last * static_cast<int64_t>(DTypeSize(t.dtype()))];
  }
  return 0;
}
