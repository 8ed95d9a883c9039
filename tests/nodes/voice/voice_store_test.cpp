// Voice store: reads spk2info.pt written by torch.save (CosyVoice's save_spkinfo layout), writes
// files this reader and torch read back, keeps foreign keys, locks, rejects bad entries.
#include "nodes/voice/voice_store.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "runtime/io/checkpoint.h"
#include "runtime/io/torch_save.h"
#include "tests/test_util.h"

namespace cosyflow::voice {
namespace {
namespace fs = std::filesystem;

fs::path TempDir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("cosyflow_voice_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

VoicePrompt RandomVoice(const std::string& id, int t, int lp, uint32_t seed) {
  std::mt19937 rng(seed);
  VoicePrompt v;
  v.id = id;
  for (int i = 0; i < lp; ++i) v.prompt_text_ids.push_back(static_cast<int32_t>(rng() % 151000));
  for (int i = 0; i < t; ++i) v.speech_tokens.push_back(static_cast<int32_t>(rng() % 6561));
  std::normal_distribution<float> n;
  for (int i = 0; i < 2 * t * 80; ++i) v.feat.push_back(n(rng));
  for (int i = 0; i < 192; ++i) v.embedding.push_back(n(rng));
  return v;
}

void CheckSame(const VoicePrompt& a, const VoicePrompt& b) {
  CHECK(a.id == b.id);
  CHECK(a.prompt_text_ids == b.prompt_text_ids);
  CHECK(a.speech_tokens == b.speech_tokens);
  CHECK(a.feat == b.feat);
  CHECK(a.embedding == b.embedding);
  CHECK(a.lm_speech_tokens == b.lm_speech_tokens);
}

}  // namespace

TEST_CASE("crc32 matches the standard check value") {
  CHECK(io::Crc32("123456789", 9) == 0xCBF43926u);
}

TEST_CASE("spk2info.pt written by torch.save is read") {
  const std::string dir = test::FixturesDir() + "/voices";
  std::ifstream jf(dir + "/spk2info_torch.json");
  REQUIRE(jf);
  const nlohmann::json expected = nlohmann::json::parse(jf);
  VoiceStore store(dir + "/spk2info_torch.pt");
  auto list = store.List();
  REQUIRE_MESSAGE(list.ok(), list.status().ToString());
  REQUIRE(list->size() == expected.size());
  for (const auto& [id, e] : expected.items()) {
    auto v = store.Get(id);
    REQUIRE_MESSAGE(v.ok(), v.status().ToString());
    std::vector<float> emb = e["embedding"].get<std::vector<float>>();
    CHECK((*v)->embedding == emb);
    if (e.contains("tokens")) {
      CHECK((*v)->speech_tokens == e["tokens"].get<std::vector<int32_t>>());
      CHECK((*v)->prompt_text_ids == e["prompt_text"].get<std::vector<int32_t>>());
      REQUIRE((*v)->feat_frames() == 2 * static_cast<int64_t>((*v)->speech_tokens.size()));
      double sum = 0;
      for (float f : (*v)->feat) sum += f;
      CHECK(std::abs(sum - e["feat_sum"].get<double>()) < 1e-3);
      const auto first = e["feat_first"].get<std::vector<float>>();
      for (size_t i = 0; i < first.size(); ++i) CHECK((*v)->feat[i] == first[i]);
    } else {
      CHECK((*v)->speech_tokens.empty());
    }
  }
  auto missing = store.Get("nobody");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == StatusCode::kNotFound);
  CHECK(missing.status().message().find("speaker_a") != std::string::npos);
}

TEST_CASE("voice store: add, replace, remove, round trip, foreign keys kept") {
  const fs::path dir = TempDir("store");
  const fs::path file = dir / "spk2info.pt";
  VoiceStore store(file);
  REQUIRE(store.List().ok());
  CHECK(store.List()->empty());

  const VoicePrompt a = RandomVoice("alice", 13, 7, 1);
  VoicePrompt b = RandomVoice("bob.v2", 5, 0, 2);
  b.lm_speech_tokens = {1, 2, 3};  // LM prompt tokens other than the flow's are kept
  REQUIRE(store.Add(a).ok());
  REQUIRE(store.Add(b).ok());
  CHECK_FALSE(store.Add(a).ok());  // exists
  auto ga = store.Get("alice");
  REQUIRE(ga.ok());
  CheckSame(**ga, a);
  auto gb = store.Get("bob.v2");
  REQUIRE(gb.ok());
  CheckSame(**gb, b);

  // Another store object on the same file (another process) sees the same voices.
  VoiceStore other(file);
  auto list = other.List();
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].id == "alice");
  CHECK((*list)[0].speech_tokens == 13);
  CHECK((*list)[0].feat_frames == 26);
  CHECK((*list)[1].prompt_text_tokens == 0);

  const VoicePrompt a2 = RandomVoice("alice", 4, 3, 9);
  REQUIRE(store.Add(a2, /*replace=*/true).ok());
  CheckSame(**store.Get("alice"), a2);
  REQUIRE(store.Remove("bob.v2").ok());
  CHECK(store.Remove("bob.v2").code() == StatusCode::kNotFound);
  CHECK_FALSE(store.Get("bob.v2").ok());
  REQUIRE(store.List()->size() == 1);

  // The written file is a torch zip whose entries carry the official keys.
  auto ck = Checkpoint::Open(file.string());
  REQUIRE(ck.ok());
  CHECK(ck->Find("alice.llm_prompt_speech_token") != nullptr);
  CHECK(ck->Find("alice.flow_prompt_speech_token_len") != nullptr);
  CHECK(ck->Find("alice.prompt_speech_feat")->shape() == Dims{1, 8, 80});

  // Keys this engine does not know survive a rewrite by another voice's add.
  {
    io::TorchDict root, entry;
    std::vector<float> extra{1.5f, 2.5f};
    entry.items.emplace_back("embedding", *Tensor::FromVector<float>(Dims{1, 192}, std::span<const float>(a.embedding)));
    entry.items.emplace_back("custom_key", *Tensor::FromVector<float>(Dims{2}, std::span<const float>(extra)));
    root.items.emplace_back("sft", entry);
    REQUIRE(io::SaveTorchDict(file.string(), root, "spk2info").ok());
  }
  REQUIRE(store.Add(a).ok());
  auto ck2 = Checkpoint::Open(file.string());
  REQUIRE(ck2.ok());
  REQUIRE(ck2->Find("sft.custom_key") != nullptr);
  CHECK(ck2->Find("sft.custom_key")->data<float>()[1] == 2.5f);
  CHECK(store.Get("sft").ok());
  fs::remove_all(dir);
}

