// Synthetic ONNX graphs for the benches (random weights, built with the protobuf API):
// SyntheticTokenizer builds the official S3Tokenizer v2 encoder at full size without its cheap
// parts: conv1/conv2 (128->1280->1280, K 3, stride 2), 6 blocks of pre-LN attention (20 heads x
// 64, q/v/out with bias, key without) with the FSMN depthwise conv (K 31) on v, exact-GELU MLP
// 1280->5120->1280, and the FSQ projection 1280->8 (rotary and masks are left out: <1% of the
// FLOPs). With official_io the graph also has the official I/O: a second input `feats_length`
// (int32 [1], unused) and the FSQ rounding to int32 `indices` [1, T_tok]
// (sum_i (round(0.999 tanh h_i) + 1) 3^i), so VoiceFrontend can load it as
// speech_tokenizer_v2.onnx. SyntheticCampplus builds CAM++ at any widths (official: growth 32,
// bn_size 4, init 128) for a fixed number of fbank frames. Used by bench/onnx, bench/voice and
// tests/fuzz/make_onnx_seeds.cpp.
#pragma once

#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace cosyflow::bench {

using ::onnx::TensorProto;

struct OnnxGraph {
  ::onnx::ModelProto m;
  std::mt19937 rng{7};
  int next = 0;
  ::onnx::GraphProto* g() { return m.mutable_graph(); }
  std::string Name(const std::string& base) { return base + "_" + std::to_string(next++); }
  std::string Weight(std::vector<int64_t> dims, float scale) {
    auto* t = g()->add_initializer();
    t->set_name(Name("w"));
    t->set_data_type(TensorProto::FLOAT);
    int64_t n = 1;
    for (int64_t d : dims) t->add_dims(d), n *= d;
    std::uniform_real_distribution<float> u(-scale, scale);
    std::string raw(static_cast<size_t>(n) * 4, '\0');
    auto* f = reinterpret_cast<float*>(raw.data());
    for (int64_t i = 0; i < n; ++i) f[i] = u(rng);
    t->set_raw_data(raw);
    return t->name();
  }
  std::string Ints(std::vector<int64_t> v) {
    auto* t = g()->add_initializer();
    t->set_name(Name("i"));
    t->set_data_type(TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(v.size()));
    for (int64_t x : v) t->add_int64_data(x);
    return t->name();
  }
  std::string Scalar(float v) {
    auto* t = g()->add_initializer();
    t->set_name(Name("s"));
    t->set_data_type(TensorProto::FLOAT);
    t->add_float_data(v);
    return t->name();
  }
  ::onnx::NodeProto* Op(const std::string& op, std::vector<std::string> in, std::string* out) {
    auto* n = g()->add_node();
    n->set_op_type(op);
    n->set_name(Name("/" + op));
    for (auto& i : in) n->add_input(i);
    *out = Name(op);
    n->add_output(*out);
    return n;
  }
  std::string Op1(const std::string& op, std::vector<std::string> in) {
    std::string out;
    Op(op, std::move(in), &out);
    return out;
  }
  void Attr(::onnx::NodeProto* n, const std::string& name, std::vector<int64_t> v, bool list) {
    auto* a = n->add_attribute();
    a->set_name(name);
    if (list) {
      a->set_type(::onnx::AttributeProto::INTS);
      for (int64_t x : v) a->add_ints(x);
    } else {
      a->set_type(::onnx::AttributeProto::INT);
      a->set_i(v[0]);
    }
  }
  // x: [1, T, k] -> [1, T, n] (MatMul with a [k, n] weight, optional bias Add).
  std::string Linear(const std::string& x, int64_t k, int64_t n, bool bias) {
    std::string y = Op1("MatMul", {x, Weight({k, n}, 1.0f / std::sqrt(float(k)))});
    return bias ? Op1("Add", {y, Weight({n}, 0.02f)}) : y;
  }
  std::string LayerNorm(const std::string& x, int64_t d) {
    std::string y;
    auto* n = Op("LayerNormalization", {x, Weight({d}, 0.1f), Weight({d}, 0.1f)}, &y);
    Attr(n, "axis", {-1}, false);
    return y;
  }
  std::string Gelu(const std::string& x) {  // 0.5 x (1 + erf(x / sqrt 2)), as torch exports it
    std::string e = Op1("Erf", {Op1("Div", {x, Scalar(std::sqrt(2.0f))})});
    return Op1("Mul", {Op1("Mul", {x, Op1("Add", {e, Scalar(1.0f)})}), Scalar(0.5f)});
  }
  std::string Conv(const std::string& x, int64_t cin, int64_t cout, int64_t k, int64_t stride,
                   int64_t pad, int64_t group) {
    std::string y;
    auto* n = Op("Conv",
                 {x, Weight({cout, cin / group, k}, 1.0f / std::sqrt(float(cin / group * k))),
                  Weight({cout}, 0.02f)},
                 &y);
    Attr(n, "strides", {stride}, true);
    Attr(n, "pads", {pad, pad}, true);
    Attr(n, "group", {group}, false);
    return y;
  }
  // Conv with any kernel (1-d or 2-d), strides, symmetric pads and dilations; bias optional.
  std::string ConvNd(const std::string& x, int64_t cin, int64_t cout, std::vector<int64_t> k,
                     std::vector<int64_t> strides, std::vector<int64_t> pads,
                     std::vector<int64_t> dilations, bool bias) {
    std::vector<int64_t> wdims{cout, cin};
    int64_t fan = cin;
    for (int64_t d : k) wdims.push_back(d), fan *= d;
    std::vector<std::string> in{x, Weight(wdims, 1.0f / std::sqrt(float(fan)))};
    if (bias) in.push_back(Weight({cout}, 0.02f));
    std::string y;
    auto* n = Op("Conv", in, &y);
    Attr(n, "strides", strides, true);
    std::vector<int64_t> p2 = pads;
    p2.insert(p2.end(), pads.begin(), pads.end());
    Attr(n, "pads", p2, true);
    Attr(n, "dilations", dilations, true);
    return y;
  }
};

