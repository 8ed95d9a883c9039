// libFuzzer target for the native ONNX executor (runtime/onnx; build: -DCOSYFLOW_FUZZ=ON).
//
// Each input is loaded with onnx::Model::LoadFromBytes (parse, validation, planning and
// constant folding run on it). When it loads, it runs once on small inputs built from the
// declared input infos: every symbolic or unknown dim becomes 1..8 (chosen from the input's
// bytes; 1 where the input would exceed 16384 elements), fixed dims are kept up to 128 (the tiny
// tokenizer's 128 mel bins and CAM++'s 80 pass: [1..8, 128, 1..8]); models with a larger fixed
// dim or input, a non-f32/i32/i64 input, more than 4096 plan steps or more than 8 inputs are
// only loaded. f32 inputs hold small values, integer inputs 0..3 (often lengths or indices).
// Any error must be a Status with a message (not checked: that it names the model and the node
// or tensor). Tensors are capped at 256 MiB (LoadOptions::max_tensor_bytes) so that a computed
// shape is an error, not a -malloc_limit_mb crash. Outputs are touched at both ends so an
// out-of-bounds view trips AddressSanitizer.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "runtime/onnx/model.h"

namespace {

using cosyflow::Dims;
using cosyflow::DType;
using cosyflow::Tensor;

constexpr int64_t kMaxDim = 8;         // symbolic dims
constexpr int64_t kMaxFixedDim = 128;  // declared dims above this: load only
constexpr int64_t kMaxInputElems = 16384;
constexpr int64_t kMaxSteps = 4096;
constexpr size_t kMaxInputs = 8;
constexpr int64_t kMaxTensorBytes = int64_t{256} << 20;  // LoadOptions::max_tensor_bytes

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
  onnx::LoadOptions options;
  options.max_tensor_bytes = kMaxTensorBytes;  // well under -malloc_limit_mb
  auto model = onnx::Model::LoadFromBytes(bytes, "fuzz.onnx", options);
  if (!model.ok()) {
    CheckMessage(model.status());
    return 0;
  }
  const onnx::Model& m = **model;
  (void)m.Describe();
  if (m.num_steps() > kMaxSteps || m.inputs().size() > kMaxInputs) {
    if (kVerbose)
      std::fprintf(stderr, "onnx_fuzzer: loaded, %lld steps: not run\n",
                   static_cast<long long>(m.num_steps()));
    return 0;
  }

  uint32_t h = 2166136261u;  // FNV-1a of the input: sizes and values vary with the bytes
  for (size_t i = 0; i < size; i += 1 + size / 64) h = (h ^ data[i]) * 16777619u;
  auto next = [&h]() {
    h ^= h << 13, h ^= h >> 17, h ^= h << 5;
    return h;
  };
  std::vector<Tensor> inputs;
  std::vector<std::pair<std::string, int64_t>> named;
  for (const onnx::ValueInfo& vi : m.inputs()) {
    if (vi.dtype != DType::kF32 && vi.dtype != DType::kI32 && vi.dtype != DType::kI64) return 0;
    int64_t fixed = 1;
    for (int64_t d : vi.dims) {
      if (d > kMaxFixedDim) return 0;
      if (d >= 0) fixed *= d;
    }
    if (fixed > kMaxInputElems) return 0;
    Dims dims;
    int64_t n = 1;
    for (size_t k = 0; k < vi.dims.size(); ++k) {
      int64_t d = vi.dims[k];
      // Symbolic dims take 1..8 while the input stays within kMaxInputElems, else 1; a named
      // one keeps its value across inputs ("batch" of feats and feats_length).
      if (d < 0) {
        const std::string& param = k < vi.dim_names.size() ? vi.dim_names[k] : std::string();
        auto it =
            std::find_if(named.begin(), named.end(), [&](auto& p) { return p.first == param; });
        d = !param.empty() && it != named.end() ? it->second
                                                : 1 + static_cast<int64_t>(next() % kMaxDim);
        if (n * d * fixed > kMaxInputElems) d = 1;
        if (!param.empty() && it == named.end()) named.emplace_back(param, d);
        n *= d;
      }
      dims.push_back(d);
    }
    n *= fixed;
    if (n != Tensor::Empty(dims, vi.dtype)->numel()) std::abort();  // harness self-check
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