TEST_CASE("voice store: concurrent writers keep every voice; readers never see partial files") {
  const fs::path dir = TempDir("concurrent");
  const fs::path file = dir / "voices.pt";
  std::atomic<bool> stop{false};
  std::atomic<int> read_errors{0};
  std::thread reader([&] {
    VoiceStore r(file);
    while (!stop.load()) {
      if (!r.List().ok()) read_errors.fetch_add(1);
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      VoiceStore s(file);
      for (int i = 0; i < 5; ++i) {
        REQUIRE(s.Add(RandomVoice(fmt::format("w{}_{}", w, i), 3, 2, w * 10 + i)).ok());
      }
    });
  }
  for (auto& t : writers) t.join();
  stop = true;
  reader.join();
  CHECK(read_errors.load() == 0);
  VoiceStore s(file);
  REQUIRE(s.List().ok());
  CHECK(s.List()->size() == 15);
  fs::remove_all(dir);
}

TEST_CASE("voice store: bad ids and bad entries are clear errors") {
  CHECK_FALSE(ValidateVoiceId("").ok());
  CHECK_FALSE(ValidateVoiceId("a/b").ok());
  CHECK_FALSE(ValidateVoiceId("tab\there").ok());
  CHECK_FALSE(ValidateVoiceId(std::string("\xff\xfe")).ok());
  CHECK_FALSE(ValidateVoiceId(std::string(129, 'x')).ok());
  CHECK_FALSE(ValidateVoiceId(".").ok());
  CHECK_FALSE(ValidateVoiceId("..").ok());
  CHECK_FALSE(ValidateVoiceId(" ").ok());
  CHECK_FALSE(ValidateVoiceId(" a").ok());
  CHECK_FALSE(ValidateVoiceId("a ").ok());
  CHECK(ValidateVoiceId("中文女").ok());
  CHECK(ValidateVoiceId("...").ok());
  CHECK(ValidateVoiceId("a b").ok());

  const fs::path dir = TempDir("bad");
  // Mel frames must be twice the tokens.
  {
    io::TorchDict root, entry;
    std::vector<int32_t> tok{1, 2, 3};
    std::vector<float> feat(5 * 80, 0.f), emb(192, 0.f);
    entry.items.emplace_back("flow_prompt_speech_token", *Tensor::FromVector<int32_t>(Dims{1, 3}, std::span<const int32_t>(tok)));
    entry.items.emplace_back("prompt_speech_feat", *Tensor::FromVector<float>(Dims{1, 5, 80}, std::span<const float>(feat)));
    entry.items.emplace_back("flow_embedding", *Tensor::FromVector<float>(Dims{1, 192}, std::span<const float>(emb)));
    root.items.emplace_back("broken", entry);
    REQUIRE(io::SaveTorchDict((dir / "a.pt").string(), root, "a").ok());
    auto r = VoiceStore(dir / "a.pt").Get("broken");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("prompt_speech_feat") != std::string::npos);
    CHECK(r.status().message().find("broken") != std::string::npos);
  }
  // A plain tensor dict (a checkpoint, not spk2info) is rejected with the file named.
  {
    io::TorchDict root;
    std::vector<float> w{1.f};
    root.items.emplace_back("weight", *Tensor::FromVector<float>(Dims{1}, std::span<const float>(w)));
    REQUIRE(io::SaveTorchDict((dir / "b.pt").string(), root, "b").ok());
    auto r = VoiceStore(dir / "b.pt").List();
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("b.pt") != std::string::npos);
  }
  // Garbage bytes.
  {
    std::ofstream(dir / "c.pt") << "not a zip";
    CHECK_FALSE(VoiceStore(dir / "c.pt").List().ok());
  }
  // A voice to add must have a 192-d embedding, or none when it is zero-shot (read back
  // without one, as such a file reads; the fuzzer found the two sides disagreeing); an SFT voice
  // without one is refused.
  VoicePrompt v = RandomVoice("x", 2, 1, 3);
  v.embedding.resize(10);
  CHECK_FALSE(VoiceStore(dir / "d.pt").Add(v).ok());
  v.embedding.clear();
  REQUIRE(VoiceStore(dir / "d.pt").Add(v).ok());
  auto back = VoiceStore(dir / "d.pt").Get("x");
  REQUIRE(back.ok());
  CheckSame(**back, v);
  CHECK((*back)->embedding.empty());
  auto ck = Checkpoint::Open((dir / "d.pt").string());
  REQUIRE(ck.ok());
  CHECK(ck->Find("x.flow_embedding") == nullptr);
  CHECK(ck->Find("x.flow_prompt_speech_token") != nullptr);
  VoicePrompt sft;
  sft.id = "sft";
  CHECK_FALSE(VoiceStore(dir / "d.pt").Add(sft).ok());
  fs::remove_all(dir);
}

}  // namespace cosyflow::voice
