// onnx::Model on malformed graphs, one case per crash class the ONNX fuzzer found
// (tests/fuzz/onnx_regressions): each must be a clear error naming the node (or tensor) and the
// reason, never a crash, an out-of-bounds read or a huge allocation.
#include <doctest/doctest.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/onnx/model.h"
#include "runtime/onnx/ops.h"
#include "tests/runtime/onnx/onnx_test_builder.h"

namespace cosyflow::onnx {
namespace {

using ::onnx::TensorProto;
using testing::AttrInt;
using testing::AttrInts;
using testing::Builder;

bool Has(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

// Loads `b` and expects an InvalidArgument whose message holds every piece of `want`.
void ExpectLoadError(Builder& b, const std::vector<std::string>& want) {
  auto m = b.Load();
  REQUIRE_MESSAGE(!m.ok(), "expected a load error containing ", want.front());
  for (const std::string& w : want) CHECK_MESSAGE(Has(m.status(), w), m.status().ToString());
}

Tensor F32(Dims shape, float fill = 0.5f) {
  auto t = Tensor::Empty(shape, DType::kF32);
  REQUIRE(t.ok());
  for (int64_t i = 0; i < t->numel(); ++i) t->data<float>()[i] = fill;
  return *t;
}

TEST_CASE("onnx arity: every supported op has input/output counts at every supported opset") {
  for (const std::string& op : SupportedOps()) {
    for (int opset = kMinOpset; opset <= kMaxOpset; ++opset) {
      const detail::OpArity* a = detail::FindOpArity(op, opset);
      CHECK_MESSAGE(a != nullptr, op, " at opset ", opset);
      if (a) CHECK(a->min_inputs <= a->max_inputs);
    }
  }
}

TEST_CASE("onnx arity: too few inputs is a load error naming the node (CumSum, MatMul, Where)") {
  {  // cumsum_one_input: was a heap overflow during constant folding
    Builder b;
    b.Init("c", {3}, {1, 2, 3});
    b.Node("CumSum", "running_sum", {"c"}, {"y"});
    b.Output("y", TensorProto::FLOAT);
    ExpectLoadError(b, {"node 'running_sum' (CumSum)", "takes 2 input(s), got 1"});
  }
  {  // matmul_missing_input
    Builder b;
    b.Input("x", TensorProto::FLOAT, {2, 2});
    b.Node("MatMul", "proj", {"x"}, {"y"});
    b.Output("y", TensorProto::FLOAT);
    ExpectLoadError(b, {"node 'proj' (MatMul)", "takes 2 input(s), got 1"});
  }
  {  // where_missing_input
    Builder b;
    b.Input("x", TensorProto::FLOAT, {2});
    b.Node("Where", "pick", {"x", "x"}, {"y"});
    b.Output("y", TensorProto::FLOAT);
    ExpectLoadError(b, {"node 'pick' (Where)", "takes 3 input(s), got 2"});
  }
  {  // batchnorm_missing_input
    Builder b;
    b.Input("x", TensorProto::FLOAT, {1, 2, 3});
    b.Init("s", {2}, {1, 1});
    b.Node("BatchNormalization", "bn", {"x", "s", "s", "s"}, {"y"});
    b.Output("y", TensorProto::FLOAT);
    ExpectLoadError(b, {"node 'bn' (BatchNormalization)", "takes 5 input(s), got 4"});
  }
  {  // elementwise_missing_input / too many
    Builder b;
    b.Input("x", TensorProto::FLOAT, {2});
    b.Node("Add", "sum3", {"x", "x", "x"}, {"y"});
    b.Output("y", TensorProto::FLOAT);
    ExpectLoadError(b, {"node 'sum3' (Add)", "takes 2 input(s), got 3"});
  }
}

TEST_CASE("onnx arity: a required input left absent (\"\") is a load error naming the node") {
  for (const std::string op : {"Add", "MatMul", "BatchNormalization"}) {
    Builder b;
    b.Input("x", TensorProto::FLOAT, {1, 2, 2});
    std::vector<std::string> ins{"x", ""};
    if (op == "BatchNormalization") ins = {"x", "", "x", "x", "x"};
    b.Node(op, "gap_" + op, ins, {"y"});
    b.Output("y", TensorProto::FLOAT);
    ExpectLoadError(b, {"node 'gap_" + op + "' (" + op + ")", "input 1 is required but absent"});
  }
  {  // an optional input may be absent: Clip without min
    Builder b;
    b.Input("x", TensorProto::FLOAT, {2});
    b.Init("hi", {}, {0.25f});
    b.Node("Clip", "clip", {"x", "", "hi"}, {"y"});
    b.Output("y", TensorProto::FLOAT);
    auto m = b.Load();
    REQUIRE_MESSAGE(m.ok(), m.status().ToString());
    auto out = (*m)->Run(std::vector<Tensor>{F32({2})});
    REQUIRE_MESSAGE(out.ok(), out.status().ToString());
    CHECK((*out)[0].data<float>()[0] == 0.25f);
  }
}

TEST_CASE("onnx arity: a node without inputs is refused before constant folding runs it") {
  // fold_null_inputs_span: a Relu with no inputs is "all constant" and was folded at load.
  Builder b;
  b.Node("Relu", "lonely_relu", {}, {"y"});
  b.Output("y", TensorProto::FLOAT);
  ExpectLoadError(b, {"node 'lonely_relu' (Relu)", "takes 1 input(s), got 0"});
}

TEST_CASE("onnx arity: a node without outputs is refused (binary_undefined_input, arena leak)") {
  // The kernel wrote its output past the end of the per-step output vector: garbage read as an
  // undefined tensor by the next Add, and a buffer never freed (LeakSanitizer).
  Builder b;
  b.Input("x", TensorProto::FLOAT, {2});
  b.Node("Add", "silent_add", {"x", "x"}, {});
  b.Node("Relu", "r", {"x"}, {"y"});
  b.Output("y", TensorProto::FLOAT);
  ExpectLoadError(b, {"node 'silent_add' (Add)", "has 1 output(s), got 0"});
}

TEST_CASE("onnx: an undefined value reaching a node at run time is an error naming it") {
  // Dropout's mask output is never written here: a reader of it gets a clear error.
  Builder b;
  b.Input("x", TensorProto::FLOAT, {2});
  b.Node("Dropout", "drop", {"x"}, {"y", "mask"});
  b.Node("Add", "use_mask", {"y", "mask"}, {"z"});
  b.Output("z", TensorProto::FLOAT);
  auto m = b.Load();
  REQUIRE_MESSAGE(m.ok(), m.status().ToString());
  auto out = (*m)->Run(std::vector<Tensor>{F32({2})});
  REQUIRE(!out.ok());
  CHECK_MESSAGE(Has(out.status(), "node 'use_mask' (Add)"), out.status().ToString());
  CHECK_MESSAGE(Has(out.status(), "input 'mask' was not computed"), out.status().ToString());
}

TEST_CASE("onnx BatchNormalization: a 0-sized batch gives an empty output (no division by 0)") {
  Builder b;
  b.Input("x", TensorProto::FLOAT, {-1, 2, 3});
  b.Init("s", {2}, {1, 2});
  b.Node("BatchNormalization", "bn", {"x", "s", "s", "s", "s"}, {"y"});
  b.Output("y", TensorProto::FLOAT);
  auto m = b.Load();
  REQUIRE_MESSAGE(m.ok(), m.status().ToString());
  auto out = (*m)->Run(std::vector<Tensor>{F32({0, 2, 3})});
  REQUIRE_MESSAGE(out.ok(), out.status().ToString());
  CHECK((*out)[0].shape() == Dims{0, 2, 3});
  auto one = (*m)->Run(std::vector<Tensor>{F32({1, 2, 3}, 1.0f)});
  REQUIRE_MESSAGE(one.ok(), one.status().ToString());
  // y = (x - mean) / sqrt(var + eps) * scale + bias with mean = scale = bias = var = s[c].
  CHECK((*one)[0].data<float>()[0] == doctest::Approx(1.0f));  // (1-1)/1*1+1
}

TEST_CASE("onnx MaxPool: pads/strides not matching the kernel rank are a load error") {
  // reduce_missing_input: pads with one value for a 1-d pool was read past its end.
  Builder b;
  b.Input("x", TensorProto::FLOAT, {1, 1, 8});
  auto* n = b.Node("MaxPool", "pool", {"x"}, {"y"});
  AttrInts(n, "kernel_shape", {2});
  AttrInts(n, "pads", {1});
  b.Output("y", TensorProto::FLOAT);
  ExpectLoadError(b, {"node 'pool' (MaxPool)", "do not match 1 spatial dims"});
}

TEST_CASE("onnx initializers: dims are checked against the data before any allocation") {
  {  // initializer_4gb_alloc: 1.6 GB declared, 8 bytes given (nothing allocated)
    Builder b;
    b.Input("x", TensorProto::FLOAT, {2});
    TensorProto* w = b.Init("huge_w", {400000000}, {});
    w->set_raw_data(std::string(8, '\0'));
    b.Node("Add", "add", {"x", "huge_w"}, {"y"});
    b.Output("y", TensorProto::FLOAT);
    ExpectLoadError(b, {"onnx: built.onnx: tensor 'huge_w'",
                        "raw_data holds 8 bytes, the shape needs 1600000000"});
  }
  {  // typed data: 3 floats for a [2] shape
    Builder b;
    b.Input("x", TensorProto::FLOAT, {2});
    b.Init("w3", {2}, {1, 2, 3});
    b.Node("Add", "add", {"x", "w3"}, {"y"});
    b.Output("y", TensorProto::FLOAT);
    ExpectLoadError(b, {"onnx: built.onnx: tensor 'w3'",
                        "the typed data field holds 12 bytes, the shape needs 8"});
  }
  {  // describe_dims_overflow: dims whose product overflows int64
    Builder b;
    b.Input("x", TensorProto::FLOAT, {2});
    b.Init("overflow_w", {int64_t{1} << 40, int64_t{1} << 40}, {});
    b.Node("Add", "add", {"x", "overflow_w"}, {"y"});
    b.Output("y", TensorProto::FLOAT);
    ExpectLoadError(
        b, {"onnx: built.onnx: tensor 'overflow_w'", "larger than any tensor of an ONNX file"});
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("cosyflow_onnx_overflow_" + std::to_string(::getpid()) + ".onnx"))
                                 .string();
    {
      std::ofstream f(path, std::ios::binary);
      REQUIRE(b.m.SerializeToOstream(&f));
    }
    auto text = DescribeFile(path);
    std::remove(path.c_str());
    REQUIRE_MESSAGE(text.ok(), text.status().ToString());
    CHECK(text->find("initializers: 1 (size overflows)\n") != std::string::npos);
    CHECK(text->find("overflow_w FLOAT [1099511627776,1099511627776] (invalid dims)") !=
          std::string::npos);
  }
}

TEST_CASE("onnx run: a computed shape past max_tensor_bytes is an error naming the node") {
  Builder b;
  b.Input("shape", TensorProto::INT64, {2});
  b.Node("ConstantOfShape", "fill", {"shape"}, {"y"});
  b.Output("y", TensorProto::FLOAT);
  LoadOptions options;
  options.max_tensor_bytes = 1 << 20;
  auto m = b.Load(options);
  REQUIRE_MESSAGE(m.ok(), m.status().ToString());
  for (std::vector<int64_t> dims :
       {std::vector<int64_t>{1024, 1024}, std::vector<int64_t>{int64_t{1} << 62, 4}}) {
    auto shape = Tensor::FromVector<int64_t>(Dims{2}, dims);
    REQUIRE(shape.ok());
    auto out = (*m)->Run(std::vector<Tensor>{*shape});
    REQUIRE(!out.ok());
    CHECK_MESSAGE(Has(out.status(), "node 'fill' (ConstantOfShape)"), out.status().ToString());
    CHECK_MESSAGE(Has(out.status(), "exceeds the 1048576-byte limit of one tensor"),
                  out.status().ToString());
  }
  auto small = Tensor::FromVector<int64_t>(Dims{2}, std::vector<int64_t>{16, 16});
  REQUIRE(small.ok());
  auto ok = (*m)->Run(std::vector<Tensor>{*small});
  REQUIRE_MESSAGE(ok.ok(), ok.status().ToString());
  CHECK((*ok)[0].numel() == 256);
}

TEST_CASE("onnx run: repeated failing runs hold no buffers past the model (arena reuse)") {
  // run_arena_leak's other half: a step failing mid-run returns its buffers with the arena.
  Builder b;
  b.Input("x", TensorProto::FLOAT, {-1});
  b.Input("z", TensorProto::FLOAT, {-1});
  b.Node("Relu", "r", {"x"}, {"a"});
  b.Node("Add", "mismatch", {"a", "z"}, {"y"});
  b.Output("y", TensorProto::FLOAT);
  auto m = b.Load();
  REQUIRE_MESSAGE(m.ok(), m.status().ToString());
  for (int i = 0; i < 3; ++i) {
    auto out = (*m)->Run(std::vector<Tensor>{F32({3}), F32({5})});
    REQUIRE(!out.ok());
    CHECK_MESSAGE(Has(out.status(), "node 'mismatch' (Add)"), out.status().ToString());
    CHECK_MESSAGE(Has(out.status(), "do not broadcast"), out.status().ToString());
  }
}

}  // namespace
}  // namespace cosyflow::onnx
