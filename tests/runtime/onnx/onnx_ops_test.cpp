// onnx::Model on small graphs built here with the protobuf API: op semantics against plain
// loops / hand-computed values, and load-time errors (unsupported op, opset, external data).
#include <doctest/doctest.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "runtime/onnx/model.h"
#include "tests/runtime/onnx/onnx_test_builder.h"

namespace cosyflow::onnx {
namespace {

using ::onnx::TensorProto;

using testing::AttrInt;
using testing::AttrInts;
using testing::AttrString;
using testing::Builder;

Tensor F32(Dims shape, std::vector<float> v) {
  auto t = Tensor::FromVector<float>(shape, v);
  REQUIRE(t.ok());
  return *t;
}
std::vector<float> Ramp(int64_t n, float scale = 0.1f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = std::sin(static_cast<float>(i) * 1.3f) * scale * 10;
  return v;
}
std::vector<float> Values(const Tensor& t) {
  REQUIRE(t.dtype() == DType::kF32);
  return {t.data<float>(), t.data<float>() + t.numel()};
}
std::vector<float> RunOne(Builder& b, std::vector<Tensor> inputs, Dims* shape = nullptr) {
  auto model = b.Load();
  REQUIRE_MESSAGE(model.ok(), model.status().ToString());
  auto out = (*model)->Run(inputs);
  REQUIRE_MESSAGE(out.ok(), out.status().ToString());
  if (shape) *shape = (*out)[0].shape();
  return Values((*out)[0]);
}
void CheckClose(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-5f) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CHECK_MESSAGE(std::fabs(got[i] - want[i]) <= tol, "at ", i, ": ", got[i], " vs ", want[i]);
  }
}

TEST_CASE("onnx load: an unsupported op is an error naming the node and op type") {
  Builder b;
  b.Input("x", TensorProto::FLOAT, {2});
  b.Node("Relu", "ok_node", {"x"}, {"y"});
  b.Node("FancyOp", "my_fancy_node", {"y"}, {"z"});
  b.Output("z", TensorProto::FLOAT);
  auto m = b.Load();
  REQUIRE(!m.ok());
  CHECK(m.status().message().find("node 'my_fancy_node' (FancyOp)") != std::string::npos);
  CHECK(m.status().message().find("ok_node") == std::string::npos);
}

TEST_CASE("onnx describe: a file with an unsupported op is listed, the op named") {
  Builder b;
  b.Input("x", TensorProto::FLOAT, {2, -1});
  b.Init("bias", {2, 1}, {1.0f, 2.0f});
  b.Node("Add", "add", {"x", "bias"}, {"y"});
  b.Node("FancyOp", "fancy", {"y"}, {"z"});
  b.Output("z", TensorProto::FLOAT);
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("cosyflow_onnx_describe_" + std::to_string(::getpid()) + ".onnx"))
                               .string();
  {
    std::ofstream f(path, std::ios::binary);
    REQUIRE(b.m.SerializeToOstream(&f));
  }
  auto text = DescribeFile(path);
  std::remove(path.c_str());
  REQUIRE_MESSAGE(text.ok(), text.status().ToString());
  CHECK(text->find("opset: ai.onnx 17\n") != std::string::npos);
  CHECK(text->find("  x FLOAT [2,n]\n") != std::string::npos);
  CHECK(text->find("initializers: 1 (8 bytes)\n  bias FLOAT [2,1]\n") != std::string::npos);
  CHECK(text->find("  Add 1\n  FancyOp 1\n") != std::string::npos);
  CHECK(text->find("unsupported ops: FancyOp (1)\n") != std::string::npos);
}

TEST_CASE("onnx load: unsupported opset, custom domain and external data are errors") {
  {
    Builder b(99);
    b.Input("x", TensorProto::FLOAT, {2});
    b.Node("Relu", "r", {"x"}, {"y"});
    b.Output("y", TensorProto::FLOAT);
    auto m = b.Load();
    REQUIRE(!m.ok());
    CHECK(m.status().message().find("opset 99") != std::string::npos);
  }
  {
    Builder b;
    b.Input("x", TensorProto::FLOAT, {2});
    b.Node("Relu", "custom_relu", {"x"}, {"y"})->set_domain("com.example");
    b.Output("y", TensorProto::FLOAT);
    auto m = b.Load();
    REQUIRE(!m.ok());
    CHECK(m.status().message().find("custom_relu") != std::string::npos);
  }
  {
    Builder b;
    b.Input("x", TensorProto::FLOAT, {2});
    TensorProto* w = b.Init("far_away_weight", {2}, {});
    w->set_data_location(TensorProto::EXTERNAL);
    auto* e = w->add_external_data();
    e->set_key("location");
    e->set_value("weights.bin");
    b.Node("Add", "add", {"x", "far_away_weight"}, {"y"});
    b.Output("y", TensorProto::FLOAT);
    auto m = b.Load();
    REQUIRE(!m.ok());
    CHECK(m.status().message().find("far_away_weight") != std::string::npos);
  }
}

