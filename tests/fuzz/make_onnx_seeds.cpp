// Writes the small seed graphs of the ONNX fuzzer (tests/fuzz/onnx_seeds/*.onnx) with the
// protobuf API. Not part of the build; regenerate with
//   g++ -std=c++20 -DONNX_ML -DONNX_NAMESPACE=onnx -I. tests/fuzz/make_onnx_seeds.cpp -lonnx_proto
//   -lprotobuf -o /tmp/seeds && /tmp/seeds tests/fuzz/onnx_seeds   (the folder must exist)
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "bench/onnx_synth.h"

namespace {

using cosyflow::bench::OnnxGraph;
using ::onnx::TensorProto;

void Input(OnnxGraph& G, const std::string& name, int type, std::vector<int64_t> dims) {
  auto* in = G.g()->add_input();
  in->set_name(name);
  in->mutable_type()->mutable_tensor_type()->set_elem_type(type);
  auto* shape = in->mutable_type()->mutable_tensor_type()->mutable_shape();
  for (int64_t d : dims) {
    if (d > 0)
      shape->add_dim()->set_dim_value(d);
    else
      shape->add_dim()->set_dim_param("T");
  }
}

void Output(OnnxGraph& G, const std::string& name, int type) {
  auto* out = G.g()->add_output();
  out->set_name(name);
  out->mutable_type()->mutable_tensor_type()->set_elem_type(type);
}

OnnxGraph New() {
  OnnxGraph G;
  G.m.set_ir_version(8);
  G.m.set_producer_name("cosyflow fuzz seed");
  G.m.add_opset_import()->set_version(17);
  return G;
}

void Save(OnnxGraph& G, const std::string& dir, const std::string& name) {
  std::ofstream(dir + "/" + name, std::ios::binary) << G.m.SerializeAsString();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : ".";
  {  // attention-like: LayerNorm, MatMul + bias, Softmax, GELU
    OnnxGraph G = New();
    Input(G, "x", TensorProto::FLOAT, {1, -1, 8});
    std::string h = G.LayerNorm("x", 8);
    std::string q = G.Linear(h, 8, 8, true), k = G.Linear(h, 8, 8, false);
    std::string kt;
    G.Attr(G.Op("Transpose", {k}, &kt), "perm", {0, 2, 1}, true);
    std::string p;
    G.Attr(G.Op("Softmax", {G.Op1("MatMul", {q, kt})}, &p), "axis", {-1}, false);
    std::string y = G.Gelu(G.Op1("Add", {"x", G.Op1("MatMul", {p, h})}));
    Output(G, y, TensorProto::FLOAT);
    Save(G, dir, "attention.onnx");
  }
  {  // conv stack: Conv1d stride 2, depthwise Conv, Relu, MaxPool, BatchNormalization
    OnnxGraph G = New();
    Input(G, "x", TensorProto::FLOAT, {1, 4, -1});
    std::string y = G.Op1("Relu", {G.Conv("x", 4, 6, 3, 2, 1, 1)});
    y = G.Conv(y, 6, 6, 5, 1, 2, 6);
    std::string bn;
    G.Op("BatchNormalization",
         {y, G.Weight({6}, 1.0f), G.Weight({6}, 0.1f), G.Weight({6}, 0.1f), G.Weight({6}, 0.0f)},
         &bn);
    std::string mp;
    auto* n = G.Op("MaxPool", {G.Op1("Unsqueeze", {bn, G.Ints({2})})}, &mp);
    G.Attr(n, "kernel_shape", {1, 2}, true);
    G.Attr(n, "strides", {1, 2}, true);
    Output(G, G.Op1("ReduceMean", {mp}), TensorProto::FLOAT);
    Save(G, dir, "conv.onnx");
  }
  {  // shape arithmetic with an int32 length input: Shape, Gather, Range, Less, Where, Expand
    OnnxGraph G = New();
    Input(G, "x", TensorProto::FLOAT, {1, 3, -1});
    Input(G, "len", TensorProto::INT32, {1});
    std::string t = G.Op1("Gather", {G.Op1("Shape", {"x"}), G.Ints({2})});
    std::string zero = G.Ints({0}), one = G.Ints({1});
    std::string r =
        G.Op1("Range", {G.Op1("Squeeze", {zero}), G.Op1("Squeeze", {t}), G.Op1("Squeeze", {one})});
    std::string len64;
    G.Attr(G.Op("Cast", {"len"}, &len64), "to", {TensorProto::INT64}, false);
    std::string mask = G.Op1("Less", {r, len64});
    std::string big = G.Op1("Expand", {mask, G.Op1("Concat", {G.Ints({1, 3}), t})});
    G.g()->mutable_node(G.g()->node_size() - 2)->add_attribute()->set_name("axis");
    auto* ax = G.g()->mutable_node(G.g()->node_size() - 2)->mutable_attribute(0);
    ax->set_type(::onnx::AttributeProto::INT);
    ax->set_i(0);
    std::string y = G.Op1("Where", {big, "x", G.Scalar(-1e10f)});
    Output(G, y, TensorProto::FLOAT);
    Save(G, dir, "mask.onnx");
  }
  {  // integer graph: token ids -> embedding Gather, CumSum, Tile, Slice, Split, Trilu
    OnnxGraph G = New();
    Input(G, "ids", TensorProto::INT64, {1, -1});
    std::string e = G.Op1("Gather", {G.Weight({4, 6}, 1.0f), "ids"});
    std::string c = G.Op1("CumSum", {e, G.Ints({1})});
    std::string tl = G.Op1("Tile", {c, G.Ints({1, 2, 1})});
    std::string s = G.Op1("Slice", {tl, G.Ints({1}), G.Ints({5}), G.Ints({1}), G.Ints({2})});
    std::string a, b;
    auto* sp = G.Op("Split", {s, G.Ints({4, 2})}, &a);
    sp->add_output("split_b");
    G.Attr(sp, "axis", {2}, false);
    std::string tr = G.Op1("Trilu", {G.Op1("MatMul", {a, G.Weight({4, 4}, 1.0f)})});
    Output(G, tr, TensorProto::FLOAT);
    Output(G, "split_b", TensorProto::FLOAT);
    Save(G, dir, "ints.onnx");
  }
  {  // reductions and pads: Pad, ReduceSum/Max, Pow, Sqrt, Div, Clip, ConstantOfShape
    OnnxGraph G = New();
    Input(G, "x", TensorProto::FLOAT, {-1, 5});
    std::string p = G.Op1("Pad", {"x", G.Ints({1, 0, 1, 2})});
    std::string sq = G.Op1("Pow", {p, G.Scalar(2.0f)});
    std::string n;
    G.Attr(G.Op("ReduceSum", {sq, G.Ints({1})}, &n), "keepdims", {1}, false);
    std::string y = G.Op1("Div", {p, G.Op1("Sqrt", {G.Op1("Add", {n, G.Scalar(1e-6f)})})});
    std::string c = G.Op1("Clip", {y, G.Scalar(-0.5f), G.Scalar(0.5f)});
    std::string z;
    G.Op("ConstantOfShape", {G.Op1("Shape", {c})}, &z);
    std::string m;
    G.Attr(G.Op("ReduceMax", {G.Op1("Sub", {c, z})}, &m), "keepdims", {0}, false);
    Output(G, m, TensorProto::FLOAT);
    Save(G, dir, "reduce.onnx");
  }
  std::printf("wrote seeds to %s\n", dir.c_str());
  return 0;
}
