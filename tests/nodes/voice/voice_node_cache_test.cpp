// VoiceFrontendNode's voice caches: a repeated inline prompt (prompt_samples + prompt_text) or
// prompt file is computed once (cache stats count the hit) and the cached voice equals an
// uncached computation exactly; other samples, rate or transcript miss.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "nodes/voice/voice_node.h"
#include "runtime/io/npy.h"
#include "tests/test_util.h"

namespace cosyflow {
namespace {

std::string FrontendDir() {
  if (const char* env = std::getenv("COSYFLOW_FRONTEND_FIXTURES")) return env;
  return test::FixturesDir() + "/frontend-tiny";
}

std::unique_ptr<Node> MakeNode(int cache, int inline_cache) {
  VoiceFrontendNodeOptions o;
  o.speech_tokenizer = FrontendDir() + "/speech_tokenizer_v2_tiny.onnx";
  o.campplus = FrontendDir() + "/campplus_tiny.onnx";
  o.voices = (std::filesystem::temp_directory_path() /
              ("cosyflow_no_store_" + std::to_string(::getpid()) + ".pt"))
                 .string();  // absent: an empty store
  o.cache = cache;
  o.inline_cache = inline_cache;
  auto node = VoiceFrontendNode::Create(o, NodeContext{});
  REQUIRE_MESSAGE(node.ok(), node.status().ToString());
  return std::move(*node);
}

// The first fixture prompt: its recording, samples and rate.
struct Prompt {
  std::string wav;
  Tensor samples;
  int rate = 0;
};
Prompt FirstPrompt() {
  std::ifstream in(FrontendDir() + "/manifest.json");
  REQUIRE(in);
  const nlohmann::json m = nlohmann::json::parse(in);
  const auto& p = m.at("prompts").at(0);
  Prompt out;
  const std::string dir = FrontendDir() + "/" + p.at("name").get<std::string>();
  out.wav = dir + "/prompt.wav";
  out.rate = p.at("file_sample_rate").get<int>();
  auto t = ReadNpy(dir + "/wav_mono.npy");
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  auto f = t->To(DType::kF32);
  REQUIRE(f.ok());
  auto flat = f->Reshape(Dims{f->numel()});  // stored [1, n]
  REQUIRE(flat.ok());
  out.samples = *flat;
  return out;
}

void CheckSameVoice(const VoicePrompt& a, const VoicePrompt& b) {
  CHECK(a.speech_tokens == b.speech_tokens);
  CHECK(a.feat == b.feat);
  CHECK(a.embedding == b.embedding);
}

TEST_CASE("VoiceFrontend node: a repeated inline prompt is computed once, equal to uncached") {
  const Prompt p = FirstPrompt();
  auto cached_owner = MakeNode(16, 16);
  auto uncached_owner = MakeNode(16, 0);
  auto& cached = static_cast<VoiceFrontendNode&>(*cached_owner);
  auto& uncached = static_cast<VoiceFrontendNode&>(*uncached_owner);

  TextRequest r;
  r.text = "hello";
  r.prompt_text = "the prompt transcript";
  r.prompt_samples = p.samples;
  r.prompt_sample_rate = p.rate;
  auto first = cached.Resolve(r);
  REQUIRE_MESSAGE(first.ok(), first.status().ToString());
  CHECK(cached.inline_cache_stats().misses == 1);
  CHECK(cached.inline_cache_stats().hits == 0);

  // The same samples in a new tensor (another request carrying the same recording).
  TextRequest again = r;
  auto copy = p.samples.Clone();
  REQUIRE(copy.ok());
  again.prompt_samples = *copy;
  auto second = cached.Resolve(again);
  REQUIRE(second.ok());
  CHECK(cached.inline_cache_stats().hits == 1);
  CHECK(cached.inline_cache_stats().entries == 1);
  CHECK(second->get() == first->get());  // the very same shared voice

  auto plain = uncached.Resolve(r);
  REQUIRE(plain.ok());
  CheckSameVoice(**second, **plain);
  CHECK(uncached.inline_cache_stats().hits == 0);
  CHECK(uncached.inline_cache_stats().entries == 0);
  auto plain2 = uncached.Resolve(r);
  REQUIRE(plain2.ok());
  CHECK(uncached.inline_cache_stats().hits == 0);  // inline_cache 0: never kept

  // Another transcript, one changed sample, another rate: misses.
  TextRequest other_text = r;
  other_text.prompt_text = "another transcript";
  REQUIRE(cached.Resolve(other_text).ok());
  CHECK(cached.inline_cache_stats().misses == 2);
  TextRequest other_audio = r;
  auto changed = p.samples.Clone();
  REQUIRE(changed.ok());
  changed->data<float>()[changed->numel() / 2] += 1e-3f;
  other_audio.prompt_samples = *changed;
  REQUIRE(cached.Resolve(other_audio).ok());
  CHECK(cached.inline_cache_stats().misses == 3);
  TextRequest other_rate = r;
  other_rate.prompt_sample_rate = p.rate == 16000 ? 24000 : 16000;
  REQUIRE(cached.Resolve(other_rate).ok());
  CHECK(cached.inline_cache_stats().misses == 4);
  CHECK(cached.inline_cache_stats().hits == 1);
  CHECK(cached.inline_cache_stats().entries == 4);
  // The first entry is still there.
  REQUIRE(cached.Resolve(r).ok());
  CHECK(cached.inline_cache_stats().hits == 2);
}

TEST_CASE("VoiceFrontend node: the inline cache keeps its capacity, least recent first out") {
  const Prompt p = FirstPrompt();
  auto owner = MakeNode(16, 2);
  auto& node = static_cast<VoiceFrontendNode&>(*owner);
  TextRequest r;
  r.prompt_samples = p.samples;
  r.prompt_sample_rate = p.rate;
  for (const char* text : {"a", "b", "c"}) {
    r.prompt_text = text;
    REQUIRE(node.Resolve(r).ok());
  }
  CHECK(node.inline_cache_stats().entries == 2);
  r.prompt_text = "a";  // evicted
  REQUIRE(node.Resolve(r).ok());
  CHECK(node.inline_cache_stats().hits == 0);
  r.prompt_text = "c";
  REQUIRE(node.Resolve(r).ok());
  CHECK(node.inline_cache_stats().hits == 1);
}

TEST_CASE("VoiceFrontend node: a repeated prompt file hits; its transcript is part of the key") {
  const Prompt p = FirstPrompt();
  auto owner = MakeNode(16, 16);
  auto& node = static_cast<VoiceFrontendNode&>(*owner);
  TextRequest r;
  r.prompt_audio_path = p.wav;
  r.prompt_text = "transcript";
  auto a = node.Resolve(r);
  auto b = node.Resolve(r);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->get() == b->get());
  CHECK(node.recording_cache_stats().hits == 1);
  r.prompt_text = "other";
  REQUIRE(node.Resolve(r).ok());
  CHECK(node.recording_cache_stats().misses == 2);
  CHECK(node.inline_cache_stats().misses == 0);
  // The file's voice equals the same samples sent inline.
  TextRequest inline_r;
  inline_r.prompt_samples = p.samples;
  inline_r.prompt_sample_rate = p.rate;
  inline_r.prompt_text = "transcript";
  auto c = node.Resolve(inline_r);
  REQUIRE(c.ok());
  CheckSameVoice(**a, **c);
}

TEST_CASE("VoiceFrontend node: a request naming two voices is refused, not half ignored") {
  const Prompt p = FirstPrompt();
  auto owner = MakeNode(16, 16);
  auto& node = static_cast<VoiceFrontendNode&>(*owner);
  TextRequest r;
  r.text = "hello";
  r.prompt_text = "the prompt transcript";
  r.prompt_samples = p.samples;
  r.prompt_sample_rate = p.rate;
  r.prompt_audio_path = p.wav;  // samples and a file: which one was meant?
  auto both = node.Resolve(r);
  REQUIRE(!both.ok());
  CHECK(both.status().code() == StatusCode::kInvalidArgument);
  CHECK(both.status().message().find("both prompt samples and a prompt recording file") !=
        std::string::npos);
  r.prompt_samples = Tensor();
  r.voice = "someone";  // a stored voice and a recording
  auto voice_and_file = node.Resolve(r);
  REQUIRE(!voice_and_file.ok());
  CHECK(voice_and_file.status().message().find("both the voice 'someone' and a prompt recording") !=
        std::string::npos);
  r.voice = "default";  // the graph's own voice is what "no voice" means
  auto file_only = node.Resolve(r);
  CHECK_MESSAGE(file_only.ok(), file_only.status().ToString());
}

TEST_CASE("VoiceFrontend node: a voices path that is not a voice store fails at load") {
  for (const std::string& path : {test::FixturesDir() + "/tiny-seed0/llm.pt",
                                  std::filesystem::temp_directory_path().string()}) {
    CAPTURE(path);
    VoiceFrontendNodeOptions o;
    o.speech_tokenizer = o.campplus = "";  // no prompt front end: the store alone
    o.voices = path;
    auto node = VoiceFrontendNode::Create(o, NodeContext{});
    REQUIRE(!node.ok());
    CAPTURE(node.status().ToString());
    CHECK(node.status().message().find(std::filesystem::path(path).filename().string()) !=
          std::string::npos);
  }
}

TEST_CASE("VoiceFrontend node options: inline_cache range, parse and ToString") {
  VoiceFrontendNodeOptions o;
  ErrorList errors;
  o.Parse(nlohmann::json{{"inline_cache", 0}}, "nodes[0](voice).options", &errors);
  CHECK(errors.empty());
  CHECK(o.inline_cache == 0);
  CHECK(o.ToString().find("\"inline_cache\": 0") != std::string::npos);
  o.inline_cache = 2000;
  o.Validate("nodes[0](voice).options", &errors);
  REQUIRE(!errors.empty());
  CHECK(errors.ToString().find("nodes[0](voice).options.inline_cache") != std::string::npos);
}

}  // namespace
}  // namespace cosyflow
