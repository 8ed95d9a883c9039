// Frontend parity (see group_frontend.h). Tolerances (manifest "tolerances", fixture README):
// waveforms and features 1e-4 max abs; tokens exact; embedding 1e-4 max abs and cosine >= 0.9999.
// Kaldi fbank: the goldens come from float32 FFTs whose rounding noise shows in the log energy of
// a bin as ~eps·exp((peak − v)/2), v its value and peak its frame's largest (docs/prompt_audio.md):
// negligible near the peak, above 1e-4 from ~12 nepers (52 dB) down. Each bin is held to the
// feature target plus that noise, 1e-4 + 4·eps32·exp((peak − v)/2) (peak from the golden
// fbank80_raw), and every bin to 1e-3; the line prints the max error within 52 dB of the peak
// and the worst error/tolerance ratio.
// Stage isolation as the other groups: the ONNX intermediates and the padded-input tokens run on
// the golden whisper_mel128 / fbank80; speech_token is checked on the golden mel and end to end
// (the engine's own mel); embedding and trims come from VoiceFrontend::FromFile(prompt.wav).
#include "apps/parity/group_frontend.h"

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "nodes/prompt_audio/features.h"
#include "nodes/prompt_audio/mel_filters.h"
#include "nodes/prompt_audio/prompt_audio.h"
#include "nodes/voice/voice_frontend.h"
#include "runtime/onnx/model.h"