TEST_CASE("onnx run: a shape mismatch inside the graph names the node") {
  Builder b;
  b.Input("x", TensorProto::FLOAT, {-1, -1});
  b.Init("w", {4, 3}, Ramp(12));
  b.Node("MatMul", "/proj/MatMul", {"x", "w"}, {"y"});
  b.Output("y", TensorProto::FLOAT);
  auto m = b.Load();
  REQUIRE(m.ok());
  CHECK((*m)->Run(std::vector<Tensor>{F32({2, 4}, Ramp(8))}).ok());
  auto r = (*m)->Run(std::vector<Tensor>{F32({2, 5}, Ramp(10))});
  REQUIRE(!r.ok());
  CHECK(r.status().message().find("node '/proj/MatMul' (MatMul)") != std::string::npos);
}

TEST_CASE("onnx ops: batched MatMul with broadcasting matches plain loops") {
  Builder b;
  b.Input("a", TensorProto::FLOAT, {2, 1, 3, 4});
  b.Input("b", TensorProto::FLOAT, {3, 4, 5});
  b.Node("MatMul", "mm", {"a", "b"}, {"c"});
  b.Output("c", TensorProto::FLOAT);
  std::vector<float> a = Ramp(24), bv = Ramp(60, 0.05f);
  Dims shape;
  std::vector<float> got = RunOne(b, {F32({2, 1, 3, 4}, a), F32({3, 4, 5}, bv)}, &shape);
  CHECK(shape == Dims{2, 3, 3, 5});
  std::vector<float> want;
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 5; ++c) {
          float s = 0;
          for (int k = 0; k < 4; ++k) s += a[(i * 3 + r) * 4 + k] * bv[(j * 4 + k) * 5 + c];
          want.push_back(s);
        }
      }
    }
  }
  CheckClose(got, want);
}

TEST_CASE("onnx ops: grouped strided padded Conv2d matches a direct loop") {
  const int n = 1, c = 4, h = 7, w = 6, m = 6, g = 2, k = 3;
  Builder b;
  b.Input("x", TensorProto::FLOAT, {n, c, h, w});
  std::vector<float> wv = Ramp(m * (c / g) * k * k, 0.05f), bias = Ramp(m, 0.2f);
  b.Init("w", {m, c / g, k, k}, wv);
  b.Init("b", {m}, bias);
  auto* node = b.Node("Conv", "conv", {"x", "w", "b"}, {"y"});
  AttrInt(node, "group", g);
  AttrInts(node, "strides", {2, 1});
  AttrInts(node, "pads", {1, 0, 1, 2});
  AttrInts(node, "dilations", {1, 2});
  b.Output("y", TensorProto::FLOAT);
  std::vector<float> x = Ramp(n * c * h * w);
  Dims shape;
  std::vector<float> got = RunOne(b, {F32({n, c, h, w}, x)}, &shape);
  const int oh = (h + 2 - 3) / 2 + 1, ow = (w + 0 + 2 - 5) / 1 + 1;
  REQUIRE(shape == Dims{n, m, oh, ow});
  std::vector<float> want;
  for (int o = 0; o < m; ++o) {
    const int gi = o / (m / g);
    for (int i = 0; i < oh; ++i) {
      for (int j = 0; j < ow; ++j) {
        float s = bias[o];
        for (int ci = 0; ci < c / g; ++ci) {
          for (int a = 0; a < k; ++a) {
            for (int bb = 0; bb < k; ++bb) {
              const int yi = i * 2 - 1 + a, xj = j - 0 + bb * 2;
              if (yi < 0 || yi >= h || xj < 0 || xj >= w) continue;
              s += wv[((o * (c / g) + ci) * k + a) * k + bb] *
                   x[((gi * (c / g) + ci) * h + yi) * w + xj];
            }
          }
        }
        want.push_back(s);
      }
    }
  }
  CheckClose(got, want, 1e-4f);
}

