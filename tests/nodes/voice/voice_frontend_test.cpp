// VoiceFrontend against the frontend-tiny goldens: a prompt file -> the trimmed speech tokens,
// the trimmed 24 kHz prompt mel and the CAM++ embedding of the reference front end
// (frontend_zero_shot). Any fixture set in the same format: COSYFLOW_FRONTEND_FIXTURES=DIR.
#include "nodes/voice/voice_frontend.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/io/npy.h"
#include "tests/test_util.h"

namespace cosyflow::voice {
namespace {

std::string FrontendDir() {
  if (const char* env = std::getenv("COSYFLOW_FRONTEND_FIXTURES")) return env;
  return test::FixturesDir() + "/frontend-tiny";
}

std::vector<std::string> Prompts() {
  std::ifstream in(FrontendDir() + "/manifest.json");
  REQUIRE(in);
  const nlohmann::json m = nlohmann::json::parse(in);
  std::vector<std::string> names;
  for (const auto& p : m.at("prompts")) names.push_back(p.at("name").get<std::string>());
  REQUIRE(!names.empty());
  return names;
}

template <typename T>
std::vector<T> Values(const std::string& path) {
  auto t = ReadNpy(path);
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  auto c = t->To(DTypeOf<T>::value);
  REQUIRE(c.ok());
  return std::vector<T>(c->template data<T>(), c->template data<T>() + c->numel());
}

std::shared_ptr<const VoiceFrontend> Load() {
  static std::shared_ptr<const VoiceFrontend> f = [] {
    auto r = VoiceFrontend::Load({FrontendDir() + "/speech_tokenizer_v2_tiny.onnx",
                                  FrontendDir() + "/campplus_tiny.onnx"});
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    return *r;
  }();
  return f;
}

}  // namespace

TEST_CASE("VoiceFrontend: prompt file -> trimmed tokens, prompt mel and embedding (goldens)") {
  auto f = Load();
  for (const std::string& name : Prompts()) {
    CAPTURE(name);
    const std::string dir = FrontendDir() + "/" + name;
    auto v = f->FromFile(dir + "/prompt.wav");
    REQUIRE_MESSAGE(v.ok(), v.status().ToString());
    const auto tokens = Values<int32_t>(dir + "/prompt_speech_token_trim.npy");
    CHECK(v->speech_tokens == tokens);
    const auto feat = Values<float>(dir + "/prompt_speech_feat_trim.npy");
    REQUIRE(v->feat.size() == feat.size());
    double feat_err = 0;
    for (size_t i = 0; i < feat.size(); ++i) feat_err = std::max(feat_err, double(std::abs(v->feat[i] - feat[i])));
    MESSAGE(name << ": prompt mel max abs error " << feat_err);
    CHECK(feat_err <= 1e-4);
    const auto emb = Values<float>(dir + "/embedding.npy");
    REQUIRE(v->embedding.size() == emb.size());
    double err = 0, dot = 0, na = 0, nb = 0;
    for (size_t i = 0; i < emb.size(); ++i) {
      err = cosyflow::test::WorstOf(err, double(std::abs(v->embedding[i] - emb[i])));
      dot += double(v->embedding[i]) * emb[i];
      na += double(v->embedding[i]) * v->embedding[i];
      nb += double(emb[i]) * emb[i];
    }
    const double cosine = dot / std::sqrt(na * nb);
    MESSAGE(name << ": embedding max abs error " << err << ", cosine " << cosine);
    CHECK(err <= 1e-4);
    CHECK(cosine > 0.9999);
    // Untrimmed tokens (what vc uses for a source recording) equal the tokenizer's output.
    auto src = f->SourceTokens(dir + "/prompt.wav");
    REQUIRE(src.ok());
    CHECK(*src == Values<int32_t>(dir + "/speech_token.npy"));
  }
}

TEST_CASE("VoiceFrontend: samples in memory at the file's rate give the file's voice") {
  auto f = Load();
  const std::string name = Prompts().front();
  const std::string dir = FrontendDir() + "/" + name;
  std::ifstream in(FrontendDir() + "/manifest.json");
  const nlohmann::json m = nlohmann::json::parse(in);
  int rate = 0;
  for (const auto& p : m.at("prompts")) {
    if (p.at("name") == name) rate = p.at("file_sample_rate").get<int>();
  }
  REQUIRE(rate > 0);
  const auto wav = Values<float>(dir + "/wav_mono.npy");
  auto a = f->FromSamples(wav, rate, "memory");
  auto b = f->FromFile(dir + "/prompt.wav");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->speech_tokens == b->speech_tokens);
  CHECK(a->feat == b->feat);
  CHECK(a->embedding == b->embedding);
}

TEST_CASE("VoiceFrontend: bad recordings are clear errors") {
  auto f = Load();
  auto missing = f->FromFile("/nonexistent/prompt.wav");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("/nonexistent/prompt.wav") != std::string::npos);
  // 8 kHz: below the 16 kHz minimum.
  std::vector<float> tone(8000);
  for (size_t i = 0; i < tone.size(); ++i) tone[i] = 0.1f * std::sin(0.05f * i);
  auto low = f->FromSamples(tone, 8000, "low-rate");
  REQUIRE_FALSE(low.ok());
  CHECK(low.status().message().find("low-rate") != std::string::npos);
  // Over 30 s for the speech tokenizer.
  std::vector<float> longer(16000 * 31, 0.01f);
  auto too_long = f->SpeechTokens(longer, "long");
  REQUIRE_FALSE(too_long.ok());
  CHECK(too_long.status().message().find("long") != std::string::npos);
  // Too short to give a single aligned token.
  std::vector<float> blip(100, 0.1f);
  CHECK_FALSE(f->FromSamples(blip, 16000, "blip").ok());
}

}  // namespace cosyflow::voice