namespace cosyflow::parity {
namespace {

namespace pa = prompt_audio;

constexpr double kFeatureTol = 1e-4;
constexpr Tolerance kFeature{kFeatureTol, 0};
constexpr Tolerance kExact{0, 0};
constexpr double kFbankNearNepers = 12.0;  // 52 dB: reported separately
constexpr double kFbankCeiling = 1e-3;
constexpr double kEps32 = 1.1920929e-7;
constexpr double kMinCosine = 0.9999;

// `actual` (any layout with the golden's element count) compared on the golden's shape.
template <typename T>
Status CompareValues(const Fixture& f, Report& r, const std::string& label,
                     const std::string& golden, std::span<const T> actual, const Tolerance& tol) {
  COSY_ASSIGN_OR_RETURN(Tensor g, f.Load(golden));
  if (static_cast<int64_t>(actual.size()) != g.numel()) {
    r.Fail(
        label,
        fmt::format("{} values, golden {} has {}", actual.size(), g.shape().ToString(), g.numel()),
        golden);
    return OkStatus();
  }
  COSY_ASSIGN_OR_RETURN(Tensor a, Tensor::FromVector<T>(g.shape(), actual));
  COSY_ASSIGN_OR_RETURN(Tensor gc, g.To(a.dtype()));
  r.Compare(label, a, gc, tol, golden);
  return OkStatus();
}

Status CompareTensor(const Fixture& f, Report& r, const std::string& label,
                     const std::string& golden, const Tensor& actual, const Tolerance& tol) {
  if (actual.dtype() == DType::kI32 || actual.dtype() == DType::kI64) {
    COSY_ASSIGN_OR_RETURN(Tensor c, actual.To(DType::kI32));
    return CompareValues<int32_t>(f, r, label, golden,
                                  std::span<const int32_t>(c.data<int32_t>(), c.numel()), tol);
  }
  COSY_ASSIGN_OR_RETURN(Tensor c, actual.To(DType::kF32));
  return CompareValues<float>(f, r, label, golden,
                              std::span<const float>(c.data<float>(), c.numel()), tol);
}

Result<std::vector<float>> GoldenFloats(const Fixture& f, const std::string& name) {
  COSY_ASSIGN_OR_RETURN(Tensor t, f.Load(name));
  COSY_ASSIGN_OR_RETURN(Tensor c, t.To(DType::kF32));
  return std::vector<float>(c.data<float>(), c.data<float>() + c.numel());
}

// The fbank rule (file comment); `raw` is the golden fbank80_raw of the prompt.
Status CompareFbank(const Fixture& f, Report& r, const std::string& golden, const Tensor& actual,
                    const std::vector<float>& raw) {
  COSY_ASSIGN_OR_RETURN(std::vector<float> want, GoldenFloats(f, golden));
  COSY_ASSIGN_OR_RETURN(Tensor ac, actual.To(DType::kF32));
  Comparison c;
  c.name = golden;
  c.golden = golden;
  if (ac.numel() != static_cast<int64_t>(want.size()) || raw.size() != want.size()) {
    c.note = fmt::format("{} values, golden has {}", ac.numel(), want.size());
    r.Add(c);
    return OkStatus();
  }
  const float* a = ac.data<float>();
  const int64_t bins = actual.size(-1), frames = ac.numel() / bins;
  double near = 0, worst_ratio = 0, scale = 0;
  bool finite = true;
  for (int64_t t = 0; t < frames; ++t) {
    const float* rr = raw.data() + t * bins;
    const float peak = *std::max_element(rr, rr + bins);
    for (int64_t k = 0; k < bins; ++k) {
      const size_t i = static_cast<size_t>(t * bins + k);
      if (!std::isfinite(a[i]) || !std::isfinite(want[i]) || !std::isfinite(raw[i])) {
        finite = false;
        continue;
      }
      const double err = std::fabs(static_cast<double>(a[i]) - want[i]);
      const double depth = static_cast<double>(peak) - raw[i];
      const double tol = kFeatureTol + 4 * kEps32 * std::exp(std::max(depth, 0.0) / 2);
      c.max_abs = std::max(c.max_abs, err);
      if (depth <= kFbankNearNepers) near = std::max(near, err);
      worst_ratio = std::max(worst_ratio, err / tol);
      scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
    }
  }
  c.max_rel = scale > 0 ? c.max_abs / scale : c.max_abs;
  c.pass = finite && worst_ratio <= 1.0 && c.max_abs <= kFbankCeiling;
  c.note = finite ? fmt::format(
                        "1e-4 + FFT noise: worst error/tolerance {:.2f} (<= 1), max {:.2e} "
                        "within 52 dB of the frame peak, overall <= 1e-3",
                        worst_ratio, near)
                  : "NaN/Inf";
  r.Add(c);
  return OkStatus();
}

// A module output the graph holds only after a folded BatchNorm ([1, C, T], see
// GraphIndex::FoldedBatchNorm): per channel, the least-squares fit actual ≈ a·golden + b must
// leave a residual of at most 1e-4 max abs, with a != 0. max_abs printed is that residual.
Status CompareModuloChannelAffine(const Fixture& f, Report& r, const std::string& golden,
                                  const Tensor& actual) {
  COSY_ASSIGN_OR_RETURN(Tensor g, f.Load(golden));
  COSY_ASSIGN_OR_RETURN(std::vector<float> want, GoldenFloats(f, golden));
  COSY_ASSIGN_OR_RETURN(Tensor ac, actual.To(DType::kF32));
  Comparison c;
  c.name = golden;
  c.golden = golden;
  if (ac.numel() != g.numel() || g.dim() != 3) {
    c.note =
        fmt::format("{} values, golden {} has {}", ac.numel(), g.shape().ToString(), g.numel());
    r.Add(c);
    return OkStatus();
  }
  const int64_t ch = g.size(1), t = g.size(2);
  const float* a = ac.data<float>();
  bool finite = true;
  double min_gain = 1e30, scale = 0;
  for (int64_t k = 0; k < ch; ++k) {
    const float* x = want.data() + k * t;
    const float* y = a + k * t;
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int64_t i = 0; i < t; ++i) {
      if (!std::isfinite(x[i]) || !std::isfinite(y[i])) finite = false;
      sx += x[i];
      sy += y[i];
      sxx += double(x[i]) * x[i];
      sxy += double(x[i]) * y[i];
    }
    const double n = static_cast<double>(t), var = sxx - sx * sx / n;
    const double gain = var > 0 ? (sxy - sx * sy / n) / var : 0.0;
    const double bias = (sy - gain * sx) / n;
    min_gain = std::min(min_gain, std::fabs(gain));
    for (int64_t i = 0; i < t; ++i) {
      c.max_abs = std::max(c.max_abs, std::fabs(y[i] - (gain * x[i] + bias)));
      scale = std::max(scale, std::fabs(double(y[i])));
    }
  }
  c.max_rel = scale > 0 ? c.max_abs / scale : c.max_abs;
  c.pass = finite && c.max_abs <= kFeatureTol && min_gain > 1e-6;
  c.note = finite ? fmt::format(
                        "graph folds the next BatchNorm into this Conv: residual of a "
                        "per-channel affine fit (<= 1e-4), min |gain| {:.3g}",
                        min_gain)
                  : "NaN/Inf";
  r.Add(c);
  return OkStatus();
}

// Embedding: max abs 1e-4 and cosine >= 0.9999.
Status CompareEmbedding(const Fixture& f, Report& r, const std::string& golden,
                        const std::vector<float>& actual) {
  COSY_ASSIGN_OR_RETURN(std::vector<float> want, GoldenFloats(f, golden));
  Comparison c;
  c.name = golden;
  c.golden = golden;
  if (actual.size() != want.size() || want.empty()) {
    c.note = fmt::format("{} values, golden has {}", actual.size(), want.size());
    r.Add(c);
    return OkStatus();
  }
  double dot = 0, na = 0, ng = 0, scale = 0;
  bool finite = true;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(actual[i]) || !std::isfinite(want[i])) finite = false;
    c.max_abs = std::max(c.max_abs, std::fabs(double(actual[i]) - want[i]));
    dot += double(actual[i]) * want[i];
    na += double(actual[i]) * actual[i];
    ng += double(want[i]) * want[i];
    scale = std::max(scale, std::fabs(double(want[i])));
  }
  const double cosine = na > 0 && ng > 0 ? dot / std::sqrt(na * ng) : 0.0;
  c.max_rel = scale > 0 ? c.max_abs / scale : c.max_abs;
  c.pass = finite && c.max_abs <= kFeatureTol && cosine >= kMinCosine;
  c.note = finite ? fmt::format("cosine {:.9f} (>= {})", cosine, kMinCosine) : "NaN/Inf";
  r.Add(c);
  return OkStatus();
}

