// Voices through the doors on the tiny test model (its VoiceFrontend runs the frontend-tiny ONNX
// models): POST /v1/voices adds a voice to the graph's store from an uploaded recording (the
// same voice `cosyflow voice add` makes from the file), GET lists it with its transcript, every
// door synthesizes with it exactly as the in-process facade does, DELETE removes it; and every
// refusal has its status.
#include "graph/voices.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include "nodes/tokenizer/qwen2_tokenizer.h"
#include "nodes/voice/voice_frontend.h"
#include "nodes/voice/voice_store.h"
#include "tests/serving/serving_harness.h"

namespace cosyflow::serving {
namespace {

using namespace testing;  // NOLINT
namespace fs = std::filesystem;

constexpr const char* kPromptText = "Hello, this is a short prompt for voice cloning.";

std::string FrontendDir() { return cosyflow::test::FixturesDir() + "/frontend-tiny"; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct TempDir {
  fs::path dir;
  TempDir() {
    dir = fs::temp_directory_path() / ("cosyflow_voices_test_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~TempDir() { fs::remove_all(dir); }
};

json AddBody(const std::string& id, const std::string& audio_bytes,
             const std::string& text = kPromptText) {
  return {{"id", id}, {"prompt_text", text}, {"audio", Base64(audio_bytes)}};
}

HttpResult PostVoice(int port, const json& body) {
  return Request(port, http::verb::post, "/v1/voices", body.dump());
}

json Voices(int port) {
  HttpResult r = Request(port, http::verb::get, "/v1/voices", "");
  REQUIRE(r.status == 200);
  return json::parse(r.body)["data"];
}

TEST_CASE("serving/voices: POST adds, GET lists, every door speaks with it, DELETE removes") {
  TempDir tmp;
  const std::string store = (tmp.dir / "spk2info.pt").string();
  Harness h(HarnessOptions{.voice_store = store});
  const int port = h.http_server->port();
  json listed = Voices(port);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]["id"] == "default");

  const std::string wav = ReadFile(FrontendDir() + "/en/prompt.wav");
  HttpResult added = PostVoice(port, AddBody("alice", wav));
  REQUIRE_MESSAGE(added.status == 201, added.body);
  json a = json::parse(added.body);
  CHECK(a["id"] == "alice");
  CHECK(a["kind"] == "zero_shot");
  CHECK(a["prompt_text"] == kPromptText);  // tokenised as given, decoded back
  CHECK(a["prompt_seconds"].get<double>() > 3.0);

  listed = Voices(port);
  REQUIRE(listed.size() == 2);
  CHECK(listed[1]["id"] == "alice");
  CHECK(listed[1]["prompt_text"] == kPromptText);

  // The stored voice is the one `cosyflow voice add` makes from the same file (tts::MakeVoice).
  auto frontend = voice::VoiceFrontend::Load(
      {FrontendDir() + "/speech_tokenizer_v2_tiny.onnx", FrontendDir() + "/campplus_tiny.onnx"});
  REQUIRE(frontend.ok());
  auto tok =
      tokenizer::Qwen2Tokenizer::Load(cosyflow::test::FixturesDir() + "/qwen2-tokenizer");
  REQUIRE(tok.ok());
  tts::VoiceRecording from_file;
  from_file.path = FrontendDir() + "/en/prompt.wav";
  auto cli = tts::MakeVoice(**frontend, **tok, from_file, "alice", kPromptText);
  REQUIRE_MESSAGE(cli.ok(), cli.status().ToString());
  auto stored = voice::VoiceStore(store).Get("alice");
  REQUIRE(stored.ok());
  CHECK((*stored)->speech_tokens == cli->speech_tokens);
  CHECK((*stored)->feat == cli->feat);
  CHECK((*stored)->embedding == cli->embedding);
  CHECK((*stored)->prompt_text_ids == cli->prompt_text_ids);

  // HTTP, WebSocket and Wyoming speak with it, as the facade does; it is not the default voice.
  const std::string text = "One two three four five.";
  const std::string ref = h.Reference(text, 3, "alice");
  CHECK(ref != h.Reference(text, 3));
  auto pcm =
      Post(port, {{"input", text}, {"voice", "alice"}, {"seed", 3}, {"response_format", "pcm"}});
  REQUIRE(pcm.status == 200);
  CHECK(pcm.body == ref);
  WsResult ws = RunWs(port, {{"type", "start"}, {"voice", {{"id", "alice"}}}, {"seed", 3}}, {text});
  CHECK(ws.last["type"] == "done");
  WyClient wy(h.wyoming->port());
  wy.Send("describe");
  WyEvent info = wy.Read();
  REQUIRE(info.data["tts"][0]["voices"].size() == 2);
  CHECK(info.data["tts"][0]["voices"][1]["name"] == "alice");
  wy.Send("synthesize", {{"text", text}, {"voice", {{"name", "alice"}}}});
  int chunks = 0;
  CHECK(wy.ReadAudio(&chunks).size() == ref.size());

  // Duplicate id: 409 unless overwrite.
  HttpResult dup = PostVoice(port, AddBody("alice", wav));
  CHECK(dup.status == 409);
  CHECK(ErrorOf(dup)["param"] == "id");
  json over = AddBody("alice", ReadFile(FrontendDir() + "/zh/prompt.wav"),
                      "你好，这是一段用于声音克隆的简短提示。");
  over["overwrite"] = true;
  HttpResult replaced = PostVoice(port, over);
  REQUIRE_MESSAGE(replaced.status == 201, replaced.body);
  CHECK(json::parse(replaced.body)["prompt_text"] == "你好，这是一段用于声音克隆的简短提示。");
  CHECK(Voices(port).size() == 2);

  // DELETE, then the voice is unknown everywhere.
  CHECK(Request(port, http::verb::delete_, "/v1/voices/", "").status == 400);  // no id
  HttpResult del = Request(port, http::verb::delete_, "/v1/voices/alice", "");
  CHECK(del.status == 200);
  CHECK(json::parse(del.body)["deleted"] == true);
  CHECK(Voices(port).size() == 1);
  CHECK(Post(port, {{"input", text}, {"voice", "alice"}}).status == 404);
  CHECK(RunWs(port, {{"type", "start"}, {"voice", "alice"}}, {text}).last["error"]["code"] == 404);
  wy.Send("synthesize", {{"text", text}, {"voice", {{"name", "alice"}}}});
  WyEvent err = wy.Read();
  CHECK(err.type == "error");
  CHECK(err.data["code"] == "voice-not-found");
  CHECK(Request(port, http::verb::delete_, "/v1/voices/alice", "").status == 404);
  CHECK(Request(port, http::verb::delete_, "/v1/voices/default", "").status == 409);
  CHECK(Request(port, http::verb::put, "/v1/voices/alice", "").status == 405);
  CHECK(h.WaitIdle());
}

TEST_CASE("serving/voices: bad uploads are 4xx JSON errors naming the field") {
  TempDir tmp;
  Harness h(HarnessOptions{.max_voice_body_bytes = 2 << 20,
                           .voice_store = (tmp.dir / "spk2info.pt").string()});
  const int port = h.http_server->port();
  const std::string wav = ReadFile(FrontendDir() + "/en/prompt.wav");
  // 31 s of 16 kHz silence: over the speech tokenizer's 30 s.
  const std::string long_wav = WavHeader(16000, 31 * 16000 * 2) + std::string(31 * 16000 * 2, '\0');
  // 0.05 s at 24 kHz: too short for the speaker embedding.
  const std::string short_wav = WavHeader(24000, 2400) + std::string(2400, '\x01');
  // 8 kHz: below the front end's 16 kHz.
  const std::string low_rate = WavHeader(8000, 64000) + std::string(64000, '\x02');
  json no_text = AddBody("bob", wav);
  no_text.erase("prompt_text");
  json no_audio = AddBody("bob", wav);
  no_audio.erase("audio");
  json extra = AddBody("bob", wav);
  extra["speed"] = 1;
  json bad_overwrite = AddBody("bob", wav);
  bad_overwrite["overwrite"] = "yes";
  struct Case {
    std::string body;
    int status;
    std::string param;
  };
  const std::vector<Case> cases = {
      {"{not json", 400, ""},
      {"[1, 2]", 400, ""},
      {no_text.dump(), 400, "prompt_text"},
      {AddBody("bob", wav, "   ").dump(), 400, "prompt_text"},
      {no_audio.dump(), 400, "audio"},
      {json{{"id", "bob"}, {"prompt_text", "x"}, {"audio", "@@not base64@@"}}.dump(), 400, "audio"},
      {AddBody("bob", "this is not a recording").dump(), 400, "audio"},
      {AddBody("bob", short_wav).dump(), 400, "audio"},
      {AddBody("bob", low_rate).dump(), 400, "audio"},
      {AddBody("bob", long_wav).dump(), 413, "audio"},
      {AddBody("default", wav).dump(), 400, "id"},
      {AddBody("a/b", wav).dump(), 400, "id"},
      {AddBody("", wav).dump(), 400, "id"},
      {json{{"id", 5}, {"prompt_text", "x"}, {"audio", "AAAA"}}.dump(), 400, "id"},
      {extra.dump(), 400, "speed"},
      {bad_overwrite.dump(), 400, "overwrite"},
  };
  for (const auto& c : cases) {
    HttpResult r = Request(port, http::verb::post, "/v1/voices", c.body);
    INFO(c.body.substr(0, 120), " -> ", r.body);
    CHECK(r.status == c.status);
    json e = ErrorOf(r);
    if (!c.param.empty()) CHECK(e["param"] == c.param);
  }
  // A transcript the SpeechLM cannot hold beside the prompt speech (max_context 4096 positions
  // on the tiny graph): 413 at upload, not a 400 on every request that uses the voice.
  std::string long_text;
  for (int i = 0; i < 4200; ++i) long_text += " hello";
  HttpResult too_long = PostVoice(port, AddBody("bob", wav, long_text));
  CHECK(too_long.status == 413);
  json e = ErrorOf(too_long);
  CHECK(e["param"] == "prompt_text");
  const std::string message = e["message"];
  CHECK(message.find("max_context 4096") != std::string::npos);
  // A body over --max-voice-body-bytes is 413 before it is read.
  HttpResult huge = PostVoice(port, AddBody("bob", std::string(3 << 20, 'x')));
  CHECK(huge.status == 413);
  ErrorOf(huge);
  CHECK(Voices(port).size() == 1);  // nothing was added
  // The voice route's limit holds with a query string too (it was chosen by the exact target:
  // "/v1/voices?x=1" got the 1 MiB speech limit). A 1.5 MiB body is read and its audio
  // refused; one over the voice limit is 413 naming it.
  const std::string big = AddBody("bob", std::string(3 << 18, 'x')).dump();
  REQUIRE(big.size() > (1u << 20));
  for (const std::string target : {"/v1/voices", "/v1/voices?x=1"}) {
    CAPTURE(target);
    const HttpResult r = Request(port, http::verb::post, target, big);
    CHECK(r.status == 400);
    CHECK(ErrorOf(r)["param"] == "audio");
    const HttpResult over =
        Request(port, http::verb::post, target, AddBody("bob", std::string(3 << 20, 'x')).dump());
    CHECK(over.status == 413);
    CHECK(ErrorOf(over)["message"].get<std::string>().find(std::to_string(2 << 20)) !=
          std::string::npos);
  }
  // Still serving.
  CHECK(Post(port, {{"input", "Hi."}}).status == 200);
}

TEST_CASE("serving/voices: the facade knows the store; a graph's default_voice is its default") {
  TempDir tmp;
  const std::string store = (tmp.dir / "spk2info.pt").string();
  {
    Harness h(HarnessOptions{.voice_store = store});
    REQUIRE(PostVoice(h.http_server->port(),
                      AddBody("carol", ReadFile(FrontendDir() + "/en/prompt.wav")))
                .status == 201);
    CHECK(tts::VoiceKnown(h.service->info(), "carol").value());
    CHECK(tts::VoiceKnown(h.service->info(), "default").value());
    CHECK_FALSE(tts::VoiceKnown(h.service->info(), "dave").value());
    CHECK(tts::VoiceIds(h.service->info()) == std::vector<std::string>{"default", "carol"});
    // A store that cannot be read any more is a server error (500), not an unknown voice (404).
    const std::string saved = ReadFile(store);
    std::filesystem::resize_file(store, saved.size() / 2);
    CHECK_FALSE(tts::VoiceKnown(h.service->info(), "carol").ok());
    const auto broken = Post(h.http_server->port(), {{"input", "Hi."}, {"voice", "carol"}});
    CHECK(broken.status == 500);
    CHECK(ErrorOf(broken)["message"].get<std::string>().find("cannot read the voice store") !=
          std::string::npos);
    std::ofstream(store, std::ios::binary | std::ios::trunc) << saved;
    CHECK(tts::VoiceKnown(h.service->info(), "carol").value());
  }
  // The same store as the graph's default_voice: "default" is carol, and she cannot be removed.
  std::ifstream in(ConfigPath("tts_tiny.json"));
  json graph = json::parse(in);
  for (auto& n : graph["nodes"]) {
    if (n["type"] == "VoiceFrontend") n["options"]["default_voice"] = "carol";
  }
  const std::string graph_file = (tmp.dir / "tts_tiny_carol.json").string();
  graph["model_dir"] =
      (fs::path(ConfigPath("tts_tiny.json")).parent_path() / graph["model_dir"].get<std::string>())
          .lexically_normal()
          .string();
  std::ofstream(graph_file) << graph.dump();
  tts::GraphOverrides o;
  o.greedy = true;
  o.zero_noise = true;
  o.voice_store = store;
  tts::GraphInfo info;
  auto p = tts::LoadPipeline(graph_file, o, &info);
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  REQUIRE(info.voices != nullptr);
  auto listed = info.voices->List();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].id == "default");
  CHECK((*listed)[0].default_voice == "carol");
  CHECK((*listed)[0].prompt_text == kPromptText);
  CHECK(info.voices->Remove("carol").code() == StatusCode::kInvalidArgument);
  REQUIRE((*p)->Start().ok());
  TextRequest as_default, as_carol;
  as_carol.voice = "carol";
  auto d = tts::Synthesize(**p, {"One two three."}, false, {}, {}, as_default);
  auto c = tts::Synthesize(**p, {"One two three."}, false, {}, {}, as_carol);
  REQUIRE(d.ok());
  REQUIRE(c.ok());
  CHECK(d->audio == c->audio);
}

}  // namespace
}  // namespace cosyflow::serving
