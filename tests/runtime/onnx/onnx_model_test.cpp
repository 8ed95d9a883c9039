// onnx::Model on the tiny CosyVoice front-end models (speech tokenizer v2, CAM++) against the
// golden outputs of tests/fixtures/frontend-tiny (or $COSYFLOW_FRONTEND_FIXTURES), plus errors
// and concurrency.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "runtime/io/npy.h"
#include "runtime/onnx/model.h"
#include "tests/test_util.h"

namespace cosyflow::onnx {
namespace {

std::string FixtureDir() {
  const char* env = std::getenv("COSYFLOW_FRONTEND_FIXTURES");
  return env && *env ? std::string(env) : cosyflow::test::FixturesDir() + "/frontend-tiny";
}

std::vector<std::string> PromptNames() {
  std::ifstream f(FixtureDir() + "/manifest.json");
  REQUIRE_MESSAGE(f.good(), "missing ", FixtureDir(), "/manifest.json");
  nlohmann::json m = nlohmann::json::parse(f);
  std::vector<std::string> names;
  for (const auto& p : m.at("prompts")) names.push_back(p.at("name").get<std::string>());
  REQUIRE(!names.empty());
  return names;
}

Tensor Npy(const std::string& rel) {
  auto t = ReadNpy(FixtureDir() + "/" + rel);
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  return *t;
}

std::shared_ptr<const Model> LoadModel(const std::string& file) {
  auto m = Model::Load(FixtureDir() + "/" + file);
  REQUIRE_MESSAGE(m.ok(), m.status().ToString());
  return *m;
}

// feats [1, 128, T] right-padded with `pad` zero frames.
Tensor PadFrames(const Tensor& feats, int64_t pad) {
  const int64_t c = feats.shape()[1], t = feats.shape()[2];
  auto out = Tensor::Empty(Dims{1, c, t + pad}, DType::kF32);
  REQUIRE(out.ok());
  for (int64_t i = 0; i < c; ++i) {
    std::copy_n(feats.data<float>() + i * t, t, out->data<float>() + i * (t + pad));
  }
  return *out;
}

std::vector<int64_t> Tokens(const Tensor& t) {
  REQUIRE((t.dtype() == DType::kI32 || t.dtype() == DType::kI64));
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = t.dtype() == DType::kI32 ? t.data<int32_t>()[i] : t.data<int64_t>()[i];
  }
  return v;
}

void CheckTokens(const Tensor& got, const Tensor& want, const std::string& what) {
  CHECK_MESSAGE(got.shape() == want.shape(), what, ": shape ", got.shape().ToString(), " vs ",
                want.shape().ToString());
  std::vector<int64_t> g = Tokens(got), w = Tokens(want);
  int diff = 0;
  for (size_t i = 0; i < std::min(g.size(), w.size()); ++i) {
    if (g[i] != w[i]) {
      if (diff < 5) MESSAGE(what, ": token ", i, " got ", g[i], " want ", w[i]);
      ++diff;
    }
  }
  CHECK_MESSAGE(diff == 0, what, ": ", diff, " tokens differ");
}

int64_t PadFramesOf(const std::string& prompt) {
  std::ifstream f(FixtureDir() + "/manifest.json");
  nlohmann::json m = nlohmann::json::parse(f);
  for (const auto& p : m.at("prompts")) {
    if (p.at("name") == prompt) return p.at("pad_frames").get<int64_t>();
  }
  FAIL("prompt ", prompt, " not in manifest");
  return 0;
}

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Best of a few warm runs in ms (the first run of a shape also creates oneDNN primitives).
double WarmMs(const Model& model, const std::vector<Tensor>& inputs) {
  double best = 1e30;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto out = model.Run(inputs);
    REQUIRE(out.ok());
    best = std::min(best, Seconds(t0) * 1e3);
  }
  return best;
}