// The model files named in the manifest's "models" section, told apart by their input names
// (speech tokenizer: feats + feats_length; CAM++: input).
struct ModelFiles {
  std::string tokenizer, campplus;
};

Result<ModelFiles> FindModels(const Fixture& f) {
  ModelFiles m;
  const auto& models = f.manifest().at("models");
  for (auto it = models.begin(); it != models.end(); ++it) {
    std::vector<std::string> inputs;
    for (const auto& in : it->at("inputs")) inputs.push_back(in.at("name").get<std::string>());
    if (inputs == std::vector<std::string>{"feats", "feats_length"}) m.tokenizer = it.key();
    if (inputs == std::vector<std::string>{"input"}) m.campplus = it.key();
  }
  if (m.tokenizer.empty() || m.campplus.empty()) {
    return DataLoss(
        "{}/manifest.json: \"models\" lacks a speech tokenizer (inputs feats, "
        "feats_length) or a CAM++ model (input 'input')",
        f.dir());
  }
  return m;
}

// The intermediate values the fixture records, found in the graph (not hard-coded value names):
// a module's output is the first output of the last node under its name scope ("/conv1/",
// "/blocks.0/", "/xvector/tdnn/"); the FSQ projection is the node that adds
// quantizer.project_in.bias.
struct GraphIndex {
  struct Node {
    std::string name, op_type, output;  // output 0
    std::vector<std::string> inputs;
  };
  std::vector<Node> nodes;
  std::string fsq_project;

