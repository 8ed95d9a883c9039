// The input/output counts of every supported op (ONNX operator spec, opsets kMinOpset..kMaxOpset),
// checked at load before a node's kernel is built: kernels index their inputs and outputs
// without checking, so a node with too few, or an absent ("") required one, never reaches them.
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "runtime/onnx/ops.h"

namespace cosyflow::onnx::detail {

namespace {

constexpr int kMany = std::numeric_limits<int>::max();  // variadic
constexpr int kAll = kMaxOpset;

// Bits of the optional inputs.
constexpr uint32_t Opt(std::initializer_list<int> inputs) {
  uint32_t m = 0;
  for (int i : inputs) m |= 1u << i;
  return m;
}

struct ArityRow {
  const char* op_type;
  int from_opset, to_opset;  // rows of one op cover disjoint opset ranges
  OpArity arity;
};

// {min_inputs, max_inputs, optional, min_outputs, max_outputs}
constexpr OpArity kUnary{1, 1, 0, 1, 1};
constexpr OpArity kBinary{2, 2, 0, 1, 1};
constexpr OpArity kVariadic{1, kMany, 0, 1, 1};

const ArityRow kRows[] = {
    // ops_elementwise.cpp
    {"Neg", 1, kAll, kUnary},
    {"Abs", 1, kAll, kUnary},
    {"Sqrt", 1, kAll, kUnary},
    {"Exp", 1, kAll, kUnary},
    {"Log", 1, kAll, kUnary},
    {"Erf", 1, kAll, kUnary},
    {"Tanh", 1, kAll, kUnary},
    {"Sigmoid", 1, kAll, kUnary},
    {"Relu", 1, kAll, kUnary},
    {"Round", 1, kAll, kUnary},
    {"Floor", 1, kAll, kUnary},
    {"Ceil", 1, kAll, kUnary},
    {"Sin", 1, kAll, kUnary},
    {"Cos", 1, kAll, kUnary},
    {"Reciprocal", 1, kAll, kUnary},
    {"Sign", 1, kAll, kUnary},
    {"Not", 1, kAll, kUnary},
    {"Add", 1, kAll, kBinary},
    {"Sub", 1, kAll, kBinary},
    {"Mul", 1, kAll, kBinary},
    {"Div", 1, kAll, kBinary},
    {"Mod", 1, kAll, kBinary},
    {"Equal", 1, kAll, kBinary},
    {"Less", 1, kAll, kBinary},
    {"LessOrEqual", 1, kAll, kBinary},
    {"Greater", 1, kAll, kBinary},
    {"GreaterOrEqual", 1, kAll, kBinary},
    {"And", 1, kAll, kBinary},
    {"Or", 1, kAll, kBinary},
    {"Xor", 1, kAll, kBinary},
    {"Pow", 1, kAll, kBinary},
    {"Min", 1, kAll, kVariadic},
    {"Max", 1, kAll, kVariadic},
    {"Sum", 1, kAll, kVariadic},
    {"Where", 1, kAll, {3, 3, 0, 1, 1}},
    {"Cast", 1, kAll, kUnary},
    {"Clip", 1, 10, kUnary},  // min/max attributes
    {"Clip", 11, kAll, {1, 3, Opt({1, 2}), 1, 1}},
    // ops_misc.cpp
    {"Tile", 1, kAll, kBinary},
    {"Size", 1, kAll, kUnary},
    {"CumSum", 1, kAll, kBinary},
    {"Trilu", 1, kAll, {1, 2, Opt({1}), 1, 1}},
    {"GatherElements", 1, kAll, kBinary},
    {"ScatterND", 1, kAll, {3, 3, 0, 1, 1}},
    {"PRelu", 1, kAll, kBinary},
    {"LeakyRelu", 1, kAll, kUnary},
    {"Elu", 1, kAll, kUnary},
    {"Softplus", 1, kAll, kUnary},
    // ops_nn.cpp
    {"MatMul", 1, kAll, kBinary},
    {"Gemm", 1, kAll, {2, 3, Opt({2}), 1, 1}},
    {"Conv", 1, kAll, {2, 3, Opt({2}), 1, 1}},
    // ops_reduce.cpp
    {"AveragePool", 1, kAll, kUnary},
    {"MaxPool", 1, kAll, {1, 1, 0, 1, 2}},             // Indices: refused by the kernel factory
    {"BatchNormalization", 1, kAll, {5, 5, 0, 1, 5}},  // training outputs: refused likewise
    {"LayerNormalization", 1, kAll, {2, 3, Opt({2}), 1, 3}},
    {"Softmax", 1, kAll, kUnary},
    {"LogSoftmax", 1, kAll, kUnary},
    // Reduce*: axes is an attribute before opset 13 (ReduceSum) / 18 (the rest), then an
    // optional input; the kernels take either.
    {"ReduceSum", 1, kAll, {1, 2, Opt({1}), 1, 1}},
    {"ReduceMean", 1, kAll, {1, 2, Opt({1}), 1, 1}},
    {"ReduceProd", 1, kAll, {1, 2, Opt({1}), 1, 1}},
    {"ReduceMax", 1, kAll, {1, 2, Opt({1}), 1, 1}},
    {"ReduceMin", 1, kAll, {1, 2, Opt({1}), 1, 1}},
    {"ReduceSumSquare", 1, kAll, {1, 2, Opt({1}), 1, 1}},
    {"ReduceL2", 1, kAll, {1, 2, Opt({1}), 1, 1}},
    // ops_shape.cpp
    {"Identity", 1, kAll, kUnary},
    {"Dropout", 1, kAll, {1, 3, Opt({1, 2}), 1, 2}},  // mask output left undefined
    {"Constant", 1, kAll, {0, 0, 0, 1, 1}},
    {"Shape", 1, kAll, kUnary},
    {"Gather", 1, kAll, kBinary},
    {"Concat", 1, kAll, kVariadic},
    {"Reshape", 1, 4, kUnary},  // shape attribute
    {"Reshape", 5, kAll, kBinary},
    {"Flatten", 1, kAll, kUnary},
    {"Unsqueeze", 1, 12, kUnary},  // axes attribute
    {"Unsqueeze", 13, kAll, kBinary},
    {"Squeeze", 1, 12, kUnary},
    {"Squeeze", 13, kAll, {1, 2, Opt({1}), 1, 1}},
    {"Transpose", 1, kAll, kUnary},
    {"Slice", 1, 9, kUnary},  // starts/ends/axes attributes
    {"Slice", 10, kAll, {3, 5, Opt({3, 4}), 1, 1}},
    {"Expand", 1, kAll, kBinary},
    {"ConstantOfShape", 1, kAll, kUnary},
    {"Range", 1, kAll, {3, 3, 0, 1, 1}},
    {"Pad", 1, 10, kUnary},  // pads attribute
    {"Pad", 11, kAll, {2, 4, Opt({2, 3}), 1, 1}},
    {"Split", 1, kAll, {1, 2, Opt({1}), 1, kMany}},
};

std::string CountRange(int lo, int hi) {
  if (lo == hi) return std::to_string(lo);
  if (hi == kMany) return fmt::format("at least {}", lo);
  return fmt::format("{} to {}", lo, hi);
}

}  // namespace

const OpArity* FindOpArity(const std::string& op_type, int opset) {
  for (const ArityRow& r : kRows) {
    if (op_type == r.op_type && opset >= r.from_opset && opset <= r.to_opset) return &r.arity;
  }
  return nullptr;
}

Status CheckArity(const ::onnx::NodeProto& n, int opset) {
  const OpArity* a = FindOpArity(n.op_type(), opset);
  if (a == nullptr)
    return Internal("no input/output counts for {} at opset {}", n.op_type(), opset);
  const int ni = n.input_size(), no = n.output_size();
  if (ni < a->min_inputs || ni > a->max_inputs) {
    return InvalidArgument("takes {} input(s), got {}", CountRange(a->min_inputs, a->max_inputs),
                           ni);
  }
  for (int i = 0; i < ni; ++i) {
    const bool optional = i < 32 && (a->optional >> i & 1u);
    if (n.input(i).empty() && !optional) {
      return InvalidArgument("input {} is required but absent (empty name)", i);
    }
  }
  if (no < a->min_outputs || no > a->max_outputs) {
    return InvalidArgument("has {} output(s), got {}", CountRange(a->min_outputs, a->max_outputs),
                           no);
  }
  return OkStatus();
}

}  // namespace cosyflow::onnx::detail