inline constexpr int64_t kState = 1280, kHeads = 20, kHeadDim = 64, kMlp = 5120, kBlocks = 6;

// Returns the model bytes and the FLOPs of one call on T_mel frames.
inline std::string SyntheticTokenizer(int64_t t_mel, double* flops, bool official_io = false) {
  OnnxGraph G;
  G.m.set_ir_version(8);
  G.m.set_producer_name("cosyflow-bench-onnx synthetic tokenizer");
  auto* o = G.m.add_opset_import();
  o->set_version(17);
  auto* in = G.g()->add_input();
  in->set_name("feats");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(TensorProto::FLOAT);
  for (int64_t d : {int64_t{1}, int64_t{128}, int64_t{-1}}) {
    auto* dim = in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim();
    if (d > 0)
      dim->set_dim_value(d);
    else
      dim->set_dim_param("T");
  }
  std::string x = G.Gelu(G.Conv("feats", 128, kState, 3, 2, 1, 1));
  x = G.Gelu(G.Conv(x, kState, kState, 3, 2, 1, 1));
  const std::string heads_shape = G.Ints({1, -1, kHeads, kHeadDim});
  const std::string flat_shape = G.Ints({1, -1, kState});
  auto perm = [&](const std::string& t, std::vector<int64_t> p) {
    std::string y;
    G.Attr(G.Op("Transpose", {t}, &y), "perm", p, true);
    return y;
  };
  x = perm(x, {0, 2, 1});  // [1, C, T] -> [1, T, C]
  for (int64_t b = 0; b < kBlocks; ++b) {
    std::string h = G.LayerNorm(x, kState);
    std::string q = G.Linear(h, kState, kState, true);
    std::string k = G.Linear(h, kState, kState, false);
    std::string v = G.Linear(h, kState, kState, true);
    // FSMN memory: depthwise Conv1d (K 31) over time on v, added to the attention output.
    std::string fsmn =
        perm(G.Conv(perm(v, {0, 2, 1}), kState, kState, 31, 1, 15, kState), {0, 2, 1});
    std::string qh = perm(G.Op1("Reshape", {q, heads_shape}), {0, 2, 1, 3});
    std::string kh = perm(G.Op1("Reshape", {k, heads_shape}), {0, 2, 3, 1});
    std::string vh = perm(G.Op1("Reshape", {v, heads_shape}), {0, 2, 1, 3});
    std::string s = G.Op1("Mul", {G.Op1("MatMul", {qh, kh}), G.Scalar(0.125f)});
    std::string p;
    G.Attr(G.Op("Softmax", {s}, &p), "axis", {-1}, false);
    std::string a = G.Op1("Reshape", {perm(G.Op1("MatMul", {p, vh}), {0, 2, 1, 3}), flat_shape});
    a = G.Op1("Add", {G.Linear(a, kState, kState, true), fsmn});
    x = G.Op1("Add", {x, a});
    std::string m =
        G.Linear(G.Gelu(G.Linear(G.LayerNorm(x, kState), kState, kMlp, true)), kMlp, kState, true);
    x = G.Op1("Add", {x, m});
  }
  std::string h = G.Linear(x, kState, 8, true);
  if (official_io) {
    auto* len = G.g()->add_input();
    len->set_name("feats_length");
    len->mutable_type()->mutable_tensor_type()->set_elem_type(TensorProto::INT32);
    len->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(1);
    // FSQ: levels round(0.999 tanh h) + 1 in {0,1,2}, token = sum_i level_i 3^i.
    std::string lv = G.Op1("Round", {G.Op1("Mul", {G.Op1("Tanh", {h}), G.Scalar(0.999f)})});
    lv = G.Op1("Add", {lv, G.Scalar(1.0f)});
    auto* pw = G.g()->add_initializer();
    pw->set_name(G.Name("pow3"));
    pw->set_data_type(TensorProto::FLOAT);
    pw->add_dims(8);
    pw->add_dims(1);
    for (int i = 0; i < 8; ++i) pw->add_float_data(std::pow(3.0f, float(i)));
    std::string tok = G.Op1("Reshape", {G.Op1("MatMul", {lv, pw->name()}), G.Ints({1, -1})});
    std::string ids;
    G.Attr(G.Op("Cast", {tok}, &ids), "to", {TensorProto::INT32}, false);
    G.g()->mutable_node(G.g()->node_size() - 1)->set_output(0, "indices");
    auto* out = G.g()->add_output();
    out->set_name("indices");
    out->mutable_type()->mutable_tensor_type()->set_elem_type(TensorProto::INT32);
  } else {
    auto* out = G.g()->add_output();
    out->set_name(h);
    out->mutable_type()->mutable_tensor_type()->set_elem_type(TensorProto::FLOAT);
  }
  const double t1 = static_cast<double>((t_mel + 1) / 2),
               t2 = static_cast<double>((static_cast<int64_t>(t1) + 1) / 2);
  *flops = 2.0 * (128.0 * kState * 3 * t1 + double(kState) * kState * 3 * t2 +
                  kBlocks * (4.0 * kState * kState * t2 + 2.0 * kState * kMlp * t2 +
                             2.0 * t2 * t2 * kState + 31.0 * kState * t2) +
                  8.0 * kState * t2);
  return G.m.SerializeAsString();
}