  static Result<GraphIndex> Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    ::onnx::ModelProto m;
    if (!in || !m.ParseFromIstream(&in)) return DataLoss("{}: not a parsable ONNX model", path);
    GraphIndex g;
    for (const auto& n : m.graph().node()) {
      if (n.output_size() == 0) continue;
      g.nodes.push_back({n.name(), n.op_type(), n.output(0), {n.input().begin(), n.input().end()}});
      for (const auto& i : n.input()) {
        if (i == "quantizer.project_in.bias") g.fsq_project = n.output(0);
      }
    }
    return g;
  }
  std::string ScopeOutput(const std::string& scope) const {
    std::string out;
    for (const auto& n : nodes) {
      if (n.name.rfind(scope, 0) == 0) out = n.output;
    }
    return out;
  }
  // True when `value` is a Conv output read only by Relu nodes: in CAM++ every nonlinearity is
  // BatchNorm -> ReLU, so the exporter folded the following BatchNorm into this Conv and the
  // graph holds the module output only after a per-channel affine map (campplus_transit3_out:
  // xvector.out_nonlinear's BatchNorm folded into transit3's Conv).
  bool FoldedBatchNorm(const std::string& value) const {
    bool conv = false;
    int readers = 0;
    for (const auto& n : nodes) {
      if (n.output == value) conv = n.op_type == "Conv";
      for (const auto& i : n.inputs) {
        if (i != value) continue;
        if (n.op_type != "Relu") return false;
        ++readers;
      }
    }
    return conv && readers > 0;
  }
};

// Entry stem (after "prompt/") -> graph value, for the intermediates this prompt has.
Result<std::map<std::string, std::string>> IntermediateValues(const Fixture& f,
                                                              const std::string& prompt,
                                                              const GraphIndex& g,
                                                              const std::string& model_prefix) {
  std::map<std::string, std::string> out;
  for (const auto& e : f.entries()) {
    if (e.name.rfind(prompt + "/", 0) != 0) continue;
    const std::string stem = e.name.substr(prompt.size() + 1);
    std::string scope;
    if (model_prefix == "tok_" && stem == "tok_fsq_project") {
      if (g.fsq_project.empty()) return NotFound("no node reads quantizer.project_in.bias");
      out[stem] = g.fsq_project;
      continue;
    }
    if (stem.rfind(model_prefix, 0) != 0 || stem.size() < 4 ||
        stem.substr(stem.size() - 4) != "_out") {
      continue;
    }
    const std::string module =
        stem.substr(model_prefix.size(), stem.size() - model_prefix.size() - 4);
    if (model_prefix == "tok_") {
      scope =
          module.rfind("block", 0) == 0 ? "/blocks." + module.substr(5) + "/" : "/" + module + "/";
    } else {
      scope = "/xvector/" + module + "/";
    }
    const std::string value = g.ScopeOutput(scope);
    if (value.empty()) return NotFound("{}: no node under the name scope {}", e.name, scope);
    out[stem] = value;
  }
  return out;
}

struct Models {
  std::shared_ptr<const onnx::Model> tokenizer, campplus;  // with the intermediates as outputs
  std::map<std::string, std::string> tok_values, cam_values;
  std::set<std::string> cam_folded;               // stems whose graph value has a folded BatchNorm
  std::vector<std::string> tok_order, cam_order;  // extra output stems, in output order
};

Result<std::shared_ptr<const onnx::Model>> LoadWithExtras(
    const std::string& path, const std::map<std::string, std::string>& values,
    std::vector<std::string>* order) {
  onnx::LoadOptions options;
  for (const auto& [stem, value] : values) {
    options.extra_outputs.push_back(value);
    order->push_back(stem);
  }
  return onnx::Model::Load(path, options);
}

// feats [1, 128, T] right-padded with `pad` zero frames.
Result<Tensor> PadFrames(const Tensor& feats, int64_t pad) {
  COSY_ASSIGN_OR_RETURN(Tensor c, feats.To(DType::kF32));
  const int64_t ch = c.size(1), t = c.size(2);
  COSY_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty(Dims{1, ch, t + pad}, DType::kF32));
  float* o = out.data<float>();
  std::fill(o, o + out.numel(), 0.f);
  for (int64_t i = 0; i < ch; ++i) std::copy_n(c.data<float>() + i * t, t, o + i * (t + pad));
  return out;
}