TEST_CASE("onnx tokenizer: tiny speech_tokenizer_v2 gives the golden tokens, padded input too") {
  auto model = LoadModel("speech_tokenizer_v2_tiny.onnx");
  REQUIRE(model->inputs().size() == 2);
  CHECK(model->inputs()[0].name == "feats");
  CHECK(model->inputs()[1].name == "feats_length");
  CHECK(model->outputs()[0].name == "indices");
  for (const std::string& p : PromptNames()) {
    Tensor feats = Npy(p + "/whisper_mel128.npy");
    Tensor len = Npy(p + "/feats_length.npy");
    const auto t0 = std::chrono::steady_clock::now();
    auto out = model->Run(std::vector<Tensor>{feats, len});
    const double secs = Seconds(t0);
    REQUIRE_MESSAGE(out.ok(), out.status().ToString());
    MESSAGE(fmt::format("tokenizer {}: T_mel {} -> {} tokens: first run {:.1f} ms, warm {:.1f} ms",
                        p, feats.shape()[2], (*out)[0].numel(), secs * 1e3,
                        WarmMs(*model, {feats, len})));
    CheckTokens((*out)[0], Npy(p + "/speech_token.npy"), p + " unpadded");

    Tensor padded = PadFrames(feats, PadFramesOf(p));
    auto out_pad = model->Run(std::vector<Tensor>{padded, len});
    REQUIRE_MESSAGE(out_pad.ok(), out_pad.status().ToString());
    CheckTokens((*out_pad)[0], Npy(p + "/padded_speech_token.npy"), p + " padded");
  }
}

// The value the FSQ projection writes: the output of the node that adds the
// `quantizer.project_in.bias` initializer (found in the file, not hard-coded).
std::string FsqProjectValue(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  ::onnx::ModelProto m;
  REQUIRE(m.ParseFromIstream(&f));
  for (const auto& n : m.graph().node()) {
    for (const auto& in : n.input()) {
      if (in == "quantizer.project_in.bias") return n.output(0);
    }
  }
  FAIL("no node reads quantizer.project_in.bias");
  return "";
}

TEST_CASE("onnx tokenizer: the FSQ projection (extra output) matches tok_fsq_project") {
  const std::string path = FixtureDir() + "/speech_tokenizer_v2_tiny.onnx";
  LoadOptions options;
  options.extra_outputs = {FsqProjectValue(path)};
  auto model = Model::Load(path, options);
  REQUIRE_MESSAGE(model.ok(), model.status().ToString());
  REQUIRE((*model)->outputs().size() == 2);
  for (const std::string& p : PromptNames()) {
    auto out = (*model)->Run(
        std::vector<Tensor>{Npy(p + "/whisper_mel128.npy"), Npy(p + "/feats_length.npy")});
    REQUIRE_MESSAGE(out.ok(), out.status().ToString());
    const Tensor& got = (*out)[1];
    Tensor want = Npy(p + "/tok_fsq_project.npy");
    REQUIRE(got.numel() == want.numel());
    double max_abs = 0;
    for (int64_t i = 0; i < got.numel(); ++i) {
      max_abs = std::max<double>(max_abs, std::fabs(got.data<float>()[i] - want.data<float>()[i]));
    }
    MESSAGE(fmt::format("tokenizer {}: FSQ projection {} max abs {:.3g}", p, got.shape().ToString(),
                        max_abs));
    CHECK(max_abs < 1e-4);
  }
  LoadOptions bad;
  bad.extra_outputs = {"no_such_value"};
  auto m = Model::Load(path, bad);
  REQUIRE(!m.ok());
  CHECK(m.status().message().find("no_such_value") != std::string::npos);
}

TEST_CASE("onnx campplus: tiny CAM++ embedding within 1e-4 and cosine > 0.9999") {
  auto model = LoadModel("campplus_tiny.onnx");
  REQUIRE(model->inputs().size() == 1);
  CHECK(model->inputs()[0].name == "input");
  for (const std::string& p : PromptNames()) {
    Tensor fb = Npy(p + "/fbank80.npy");
    auto x = fb.Reshape(Dims{1, fb.shape()[0], fb.shape()[1]});
    REQUIRE(x.ok());
    const auto t0 = std::chrono::steady_clock::now();
    auto out = model->Run(std::vector<Tensor>{*x});
    const double secs = Seconds(t0);
    REQUIRE_MESSAGE(out.ok(), out.status().ToString());
    Tensor want = Npy(p + "/embedding.npy");
    const Tensor& got = (*out)[0];
    REQUIRE(got.shape() == want.shape());
    double max_abs = 0, dot = 0, ng = 0, nw = 0;
    for (int64_t i = 0; i < got.numel(); ++i) {
      const double a = got.data<float>()[i], b = want.data<float>()[i];
      max_abs = std::max(max_abs, std::fabs(a - b));
      dot += a * b, ng += a * a, nw += b * b;
    }
    const double cosine = dot / std::sqrt(ng * nw);
    MESSAGE(
        fmt::format("campplus {}: T {}: first run {:.1f} ms, warm {:.1f} ms; max abs {:.3g}, "
                    "cosine {:.9f}",
                    p, fb.shape()[0], secs * 1e3, WarmMs(*model, {*x}), max_abs, cosine));
    RunProfile prof;
    REQUIRE(model->Run(std::vector<Tensor>{*x}, &prof).ok());
    std::string top;
    for (size_t i = 0; i < std::min<size_t>(prof.by_op.size(), 6); ++i) {
      top += fmt::format(" {} {}x {:.1f} ms;", prof.by_op[i].op_type, prof.by_op[i].calls,
                         prof.by_op[i].ms);
    }
    MESSAGE("campplus profile (", prof.total_ms, " ms):", top);
    CHECK(max_abs < 1e-4);
    CHECK(cosine > 0.9999);
  }
}