TEST_CASE("onnx ops: depthwise Conv1d with asymmetric pads matches a direct loop") {
  const int c = 3, t = 9, k = 5;
  Builder b;
  b.Input("x", TensorProto::FLOAT, {1, c, -1});
  std::vector<float> wv = Ramp(c * k, 0.05f);
  b.Init("w", {c, 1, k}, wv);
  auto* node = b.Node("Conv", "dw", {"x", "w"}, {"y"});
  AttrInt(node, "group", c);
  AttrInts(node, "pads", {3, 1});
  b.Output("y", TensorProto::FLOAT);
  std::vector<float> x = Ramp(c * t);
  Dims shape;
  std::vector<float> got = RunOne(b, {F32({1, c, t}, x)}, &shape);
  REQUIRE(shape == Dims{1, c, t});
  std::vector<float> want;
  for (int ch = 0; ch < c; ++ch) {
    for (int i = 0; i < t; ++i) {
      float s = 0;
      for (int a = 0; a < k; ++a) {
        const int j = i - 3 + a;
        if (j >= 0 && j < t) s += wv[ch * k + a] * x[ch * t + j];
      }
      want.push_back(s);
    }
  }
  CheckClose(got, want, 1e-5f);
}

TEST_CASE("onnx ops: Slice with negative steps, Pad reflect, Gather negative index") {
  {
    Builder b;
    b.Input("x", TensorProto::FLOAT, {2, 5});
    b.InitI64("starts", {-1});
    b.InitI64("ends", {-100});
    b.InitI64("axes", {1});
    b.InitI64("steps", {-2});
    b.Node("Slice", "s", {"x", "starts", "ends", "axes", "steps"}, {"y"});
    b.Output("y", TensorProto::FLOAT);
    Dims shape;
    auto got = RunOne(b, {F32({2, 5}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9})}, &shape);
    CHECK(shape == Dims{2, 3});
    CheckClose(got, {4, 2, 0, 9, 7, 5});
  }
  {
    Builder b;
    b.Input("x", TensorProto::FLOAT, {1, 4});
    b.InitI64("pads", {0, 2, 0, 3});
    auto* n = b.Node("Pad", "p", {"x", "pads"}, {"y"});
    AttrString(n, "mode", "reflect");
    b.Output("y", TensorProto::FLOAT);
    auto got = RunOne(b, {F32({1, 4}, {1, 2, 3, 4})});
    CheckClose(got, {3, 2, 1, 2, 3, 4, 3, 2, 1});
  }
  {
    Builder b;
    b.Input("x", TensorProto::FLOAT, {3, 2});
    b.InitI64("idx", {-1, 0});
    auto* n = b.Node("Gather", "g", {"x", "idx"}, {"y"});
    AttrInt(n, "axis", 0);
    b.Output("y", TensorProto::FLOAT);
    auto got = RunOne(b, {F32({3, 2}, {1, 2, 3, 4, 5, 6})});
    CheckClose(got, {5, 6, 1, 2});
  }
}

TEST_CASE("onnx ops: AveragePool ceil_mode on a short input, Softmax on a middle axis") {
  {
    Builder b;
    b.Input("x", TensorProto::FLOAT, {1, 1, 5});
    auto* n = b.Node("AveragePool", "ap", {"x"}, {"y"});
    AttrInts(n, "kernel_shape", {3});
    AttrInts(n, "strides", {3});
    AttrInt(n, "ceil_mode", 1);
    b.Output("y", TensorProto::FLOAT);
    auto got = RunOne(b, {F32({1, 1, 5}, {1, 2, 3, 4, 6})});
    CheckClose(got, {2, 5});  // last window holds 2 elements
  }
  {
    Builder b;
    b.Input("x", TensorProto::FLOAT, {1, 3, 2});
    auto* n = b.Node("Softmax", "sm", {"x"}, {"y"});
    AttrInt(n, "axis", 1);
    b.Output("y", TensorProto::FLOAT);
    std::vector<float> x{0, 1, 2, 3, 4, 5};
    auto got = RunOne(b, {F32({1, 3, 2}, x)});
    for (int col = 0; col < 2; ++col) {
      float s = 0;
      for (int r = 0; r < 3; ++r) s += std::exp(x[r * 2 + col]);
      for (int r = 0; r < 3; ++r)
        CHECK(std::fabs(got[r * 2 + col] - std::exp(x[r * 2 + col]) / s) < 1e-6f);
    }
  }
}