Status RunPrompt(const Fixture& f, Report& r, const nlohmann::json& prompt, const Models& m,
                 const voice::VoiceFrontend& frontend) {
  const std::string p = prompt.at("name").get<std::string>();
  const std::string wav = f.Path(p + "/prompt.wav");
  auto has = [&](const std::string& stem) { return f.Find(p + "/" + stem) != nullptr; };
  auto vec = [](const std::vector<float>& v) { return std::span<const float>(v); };

  // Decode and resample (CosyVoice load_wav).
  COSY_ASSIGN_OR_RETURN(AudioData audio, pa::DecodePromptFile(wav));
  COSY_RETURN_IF_ERROR(
      CompareValues<float>(f, r, p + "/wav_mono", p + "/wav_mono", vec(audio.samples), kFeature));
  COSY_ASSIGN_OR_RETURN(std::vector<float> x16k,
                        pa::PreparePromptAudio(audio.samples, audio.sample_rate, 16000, wav));
  COSY_ASSIGN_OR_RETURN(std::vector<float> x24k,
                        pa::PreparePromptAudio(audio.samples, audio.sample_rate, 24000, wav));
  COSY_RETURN_IF_ERROR(CompareValues<float>(f, r, p + "/x16k", p + "/x16k", vec(x16k), kFeature));
  COSY_RETURN_IF_ERROR(CompareValues<float>(f, r, p + "/x24k", p + "/x24k", vec(x24k), kFeature));

  // Features, each on the golden waveform of its stage (the engine's own waveforms feed the
  // end-to-end checks below: speech_token (engine mel), embedding, trims).
  COSY_ASSIGN_OR_RETURN(std::vector<float> g16, GoldenFloats(f, p + "/x16k"));
  COSY_ASSIGN_OR_RETURN(std::vector<float> g24, GoldenFloats(f, p + "/x24k"));
  COSY_ASSIGN_OR_RETURN(auto whisper, pa::WhisperLogMel::Create(128));
  COSY_ASSIGN_OR_RETURN(auto fbank, pa::KaldiFbank::Create(80, 16000));
  COSY_ASSIGN_OR_RETURN(auto matcha, pa::MatchaMel::Create());
  COSY_ASSIGN_OR_RETURN(Tensor mel128, whisper.Compute(g16));  // [128, T]
  COSY_RETURN_IF_ERROR(
      CompareTensor(f, r, p + "/whisper_mel128", p + "/whisper_mel128", mel128, kFeature));
  const std::vector<int32_t> feats_length{static_cast<int32_t>(mel128.size(1))};
  COSY_RETURN_IF_ERROR(
      CompareValues<int32_t>(f, r, p + "/feats_length", p + "/feats_length", feats_length, kExact));
  COSY_ASSIGN_OR_RETURN(std::vector<float> raw_golden, GoldenFloats(f, p + "/fbank80_raw"));
  COSY_ASSIGN_OR_RETURN(Tensor raw, fbank.Compute(g16));
  COSY_RETURN_IF_ERROR(CompareFbank(f, r, p + "/fbank80_raw", raw, raw_golden));
  COSY_ASSIGN_OR_RETURN(Tensor normed, fbank.ComputeMeanNormalized(g16));
  COSY_RETURN_IF_ERROR(CompareFbank(f, r, p + "/fbank80", normed, raw_golden));
  COSY_ASSIGN_OR_RETURN(Tensor mel24, matcha.Compute(g24));
  COSY_RETURN_IF_ERROR(
      CompareTensor(f, r, p + "/prompt_mel24k", p + "/prompt_mel24k", mel24, kFeature));
  if (has("x24k_from16k")) {  // v2-era path: the 24 kHz signal resampled from x16k
    COSY_ASSIGN_OR_RETURN(std::vector<float> x24_16,
                          pa::PreparePromptAudio(g16, 16000, 24000, wav + " (16 kHz)"));
    COSY_RETURN_IF_ERROR(CompareValues<float>(f, r, p + "/x24k_from16k", p + "/x24k_from16k",
                                              vec(x24_16), kFeature));
    if (has("prompt_mel24k_v2era")) {
      COSY_ASSIGN_OR_RETURN(std::vector<float> g24_16, GoldenFloats(f, p + "/x24k_from16k"));
      COSY_ASSIGN_OR_RETURN(Tensor mel_v2, matcha.Compute(g24_16));
      COSY_RETURN_IF_ERROR(CompareTensor(f, r, p + "/prompt_mel24k_v2era",
                                         p + "/prompt_mel24k_v2era", mel_v2, kFeature));
    }
  }

  // Speech tokenizer on the golden mel (tokens + intermediates), padded, and end to end.
  COSY_ASSIGN_OR_RETURN(Tensor golden_mel, f.Load(p + "/whisper_mel128"));
  COSY_ASSIGN_OR_RETURN(Tensor golden_len, f.Load(p + "/feats_length"));
  {
    const Tensor in[] = {golden_mel, golden_len};
    COSY_ASSIGN_OR_RETURN(std::vector<Tensor> out, m.tokenizer->Run(in));
    COSY_RETURN_IF_ERROR(
        CompareTensor(f, r, p + "/speech_token", p + "/speech_token", out[0], kExact));
    for (size_t i = 0; i < m.tok_order.size(); ++i) {
      const std::string& stem = m.tok_order[i];
      if (m.tok_values.at(stem).empty() || !has(stem)) continue;
      COSY_RETURN_IF_ERROR(
          CompareTensor(f, r, p + "/" + stem, p + "/" + stem, out[1 + i], kFeature));
    }
    const int64_t pad = prompt.at("pad_frames").get<int64_t>();
    COSY_ASSIGN_OR_RETURN(Tensor padded, PadFrames(golden_mel, pad));
    const Tensor in_pad[] = {padded, golden_len};  // feats_length unchanged
    COSY_ASSIGN_OR_RETURN(std::vector<Tensor> out_pad, m.tokenizer->Run(in_pad));
    COSY_RETURN_IF_ERROR(
        CompareTensor(f, r, fmt::format("{}/padded_speech_token (+{} zero frames)", p, pad),
                      p + "/padded_speech_token", out_pad[0], kExact));
  }
  COSY_ASSIGN_OR_RETURN(std::vector<int32_t> tokens_e2e, frontend.SpeechTokens(x16k, wav));
  COSY_RETURN_IF_ERROR(CompareValues<int32_t>(f, r, p + "/speech_token (engine mel)",
                                              p + "/speech_token", tokens_e2e, kExact));

  // CAM++ intermediates on the golden fbank80.
  {
    COSY_ASSIGN_OR_RETURN(Tensor fb, f.Load(p + "/fbank80"));
    COSY_ASSIGN_OR_RETURN(Tensor x, fb.Reshape(Dims{1, fb.size(0), fb.size(1)}));
    const Tensor in[] = {x};
    COSY_ASSIGN_OR_RETURN(std::vector<Tensor> out, m.campplus->Run(in));
    for (size_t i = 0; i < m.cam_order.size(); ++i) {
      const std::string& stem = m.cam_order[i];
      if (!has(stem)) continue;
      if (m.cam_folded.count(stem)) {
        COSY_RETURN_IF_ERROR(CompareModuloChannelAffine(f, r, p + "/" + stem, out[1 + i]));
        continue;
      }
      COSY_RETURN_IF_ERROR(
          CompareTensor(f, r, p + "/" + stem, p + "/" + stem, out[1 + i], kFeature));
    }
    COSY_ASSIGN_OR_RETURN(Tensor emb, out[0].To(DType::kF32));
    COSY_RETURN_IF_ERROR(
        CompareValues<float>(f, r, p + "/embedding (golden fbank80)", p + "/embedding",
                             std::span<const float>(emb.data<float>(), emb.numel()), kFeature));
  }

  // The voice: embedding and aligned trims through VoiceFrontend (decode to the end).
  COSY_ASSIGN_OR_RETURN(VoicePrompt voice, frontend.FromFile(wav));
  COSY_RETURN_IF_ERROR(CompareEmbedding(f, r, p + "/embedding", voice.embedding));
  COSY_RETURN_IF_ERROR(CompareValues<int32_t>(f, r, p + "/prompt_speech_token_trim",
                                              p + "/prompt_speech_token_trim", voice.speech_tokens,
                                              kExact));
  return CompareValues<float>(f, r, p + "/prompt_speech_feat_trim", p + "/prompt_speech_feat_trim",
                              vec(voice.feat), kFeature);
}