// CAM++ (3D-Speaker CAMPPlus, feat_dim 80, embedding 192) at any widths, for a fixed number of
// fbank frames T (static shapes): input `input` f32 [1, T, 80] -> `output` f32 [1, 192].
// Eval-mode BatchNorms are folded into the convs (as the official export does), so each
// "conv + BN + ReLU" is Conv(bias) + Relu. FCM head (32 channels, 2-d): conv 3x3, two
// BasicResBlocks with stride (2,1) then two more, conv 3x3 stride (2,1) -> [1, 320, T]; TDNN
// K 5 stride 2 -> init channels; D-TDNN blocks of 12/24/16 layers (dilation 1/2/2): ReLU, 1x1
// in -> bn_size*growth, ReLU, CAM layer (local conv K 3 -> growth, times sigmoid of a context
// path: time mean + segment mean over 100 frames (AveragePool ceil_mode, repeated back), 1x1 ->
// bn/2, ReLU, 1x1 -> growth); concat; transit ReLU + 1x1 ch -> ch/2 after each block; stats
// pooling (mean, unbiased std) and a 1x1 dense layer to 192. Random weights.
inline std::string SyntheticCampplus(int64_t t, int64_t growth, int64_t bn_size, int64_t init) {
  OnnxGraph G;
  G.m.set_ir_version(8);
  G.m.set_producer_name("cosyflow bench synthetic CAM++");
  G.m.add_opset_import()->set_version(17);
  auto* in = G.g()->add_input();
  in->set_name("input");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(TensorProto::FLOAT);
  for (int64_t d : {int64_t{1}, t, int64_t{80}}) {
    in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
  }
  auto relu = [&](const std::string& x) { return G.Op1("Relu", {x}); };
  std::string tr;
  G.Attr(G.Op("Transpose", {"input"}, &tr), "perm", {0, 2, 1}, true);
  std::string x = G.Op1("Unsqueeze", {tr, G.Ints({1})});  // [1, 1, 80, T]
  const int64_t m = 32;
  x = relu(G.ConvNd(x, 1, m, {3, 3}, {1, 1}, {1, 1}, {1, 1}, true));
  for (int layer = 0; layer < 2; ++layer) {
    for (int b = 0; b < 2; ++b) {
      const int64_t s = b == 0 ? 2 : 1;
      std::string h = relu(G.ConvNd(x, m, m, {3, 3}, {s, 1}, {1, 1}, {1, 1}, true));
      h = G.ConvNd(h, m, m, {3, 3}, {1, 1}, {1, 1}, {1, 1}, true);
      std::string sc = b == 0 ? G.ConvNd(x, m, m, {1, 1}, {s, 1}, {0, 0}, {1, 1}, true) : x;
      x = relu(G.Op1("Add", {h, sc}));
    }
  }
  x = relu(G.ConvNd(x, m, m, {3, 3}, {2, 1}, {1, 1}, {1, 1}, true));  // [1, 32, 10, T]
  x = G.Op1("Reshape", {x, G.Ints({1, m * 10, t})});
  x = relu(G.ConvNd(x, m * 10, init, {5}, {2}, {2}, {1}, true));
  const int64_t th = (t + 2 * 2 - 5) / 2 + 1;  // frames after the TDNN
  const int64_t seg = 100, nseg = (th + seg - 1) / seg;
  const int64_t bn = bn_size * growth;
  int64_t ch = init;
  const int64_t layers[3] = {12, 24, 16}, dil[3] = {1, 2, 2};
  for (int blk = 0; blk < 3; ++blk) {
    for (int64_t l = 0; l < layers[blk]; ++l) {
      std::string h = relu(G.ConvNd(relu(x), ch, bn, {1}, {1}, {0}, {1}, true));
      std::string y = G.ConvNd(h, bn, growth, {3}, {1}, {dil[blk]}, {dil[blk]}, false);
      std::string mean;
      G.Attr(G.Op("ReduceMean", {h}, &mean), "axes", {2}, true);
      std::string pooled;
      auto* ap = G.Op("AveragePool", {h}, &pooled);
      G.Attr(ap, "kernel_shape", {seg}, true);
      G.Attr(ap, "strides", {seg}, true);
      G.Attr(ap, "ceil_mode", {1}, false);
      std::string rep =
          G.Op1("Expand", {G.Op1("Unsqueeze", {pooled, G.Ints({3})}), G.Ints({1, bn, nseg, seg})});
      rep = G.Op1("Reshape", {rep, G.Ints({1, bn, nseg * seg})});
      rep = G.Op1("Slice", {rep, G.Ints({0}), G.Ints({th}), G.Ints({2})});
      std::string ctx = G.Op1("Add", {mean, rep});
      ctx = relu(G.ConvNd(ctx, bn, bn / 2, {1}, {1}, {0}, {1}, true));
      std::string gate =
          G.Op1("Sigmoid", {G.ConvNd(ctx, bn / 2, growth, {1}, {1}, {0}, {1}, true)});
      std::string cat;
      G.Attr(G.Op("Concat", {x, G.Op1("Mul", {y, gate})}, &cat), "axis", {1}, false);
      x = cat;
      ch += growth;
    }
    x = G.ConvNd(relu(x), ch, ch / 2, {1}, {1}, {0}, {1}, false);
    ch /= 2;
  }
  x = relu(x);
  std::string mean, sq;
  G.Attr(G.Op("ReduceMean", {x}, &mean), "axes", {2}, true);
  std::string d = G.Op1("Sub", {x, mean});
  G.Attr(G.Op("ReduceMean", {G.Op1("Mul", {d, d})}, &sq), "axes", {2}, true);
  std::string sd = G.Op1("Sqrt", {G.Op1("Mul", {sq, G.Scalar(float(th) / float(th - 1))})});
  std::string stats;
  G.Attr(G.Op("Concat", {mean, sd}, &stats), "axis", {1}, false);  // [1, 2 ch, 1]
  std::string e = G.ConvNd(stats, 2 * ch, 192, {1}, {1}, {0}, {1}, true);
  std::string out = G.Op1("Reshape", {e, G.Ints({1, 192})});
  G.g()->mutable_node(G.g()->node_size() - 1)->set_output(0, "output");
  auto* o = G.g()->add_output();
  o->set_name("output");
  o->mutable_type()->mutable_tensor_type()->set_elem_type(TensorProto::FLOAT);
  return G.m.SerializeAsString();
}

}  // namespace cosyflow::bench
