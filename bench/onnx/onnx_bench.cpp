// cosyflow-bench-onnx: speed of the native ONNX executor (runtime/onnx) on any model, or on a
// synthetic graph with the official speech tokenizer's heavy layers (random weights).
//
//   cosyflow-bench-onnx --model M.onnx --input NAME=FILE.npy... [--expect OUT0.npy] [--repeats R]
//   cosyflow-bench-onnx --synthetic-tokenizer [--frames T_mel] [--repeats R]
//
// The first form checks output 0 against --expect when given (exact for integer outputs, max abs
// error printed for float ones), then times R warm runs. An input file with fewer dims than the
// model input gets leading 1s (fbank80.npy [T, 80] feeds CAM++'s [1, T, 80]). The second builds,
// with the protobuf API, the official S3Tokenizer v2 encoder at full size without its cheap parts:
// conv1/conv2 (128->1280->1280, K 3, stride 2), 6 blocks of pre-LN attention (20 heads x 64,
// q/v/out with bias, key without) with the FSMN depthwise conv (K 31) on v, exact-GELU MLP
// 1280->5120->1280, and the FSQ projection 1280->8 (rotary, masks and the FSQ rounding are left
// out: <1% of the FLOPs). Prints JSON: load, first and best/median warm run times, GFLOP/s where
// known, and the per-op profile of the best run. Threads: OMP_NUM_THREADS.
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "runtime/io/npy.h"
#include "runtime/onnx/model.h"

namespace {

using cosyflow::Dims;
using cosyflow::DType;
using cosyflow::Tensor;
using cosyflow::onnx::Model;
using ::onnx::TensorProto;

double Ms(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "cosyflow-bench-onnx: %s\n", msg.c_str());
  std::exit(1);
}

// --- synthetic full-size tokenizer --------------------------------------------------------------

struct Graph {
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
};

constexpr int64_t kState = 1280, kHeads = 20, kHeadDim = 64, kMlp = 5120, kBlocks = 6;

// Returns the model bytes and the FLOPs of one call on T_mel frames.
std::string SyntheticTokenizer(int64_t t_mel, double* flops) {
  Graph G;
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
  auto* out = G.g()->add_output();
  out->set_name(h);
  out->mutable_type()->mutable_tensor_type()->set_elem_type(TensorProto::FLOAT);
  const double t1 = static_cast<double>((t_mel + 1) / 2),
               t2 = static_cast<double>((static_cast<int64_t>(t1) + 1) / 2);
  *flops = 2.0 * (128.0 * kState * 3 * t1 + double(kState) * kState * 3 * t2 +
                  kBlocks * (4.0 * kState * kState * t2 + 2.0 * kState * kMlp * t2 +
                             2.0 * t2 * t2 * kState + 31.0 * kState * t2) +
                  8.0 * kState * t2);
  return G.m.SerializeAsString();
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, expect;
  std::vector<std::pair<std::string, std::string>> inputs;
  bool synthetic = false;
  int64_t frames = 340;  // the 3.4 s en prompt of tests/fixtures/frontend-tiny
  int repeats = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model")
      model_path = value();
    else if (a == "--input") {
      const std::string v = value();
      const size_t eq = v.find('=');
      if (eq == std::string::npos) Die("--input wants NAME=FILE.npy");
      inputs.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (a == "--expect")
      expect = value();
    else if (a == "--synthetic-tokenizer")
      synthetic = true;
    else if (a == "--frames")
      frames = std::stoll(value());
    else if (a == "--repeats")
      repeats = std::max(1, std::stoi(value()));
    else
      Die("unknown argument " + a);
  }
  if (!synthetic && model_path.empty()) Die("give --model M.onnx or --synthetic-tokenizer");

  nlohmann::json report;
  double flops = 0;
  auto t0 = std::chrono::steady_clock::now();
  cosyflow::Result<std::shared_ptr<const Model>> model = cosyflow::Internal("not loaded");
  std::vector<Tensor> in;
  if (synthetic) {
    const std::string bytes = SyntheticTokenizer(frames, &flops);
    report["model"] = "synthetic full-size tokenizer (random weights)";
    report["model_bytes"] = bytes.size();
    t0 = std::chrono::steady_clock::now();
    model = Model::LoadFromBytes({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                                 "synthetic_tokenizer.onnx");
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> feats(static_cast<size_t>(128 * frames));
    for (float& f : feats) f = nd(rng);
    in.push_back(*Tensor::FromVector<float>(Dims{1, 128, frames}, feats));
  } else {
    report["model"] = model_path;
    model = Model::Load(model_path);
  }
  if (!model.ok()) Die(model.status().ToString());
  report["load_ms"] = Ms(t0);
  if (!synthetic) {
    for (const auto& vi : (*model)->inputs()) {
      auto it =
          std::find_if(inputs.begin(), inputs.end(), [&](auto& p) { return p.first == vi.name; });
      if (it == inputs.end()) Die("no --input for model input '" + vi.name + "'");
      auto t = cosyflow::ReadNpy(it->second);
      if (!t.ok()) Die(t.status().ToString());
      Tensor x = *t;
      while (x.dim() < static_cast<int>(vi.dims.size())) x = *x.Unsqueeze(0);  // [T,80] -> [1,T,80]
      in.push_back(x);
    }
  }

  t0 = std::chrono::steady_clock::now();
  auto first = (*model)->Run(in);
  if (!first.ok()) Die(first.status().ToString());
  report["first_run_ms"] = Ms(t0);
  const Tensor& out0 = (*first)[0];
  report["output0"] = out0.ToString();
  for (int64_t i = 0; i < out0.numel() && out0.dtype() == DType::kF32; ++i) {
    if (!std::isfinite(out0.data<float>()[i])) Die("output 0 is not finite");
  }
  if (!expect.empty()) {
    auto want = cosyflow::ReadNpy(expect);
    if (!want.ok()) Die(want.status().ToString());
    if (want->shape() != out0.shape()) Die("output 0 shape differs from --expect");
    auto a = out0.To(DType::kF32), b = want->To(DType::kF32);
    double max_abs = 0;
    for (int64_t i = 0; i < a->numel(); ++i) {
      max_abs = std::max<double>(max_abs, std::fabs(a->data<float>()[i] - b->data<float>()[i]));
    }
    report["expect_max_abs"] = max_abs;
    if (out0.dtype() != DType::kF32 && max_abs != 0) Die("integer output 0 differs from --expect");
  }

  std::vector<double> times;
  cosyflow::onnx::RunProfile best_profile;
  for (int r = 0; r < repeats; ++r) {
    cosyflow::onnx::RunProfile prof;
    auto out = (*model)->Run(in, &prof);
    if (!out.ok()) Die(out.status().ToString());
    times.push_back(prof.total_ms);
    if (prof.total_ms <= *std::min_element(times.begin(), times.end())) best_profile = prof;
  }
  std::sort(times.begin(), times.end());
  report["warm_best_ms"] = times.front();
  report["warm_median_ms"] = times[times.size() / 2];
  if (flops > 0) {
    report["gflop_per_call"] = flops * 1e-9;
    report["gflops_best"] = flops * 1e-9 / (times.front() * 1e-3);
  }
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& e : best_profile.by_op) {
    ops.push_back({{"op", e.op_type}, {"calls", e.calls}, {"ms", e.ms}});
  }
  report["profile_best"] = ops;
  report["omp_num_threads"] = std::getenv("OMP_NUM_THREADS") ? std::getenv("OMP_NUM_THREADS") : "";
  std::printf("%s\n", report.dump(1).c_str());
  return 0;
}