// The top-level filter matrices against the generators of nodes/prompt_audio.
Status RunFilters(const Fixture& f, Report& r) {
  if (f.Find("mel_filters_whisper128")) {
    COSY_ASSIGN_OR_RETURN(Tensor g, f.Load("mel_filters_whisper128"));
    COSY_ASSIGN_OR_RETURN(std::vector<float> w,
                          pa::SlaneyMelFilters(16000, 400, static_cast<int>(g.size(0))));
    COSY_RETURN_IF_ERROR(CompareValues<float>(f, r, "mel_filters_whisper128",
                                              "mel_filters_whisper128", w, kFeature));
  }
  if (f.Find("mel_basis_matcha80")) {
    const pa::MatchaMelConfig c;
    COSY_ASSIGN_OR_RETURN(std::vector<float> w,
                          pa::SlaneyMelFilters(c.sample_rate, c.n_fft, c.n_mels, c.fmin, c.fmax));
    COSY_RETURN_IF_ERROR(
        CompareValues<float>(f, r, "mel_basis_matcha80", "mel_basis_matcha80", w, kFeature));
  }
  return OkStatus();
}

Status RunFrontend(const Fixture& f, Report& r) {
  if (f.format() != FixtureFormat::kFrontend) {
    return InvalidArgument(
        "{}: the frontend group needs a frontend-tiny format manifest "
        "(\"prompts\" + \"files\")",
        f.dir());
  }
  fmt::print(
      "frontend: fbank80_raw / fbank80 bins are held to 1e-4 + 4*eps32*exp((peak - v)/2) "
      "(the reference's float32 FFT noise, peak = the frame's largest bin), 1e-3 overall\n");
  COSY_ASSIGN_OR_RETURN(ModelFiles files, FindModels(f));
  Models m;
  COSY_ASSIGN_OR_RETURN(GraphIndex tok_graph, GraphIndex::Read(f.Path(files.tokenizer)));
  COSY_ASSIGN_OR_RETURN(GraphIndex cam_graph, GraphIndex::Read(f.Path(files.campplus)));
  const auto& prompts = f.manifest().at("prompts");
  for (const auto& prompt : prompts) {  // the union of the intermediates any prompt records
    const std::string p = prompt.at("name").get<std::string>();
    COSY_ASSIGN_OR_RETURN(auto tv, IntermediateValues(f, p, tok_graph, "tok_"));
    COSY_ASSIGN_OR_RETURN(auto cv, IntermediateValues(f, p, cam_graph, "campplus_"));
    m.tok_values.insert(tv.begin(), tv.end());
    m.cam_values.insert(cv.begin(), cv.end());
  }
  for (const auto& [stem, value] : m.cam_values) {
    if (cam_graph.FoldedBatchNorm(value)) m.cam_folded.insert(stem);
  }
  COSY_ASSIGN_OR_RETURN(m.tokenizer,
                        LoadWithExtras(f.Path(files.tokenizer), m.tok_values, &m.tok_order));
  COSY_ASSIGN_OR_RETURN(m.campplus,
                        LoadWithExtras(f.Path(files.campplus), m.cam_values, &m.cam_order));
  COSY_ASSIGN_OR_RETURN(
      auto frontend, voice::VoiceFrontend::Load({f.Path(files.tokenizer), f.Path(files.campplus)}));
  for (const auto& prompt : prompts) {
    const std::string p = prompt.at("name").get<std::string>();
    COSY_RETURN_IF_ERROR_CTX(RunPrompt(f, r, prompt, m, *frontend), "prompt " + p);
  }
  return RunFilters(f, r);
}

}  // namespace

std::vector<Group> FrontendGroups() { return {{"frontend", RunFrontend}}; }

}  // namespace cosyflow::parity
