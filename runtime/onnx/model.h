// onnx::Model: loads an ONNX file (no onnxruntime) and runs it on cosyflow's CPU kernels.
//
// Load parses the ModelProto (protobuf, size limit raised for the ~0.5 GB speech tokenizer),
// checks the opset (domain ai.onnx, versions kMinOpset..kMaxOpset), every node's op type and
// every dtype, then builds one execution plan: topological order, tensors as integer slots,
// everything that depends only on initializers/Constant nodes folded at load, MatMul/Conv
// weights pre-packed for the GEMM kernels, and for each step the slots whose last reader it is
// (released to a per-call buffer pool). Run keeps all its state per call, so one Model is
// shared by any number of threads. See docs/onnx.md.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "runtime/status.h"
#include "runtime/tensor.h"

namespace cosyflow::onnx {

inline constexpr int kMinOpset = 7;
inline constexpr int kMaxOpset = 18;
// Default of LoadOptions::max_tensor_bytes (16 GiB).
inline constexpr int64_t kDefaultMaxTensorBytes = int64_t{16} << 30;

struct LoadOptions {
  // Fold nodes whose inputs are all constants at load (off only to debug the kernels).
  bool fold_constants = true;
  // Intermediate values (by name) to return after the graph outputs: test hooks and debugging.
  // Each must name a value of the graph; their ValueInfo carries only the name.
  std::vector<std::string> extra_outputs;
  // The largest tensor constant folding or a Run may allocate: a shape computed from bad
  // inputs (ConstantOfShape, Expand, Range, ...) is then an error naming the node, not an
  // out-of-memory. Initializers are bounded by their data (at most the 2 GiB protobuf).
  int64_t max_tensor_bytes = kDefaultMaxTensorBytes;
};

// A graph input or output: name, dtype and dims (-1 where symbolic; the name is kept).
struct ValueInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> dims;           // -1 for symbolic / unknown dims
  std::vector<std::string> dim_names;  // "" where the dim is fixed
  bool has_shape = false;
  std::string ShapeString() const;  // "[batch,128,T]"
};

// Per-op-type wall time of one Run (profiling; `cosyflow inspect --run` style tools, benches).
struct RunProfile {
  struct Entry {
    std::string op_type;
    int64_t calls = 0;
    double ms = 0;
  };
  std::vector<Entry> by_op;  // sorted by ms, largest first
  double total_ms = 0;
};

class Model {
 public:
  struct Impl;  // defined in model.cpp

  static Result<std::shared_ptr<const Model>> Load(const std::string& path,
                                                   const LoadOptions& options = {});
  // Same from bytes in memory (`name` is used in messages).
  static Result<std::shared_ptr<const Model>> LoadFromBytes(std::span<const uint8_t> bytes,
                                                            const std::string& name,
                                                            const LoadOptions& options = {});
  ~Model();

  const std::vector<ValueInfo>& inputs() const;
  const std::vector<ValueInfo>& outputs() const;

  // inputs: one contiguous-or-strided CPU tensor per graph input, in inputs() order, with the
  // declared dtype and rank (fixed dims checked). Returns the graph outputs in outputs() order.
  // Const and thread-safe. Errors name the node that failed.
  Result<std::vector<Tensor>> Run(std::span<const Tensor> inputs) const;
  // Same, timing every step into *profile.
  Result<std::vector<Tensor>> Run(std::span<const Tensor> inputs, RunProfile* profile) const;

  // Human-readable summary (ir_version, producer, opsets, I/O, initializers, op counts,
  // plan statistics) for `cosyflow inspect`.
  std::string Describe() const;

  // Plan statistics (tests, docs).
  int64_t num_nodes() const;      // nodes in the file
  int64_t num_steps() const;      // steps left to run after constant folding
  int64_t num_constants() const;  // initializers + folded values

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A static description of a file that need not be runnable (unsupported ops are listed, not
// errors): for `cosyflow inspect`. Errors only when the file is not a parsable ONNX model.
Result<std::string> DescribeFile(const std::string& path);

// True when `op_type` (domain ai.onnx) has a kernel here.
bool IsSupportedOp(const std::string& op_type);
// Every supported op type, sorted.
std::vector<std::string> SupportedOps();

}  // namespace cosyflow::onnx
