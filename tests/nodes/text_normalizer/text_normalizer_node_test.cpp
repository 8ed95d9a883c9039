// TextNormalizer node through the harness: whole texts, bi-stream chunks, flush, cancel, errors.
#include "nodes/text_normalizer/text_normalizer_node.h"

#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <vector>

#include "nodes/core/node_harness.h"
#include "nodes/tokenizer/utf8.h"
#include "tests/test_util.h"

namespace cosyflow {
namespace {

using Strings = std::vector<std::string>;

NodeContext FixtureContext() {
  NodeContext ctx;
  ctx.id = "tn";
  ctx.model_dir = test::FixturesDir();
  return ctx;
}

NodeHarness Make(nlohmann::json options = nlohmann::json::object()) {
  if (!options.contains("tokenizer_dir")) options["tokenizer_dir"] = "qwen2-tokenizer";
  auto h = NodeHarness::Make<TextNormalizerNode>(options, FixtureContext());
  REQUIRE_MESSAGE(h.ok(), h.status().ToString());
  return std::move(*h);
}

TextRequest Text(std::string s) {
  TextRequest t;
  t.text = std::move(s);
  return t;
}

// Every segment the session emitted, one per message (fails if a message holds != 1).
Strings Segments(const NodeHarness& h, uint64_t session) {
  Strings out;
  for (const auto& m : h.Outputs(session)) {
    const TextSegments* s = m->get<TextSegments>();
    REQUIRE(s != nullptr);
    REQUIRE(s->segments.size() == 1);
    out.push_back(s->segments[0]);
  }
  return out;
}

Strings RunWhole(NodeHarness& h, uint64_t session, const std::string& text) {
  REQUIRE(h.Open(session).ok());
  Status s = h.Push(session, 0, Text(text));
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  REQUIRE(h.Close(session).ok());
  return Segments(h, session);
}

// The same text's segments from the pure class (the node must add nothing of its own).
Strings Reference(const std::string& text) {
  auto tok = tokenizer::Qwen2Tokenizer::Load(test::FixturesDir() + "/qwen2-tokenizer");
  REQUIRE(tok.ok());
  auto n = text_normalizer::TextNormalizer::Create({}, *tok);
  REQUIRE(n.ok());
  auto segs = (*n)->Segments(text);
  REQUIRE(segs.ok());
  return *segs;
}

const char* kLongZh =
    "收到好友从远方寄来的生日礼物，那份意外的惊喜与深深的祝福让我心中充满了甜蜜的快乐，笑容如花儿般"
    "绽放。今天是2024年3月5日，气温25℃。我们一共走了12.5公里，花了￥300元！希望明天的天气也一样"
    "好，大家都能开开心心地出门游玩。这是第三句话，它应该落在另一个片段里面，因为前面已经超过八十个字了。";

TEST_CASE("TextNormalizer node: whole text emits one message per segment, in order") {
  NodeHarness h = Make();
  Strings got = RunWhole(h, 1, kLongZh);
  CHECK(got.size() >= 2);
  CHECK(got == Reference(kLongZh));
  CHECK(got[0].find("二零二四年三月五日") != std::string::npos);
  // English lengths come from the tokenizer; numbers are spelled out.
  Strings en = RunWhole(h, 2, "I have 3 apples. You have 21.");
  CHECK(en == Reference("I have 3 apples. You have 21."));
  CHECK(en.size() == 1);
  CHECK(en[0].find("three apples") != std::string::npos);
}

TEST_CASE("TextNormalizer node: split, text_frontend and lang options") {
  NodeHarness unsplit = Make({{"split", false}});
  CHECK(RunWhole(unsplit, 1, kLongZh).size() == 1);
  NodeHarness verbatim = Make({{"text_frontend", false}});
  CHECK(RunWhole(verbatim, 1, "  共465篇 ") == Strings{"  共465篇 "});
  NodeHarness zh = Make({{"lang", "zh"}});
  CHECK(RunWhole(zh, 1, "共465篇") == Strings{"共四百六十五篇"});
  NodeHarness ja = Make({{"lang", "ja"}, {"ja", true}});
  CHECK(RunWhole(ja, 1, "りんごが3こ") == Strings{"りんごが三こ"});
  NodeHarness kana = Make({{"ja", true}});
  CHECK(RunWhole(kana, 1, "りんごが3こあります") == Strings{"りんごが三こあります。"});
  NodeHarness no_tn = Make({{"tn", false}});
  CHECK(RunWhole(no_tn, 1, "共465篇") == Strings{"共465篇。"});
}

TEST_CASE("TextNormalizer node: empty, whitespace and punctuation-only texts emit nothing") {
  NodeHarness h = Make();
  CHECK(RunWhole(h, 1, "").empty());
  CHECK(RunWhole(h, 2, " \n\t ").empty());
  CHECK(RunWhole(h, 3, "。！？").empty());
  // Control characters and invalid UTF-8 are defined results, not crashes.
  Strings bad = RunWhole(h, 4, std::string("你好\xff\x01世界"));
  REQUIRE(bad.size() == 1);
  CHECK(bad[0].find("\xEF\xBF\xBD") != std::string::npos);  // U+FFFD
  CHECK(tokenizer::FindInvalidUtf8(bad[0]) == std::string_view::npos);
}

TEST_CASE("TextNormalizer node: bi-stream chunks pass through verbatim, one segment each") {
  NodeHarness h = Make({{"input", "bistream"}});
  REQUIRE(h.Open(1).ok());
  const Strings chunks = {"  今天是", "2024年", "", " hello 3 ", "。"};
  for (const auto& c : chunks) REQUIRE(h.Push(1, 0, Text(c)).ok());
  REQUIRE(h.Close(1).ok());
  // No TN, no strip, no split: exactly the non-empty chunks.
  CHECK(Segments(h, 1) == Strings{"  今天是", "2024年", " hello 3 ", "。"});
}

TEST_CASE("TextNormalizer node: bi-stream never splits a UTF-8 sequence") {
  const std::string text = "你好，world！🎉 ok";
  // One-shot: the whole text as a single chunk.
  NodeHarness h = Make({{"input", "bistream"}});
  REQUIRE(h.Open(1).ok());
  REQUIRE(h.Push(1, 0, Text(text)).ok());
  REQUIRE(h.Close(1).ok());
  CHECK(Segments(h, 1) == Strings{text});
  // Streamed: every byte boundary, in 1- and 2-byte chunks.
  for (size_t step : {1, 2}) {
    CAPTURE(step);
    uint64_t session = 10 + step;
    REQUIRE(h.Open(session).ok());
    for (size_t pos = 0; pos < text.size(); pos += step) {
      REQUIRE(h.Push(session, 0, Text(text.substr(pos, step))).ok());
    }
    REQUIRE(h.Close(session).ok());
    std::string joined;
    for (const auto& s : Segments(h, session)) {
      CHECK(tokenizer::FindInvalidUtf8(s) == std::string_view::npos);
      joined += s;
    }
    CHECK(joined == text);
  }
}

TEST_CASE("TextNormalizer node: end of stream flushes a truncated sequence, cancel drops it") {
  NodeHarness h = Make({{"input", "bistream"}});
  REQUIRE(h.Open(1).ok());
  REQUIRE(h.Push(1, 0, Text("ab\xE4\xBD")).ok());  // "ab" + 2 of the 3 bytes of 你
  CHECK(Segments(h, 1) == Strings{"ab"});
  REQUIRE(h.Close(1).ok());
  CHECK(Segments(h, 1) == Strings{"ab", "\xEF\xBF\xBD"});

  REQUIRE(h.Open(2).ok());
  REQUIRE(h.Push(2, 0, Text("ab\xE4\xBD")).ok());
  REQUIRE(h.Close(2, CloseReason::kCancel).ok());
  CHECK(Segments(h, 2) == Strings{"ab"});  // nothing after the cancel
}

TEST_CASE("TextNormalizer node: cancel emits nothing") {
  NodeHarness h = Make();
  REQUIRE(h.Open(1).ok());
  REQUIRE(h.Close(1, CloseReason::kCancel).ok());
  CHECK(h.Outputs(1).empty());
  REQUIRE(h.Open(2).ok());
  REQUIRE(h.Close(2, CloseReason::kError).ok());
  CHECK(h.Outputs(2).empty());
}

TEST_CASE("TextNormalizer node: a cancelled session stops normalizing, others go on") {
  NodeHarness h = Make();
  std::atomic<bool> cancelled{true};
  std::atomic<bool> running{false};
  REQUIRE(h.Open(1, &cancelled).ok());
  REQUIRE(h.Open(2, &running).ok());
  Status s = h.Push(1, 0, Text("今天是2024年3月5日。"));
  CHECK(s.code() == StatusCode::kCancelled);
  CHECK(h.Outputs(1).empty());
  REQUIRE(h.Push(2, 0, Text("今天是2024年3月5日。")).ok());
  CHECK(Segments(h, 2) == Strings{"今天是二零二四年三月五日。"});
}

TEST_CASE("TextNormalizer node: oversized text fails only its session") {
  NodeHarness h = Make({{"max_chars", 10}});
  REQUIRE(h.Open(1).ok());
  REQUIRE(h.Open(2).ok());
  Status s = h.Push(1, 0, Text("一二三四五六七八九十十一"));
  CHECK(!s.ok());
  CHECK(s.message().find("12 characters, more than max_chars (10)") != std::string::npos);
  CHECK(h.Outputs(1).empty());
  REQUIRE(h.Close(1, CloseReason::kError).ok());
  REQUIRE(h.Push(2, 0, Text("你好。")).ok());  // exactly the limit is fine too
  REQUIRE(h.Push(2, 0, Text("一二三四五六七八九十")).ok());
  REQUIRE(h.Close(2).ok());
  CHECK(Segments(h, 2) == Strings{"你好。", "一二三四五六七八九十。"});

  // Bi-stream: the limit is on the session's total.
  NodeHarness b = Make({{"input", "bistream"}, {"max_chars", 10}});
  REQUIRE(b.Open(1).ok());
  REQUIRE(b.Push(1, 0, Text("一二三四五")).ok());
  Status t = b.Push(1, 0, Text("六七八九十十一"));
  CHECK(t.message().find("reached 12 characters") != std::string::npos);

  // 1 MB of text with the default limit: a clear error, no crash.
  NodeHarness big = Make();
  REQUIRE(big.Open(1).ok());
  Status m = big.Push(1, 0, Text(std::string(1 << 20, 'a')));
  CHECK(m.message().find("more than max_chars (200000)") != std::string::npos);
}

TEST_CASE("TextNormalizer node: English text without a tokenizer fails only its session") {
  NodeHarness h = Make({{"tokenizer_dir", ""}});
  REQUIRE(h.Open(1).ok());
  REQUIRE(h.Open(2).ok());
  CHECK(!h.Push(1, 0, Text("Hello world.")).ok());
  CHECK(h.Outputs(1).empty());
  REQUIRE(h.Push(2, 0, Text("你好世界")).ok());
  REQUIRE(h.Close(2).ok());
  CHECK(Segments(h, 2) == Strings{"你好世界。"});
}

TEST_CASE("TextNormalizer node: options parse, validate and print") {
  using O = TextNormalizerNodeOptions;
  auto ok = ParseNodeOptions<O>({{"input", "bistream"},
                                 {"remove_erhua", true},
                                 {"ja", true},
                                 {"fst_dir", "my-fsts"},
                                 {"token_min_n", 40}});
  REQUIRE_MESSAGE(ok.ok(), ok.status().ToString());
  CHECK(ok->input == "bistream");
  CHECK(ok->normalizer.remove_erhua);
  CHECK(ok->normalizer.ja);
  CHECK(ok->normalizer.fst_dir == "my-fsts");
  CHECK(ok->normalizer.token_min_n == 40);
  CHECK(ok->ToString().find("\"input\": \"bistream\"") != std::string::npos);
  CHECK(ok->ToString().find("\"remove_erhua\": true") != std::string::npos);
  CHECK(ok->ToString().find("\"fst_dir\": \"my-fsts\"") != std::string::npos);

  auto check_error = [](const nlohmann::json& j, const char* fragment) {
    auto r = ParseNodeOptions<O>(j);
    CAPTURE(j.dump());
    REQUIRE(!r.ok());
    CHECK_MESSAGE(r.status().message().find(fragment) != std::string::npos,
                  r.status().ToString());
  };
  check_error({{"spilt", true}}, "options.spilt");
  check_error({{"input", "chunks"}}, "options.input");
  check_error({{"lang", "fr"}}, "options.lang");
  check_error({{"remove_erhau", true}}, "options.remove_erhau");
  check_error({{"remove_erhua", "yes"}}, "options.remove_erhua");
  check_error({{"fst_dir", 3}}, "options.fst_dir");
  check_error({{"lang", "ja"}}, "options.lang");
  check_error({{"token_min_n", 90}}, "options.token_max_n: must be >= token_min_n (90)");
  check_error({{"merge_len", -1}}, "options.merge_len");
  check_error({{"max_chars", 0}}, "options.max_chars");
}

TEST_CASE("TextNormalizer node: a missing fst_dir or FST file fails Create, naming it") {
  auto h = NodeHarness::Make<TextNormalizerNode>(
      {{"tokenizer_dir", "qwen2-tokenizer"}, {"fst_dir", "no-such-fsts"}}, FixtureContext());
  REQUIRE(!h.ok());
  CHECK_MESSAGE(h.status().message().find("no-such-fsts") != std::string::npos,
                h.status().ToString());
  // A directory without the FSTs: the first file looked for is named.
  auto empty = NodeHarness::Make<TextNormalizerNode>(
      {{"tokenizer_dir", "qwen2-tokenizer"}, {"fst_dir", "qwen2-tokenizer"}}, FixtureContext());
  REQUIRE(!empty.ok());
  CHECK_MESSAGE(empty.status().message().find("zh/tn/tagger.fst") != std::string::npos,
                empty.status().ToString());
}

TEST_CASE("TextNormalizer node: a missing tokenizer_dir fails Create, naming it") {
  auto h = NodeHarness::Make<TextNormalizerNode>({{"tokenizer_dir", "no-such-dir"}},
                                                 FixtureContext());
  REQUIRE(!h.ok());
  CHECK(h.status().message().find("tokenizer_dir 'no-such-dir'") != std::string::npos);
}

}  // namespace
}  // namespace cosyflow