TEST_CASE("onnx plan: constant sub-graphs fold at load and Identity/Sin/Cos run") {
  Builder b;
  b.Input("x", TensorProto::FLOAT, {3});
  b.Init("c", {3}, {0.0f, 0.5f, 1.0f});
  b.Node("Sin", "sin", {"c"}, {"s"});  // constant: folded
  b.Node("Cos", "cos", {"x"}, {"k"});
  b.Node("Identity", "id", {"s"}, {"s2"});
  b.Node("Add", "add", {"k", "s2"}, {"y"});
  b.Output("y", TensorProto::FLOAT);
  auto m = b.Load();
  REQUIRE(m.ok());
  CHECK((*m)->num_nodes() == 4);
  CHECK((*m)->num_steps() == 2);
  auto got = RunOne(b, {F32({3}, {1, 2, 3})});
  CheckClose(got, {std::cos(1.0f) + 0.0f, std::cos(2.0f) + std::sin(0.5f),
                   std::cos(3.0f) + std::sin(1.0f)});
  CHECK((*m)->Describe().find("Sin 1") != std::string::npos);
}

TEST_CASE("onnx ops: Tile, CumSum, Trilu, GatherElements, ScatterND, PRelu") {
  auto one = [](const std::string& op, std::vector<std::string> extra_inits,
                auto&& setup) -> std::vector<float> {
    Builder b;
    b.Input("x", TensorProto::FLOAT, {2, 3});
    std::vector<std::string> ins{"x"};
    for (auto& e : extra_inits) ins.push_back(e);
    auto* n = b.Node(op, "n", ins, {"y"});
    setup(b, n);
    b.Output("y", TensorProto::FLOAT);
    return RunOne(b, {F32({2, 3}, {1, -2, 3, -4, 5, -6})});
  };
  CheckClose(one("Tile", {"r"},
                 [](Builder& b, auto*) {
                   b.InitI64("r", {2, 1});
                 }),
             {1, -2, 3, -4, 5, -6, 1, -2, 3, -4, 5, -6});
  CheckClose(one("CumSum", {"ax"}, [](Builder& b, auto*) { b.InitI64("ax", {1}); }),
             {1, -1, 2, -4, 1, -5});
  CheckClose(one("CumSum", {"ax"},
                 [](Builder& b, auto* n) {
                   b.InitI64("ax", {-1});
                   AttrInt(n, "reverse", 1);
                   AttrInt(n, "exclusive", 1);
                 }),
             {1, 3, 0, -1, -6, 0});
  CheckClose(one("Trilu", {}, [](Builder&, auto* n) { AttrInt(n, "upper", 0); }),
             {1, 0, 0, -4, 5, 0});
  CheckClose(one("GatherElements", {"i"},
                 [](Builder& b, auto* n) {
                   auto* t = b.g()->add_initializer();
                   t->set_name("i");
                   t->set_data_type(TensorProto::INT64);
                   t->add_dims(2), t->add_dims(2);
                   for (int64_t v : {2, 0, -1, 1}) t->add_int64_data(v);
                   AttrInt(n, "axis", 1);
                 }),
             {3, 1, -6, 5});
  CheckClose(one("ScatterND", {"i", "u"},
                 [](Builder& b, auto*) {
                   auto* t = b.g()->add_initializer();
                   t->set_name("i");
                   t->set_data_type(TensorProto::INT64);
                   t->add_dims(1), t->add_dims(1);
                   t->add_int64_data(1);
                   b.Init("u", {1, 3}, {7, 8, 9});
                 }),
             {1, -2, 3, 7, 8, 9});
  CheckClose(one("PRelu", {"s"},
                 [](Builder& b, auto*) {
                   b.Init("s", {3}, {0.5f, 0.25f, 2.0f});
                 }),
             {1, -0.5f, 3, -2, 5, -12});
}

