// Qwen2Tokenizer node through the harness: ids per segment (fixture encodings), per-chunk
// tokenization of bi-stream text, cancel, error isolation, options.
#include "nodes/tokenizer/tokenizer_node.h"

#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

#include "nodes/core/node_harness.h"
#include "tests/test_util.h"

namespace cosyflow {
namespace {

using Ids = std::vector<int32_t>;

NodeContext FixtureContext() {
  NodeContext ctx;
  ctx.id = "tok";
  ctx.model_dir = test::FixturesDir();
  return ctx;
}

NodeHarness Make() {
  auto h = NodeHarness::Make<Qwen2TokenizerNode>({{"tokenizer_dir", "qwen2-tokenizer"}},
                                                 FixtureContext());
  REQUIRE_MESSAGE(h.ok(), h.status().ToString());
  return std::move(*h);
}

TextSegments Segs(std::vector<std::string> s) {
  TextSegments t;
  t.segments = std::move(s);
  return t;
}

std::vector<Ids> IdLists(const NodeHarness& h, uint64_t session) {
  std::vector<Ids> out;
  for (const auto& m : h.Outputs(session)) {
    const TokenIds* t = m->get<TokenIds>();
    REQUIRE(t != nullptr);
    out.push_back(t->ids);
  }
  return out;
}

struct Encoding {
  std::string text;
  Ids ids;
};

std::vector<Encoding> FixtureEncodings(size_t max_lines) {
  std::ifstream in(test::FixturesDir() + "/qwen2-tokenizer/encodings.jsonl");
  REQUIRE(in.good());
  std::vector<Encoding> out;
  std::string line;
  while (out.size() < max_lines && std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    out.push_back({j.at("text").get<std::string>(), j.at("ids").get<Ids>()});
  }
  return out;
}

TEST_CASE("Qwen2Tokenizer node: one TokenIds per segment, equal to the reference encodings") {
  const std::vector<Encoding> cases = FixtureEncodings(40);
  REQUIRE(cases.size() == 40);
  NodeHarness h = Make();
  REQUIRE(h.Open(1).ok());
  // Segments arrive one per message and several per message; order is kept either way.
  REQUIRE(h.Push(1, 0, Segs({cases[0].text})).ok());
  std::vector<std::string> rest;
  for (size_t i = 1; i < cases.size(); ++i) rest.push_back(cases[i].text);
  REQUIRE(h.Push(1, 0, Segs(rest)).ok());
  REQUIRE(h.Close(1).ok());
  std::vector<Ids> got = IdLists(h, 1);
  REQUIRE(got.size() == cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(cases[i].text);
    CHECK(got[i] == cases[i].ids);
  }
}

TEST_CASE("Qwen2Tokenizer node: bi-stream chunks are tokenized each on its own") {
  auto tok = tokenizer::Qwen2Tokenizer::Load(test::FixturesDir() + "/qwen2-tokenizer");
  REQUIRE(tok.ok());
  const std::vector<std::string> chunks = {"Hel", "lo wor", "ld, 你", "好世界"};
  NodeHarness h = Make();
  REQUIRE(h.Open(1).ok());
  for (const auto& c : chunks) REQUIRE(h.Push(1, 0, Segs({c})).ok());
  REQUIRE(h.Close(1).ok());
  std::vector<Ids> got = IdLists(h, 1);
  REQUIRE(got.size() == chunks.size());
  Ids streamed;
  for (size_t i = 0; i < chunks.size(); ++i) {
    CHECK(got[i] == *(*tok)->Encode(chunks[i]));
    streamed.insert(streamed.end(), got[i].begin(), got[i].end());
  }
  // The reference never merges across chunk boundaries, so this differs from one-shot text.
  CHECK(streamed != *(*tok)->Encode("Hello world, 你好世界"));
}

TEST_CASE("Qwen2Tokenizer node: special tokens, empty segments and end of stream") {
  NodeHarness h = Make();
  REQUIRE(h.Open(1).ok());
  REQUIRE(h.Push(1, 0, Segs({"<|endofprompt|>", "", "[breath]"})).ok());
  size_t before = h.Outputs(1).size();
  REQUIRE(h.Close(1).ok());
  CHECK(h.Outputs(1).size() == before);  // nothing held back, nothing flushed
  CHECK(IdLists(h, 1) == std::vector<Ids>{{151646}, {}, {151647}});
}

TEST_CASE("Qwen2Tokenizer node: cancel emits nothing") {
  NodeHarness h = Make();
  REQUIRE(h.Open(1).ok());
  REQUIRE(h.Close(1, CloseReason::kCancel).ok());
  CHECK(h.Outputs(1).empty());
}

TEST_CASE("Qwen2Tokenizer node: invalid UTF-8 fails only its session, emitting nothing") {
  NodeHarness h = Make();
  REQUIRE(h.Open(1).ok());
  REQUIRE(h.Open(2).ok());
  Status s = h.Push(1, 0, Segs({"fine", std::string("bad\xC3")}));
  REQUIRE(!s.ok());
  CHECK(s.message().find("segment 1") != std::string::npos);
  CHECK(h.Outputs(1).empty());
  REQUIRE(h.Close(1, CloseReason::kError).ok());
  REQUIRE(h.Push(2, 0, Segs({"你好，世界！"})).ok());
  REQUIRE(h.Close(2).ok());
  CHECK(IdLists(h, 2) == std::vector<Ids>{{56568, 52801, 3837, 99244, 97120, 6313}});
}

TEST_CASE("Qwen2Tokenizer node: options parse, validate, print; a bad dir fails Create") {
  using O = Qwen2TokenizerNodeOptions;
  auto d = ParseNodeOptions<O>(nlohmann::json::object());
  REQUIRE(d.ok());
  CHECK(d->tokenizer_dir == "CosyVoice-BlankEN");
  CHECK(d->ToString() == "{\"tokenizer_dir\": \"CosyVoice-BlankEN\"}");
  auto unknown = ParseNodeOptions<O>({{"tokenizer", "x"}});
  REQUIRE(!unknown.ok());
  CHECK(unknown.status().message().find("options.tokenizer") != std::string::npos);
  auto empty = ParseNodeOptions<O>({{"tokenizer_dir", ""}});
  REQUIRE(!empty.ok());
  CHECK(empty.status().message().find("options.tokenizer_dir: must not be empty") !=
        std::string::npos);
  auto wrong_type = ParseNodeOptions<O>({{"tokenizer_dir", 3}});
  REQUIRE(!wrong_type.ok());
  CHECK(wrong_type.status().message().find("expected string") != std::string::npos);
  auto missing = NodeHarness::Make<Qwen2TokenizerNode>({{"tokenizer_dir", "nope"}},
                                                       FixtureContext());
  REQUIRE(!missing.ok());
  CHECK(missing.status().message().find("tokenizer_dir 'nope'") != std::string::npos);
}

}  // namespace
}  // namespace cosyflow
