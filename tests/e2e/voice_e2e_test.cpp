// Voices end to end on the tiny test model (configs/tts_tiny.json with its VoiceFrontend node and
// the frontend-tiny ONNX models): every mode through the graph equals the same graph given the
// voice as node options (the layout the parity tests check against the reference), so the
// per-request path adds nothing and loses nothing. Greedy LM, zero vocoder noise.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "graph/synthesis.h"
#include "nodes/text_normalizer/text_normalizer.h"
#include "nodes/tokenizer/qwen2_tokenizer.h"
#include "nodes/voice/voice_frontend.h"
#include "nodes/voice/voice_store.h"
#include "runtime/io/npy.h"
#include "tests/test_util.h"

namespace cosyflow {
namespace {
namespace fs = std::filesystem;

constexpr const char* kPromptText = "Hello, this is a short prompt for voice cloning.";
constexpr const char* kText = "One two three four five.";

std::string FrontendDir() { return cosyflow::test::FixturesDir() + "/frontend-tiny"; }
std::string Config(const std::string& name) {
  return cosyflow::test::RepoDir() + "/configs/" + name;
}

struct Env {
  fs::path dir;
  VoicePrompt voice;            // en/prompt.wav through the VoiceFrontend
  std::vector<int32_t> prompt_ids;  // normalised transcript tokens
  Env() {
    dir = fs::temp_directory_path() / ("cosyflow_voice_e2e_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    auto f = voice::VoiceFrontend::Load({FrontendDir() + "/speech_tokenizer_v2_tiny.onnx",
                                         FrontendDir() + "/campplus_tiny.onnx"});
    REQUIRE_MESSAGE(f.ok(), f.status().ToString());
    auto v = (*f)->FromFile(FrontendDir() + "/en/prompt.wav");
    REQUIRE_MESSAGE(v.ok(), v.status().ToString());
    voice = std::move(*v);
    const int64_t t = static_cast<int64_t>(voice.speech_tokens.size());
    Write("tokens.npy", *Tensor::FromVector<int32_t>(Dims{1, t}, std::span<const int32_t>(voice.speech_tokens)));
    Write("feat.npy", *Tensor::FromVector<float>(Dims{1, 2 * t, 80}, std::span<const float>(voice.feat)));
    Write("emb.npy", *Tensor::FromVector<float>(Dims{1, 192}, std::span<const float>(voice.embedding)));
    auto tok = tokenizer::Qwen2Tokenizer::Load(cosyflow::test::FixturesDir() + "/qwen2-tokenizer");
    REQUIRE(tok.ok());
    auto tn = text_normalizer::TextNormalizer::Create({}, *tok);
    REQUIRE(tn.ok());
    auto normalized = (*tn)->Normalize(kPromptText, true);
    REQUIRE(normalized.ok());
    prompt_ids = *(*tok)->Encode(*normalized);
    voice.id = "en";
    voice.prompt_text_ids = prompt_ids;
    REQUIRE(voice::VoiceStore(dir / "voices.pt").Add(voice).ok());
  }
  ~Env() { fs::remove_all(dir); }
  void Write(const std::string& name, const Tensor& t) { REQUIRE(WriteNpy((dir / name).string(), t).ok()); }
  std::string Path(const std::string& name) const { return (dir / name).string(); }
};

Env& E() {
  static Env env;
  return env;
}

// Loads `graph` (tts_tiny.json, possibly edited) with deterministic overrides and runs one
// request; returns the audio (status checked unless `expect_error`).
struct RunResult {
  std::vector<float> audio;
  Status status;
};

RunResult Run(nlohmann::json graph, TextRequest fields, std::string text = kText,
              float speed = 1.0f) {
  tts::GraphOverrides o;
  o.model_dir = test::TinySeed0Dir();
  o.greedy = true;
  o.zero_noise = true;
  o.voice_store = E().Path("voices.pt");
  o.speed = speed;
  tts::GraphInfo info;
  tts::PatchGraph(&graph, o, &info);
  PipelineOverrides po;
  po.model_dir = o.model_dir;
  auto p = Pipeline::FromText(graph.dump(), po);
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  REQUIRE((*p)->Start().ok());
  fields.speed = speed;
  auto out = tts::Synthesize(**p, {text}, false, {}, {}, fields);
  REQUIRE(out.ok());
  return {std::move(out->audio), out->result.status};
}

nlohmann::json Tiny() {
  std::ifstream in(Config("tts_tiny.json"));
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

nlohmann::json& NodeOptions(nlohmann::json& g, const std::string& id) {
  for (auto& n : g["nodes"]) {
    if (n["id"] == id) return n["options"];
  }
  FAIL("no node " << id);
  return g;
}

// tts_tiny.json with the voice as node options: the LM's built-in prompt speech (or none) and
// prompt text ids (or none), the flow's prompt and embedding.
nlohmann::json OptionsGraph(bool lm_speech, const std::string& lm_text_ids_npy) {
  nlohmann::json g = Tiny();
  auto& lm = NodeOptions(g, "lm");
  lm.erase("prompt_speech_tokens");
  lm.erase("prompt_text_ids");
  if (lm_speech) lm["prompt_speech_tokens"] = E().Path("tokens.npy");
  if (!lm_text_ids_npy.empty()) lm["prompt_text_ids"] = lm_text_ids_npy;
  auto& flow = NodeOptions(g, "flow");
  flow["prompt_tokens"] = E().Path("tokens.npy");
  flow["prompt_feat"] = E().Path("feat.npy");
  flow["embedding"] = E().Path("emb.npy");
  return g;
}

TextRequest Fields(const std::string& mode) {
  TextRequest r;
  r.mode = mode;
  r.seed = 5;
  return r;
}

}  // namespace

TEST_CASE("Voice E2E: zero_shot from a prompt recording equals the voice given as node options") {
  TextRequest inline_fields = Fields("zero_shot");
  inline_fields.prompt_audio_path = FrontendDir() + "/en/prompt.wav";
  inline_fields.prompt_text = kPromptText;
  const RunResult a = Run(Tiny(), inline_fields);
  REQUIRE_MESSAGE(a.status.ok(), a.status.ToString());
  TextRequest text_only = Fields("zero_shot");
  text_only.prompt_text = kPromptText;
  const RunResult b = Run(OptionsGraph(/*lm_speech=*/true, ""), text_only);
  REQUIRE(b.status.ok());
  REQUIRE(!a.audio.empty());
  CHECK(a.audio == b.audio);
  // The stored voice (transcript as token ids, as add_zero_shot_spk keeps it) gives the same.
  TextRequest by_id = Fields("zero_shot");
  by_id.voice = "en";
  const RunResult c = Run(Tiny(), by_id);
  REQUIRE_MESSAGE(c.status.ok(), c.status.ToString());
  CHECK(c.audio == a.audio);
  // And it is not the graph's built-in voice.
  const RunResult d = Run(Tiny(), Fields("zero_shot"));
  REQUIRE(d.status.ok());
  CHECK(d.audio != a.audio);
}

TEST_CASE("Voice E2E: cross_lingual and instruct2 keep the voice in the flow only") {
  TextRequest cl = Fields("cross_lingual");
  cl.voice = "en";
  const RunResult a = Run(Tiny(), cl);
  REQUIRE_MESSAGE(a.status.ok(), a.status.ToString());
  const RunResult b = Run(OptionsGraph(/*lm_speech=*/false, ""), Fields("cross_lingual"));
  REQUIRE(b.status.ok());
  CHECK(a.audio == b.audio);

  TextRequest in2 = Fields("instruct2");
  in2.voice = "en";
  in2.instruct_text = "Speak slowly.";
  const RunResult c = Run(Tiny(), in2);
  REQUIRE_MESSAGE(c.status.ok(), c.status.ToString());
  // The instruction, ended by <|endofprompt|>, is the LM's prompt text.
  auto tok = tokenizer::Qwen2Tokenizer::Load(cosyflow::test::FixturesDir() + "/qwen2-tokenizer");
  REQUIRE(tok.ok());
  const std::vector<int32_t> ids = *(*tok)->Encode("Speak slowly.<|endofprompt|>");
  E().Write("instruct_ids.npy", *Tensor::FromVector<int32_t>(
                                    Dims{1, static_cast<int64_t>(ids.size())}, std::span<const int32_t>(ids)));
  const RunResult d = Run(OptionsGraph(false, E().Path("instruct_ids.npy")), Fields("instruct2"));
  REQUIRE(d.status.ok());
  CHECK(c.audio == d.audio);
  CHECK(c.audio != a.audio);
}

TEST_CASE("Voice E2E: vc converts the source recording's tokens with the target voice") {
  TextRequest vc = Fields("vc");
  vc.prompt_audio_path = FrontendDir() + "/en/prompt.wav";
  vc.source_audio_path = FrontendDir() + "/zh/prompt.wav";
  const RunResult a = Run(Tiny(), vc, "");
  REQUIRE_MESSAGE(a.status.ok(), a.status.ToString());
  // The same tokens pushed straight into flow + vocoder with the voice as options.
  auto src = ReadNpy(FrontendDir() + "/zh/speech_token.npy");
  REQUIRE(src.ok());
  std::vector<int32_t> tokens(src->data<int32_t>(), src->data<int32_t>() + src->numel());
  nlohmann::json g = OptionsGraph(false, "");
  nlohmann::json nodes = nlohmann::json::array();
  for (auto& n : g["nodes"]) {
    if (n["id"] == "flow" || n["id"] == "vocoder") nodes.push_back(n);
  }
  g["nodes"] = nodes;
  g["inputs"] = {{{"name", "tokens"}, {"to", "flow.tokens"}}};
  g["edges"] = {{{"from", "flow.mel"}, {"to", "vocoder.mel"}}};
  tts::GraphOverrides o;
  o.zero_noise = true;
  tts::GraphInfo info;
  tts::PatchGraph(&g, o, &info);
  PipelineOverrides po;
  po.model_dir = test::TinySeed0Dir();
  auto p = Pipeline::FromText(g.dump(), po);
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  REQUIRE((*p)->Start().ok());
  std::vector<float> audio;
  SubmitOptions so;
  so.on_output = [&](const std::string&, const MessagePtr& m) {
    if (const Audio* x = m->get<Audio>()) audio.insert(audio.end(), x->view().begin(), x->view().end());
  };
  auto id = (*p)->Submit(so);
  REQUIRE(id.ok());
  REQUIRE((*p)->Push(*id, "tokens", SpeechTokens{tokens, true}).ok());
  REQUIRE((*p)->EndInput(*id).ok());
  auto r = (*p)->Wait(*id);
  REQUIRE(r.ok());
  REQUIRE(r->status.ok());
  CHECK(audio.size() == tokens.size() * 960);
  CHECK(a.audio == audio);
}

TEST_CASE("Voice E2E: speed interpolates the whole mel (non-streaming), as the reference, on any graph") {
  TextRequest f = Fields("zero_shot");
  f.voice = "en";
  const RunResult normal = Run(Tiny(), f, kText, 1.0f);
  const RunResult fast = Run(Tiny(), f, kText, 1.5f);
  REQUIRE(normal.status.ok());
  REQUIRE_MESSAGE(fast.status.ok(), fast.status.ToString());
  const int64_t frames = static_cast<int64_t>(normal.audio.size()) / 480;
  CHECK(static_cast<int64_t>(fast.audio.size()) == static_cast<int64_t>(frames / 1.5f) * 480);
  // On a streaming graph the flow runs that request non-streaming: the same audio.
  nlohmann::json g = Tiny();
  TextRequest s = f;
  s.speed = 1.5f;
  tts::GraphOverrides o;
  o.model_dir = test::TinySeed0Dir();
  o.greedy = true;
  o.zero_noise = true;
  o.voice_store = E().Path("voices.pt");
  tts::GraphInfo info;
  tts::PatchGraph(&g, o, &info);
  PipelineOverrides po;
  po.model_dir = o.model_dir;
  auto p = Pipeline::FromText(g.dump(), po);
  REQUIRE(p.ok());
  REQUIRE((*p)->Start().ok());
  auto out = tts::Synthesize(**p, {kText}, false, {}, {}, s);
  REQUIRE(out.ok());
  REQUIRE_MESSAGE(out->result.status.ok(), out->result.status.ToString());
  CHECK(out->audio == fast.audio);
}

TEST_CASE("Voice E2E: bad voice requests fail that request with a clear error") {
  TextRequest unknown = Fields("zero_shot");
  unknown.voice = "nobody";
  RunResult r = Run(Tiny(), unknown);
  REQUIRE_FALSE(r.status.ok());
  CHECK(r.status.code() == StatusCode::kNotFound);
  CHECK(r.status.message().find("nobody") != std::string::npos);
  CHECK(r.status.message().find("en") != std::string::npos);  // lists the voices

  TextRequest no_text = Fields("zero_shot");
  no_text.prompt_audio_path = FrontendDir() + "/en/prompt.wav";
  r = Run(Tiny(), no_text);
  REQUIRE_FALSE(r.status.ok());
  CHECK(r.status.message().find("transcript") != std::string::npos);

  TextRequest vc = Fields("vc");
  vc.voice = "en";
  r = Run(Tiny(), vc, "");
  REQUIRE_FALSE(r.status.ok());
  CHECK(r.status.message().find("source_audio_path") != std::string::npos);

  TextRequest missing = Fields("cross_lingual");
  missing.prompt_audio_path = E().Path("missing.wav");
  r = Run(Tiny(), missing);
  REQUIRE_FALSE(r.status.ok());
  CHECK(r.status.message().find("missing.wav") != std::string::npos);

  // The pipeline still serves after failed requests.
  TextRequest ok = Fields("zero_shot");
  ok.voice = "en";
  CHECK(Run(Tiny(), ok).status.ok());
}

// The fixture's prompt as a per-request voice (TextRequest -> ... -> TokenIds.prompt, no node
// options) reproduces the tiny-seed0 goldens: the greedy LM tokens of llm_greedy_tokens /
// pipeline_text2wav_nonstream and its audio (SNR as the other e2e parity tests).
TEST_CASE("Voice E2E: the fixture's prompt as a request voice reproduces the pipeline golden") {
  auto ids = [](const std::string& name) {
    auto t = ReadNpy(test::TinySeed0Dir() + "/golden/" + name + ".npy");
    REQUIRE_MESSAGE(t.ok(), t.status().ToString());
    auto c = t->To(DType::kI32);
    return std::vector<int32_t>(c->data<int32_t>(), c->data<int32_t>() + c->numel());
  };
  auto floats = [](const std::string& name) {
    auto t = ReadNpy(test::TinySeed0Dir() + "/golden/" + name + ".npy");
    REQUIRE_MESSAGE(t.ok(), t.status().ToString());
    return std::vector<float>(t->data<float>(), t->data<float>() + t->numel());
  };
  auto voice = std::make_shared<VoicePrompt>();
  voice->prompt_text_ids = ids("input_prompt_text");
  voice->speech_tokens = ids("input_flow_prompt_speech_token");
  voice->feat = floats("input_prompt_speech_feat");
  voice->embedding = floats("input_embedding");
  voice->lm_speech_tokens = ids("input_llm_prompt_speech_token");  // the fixture's differ
  const nlohmann::json g = {
      {"format", 1},
      {"inputs", {{{"name", "ids"}, {"to", "lm.text"}}}},
      {"outputs", {{{"name", "audio"}, {"from", "vocoder.audio"}},
                   {{"name", "tokens"}, {"from", "lm.tokens"}}}},
      {"nodes",
       {{{"id", "lm"}, {"type", "SpeechLM"}, {"options", {{"greedy", true}}}},
        {{"id", "flow"}, {"type", "Flow"}, {"options", {{"config", "config.json"}, {"stream", false}}}},
        {{"id", "vocoder"}, {"type", "HiftVocoder"}, {"options", {{"noise", "zero"}}}}}},
      {"edges", {{{"from", "lm.tokens"}, {"to", "flow.tokens"}},
                 {{"from", "flow.mel"}, {"to", "vocoder.mel"}}}}};
  PipelineOverrides po;
  po.model_dir = test::TinySeed0Dir();
  auto p = Pipeline::FromText(g.dump(), po);
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  REQUIRE((*p)->Start().ok());
  std::vector<float> audio;
  std::vector<int32_t> tokens;
  SubmitOptions so;
  so.on_output = [&](const std::string&, const MessagePtr& m) {
    if (const Audio* x = m->get<Audio>()) audio.insert(audio.end(), x->view().begin(), x->view().end());
    if (const SpeechTokens* t = m->get<SpeechTokens>()) tokens.insert(tokens.end(), t->tokens.begin(), t->tokens.end());
  };
  auto id = (*p)->Submit(so);
  REQUIRE(id.ok());
  TokenIds in(ids("input_text"));
  in.mode = "zero_shot";
  in.prompt_ids = voice->prompt_text_ids;  // as the tokenizer fills them from the voice
  in.prompt_speech = voice->lm_speech_tokens;
  in.prompt = voice;
  REQUIRE((*p)->Push(*id, "ids", in).ok());
  REQUIRE((*p)->EndInput(*id).ok());
  auto r = (*p)->Wait(*id);
  REQUIRE(r.ok());
  REQUIRE_MESSAGE(r->status.ok(), r->status.ToString());
  CHECK(tokens == ids("llm_greedy_tokens"));
  const std::vector<float> golden = floats("pipeline_text2wav_nonstream");
  REQUIRE(audio.size() == golden.size());
  double s = 0, e = 0;
  for (size_t i = 0; i < golden.size(); ++i) {
    s += double(golden[i]) * golden[i];
    e += (double(audio[i]) - golden[i]) * (double(audio[i]) - golden[i]);
  }
  const double snr = e > 0 ? 10 * std::log10(s / e) : 999.0;
  MESSAGE("request voice through the graph vs pipeline_text2wav_nonstream: SNR " << snr << " dB");
  CHECK(snr >= 40);
}

}  // namespace cosyflow
