// End-to-end synthesis through the graph (Pipeline API) on the tiny test model:
// configs/tts_tiny.json (TextNormalizer -> Qwen2Tokenizer -> SpeechLM -> Flow -> HiftVocoder)
// and token-level graphs compared with the fixture's pipeline / token2wav_stream goldens.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "graph/synthesis.h"
#include "runtime/io/npy.h"
#ifdef COSYFLOW_WITH_CUDA
#include "runtime/kernels/cuda/llm_ops.h"
#endif
#include "tests/test_util.h"

namespace cosyflow {
namespace {

constexpr int64_t kSamplesPerToken = 960;  // 2 mel frames x 480 samples

std::string ConfigPath(const std::string& name) {
  return cosyflow::test::RepoDir() + "/configs/" + name;
}

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

// tts_tiny.json with every model path resolved against the fixture dir (test::FixturesDir()).
std::unique_ptr<Pipeline> LoadTiny(nlohmann::json graph) {
  PipelineOverrides o;
  o.model_dir = test::TinySeed0Dir();
  auto p = Pipeline::FromText(graph.dump(), o);
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  REQUIRE((*p)->Start().ok());
  return std::move(*p);
}

std::vector<float> GoldenFloats(const std::string& name) {
  auto t = ReadNpy(test::TinySeed0Dir() + "/golden/" + name + ".npy");
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  const float* p = t->data<float>();
  return std::vector<float>(p, p + t->numel());
}

std::vector<int32_t> GoldenIds(const std::string& name) {
  auto t = ReadNpy(test::TinySeed0Dir() + "/golden/" + name + ".npy");
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  const int32_t* p = t->data<int32_t>();
  return std::vector<int32_t>(p, p + t->numel());
}

double SnrDb(const std::vector<float>& actual, const std::vector<float>& golden) {
  double s = 0, e = 0;
  for (size_t i = 0; i < golden.size(); ++i) {
    s += double(golden[i]) * golden[i];
    e += (double(actual[i]) - golden[i]) * (double(actual[i]) - golden[i]);
  }
  return e > 0 ? 10 * std::log10(s / e) : 999.0;
}

// Collects the Audio and SpeechTokens of one session (callback mode).
struct Collector {
  std::mutex mu;
  std::vector<float> audio;
  int rate = 0;
  int64_t tokens = 0;
  SubmitOptions Options() {
    SubmitOptions so;
    so.on_output = [this](const std::string&, const MessagePtr& m) {
      std::lock_guard<std::mutex> lock(mu);
      if (const Audio* a = m->get<Audio>()) {
        audio.insert(audio.end(), a->view().begin(), a->view().end());
        rate = a->sample_rate;
      }
      if (const SpeechTokens* t = m->get<SpeechTokens>()) tokens += t->tokens.size();
    };
    return so;
  }
  size_t samples() {
    std::lock_guard<std::mutex> lock(mu);
    return audio.size();
  }
};

TEST_CASE("E2E: tts_tiny synth gives 24 kHz audio, 960 samples per speech token") {
  nlohmann::json g = ReadJson(ConfigPath("tts_tiny.json"));
  g["outputs"].push_back({{"name", "tokens"}, {"from", "lm.tokens"}});
  auto p = LoadTiny(g);
  for (bool stream_text : {false, true}) {
    CAPTURE(stream_text);
    if (stream_text) {
      tts::GraphInfo info;
      tts::GraphOverrides o;
      o.stream_text = true;
      tts::PatchGraph(&g, o, &info);
      CHECK(info.test_model);
      p = LoadTiny(g);
    }
    Collector c;
    auto id = p->Submit(c.Options());
    REQUIRE(id.ok());
    if (stream_text) {
      for (const char* chunk : {"Hello there, ", "how are ", "you today? ", "Fine, thanks."}) {
        REQUIRE(p->PushText(*id, tts::Chunk(chunk)).ok());
      }
    } else {
      REQUIRE(p->PushText(*id, tts::Chunk("Hello there, how are you today? Fine, thanks.")).ok());
    }
    REQUIRE(p->EndText(*id).ok());
    auto r = p->Wait(*id);
    REQUIRE(r.ok());
    REQUIRE_MESSAGE(r->status.ok(), r->status.ToString());
    CHECK(c.rate == 24000);
    CHECK(c.tokens >= 2 * 10);  // min_len = 2 x text tokens (> 10 here)
    CHECK(static_cast<int64_t>(c.audio.size()) == kSamplesPerToken * c.tokens);
    CHECK(r->timing.first_output_ns > 0);
    CHECK(r->timing.node_ns.size() == 6);  // voice, normalize, tokenize, lm, flow, vocoder
  }
}

// A fresh pipeline per run: the vocoder's noise seed is seed + session id.
tts::SynthOutput SynthOnce(int64_t seed) {
  tts::GraphInfo info;
  tts::GraphOverrides o;
  o.model_dir = test::TinySeed0Dir();
  o.seed = seed;
  auto p = tts::LoadPipeline(ConfigPath("tts_tiny.json"), o, &info);
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  CHECK(info.test_model);
  REQUIRE((*p)->Start().ok());
  auto out = tts::Synthesize(**p, {"One two three four."}, false, {}, {}, tts::RequestFields(o));
  REQUIRE(out.ok());
  REQUIRE_MESSAGE(out->result.status.ok(), out->result.status.ToString());
  return std::move(*out);
}

TEST_CASE("E2E: lm_device / flow_device cuda move the SpeechLM / the Flow to the GPU, or fail "
          "the load with a clear status where there is none") {
  struct Move {
    const char* node;  // the node id in tts_tiny.json
    bool lm;
  };
  for (const Move& mv : {Move{"lm", true}, Move{"flow", false}}) {
    CAPTURE(mv.node);
    auto load = [&](const std::string& device) {
      tts::GraphInfo info;
      tts::GraphOverrides o;
      o.model_dir = test::TinySeed0Dir();
      o.greedy = true;
      o.zero_noise = true;
      (mv.lm ? o.lm_device : o.flow_device) = device;
      return tts::LoadPipeline(ConfigPath("tts_tiny.json"), o, &info);
    };
    auto gpu = load("cuda");
    bool visible = false;
#ifdef COSYFLOW_WITH_CUDA
    visible = cuda::VisibleDevices() > 0;
    if (!visible) {  // the load's error names the node, the file and the reason
      REQUIRE_FALSE(gpu.ok());
      CHECK(gpu.status().message().find(std::string("(") + mv.node + ")") != std::string::npos);
      CHECK(gpu.status().message().find("no CUDA device is visible") != std::string::npos);
    }
#else
    REQUIRE_FALSE(gpu.ok());
    CHECK(gpu.status().message().find("no CUDA backend") != std::string::npos);
#endif
    if (!visible) continue;
    // On a GPU machine: the graph serves with the node there (exactness against the goldens and
    // the CPU path: tests/cuda); the audio has the all-CPU graph's length.
    REQUIRE_MESSAGE(gpu.ok(), gpu.status().ToString());
    REQUIRE((*gpu)->Start().ok());
    auto out = tts::Synthesize(**gpu, {"One two three four."}, false);
    REQUIRE(out.ok());
    REQUIRE_MESSAGE(out->result.status.ok(), out->result.status.ToString());
    CHECK(out->sample_rate == 24000);
    CHECK(!out->audio.empty());
    CHECK(out->audio.size() % kSamplesPerToken == 0);
    auto cpu = load("cpu");
    REQUIRE(cpu.ok());
    REQUIRE((*cpu)->Start().ok());
    auto ref = tts::Synthesize(**cpu, {"One two three four."}, false);
    REQUIRE(ref.ok());
    CHECK(out->audio.size() == ref->audio.size());
  }
}

TEST_CASE("E2E: the synth helper is reproducible for a seed and varies across seeds") {
  const tts::SynthOutput a = SynthOnce(7), b = SynthOnce(7), c = SynthOnce(8);
  CHECK(a.sample_rate == 24000);
  CHECK(!a.audio.empty());
  CHECK(a.audio == b.audio);
  CHECK(a.audio != c.audio);
}

// GraphOverrides.flow_precision (`--flow-precision`) sets Flow.precision: with greedy tokens and
// zero noise the int16 flow gives the same length of audio as f32, close to it but not the same
// samples. The waveform is phase-sensitive (the vocoder's source follows the predicted f0), so
// the SNR against f32 is modest: measured 15.3-17.8 dB for int16 and 2.2-4.3 dB for bf16 under
// the scalar / avx2 / avx512 variants (the mel errors: ~3e-3 and ~2e-2, flow_parity_test.cpp).
TEST_CASE("E2E: flow_precision int16 synthesizes what f32 does within its bound") {
  auto synth = [](const std::string& precision) {
    tts::GraphInfo info;
    tts::GraphOverrides o;
    o.model_dir = test::TinySeed0Dir();
    o.greedy = true;
    o.zero_noise = true;
    o.flow_precision = precision;
    nlohmann::json g = ReadJson(ConfigPath("tts_tiny.json"));
    tts::PatchGraph(&g, o, &info);
    for (const auto& node : g["nodes"]) {
      if (node["type"] == "Flow") CHECK(node["options"]["precision"] == precision);
    }
    auto p = tts::LoadPipeline(ConfigPath("tts_tiny.json"), o, &info);
    REQUIRE_MESSAGE(p.ok(), p.status().ToString());
    REQUIRE((*p)->Start().ok());
    auto out = tts::Synthesize(**p, {"One two three four."}, false, {}, {}, tts::RequestFields(o));
    REQUIRE(out.ok());
    REQUIRE_MESSAGE(out->result.status.ok(), out->result.status.ToString());
    return std::move(out->audio);
  };
  const std::vector<float> f32 = synth("f32"), i16 = synth("int16"), bf16 = synth("bf16");
  REQUIRE(!f32.empty());
  REQUIRE(i16.size() == f32.size());
  REQUIRE(bf16.size() == f32.size());
  const double snr = SnrDb(i16, f32), snr_bf16 = SnrDb(bf16, f32);
  MESSAGE("against the f32 flow: audio SNR " << snr << " dB int16, " << snr_bf16 << " dB bf16");
  CHECK(snr >= 10);
  CHECK(snr > snr_bf16);
  CHECK(f32 != i16);
}

TEST_CASE("E2E: SpeechStream pulls the same audio as Synthesize, chunk by chunk; cancel ends it") {
  tts::GraphInfo info;
  tts::GraphOverrides o;
  o.model_dir = test::TinySeed0Dir();
  o.greedy = true;
  o.zero_noise = true;
  auto p = tts::LoadPipeline(ConfigPath("tts_tiny.json"), o, &info);
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  REQUIRE((*p)->Start().ok());
  CHECK(info.max_input_chars == 200000);  // TextNormalizer.max_chars default
  CHECK(tts::VoiceKnown(info, "").value() == true);
  CHECK(tts::VoiceKnown(info, "default").value() == true);
  CHECK(tts::VoiceKnown(info, "nobody").value() == false);
  const std::string text = "Hello there, how are you today? Fine, thanks. And you? I am well.";
  TextRequest fields;
  fields.seed = 5;
  auto whole = tts::Synthesize(**p, {text}, false, {}, {}, fields);
  REQUIRE(whole.ok());
  REQUIRE(whole->result.status.ok());

  auto s = tts::SpeechStream::Open(**p, fields, /*stream_text=*/false);
  REQUIRE(s.ok());
  REQUIRE((*s)->Push("Hello there, how are you today? ").ok());  // joined: not bi-stream
  REQUIRE((*s)->Push("Fine, thanks. And you? I am well.").ok());
  REQUIRE((*s)->End().ok());
  CHECK(!(*s)->Push("late").ok());
  std::vector<float> audio, chunk;
  int rate = 0, chunks = 0;
  while (true) {
    auto more = (*s)->Next(&chunk, &rate);
    REQUIRE(more.ok());
    if (!*more) break;
    audio.insert(audio.end(), chunk.begin(), chunk.end());
    ++chunks;
  }
  auto r = (*s)->Finish();
  REQUIRE(r.ok());
  CHECK(r->status.ok());
  CHECK(rate == 24000);
  CHECK(chunks == whole->chunks);
  CHECK(audio == whole->audio);

  auto c = tts::SpeechStream::Open(**p, fields, false);
  REQUIRE(c.ok());
  std::string longer;  // long enough that the request is still running at the cancel
  for (int i = 0; i < 8; ++i) longer += text + " ";
  REQUIRE((*c)->Push(longer).ok());
  REQUIRE((*c)->End().ok());
  REQUIRE((*c)->Next(&chunk, &rate).ok());  // the first chunk came
  // Let later chunks reach the pull queue: after the cancel none of them comes out.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  (*c)->Cancel();
  auto after_cancel = (*c)->Next(&chunk, &rate);
  REQUIRE(after_cancel.ok());
  CHECK(*after_cancel == false);
  auto cr = (*c)->Finish();
  REQUIRE(cr.ok());
  CHECK(cr->status.code() == StatusCode::kCancelled);
  // Destroying an unfinished stream cancels and waits: the pipeline stays usable.
  { auto d = tts::SpeechStream::Open(**p, fields, false); REQUIRE(d.ok()); }
  auto again = tts::Synthesize(**p, {"Hi."}, false);
  REQUIRE(again.ok());
  CHECK(again->result.status.ok());
}

TEST_CASE("E2E: Flow gets its first speech tokens while the LM is still decoding") {
  auto p = LoadTiny(ReadJson(ConfigPath("tts_tiny.json")));
  auto out = tts::Synthesize(*p, {"Hello there, how are you today?"}, false);
  REQUIRE(out.ok());
  REQUIRE_MESSAGE(out->result.status.ok(), out->result.status.ToString());
  const auto& nodes = out->result.timing.nodes;
  REQUIRE(nodes.size() == 6);
  const NodeSessionTiming& lm = nodes[3];
  const NodeSessionTiming& flow = nodes[4];
  REQUIRE(lm.node == "lm");
  REQUIRE(flow.node == "flow");
  CHECK(flow.first_input_ns >= 0);
  CHECK(flow.first_input_ns < lm.closed_ns);  // before the LM session ended
  CHECK(lm.first_output_ns < lm.closed_ns);
  MESSAGE("lm first tokens " << lm.first_output_ns / 1e6 << " ms, flow first input "
                             << flow.first_input_ns / 1e6 << " ms, lm closed "
                             << lm.closed_ns / 1e6 << " ms");
}

// Per-request seeds (TextRequest.seed through the text nodes). Zero vocoder noise, whose seed
// depends on the session id, so the audio depends on the LM's sampling only.
TEST_CASE("E2E: concurrent sessions with different seeds equal their single runs") {
  tts::GraphOverrides o;
  o.model_dir = test::TinySeed0Dir();
  o.zero_noise = true;
  const std::string text = "One two three four.";
  auto load = [&] {
    tts::GraphInfo info;
    auto p = tts::LoadPipeline(ConfigPath("tts_tiny.json"), o, &info);
    REQUIRE_MESSAGE(p.ok(), p.status().ToString());
    REQUIRE((*p)->Start().ok());
    return std::move(*p);
  };
  auto run = [&](Pipeline& p, uint64_t seed) {
    TextRequest fields;
    fields.seed = seed;
    auto out = tts::Synthesize(p, {text}, false, {}, {}, fields);  // CHECK: runs on a thread
    CHECK(out.ok());
    if (!out.ok()) return std::vector<float>();
    CHECK_MESSAGE(out->result.status.ok(), out->result.status.ToString());
    return out->audio;
  };
  std::vector<float> single11, single12;
  {
    auto p = load();
    single11 = run(*p, 11);
  }
  {
    auto p = load();
    single12 = run(*p, 12);
  }
  REQUIRE(!single11.empty());
  CHECK(single11 != single12);  // the seed reaches the LM
  auto p = load();
  std::vector<float> both11, both12;
  std::thread t([&] { both11 = run(*p, 11); });
  both12 = run(*p, 12);
  t.join();
  CHECK(both11 == single11);
  CHECK(both12 == single12);
}

TEST_CASE("E2E: text ids outside the tiny LM vocabulary fail the session by default") {
  nlohmann::json g = ReadJson(ConfigPath("tts_tiny.json"));
  for (auto& n : g["nodes"]) {
    if (n["type"] == "SpeechLM") n["options"].erase("text_id_policy");  // default "error"
  }
  auto p = LoadTiny(g);
  auto out = tts::Synthesize(*p, {"Hello there, how are you today?"}, false);
  REQUIRE(out.ok());
  CHECK(out->result.status.code() == StatusCode::kOutOfRange);
  CHECK(out->result.failed_node == "lm");
  CHECK(out->result.status.message().find("outside the LM's text vocabulary [0, 512)") !=
        std::string::npos);
  CHECK(out->audio.empty());
  // The pipeline keeps serving: the same text in the tiny vocabulary range would work, and a
  // second failing session fails the same way.
  auto again = tts::Synthesize(*p, {"Hi."}, false);
  REQUIRE(again.ok());
  CHECK(again->result.status.code() == StatusCode::kOutOfRange);
}

TEST_CASE("E2E: a built-in voice file of the wrong dtype fails loading, naming the file") {
  nlohmann::json g = ReadJson(ConfigPath("tts_tiny.json"));
  for (auto& n : g["nodes"]) {
    if (n["type"] == "SpeechLM")
      n["options"]["prompt_speech_tokens"] = "golden/input_embedding.npy";
  }
  PipelineOverrides o;
  o.model_dir = test::TinySeed0Dir();
  auto p = Pipeline::FromText(g.dump(), o);
  REQUIRE(!p.ok());
  CHECK(p.status().ToString().find("input_embedding.npy") != std::string::npos);
  CHECK(p.status().ToString().find("expected int32") != std::string::npos);
}

// tts_tiny.json loaded for bi-stream text (as `cosyflow synth --stream-text` patches it).
nlohmann::json TinyBistreamGraph() {
  nlohmann::json g = ReadJson(ConfigPath("tts_tiny.json"));
  tts::GraphInfo info;
  tts::GraphOverrides o;
  o.stream_text = true;
  tts::PatchGraph(&g, o, &info);
  return g;
}

TEST_CASE("E2E: cancel mid-request stops the session and the pipeline keeps serving") {
  nlohmann::json g = TinyBistreamGraph();
  auto p = LoadTiny(g);
  Collector c;
  auto id = p->Submit(c.Options());
  REQUIRE(id.ok());
  // Enough text for several flow chunks; the text stays open, so the request cannot finish.
  std::string text;
  for (int i = 0; i < 30; ++i) text += "the quick brown fox jumps over the lazy dog ";
  REQUIRE(p->PushText(*id, tts::Chunk(text)).ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (c.samples() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  REQUIRE(c.samples() > 0);  // mid-request: audio has started, the text has not ended
  REQUIRE(p->Cancel(*id).ok());
  auto r = p->Wait(*id);
  REQUIRE(r.ok());
  CHECK(r->status.code() == StatusCode::kCancelled);
  const size_t after = c.samples();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(c.samples() == after);
  auto next = tts::Synthesize(*p, {"Hello."}, true);
  REQUIRE(next.ok());
  CHECK(next->result.status.ok());
  CHECK(!next->audio.empty());
}

// The SpeechLM fails (its context is full) while the text pushed earlier waits in the queues
// before it and the nodes upstream of those have ended their input: the cancel the failure
// injects at the graph input reaches none of the waiting nodes, which must drain and close all
// the same. (It hung: the tokenizer waited for room in the LM's queue for good.)
TEST_CASE("E2E: an LM failure behind queued bi-stream text ends the session with its error") {
  nlohmann::json g = TinyBistreamGraph();
  bool found = false;
  for (auto& n : g["nodes"]) {
    if (n["type"] == "SpeechLM") {
      n["options"]["max_context"] = 400;
      n["options"]["greedy"] = true;
      found = true;
    }
  }
  REQUIRE(found);
  auto p = LoadTiny(g);
  auto s = tts::SpeechStream::Open(*p, TextRequest{}, /*stream_text=*/true);
  REQUIRE(s.ok());
  auto finished = std::async(std::launch::async, [&]() -> Result<SessionResult> {
    for (int i = 0; i < 40; ++i) {
      if (!(*s)->Push(std::string(1000, 'a')).ok()) break;  // failed meanwhile
    }
    (void)(*s)->End();
    return (*s)->Finish();
  });
  REQUIRE_MESSAGE(finished.wait_for(std::chrono::seconds(120)) == std::future_status::ready,
                  "the session never ended");
  auto r = finished.get();
  REQUIRE(r.ok());
  CHECK(r->failed_node == "lm");
  CHECK(r->status.message().find("context full") != std::string::npos);
  auto next = tts::Synthesize(*p, {"Hello."}, true);  // the pipeline serves on
  REQUIRE(next.ok());
  CHECK(next->result.status.ok());
}

// SpeechLM (greedy) -> Flow -> HiftVocoder (zero noise) on the fixture's text ids and voice.
nlohmann::json TokenGraph(bool stream) {
  return {{"format", 1},
          {"inputs", {{{"name", "ids"}, {"to", "lm.text"}}}},
          {"outputs", {{{"name", "audio"}, {"from", "vocoder.audio"}}}},
          {"nodes",
           {{{"id", "lm"},
             {"type", "SpeechLM"},
             {"options",
              {{"greedy", true},
               {"prompt_text_ids", "golden/input_prompt_text.npy"},
               {"prompt_speech_tokens", "golden/input_llm_prompt_speech_token.npy"}}}},
            {{"id", "flow"},
             {"type", "Flow"},
             {"options",
              {{"config", "config.json"},
               {"stream", stream},
               {"prompt_tokens", "golden/input_flow_prompt_speech_token.npy"},
               {"prompt_feat", "golden/input_prompt_speech_feat.npy"},
               {"embedding", "golden/input_embedding.npy"}}}},
            {{"id", "vocoder"},
             {"type", "HiftVocoder"},
             {"options", {{"noise", "zero"}, {"streaming", stream}}}}}},
          {"edges",
           {{{"from", "lm.tokens"}, {"to", "flow.tokens"}},
            {{"from", "flow.mel"}, {"to", "vocoder.mel"}}}}};
}

TEST_CASE("E2E: the graph reproduces pipeline_text2wav_nonstream (greedy LM, zero noise)") {
  auto p = LoadTiny(TokenGraph(/*stream=*/false));
  Collector c;
  auto id = p->Submit(c.Options());
  REQUIRE(id.ok());
  REQUIRE(p->Push(*id, "ids", TokenIds(GoldenIds("input_text"))).ok());
  REQUIRE(p->EndInput(*id).ok());
  auto r = p->Wait(*id);
  REQUIRE(r.ok());
  REQUIRE_MESSAGE(r->status.ok(), r->status.ToString());
  const std::vector<float> golden = GoldenFloats("pipeline_text2wav_nonstream");
  REQUIRE(c.audio.size() == golden.size());
  const double snr = SnrDb(c.audio, golden);
  MESSAGE("pipeline_text2wav_nonstream through the graph: SNR " << snr << " dB");
  CHECK(snr >= 40);
}

TEST_CASE("E2E: the streaming graph reproduces the token2wav_stream chunks") {
  nlohmann::json g = TokenGraph(/*stream=*/true);
  g["nodes"].erase(0);  // speech tokens straight into the flow
  g["inputs"] = {{{"name", "tokens"}, {"to", "flow.tokens"}}};
  g["edges"].erase(0);
  auto p = LoadTiny(g);
  Collector c;
  auto id = p->Submit(c.Options());
  REQUIRE(id.ok());
  for (int32_t t : GoldenIds("input_source_speech_token")) {  // one token per message, as the LM
    REQUIRE(p->Push(*id, "tokens", SpeechTokens{{t}}).ok());
  }
  REQUIRE(p->EndInput(*id).ok());
  auto r = p->Wait(*id);
  REQUIRE(r.ok());
  REQUIRE_MESSAGE(r->status.ok(), r->status.ToString());
  std::vector<float> golden;
  for (int i = 0; i < 3; ++i) {
    auto chunk = GoldenFloats("t2w_stream_chunk" + std::to_string(i));
    golden.insert(golden.end(), chunk.begin(), chunk.end());
  }
  REQUIRE(c.audio.size() == golden.size());
  const double snr = SnrDb(c.audio, golden);
  MESSAGE("t2w_stream_chunk0..2 through the graph: SNR " << snr << " dB");
  CHECK(snr >= 40);
}

// Segments are utterances (as the reference runs token2wav per segment): a session with several
// text segments gives exactly the concatenation of one session per segment, whole or streamed.
TEST_CASE("E2E: each text segment is its own utterance; the session's audio is their concatenation") {
  const std::vector<int32_t> a = GoldenIds("input_text");
  const std::vector<int32_t> b(a.rbegin(), a.rend());
  const std::vector<std::vector<int32_t>> segments = {a, b, a};
  for (bool stream : {false, true}) {
    CAPTURE(stream);
    auto p = LoadTiny(TokenGraph(stream));
    auto run = [&](const std::vector<std::vector<int32_t>>& segs) {
      Collector c;
      auto id = p->Submit(c.Options());
      REQUIRE(id.ok());
      for (const auto& ids : segs) REQUIRE(p->Push(*id, "ids", TokenIds(ids)).ok());
      REQUIRE(p->EndInput(*id).ok());
      auto r = p->Wait(*id);
      REQUIRE(r.ok());
      REQUIRE_MESSAGE(r->status.ok(), r->status.ToString());
      return c.audio;
    };
    const std::vector<float> whole = run(segments);
    std::vector<float> joined;
    for (const auto& seg : segments) {
      const std::vector<float> one = run({seg});
      REQUIRE(!one.empty());
      joined.insert(joined.end(), one.begin(), one.end());
    }
    REQUIRE(whole.size() == joined.size());
    double worst = 0;
    for (size_t i = 0; i < whole.size(); ++i) {
      worst = cosyflow::test::WorstOf(worst, std::fabs(double(whole[i]) - joined[i]));
    }
    MESSAGE("3 segments in one session vs 3 sessions: ", whole.size(), " samples, max abs diff ",
            worst);
    CHECK(worst <= 1e-6);
  }
}

}  // namespace
}  // namespace cosyflow