TEST_CASE("onnx model: two threads on one model give identical results") {
  auto model = LoadModel("speech_tokenizer_v2_tiny.onnx");
  const std::string p = PromptNames().front();
  Tensor feats = Npy(p + "/whisper_mel128.npy");
  Tensor len = Npy(p + "/feats_length.npy");
  std::vector<std::vector<int64_t>> results(2);
  std::vector<std::string> errors(2);
  auto work = [&](int i) {
    for (int r = 0; r < 3; ++r) {
      auto out = model->Run(std::vector<Tensor>{feats, len});
      if (!out.ok()) {
        errors[i] = out.status().ToString();
        return;
      }
      std::vector<int64_t> tok = Tokens((*out)[0]);
      if (r > 0 && tok != results[i]) errors[i] = "run-to-run difference";
      results[i] = tok;
    }
  };
  std::thread a(work, 0), b(work, 1);
  a.join();
  b.join();
  CHECK_MESSAGE(errors[0].empty(), errors[0]);
  CHECK_MESSAGE(errors[1].empty(), errors[1]);
  CHECK(results[0] == results[1]);
  CHECK(results[0] == Tokens(Npy(p + "/speech_token.npy")));
}

TEST_CASE("onnx model: wrong input count, dtype or rank is an error naming the input") {
  auto model = LoadModel("campplus_tiny.onnx");
  auto f32 = Tensor::Empty(Dims{1, 50, 80}, DType::kF32);
  auto i32 = Tensor::Empty(Dims{1, 50, 80}, DType::kI32);
  auto rank2 = Tensor::Empty(Dims{50, 80}, DType::kF32);
  auto bad_dim = Tensor::Empty(Dims{1, 50, 81}, DType::kF32);
  REQUIRE((f32.ok() && i32.ok() && rank2.ok() && bad_dim.ok()));
  auto r = model->Run(std::vector<Tensor>{*i32});
  REQUIRE(!r.ok());
  CHECK(r.status().message().find("input 'input' must be f32") != std::string::npos);
  r = model->Run(std::vector<Tensor>{*rank2});
  REQUIRE(!r.ok());
  CHECK(r.status().message().find("must have shape [batch,T,80]") != std::string::npos);
  r = model->Run(std::vector<Tensor>{*bad_dim});
  CHECK(!r.ok());
  r = model->Run(std::vector<Tensor>{*f32, *f32});
  CHECK(!r.ok());
  auto good = model->Run(std::vector<Tensor>{*f32});
  CHECK_MESSAGE(good.ok(), good.status().ToString());
}

TEST_CASE("onnx load: truncated files and non-ONNX bytes are errors naming the file") {
  const std::string path = FixtureDir() + "/campplus_tiny.onnx";
  std::ifstream f(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() > 1000);
  for (size_t keep : {bytes.size() / 2, bytes.size() - 7, size_t{100}}) {
    auto m = Model::LoadFromBytes({bytes.data(), keep}, "cut.onnx");
    REQUIRE_MESSAGE(!m.ok(), "kept ", keep);
    CHECK(m.status().message().find("cut.onnx") != std::string::npos);
  }
  const std::string text = "this is not an onnx model, just some text bytes\n";
  auto m = Model::LoadFromBytes({reinterpret_cast<const uint8_t*>(text.data()), text.size()},
                                "text.onnx");
  REQUIRE(!m.ok());
  CHECK(m.status().message().find("text.onnx") != std::string::npos);
  auto missing = Model::Load(FixtureDir() + "/no_such_model.onnx");
  CHECK(!missing.ok());
  auto npy = Model::Load(FixtureDir() + "/" + PromptNames().front() + "/embedding.npy");
  CHECK(!npy.ok());
}

}  // namespace
}  // namespace cosyflow::onnx
