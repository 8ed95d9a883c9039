// Tests of SpeechLmNode through the NodeHarness: streaming, cancel, session isolation, bi-stream.
#include "nodes/llm/speech_lm_node.h"

#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>

#include "nodes/core/node_harness.h"
#include "nodes/llm/speech_lm_generator.h"
#include "runtime/io/npy.h"
#include "tests/nodes/llm/llm_test_util.h"

namespace cosyflow {
namespace {

using test::GoldenIds;
using test::TinyLm;

// The tiny model shared (not owned) by every node in these tests.
std::shared_ptr<const SpeechLm> SharedTinyLm() {
  return std::shared_ptr<const SpeechLm>(&TinyLm(), [](const SpeechLm*) {});
}

NodeHarness MakeHarness(const nlohmann::json& options) {
  auto o = ParseNodeOptions<SpeechLmNodeOptions>(options);
  REQUIRE_MESSAGE(o.ok(), o.status().ToString());
  return NodeHarness(SpeechLmNode::Spec(), SpeechLmNode::FromModel(*o, SharedTinyLm()));
}

TokenIds LlmRequest() {
  TokenIds t;
  t.ids = GoldenIds("input_text");
  t.prompt_ids = GoldenIds("input_prompt_text");
  t.prompt_speech = GoldenIds("input_llm_prompt_speech_token");
  return t;
}

// Concatenated tokens of every SpeechTokens output; checks each message has <= max_batch and
// that only an end-of-segment mark may come without tokens.
std::vector<int32_t> Tokens(const NodeHarness& h, uint64_t session, size_t max_batch = 1000) {
  std::vector<int32_t> all;
  for (const MessagePtr& m : h.Outputs(session)) {
    const SpeechTokens* t = m->get<SpeechTokens>();
    REQUIRE(t != nullptr);
    CHECK((!t->tokens.empty() || t->end_of_segment));
    CHECK(t->tokens.size() <= max_batch);
    all.insert(all.end(), t->tokens.begin(), t->tokens.end());
  }
  return all;
}

std::vector<int32_t> GeneratorTokens(const SpeechLmGenerateOptions& o, const SpeechLmInput& in,
                                     uint64_t seed) {
  auto g = SpeechLmGenerator::Start(TinyLm(), o, in, seed);
  REQUIRE(g.ok());
  std::vector<int32_t> tokens;
  for (;;) {
    auto s = (*g)->Step();
    REQUIRE(s.ok());
    if (s->kind == SpeechLmStep::Kind::kEnd) break;
    if (s->kind == SpeechLmStep::Kind::kToken) tokens.push_back(s->token);
  }
  return tokens;
}

// The chunks of a recorded bi-stream run, the first carrying the prompt.
std::vector<TokenIds> BistreamChunks(const std::string& run) {
  const std::vector<int32_t> text = GoldenIds(run + "_in_text_tokens");
  const std::vector<int32_t> lens = GoldenIds(run + "_in_chunk_lens");
  std::vector<TokenIds> chunks;
  size_t at = 0;
  for (int32_t len : lens) {
    REQUIRE(at + static_cast<size_t>(len) <= text.size());
    TokenIds chunk;
    chunk.ids.assign(text.begin() + at, text.begin() + at + len);
    at += static_cast<size_t>(len);
    chunks.push_back(std::move(chunk));
  }
  REQUIRE(at == text.size());
  REQUIRE(!chunks.empty());
  chunks[0].prompt_ids = GoldenIds(run + "_in_prompt_text");
  chunks[0].prompt_speech = GoldenIds(run + "_in_prompt_speech_token");
  return chunks;
}

TEST_CASE("SpeechLmNode: options parse, validate and reject unknown keys") {
  auto ok = ParseNodeOptions<SpeechLmNodeOptions>(
      {{"precision", "int8"}, {"emit_every", 3}, {"top_k", 10}, {"bistream", true}});
  REQUIRE_MESSAGE(ok.ok(), ok.status().ToString());
  CHECK(ok->generate.sampling.top_k == 10);
  CHECK(ok->ToString().find("\"emit_every\": 3") != std::string::npos);
  CHECK(!ParseNodeOptions<SpeechLmNodeOptions>({{"emit_every", 0}}).ok());
  CHECK(!ParseNodeOptions<SpeechLmNodeOptions>({{"top_p", 1.5}}).ok());
  CHECK(!ParseNodeOptions<SpeechLmNodeOptions>({{"precision", "int4"}}).ok());
  CHECK(!ParseNodeOptions<SpeechLmNodeOptions>({{"precision", "int16"}}).ok());  // flow only
  auto unknown = ParseNodeOptions<SpeechLmNodeOptions>({{"temperature", 0.7}});
  REQUIRE(!unknown.ok());
  CHECK(unknown.status().message().find("options.temperature") != std::string::npos);
}

TEST_CASE("SpeechLmNode: Create loads llm.pt from model_dir and fails naming a missing dir") {
  auto o = ParseNodeOptions<SpeechLmNodeOptions>({{"greedy", true}});
  REQUIRE(o.ok());
  NodeContext ctx;
  ctx.model_dir = test::TinySeed0Dir();
  auto node = SpeechLmNode::Create(*o, ctx);
  REQUIRE_MESSAGE(node.ok(), node.status().ToString());
  NodeHarness h(SpeechLmNode::Spec(), std::move(*node));
  REQUIRE(h.Open(1).ok());
  REQUIRE(h.Push(1, 0, LlmRequest()).ok());
  CHECK(Tokens(h, 1) == GoldenIds("llm_greedy_tokens"));
  ctx.model_dir = "/nonexistent/cosyflow-models";
  auto missing = SpeechLmNode::Create(*o, ctx);
  REQUIRE(!missing.ok());
  CHECK(missing.status().ToString().find("/nonexistent/cosyflow-models") != std::string::npos);
}

TEST_CASE("SpeechLmNode: default prompt ids outside their vocabulary fail at load") {
  const std::string dir = std::filesystem::temp_directory_path().string();
  const std::string text = dir + "/cosyflow_lm_prompt_text.npy";
  const std::string speech = dir + "/cosyflow_lm_prompt_speech.npy";
  auto write = [](const std::string& path, std::vector<int32_t> ids) {
    auto t = Tensor::FromVector<int32_t>(Dims{static_cast<int64_t>(ids.size())}, ids);
    REQUIRE(t.ok());
    REQUIRE(WriteNpy(path, *t).ok());
  };
  NodeContext ctx;
  ctx.model_dir = test::TinySeed0Dir();
  auto make = [&] {
    auto o = ParseNodeOptions<SpeechLmNodeOptions>(
        {{"prompt_text_ids", text}, {"prompt_speech_tokens", speech}});
    REQUIRE(o.ok());
    return SpeechLmNode::Create(*o, ctx);
  };
  write(text, {1, 2, 3});
  write(speech, {0, 6560});  // the last real speech token
  auto good = make();
  CHECK_MESSAGE(good.ok(), good.status().ToString());
  write(speech, {0, 6561});  // the stop id is not a prompt token
  auto bad_speech = make();
  REQUIRE(!bad_speech.ok());
  CHECK(bad_speech.status().message().find("prompt_speech_tokens " + speech +
                                           ": id 6561 at position 1 is outside [0, 6561)") !=
        std::string::npos);
  write(speech, {0});
  write(text, {-1});
  auto bad_text = make();
  REQUIRE(!bad_text.ok());
  CHECK(bad_text.status().message().find("prompt_text_ids") != std::string::npos);
  write(text, {512});  // past the tiny model's 512 text ids: an error, or wrapped with "modulo"
  CHECK(!make().ok());
  auto o = ParseNodeOptions<SpeechLmNodeOptions>(
      {{"prompt_text_ids", text}, {"prompt_speech_tokens", speech}, {"text_id_policy", "modulo"}});
  REQUIRE(o.ok());
  auto wrapped = SpeechLmNode::Create(*o, ctx);
  CHECK_MESSAGE(wrapped.ok(), wrapped.status().ToString());
  std::filesystem::remove(text);
  std::filesystem::remove(speech);
}

TEST_CASE("SpeechLmNode: streamed tokens equal the generator's, in batches of emit_every") {
  NodeHarness h = MakeHarness({{"emit_every", 4}, {"seed", 11}});
  REQUIRE(h.Open(1).ok());
  TokenIds req = LlmRequest();
  REQUIRE(h.Push(1, 0, req).ok());
  REQUIRE(h.Close(1).ok());
  SpeechLmGenerateOptions o;
  const std::vector<int32_t> expected =
      GeneratorTokens(o, SpeechLmInput{req.ids, req.prompt_ids, req.prompt_speech}, 11);
  REQUIRE(expected.size() > 4);
  CHECK(Tokens(h, 1, 4) == expected);
  // Batches of 4, the last one marked as the end of the segment (alone when the tokens filled
  // the last batch exactly).
  const auto& outs = h.Outputs(1);
  CHECK(outs.size() == expected.size() / 4 + 1);
  for (size_t i = 0; i < outs.size(); ++i) {
    CHECK(outs[i]->get<SpeechTokens>()->end_of_segment == (i + 1 == outs.size()));
  }
  // A request seed overrides the option; a second segment is generated with seed + 1.
  REQUIRE(h.Open(2).ok());
  req.seed = 5;
  REQUIRE(h.Push(2, 0, req).ok());
  REQUIRE(h.Push(2, 0, TokenIds{req.ids}).ok());
  std::vector<int32_t> two = GeneratorTokens(o, {req.ids, req.prompt_ids, req.prompt_speech}, 5);
  const std::vector<int32_t> second =
      GeneratorTokens(o, {req.ids, req.prompt_ids, req.prompt_speech}, 6);
  two.insert(two.end(), second.begin(), second.end());
  CHECK(Tokens(h, 2, 4) == two);
}

TEST_CASE("SpeechLmNode: the mode field selects the LM input layout") {
  NodeHarness h = MakeHarness({{"greedy", true}, {"emit_every", 1}});
  REQUIRE(h.Open(1).ok());
  TokenIds req = LlmRequest();
  req.mode = "cross_lingual";
  req.ids = GoldenIds("llm_modes_cross_lingual_in_text");
  REQUIRE(h.Push(1, 0, req).ok());
  CHECK(Tokens(h, 1, 1) == GoldenIds("llm_modes_cross_lingual_tokens"));
  REQUIRE(h.Open(2).ok());
  req.mode = "karaoke";
  Status bad = h.Push(2, 0, req);
  REQUIRE(!bad.ok());
  CHECK(bad.message().find("karaoke") != std::string::npos);
}

TEST_CASE("SpeechLmNode: cancel emits nothing more") {
  // Without EOS the bi-stream final phase runs final_max_tokens steps, all emitted.
  auto o = ParseNodeOptions<SpeechLmNodeOptions>(
      {{"greedy", true}, {"bistream", true}, {"final_max_tokens", 6}});
  REQUIRE(o.ok());
  auto lm = std::shared_ptr<const SpeechLm>(&test::TinyLmWithoutEos(), [](const SpeechLm*) {});
  NodeHarness h(SpeechLmNode::Spec(), SpeechLmNode::FromModel(*o, lm));
  const std::vector<TokenIds> chunks = BistreamChunks("llm_bistream");
  for (uint64_t s : {1, 2}) {
    REQUIRE(h.Open(s).ok());
    for (const TokenIds& chunk : chunks) REQUIRE(h.Push(s, 0, chunk).ok());
  }
  const size_t before = Tokens(h, 1).size();
  REQUIRE(before > 0);
  CHECK(Tokens(h, 2).size() == before);
  REQUIRE(h.Close(1, CloseReason::kCancel).ok());
  REQUIRE(h.Close(2, CloseReason::kEndOfStream).ok());
  CHECK(Tokens(h, 1).size() == before);      // no final phase after a cancel
  CHECK(Tokens(h, 2).size() == before + 6);  // the end of stream ran it
}

// Records emitted batches and raises the cancel flag after the first one.
struct CancellingEmitter : Emitter {
  std::atomic<bool>* flag = nullptr;
  std::vector<SpeechTokens> batches;
  void Emit(int, Payload p) override {
    batches.push_back(std::get<SpeechTokens>(p));
    flag->store(true);
  }
};

TEST_CASE("SpeechLmNode: a cancel raised during Process stops decoding within one step") {
  auto o = ParseNodeOptions<SpeechLmNodeOptions>({{"greedy", true}, {"emit_every", 2}});
  REQUIRE(o.ok());
  auto node = SpeechLmNode::FromModel(*o, SharedTinyLm());
  std::atomic<bool> cancelled{false};
  auto session = node->OpenSession(SessionInfo{1, &cancelled});
  REQUIRE(session.ok());
  CancellingEmitter out;
  out.flag = &cancelled;
  Message m;
  m.payload = LlmRequest();
  REQUIRE((*session)->Process(0, m, out).ok());
  REQUIRE(out.batches.size() == 1);  // the batch that raised the flag, then nothing
  CHECK(out.batches[0].tokens.size() == 2);
  REQUIRE((*session)->Close(CloseReason::kCancel, out).ok());
  CHECK(out.batches.size() == 1);
}

TEST_CASE("SpeechLmNode: one session's error leaves the others untouched") {
  NodeHarness h = MakeHarness({{"greedy", true}, {"bistream", true}});
  const std::vector<TokenIds> chunks = BistreamChunks("llm_bistream");
  REQUIRE(h.Open(1).ok());
  REQUIRE(h.Open(2).ok());
  REQUIRE(h.Open(3).ok());
  REQUIRE(h.Push(1, 0, chunks[0]).ok());
  Status bad = h.Push(2, 0, TokenIds{{chunks[0].ids[0], 1 << 30}});  // outside the text vocab
  REQUIRE(!bad.ok());
  CHECK(bad.ToString().find("1073741824") != std::string::npos);
  CHECK(!h.Push(3, 0, SpeechTokens{{1, 2}}).ok());  // wrong payload type
  for (size_t c = 1; c < chunks.size(); ++c) REQUIRE(h.Push(1, 0, chunks[c]).ok());
  REQUIRE(h.Close(1).ok());
  CHECK(h.Outputs(2).empty());
  CHECK(Tokens(h, 1) == GoldenIds("llm_bistream_tokens"));
}

TEST_CASE("SpeechLmNode: bi-stream chunks through the node reproduce the llm_bistream golden") {
  for (std::string run : {"llm_bistream", "llm_bistream_noprompt"}) {
    CAPTURE(run);
    NodeHarness h = MakeHarness({{"greedy", true}, {"bistream", true}, {"emit_every", 3}});
    REQUIRE(h.Open(7).ok());
    for (const TokenIds& chunk : BistreamChunks(run)) REQUIRE(h.Push(7, 0, chunk).ok());
    const size_t before_end = Tokens(h, 7).size();
    REQUIRE(h.Close(7).ok());
    CHECK(Tokens(h, 7, 3) == GoldenIds(run + "_tokens"));
    CHECK(before_end > 0);  // tokens streamed before the text ended
  }
}

}  // namespace
}  // namespace cosyflow