// int32 arithmetic past the type's range wraps around (two's complement, as ONNX Runtime) where
// C++ leaves the overflow undefined (the fuzzer's UBSan build stopped on an int32 CumSum); the
// lowest value divided by -1 wraps instead of trapping; f32 -> int32 Cast saturates, NaN -> 0.
TEST_CASE("onnx ops: integer overflow wraps, the lowest value / -1 does not trap, Cast saturates") {
  constexpr int32_t kMin = std::numeric_limits<int32_t>::min();
  constexpr int32_t kMax = std::numeric_limits<int32_t>::max();
  Builder b;
  b.Input("x", TensorProto::INT32, {4});
  b.Input("f", TensorProto::FLOAT, {4});
  auto* m1 = b.g()->add_initializer();
  m1->set_name("m1");
  m1->set_data_type(TensorProto::INT32);
  m1->add_dims(1);
  m1->add_int32_data(-1);
  b.InitI64("ax", {0});
  b.Node("CumSum", "cumsum", {"x", "ax"}, {"cs"});
  b.Node("Add", "add", {"x", "x"}, {"sum"});
  b.Node("Mul", "mul", {"x", "x"}, {"sq"});
  b.Node("Neg", "neg", {"x"}, {"neg"});
  b.Node("Div", "div", {"x", "m1"}, {"quot"});
  b.Node("Mod", "mod", {"x", "m1"}, {"rem"});
  auto* cast = b.Node("Cast", "cast", {"f"}, {"fi"});
  AttrInt(cast, "to", TensorProto::INT32);
  for (const char* name : {"cs", "sum", "sq", "neg", "quot", "rem", "fi"}) {
    b.Output(name, TensorProto::INT32);
  }
  auto model = b.Load();
  REQUIRE_MESSAGE(model.ok(), model.status().ToString());
  const std::vector<int32_t> xv{kMax, kMax, kMin, -7};
  const std::vector<float> fv{3e9f, -3e9f, std::nanf(""), -2.75f};
  auto x = Tensor::FromVector<int32_t>(Dims{4}, xv);
  auto f = Tensor::FromVector<float>(Dims{4}, fv);
  REQUIRE((x.ok() && f.ok()));
  const std::vector<Tensor> inputs{*x, *f};
  auto out = (*model)->Run(inputs);
  REQUIRE_MESSAGE(out.ok(), out.status().ToString());
  auto values = [&](size_t i) {
    const Tensor& t = (*out)[i];
    REQUIRE(t.dtype() == DType::kI32);
    return std::vector<int32_t>(t.data<int32_t>(), t.data<int32_t>() + t.numel());
  };
  // kMax + kMax = -2; -2 + kMin = kMax - 1 (wrapped twice); then -7
  CHECK(values(0) == std::vector<int32_t>{kMax, -2, kMax - 1, kMax - 8});
  CHECK(values(1) == std::vector<int32_t>{-2, -2, 0, -14});
  CHECK(values(2) == std::vector<int32_t>{1, 1, 0, 49});
  CHECK(values(3) == std::vector<int32_t>{-kMax, -kMax, kMin, 7});
  CHECK(values(4) == std::vector<int32_t>{-kMax, -kMax, kMin, 7});
  CHECK(values(5) == std::vector<int32_t>{0, 0, 0, 0});
  CHECK(values(6) == std::vector<int32_t>{kMax, kMin, 0, -2});
}

TEST_CASE("onnx ops: Erf/Tanh/Sigmoid/Exp/Sin/Cos agree with libm") {
  std::vector<float> x;
  for (int i = -4000; i <= 4000; ++i) x.push_back(static_cast<float>(i) * 1.37e-3f);
  for (float v : {1e-6f, -3e-5f, 0.49999f, 0.5f, 9.0f, -9.0f, 0.0f}) x.push_back(v);
  const Dims shape{static_cast<int64_t>(x.size())};
  struct Case {
    const char* op;
    double (*ref)(double);
  };
  const Case cases[] = {{"Erf", [](double v) { return std::erf(v); }},
                        {"Tanh", [](double v) { return std::tanh(v); }},
                        {"Sigmoid", [](double v) { return 1.0 / (1.0 + std::exp(-v)); }},
                        {"Exp", [](double v) { return std::exp(v); }},
                        {"Sin", [](double v) { return std::sin(v); }},
                        {"Cos", [](double v) { return std::cos(v); }}};
  for (const Case& c : cases) {
    Builder b;
    b.Input("x", TensorProto::FLOAT, {shape[0]});
    b.Node(c.op, "f", {"x"}, {"y"});
    b.Output("y", TensorProto::FLOAT);
    std::vector<float> got = RunOne(b, {F32(shape, x)});
    double worst = 0;
    float worst_x = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = c.ref(x[i]);
      // 4e-7 relative (f32 resolves ~6e-8) plus 1e-7 absolute (Sin/Cos near their zeros).
      const double r = std::fabs(got[i] - want) / (4e-7 * std::fabs(want) + 1e-7);
      if (r > worst) worst = r, worst_x = x[i];
    }
    CHECK_MESSAGE(worst <= 1.0, std::string(c.op), ": worst error / tolerance ", worst,
                  " at x = ", worst_x);
  }
}

}  // namespace
}  // namespace cosyflow::onnx
