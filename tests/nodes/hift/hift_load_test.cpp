// HiftVocoder loading: config parsing, key spellings, alpha shapes, shape/extra-tensor errors.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "nodes/hift/hift_config.h"
#include "nodes/hift/hift_vocoder.h"
#include "tests/nodes/hift/hift_test_util.h"

namespace cosyflow::hift {
namespace {

std::string TinyPt() { return cosyflow::test::TinySeed0Dir() + "/hift.pt"; }

HiftConfig TinyConfig() {
  auto c = HiftConfig::ForModelDir(cosyflow::test::TinySeed0Dir());
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  return *c;
}

// The tiny checkpoint's entries, each passed through `edit` (which may rename or reshape).
template <typename Edit>
Checkpoint EditedCheckpoint(Edit edit) {
  auto ck = Checkpoint::Open(TinyPt());
  REQUIRE(ck.ok());
  std::vector<CheckpointEntry> entries;
  for (const auto& e : ck->entries()) {
    CheckpointEntry c{e.name, *e.tensor.Clone()};
    if (edit(&c)) entries.push_back(std::move(c));
  }
  auto out = Checkpoint::FromEntries("edited-hift.pt", std::move(entries));
  REQUIRE_MESSAGE(out.ok(), out.status().ToString());
  return std::move(*out);
}

// Speech for the first 8 frames of input_hift_mel, zero noise.
std::vector<float> Speech(const HiftVocoder& v) {
  const auto mel = test_util::LoadGolden("input_hift_mel");
  HiftScratch s;
  std::vector<float> speech, source;
  REQUIRE(v.Inference(mel.v.data(), mel.shape[2], 8, HiftNoise{}, nullptr, 0, &s, &speech,
                      &source)
              .ok());
  return speech;
}

TEST_CASE("HiftConfig: tiny config.json hift dict is read; unknown keys are rejected") {
  const HiftConfig c = TinyConfig();
  // Against the fixture's dict itself (read here without HiftConfig).
  nlohmann::json j;
  std::ifstream(cosyflow::test::TinySeed0Dir() + "/config.json") >> j;
  const nlohmann::json& h = j.at("hift");
  CHECK(c.base_channels == h.at("base_channels").get<int64_t>());
  CHECK(c.f0_cond_channels == h.at("f0_predictor").at("cond_channels").get<int64_t>());
  int64_t samples = h.at("istft_params").at("hop_len").get<int64_t>();
  for (const auto& r : h.at("upsample_rates")) samples *= r.get<int64_t>();
  CHECK(c.SamplesPerFrame() == samples);
  CHECK(HiftConfig::Release().base_channels == 512);
  auto bad = HiftConfig::FromJson(nlohmann::json{{"base_channel", 64}});
  CHECK_FALSE(bad.ok());
  CHECK(bad.status().message().find("base_channel") != std::string::npos);
  auto bad_rates = HiftConfig::FromJson(nlohmann::json{{"upsample_rates", {8, 5}}});
  CHECK_FALSE(bad_rates.ok());
}

// The tiny config.json with hift[key] (or hift[section][key]) set to `value`, read back through
// ForModelDir; returns the error message ("" when it loaded).
std::string ConfigErrorWith(const std::string& section, const std::string& key,
                            const nlohmann::json& value, std::string* path) {
  nlohmann::json j;
  std::ifstream(cosyflow::test::TinySeed0Dir() + "/config.json") >> j;
  (section.empty() ? j["hift"] : j["hift"][section])[key] = value;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("cosyflow-hift-config-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  *path = (dir / "config.json").string();
  std::ofstream(*path) << j.dump();
  auto c = HiftConfig::ForModelDir(dir.string());
  std::filesystem::remove_all(dir);
  return c.ok() ? "" : c.status().message();
}

TEST_CASE("HiftConfig: an integer field refuses fractions and out-of-range values, naming them") {
  std::string path;
  struct Case {
    const char* section;
    const char* key;
    nlohmann::json value;
    const char* fragment;
  };
  const Case cases[] = {
      {"", "in_channels", 1.5, "in_channels: expected an integer, got 1.5"},
      {"", "nb_harmonics", 1e12, "nb_harmonics: integer 1000000000000.0 is out of range"},
      {"", "sampling_rate", 4294967296LL, "sampling_rate: integer 4294967296 is out of range"},
      {"", "upsample_rates", {8, 5.5, 3}, "upsample_rates: [1]: expected an integer, got 5.5"},
      {"",
       "resblock_dilation_sizes",
       {{1, 3, 5}, {1, 3, 5}, {1, 3, 2.5}},
       "resblock_dilation_sizes: [2]: [2]: expected an integer, got 2.5"},
      {"istft_params", "n_fft", -1e30, "n_fft: integer -1e+30 is out of range"},
      {"f0_predictor", "cond_channels", "32", "cond_channels: expected an integer, got \"32\""},
      {"", "nsf_alpha", 1e300, "nsf_alpha: number 1e+300 is out of range for a 32-bit float"},
  };
  for (const Case& c : cases) {
    const std::string key = c.key;
    CAPTURE(key);
    const std::string m = ConfigErrorWith(c.section, c.key, c.value, &path);
    CHECK_MESSAGE(m.find(path) != std::string::npos, m);
    CHECK_MESSAGE(m.find(c.fragment) != std::string::npos, m);
  }
  // An integral value written as a float is still that integer.
  CHECK(ConfigErrorWith("", "in_channels", 80.0, &path) == "");
}

TEST_CASE("HiftVocoder: tiny hift.pt loads with weight norm folded and every tensor used") {
  auto v = test_util::TinyVocoder();
  auto ck = Checkpoint::Open(TinyPt());
  REQUIRE(ck.ok());
  CHECK(ck->size() > 300);  // g/v pairs before folding
  CHECK(v->num_params() > 0);
}

TEST_CASE("HiftVocoder: wrong config is an error naming the file and the tensor") {
  HiftConfig c = TinyConfig();
  c.base_channels = 128;
  auto v = HiftVocoder::Load(TinyPt(), c);
  REQUIRE_FALSE(v.ok());
  const std::string& m = v.status().message();
  CHECK(m.find("hift.pt") != std::string::npos);
  CHECK(m.find("conv_pre") != std::string::npos);
}

TEST_CASE("HiftVocoder: a missing tensor is named in the error") {
  auto ck = EditedCheckpoint([](CheckpointEntry* e) { return e->name != "conv_post.bias"; });
  auto v = HiftVocoder::FromCheckpoint(std::move(ck), TinyConfig());
  REQUIRE_FALSE(v.ok());
  CHECK(v.status().message().find("conv_post.bias") != std::string::npos);
}

TEST_CASE("HiftVocoder: an extra tensor is rejected") {
  auto ck = EditedCheckpoint([](CheckpointEntry*) { return true; });
  std::vector<CheckpointEntry> entries = ck.entries();
  entries.push_back({"extra.weight", *Tensor::Empty(Dims{4}, DType::kF32)});
  REQUIRE(ck.ReplaceEntries(std::move(entries)).ok());
  auto v = HiftVocoder::FromCheckpoint(std::move(ck), TinyConfig());
  REQUIRE_FALSE(v.ok());
  CHECK(v.status().message().find("extra or missing") != std::string::npos);
}

TEST_CASE("HiftVocoder: generator. prefix, parametrizations spelling and [C,1] alphas load "
          "to the same model") {
  auto ck = EditedCheckpoint([](CheckpointEntry* e) {
    std::string n = e->name;
    const auto g = n.find(".weight_g"), v = n.find(".weight_v");
    if (g != std::string::npos) n = n.substr(0, g) + ".parametrizations.weight.original0";
    if (v != std::string::npos) n = n.substr(0, v) + ".parametrizations.weight.original1";
    if (n.size() > 6 && n.substr(n.size() - 6) == ".alpha") {
      e->tensor = *e->tensor.Reshape(Dims{e->tensor.size(0), 1});
    }
    e->name = "generator." + n;
    return true;
  });
  auto v = HiftVocoder::FromCheckpoint(std::move(ck), TinyConfig());
  REQUIRE_MESSAGE(v.ok(), v.status().ToString());
  CHECK(Speech(**v) == Speech(*test_util::TinyVocoder()));
}

TEST_CASE("HiftVocoder: an alpha of the wrong shape is named in the error") {
  auto ck = EditedCheckpoint([](CheckpointEntry* e) {
    if (e->name == "resblocks.0.activations1.0.alpha") {
      e->tensor = *e->tensor.Slice(0, 0, e->tensor.size(0) - 1);
    }
    return true;
  });
  auto v = HiftVocoder::FromCheckpoint(std::move(ck), TinyConfig());
  REQUIRE_FALSE(v.ok());
  CHECK(v.status().message().find("resblocks.0.activations1.0.alpha") != std::string::npos);
}

TEST_CASE("HiftVocoder: bad inference arguments are errors, not crashes") {
  auto v = test_util::TinyVocoder();
  HiftScratch s;
  std::vector<float> speech, source;
  std::vector<float> mel(80 * 4, 0.0f);
  CHECK_FALSE(v->Inference(mel.data(), 4, 0, HiftNoise{}, nullptr, 0, &s, &speech, &source).ok());
  std::vector<float> cache(4 * 480 + 1, 0.0f);
  CHECK_FALSE(v->Inference(mel.data(), 4, 4, HiftNoise{}, cache.data(),
                           static_cast<int64_t>(cache.size()), &s, &speech, &source)
                  .ok());
}

}  // namespace
}  // namespace cosyflow::hift
