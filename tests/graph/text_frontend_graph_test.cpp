// configs/text_frontend.json through the Pipeline API: TextNormalizer -> Qwen2Tokenizer gives
// the tokenizer's ids for each segment; a failing session leaves the others intact; bi-stream
// text chunks are tokenized one by one.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "graph/pipeline.h"
#include "nodes/text_normalizer/text_normalizer.h"
#include "nodes/tokenizer/qwen2_tokenizer.h"
#include "tests/test_util.h"

namespace cosyflow {
namespace {

std::string ConfigPath() { return test::RepoDir() + "/configs/text_frontend.json"; }

std::shared_ptr<const tokenizer::Qwen2Tokenizer> Tokenizer() {
  static auto tok = [] {
    auto t = tokenizer::Qwen2Tokenizer::Load(test::FixturesDir() + "/qwen2-tokenizer");
    REQUIRE_MESSAGE(t.ok(), t.status().ToString());
    return *t;
  }();
  return tok;
}

struct Outputs {
  std::vector<std::string> segments;
  std::vector<std::vector<int32_t>> ids;
  int eos = 0;
};

// Pulls every output message of the session until all outputs ended.
Outputs Drain(Pipeline& p, SessionId id) {
  Outputs o;
  for (;;) {
    std::string name;
    auto m = p.Pull(id, &name);
    REQUIRE_MESSAGE(m.ok(), m.status().ToString());
    if (!*m) break;
    if ((*m)->header.end_of_stream()) ++o.eos;
    if (const auto* s = (*m)->get<TextSegments>()) {
      CHECK(name == "segments");
      o.segments.insert(o.segments.end(), s->segments.begin(), s->segments.end());
    }
    if (const auto* t = (*m)->get<TokenIds>()) {
      CHECK(name == "ids");
      o.ids.push_back(t->ids);
    }
  }
  return o;
}

TextRequest Text(std::string s) {
  TextRequest t;
  t.text = std::move(s);
  return t;
}

TEST_CASE("Text frontend graph: the tokenizer's ids for each normalized segment") {
  auto p = Pipeline::Load(ConfigPath());
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  REQUIRE((*p)->Start().ok());
  const std::string text =
      "今天是2024年3月5日，气温25℃。我们一共走了12.5公里，花了￥300元！收到好友从远方寄来的生日"
      "礼物，那份意外的惊喜与深深的祝福让我心中充满了甜蜜的快乐，笑容如花儿般绽放。这是第三句话，它应该落在另一个片段里面，因为前面已经超过八十个字了。";
  auto id = (*p)->Submit();
  REQUIRE(id.ok());
  REQUIRE((*p)->PushText(*id, Text(text)).ok());
  REQUIRE((*p)->EndText(*id).ok());
  Outputs o = Drain(**p, *id);
  auto r = (*p)->Wait(*id);
  REQUIRE(r.ok());
  CHECK_MESSAGE(r->status.ok(), r->status.ToString());
  CHECK(o.eos == 2);  // both graph outputs end

  auto n = text_normalizer::TextNormalizer::Create({}, Tokenizer());
  REQUIRE(n.ok());
  auto expected = (*n)->Segments(text);
  REQUIRE(expected.ok());
  REQUIRE(expected->size() >= 2);
  CHECK(o.segments == *expected);
  REQUIRE(o.ids.size() == expected->size());
  for (size_t i = 0; i < expected->size(); ++i) {
    CAPTURE((*expected)[i]);
    CHECK(o.ids[i] == *Tokenizer()->Encode((*expected)[i]));
  }
}

TEST_CASE("Text frontend graph: an oversized text fails only its own session") {
  auto p = Pipeline::Load(ConfigPath());
  REQUIRE(p.ok());
  REQUIRE((*p)->Start().ok());
  auto bad = (*p)->Submit({.on_output = [](auto&, auto&) {}});
  auto good = (*p)->Submit({.on_output = [](auto&, auto&) {}});
  REQUIRE(bad.ok());
  REQUIRE(good.ok());
  REQUIRE((*p)->PushText(*bad, Text(std::string(300000, 'a'))).ok());
  REQUIRE((*p)->EndText(*bad).ok());
  REQUIRE((*p)->PushText(*good, Text("你好，世界！")).ok());
  REQUIRE((*p)->EndText(*good).ok());
  auto rb = (*p)->Wait(*bad);
  auto rg = (*p)->Wait(*good);
  REQUIRE(rb.ok());
  REQUIRE(rg.ok());
  CHECK(!rb->status.ok());
  CHECK(rb->failed_node == "normalize");
  CHECK(rb->status.message().find("max_chars") != std::string::npos);
  CHECK_MESSAGE(rg->status.ok(), rg->status.ToString());
}

TEST_CASE("Text frontend graph: bi-stream chunks are tokenized each on its own") {
  // The same graph with the normalizer in bi-stream mode, model_dir given as an override.
  std::string json = R"({"format": 1, "model_dir": "/nonexistent",
    "inputs": [{"name": "text", "to": "normalize.text"}],
    "outputs": [{"name": "ids", "from": "tokenize.ids"}],
    "nodes": [{"id": "normalize", "type": "TextNormalizer",
               "options": {"input": "bistream", "tokenizer_dir": "qwen2-tokenizer"}},
              {"id": "tokenize", "type": "Qwen2Tokenizer",
               "options": {"tokenizer_dir": "qwen2-tokenizer"}}],
    "edges": [{"from": "normalize.segments", "to": "tokenize.segments"}]})";
  auto b = Pipeline::FromText(json, {.model_dir = test::FixturesDir()});
  REQUIRE_MESSAGE(b.ok(), b.status().ToString());
  REQUIRE((*b)->Start().ok());
  auto id = (*b)->Submit();
  REQUIRE(id.ok());
  const std::vector<std::string> chunks = {"今天是", "2024年", "，hello wor", "ld"};
  for (const auto& c : chunks) REQUIRE((*b)->PushText(*id, Text(c)).ok());
  REQUIRE((*b)->EndText(*id).ok());
  Outputs o = Drain(**b, *id);
  auto r = (*b)->Wait(*id);
  REQUIRE(r.ok());
  CHECK_MESSAGE(r->status.ok(), r->status.ToString());
  REQUIRE(o.ids.size() == chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) CHECK(o.ids[i] == *Tokenizer()->Encode(chunks[i]));
}

}  // namespace
}  // namespace cosyflow
