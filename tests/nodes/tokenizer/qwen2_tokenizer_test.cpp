// Qwen2Tokenizer against the Hugging Face reference ids (encodings.jsonl), plus special tokens,
// decode, long inputs and concurrency. COSYFLOW_TOKENIZER_JSONL=FILE checks another suite.
#include "nodes/tokenizer/qwen2_tokenizer.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "nodes/tokenizer/utf8.h"
#include "tests/test_util.h"

namespace cosyflow::tokenizer {
namespace {

std::string TokenizerDir() { return test::FixturesDir() + "/qwen2-tokenizer"; }

std::shared_ptr<const Qwen2Tokenizer> SharedTokenizer() {
  static std::shared_ptr<const Qwen2Tokenizer> tok = [] {
    auto loaded = Qwen2Tokenizer::Load(TokenizerDir());
    REQUIRE_MESSAGE(loaded.ok(), loaded.status().ToString());
    return *loaded;
  }();
  return tok;
}

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<Case> ReadCases(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  std::vector<Case> cases;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    REQUIRE_MESSAGE(!j.is_discarded(), path << ":" << line_no << ": bad JSON");
    cases.push_back({j.at("text").get<std::string>(), j.at("ids").get<std::vector<int32_t>>()});
  }
  return cases;
}

std::string CasesPath() {
  if (const char* env = std::getenv("COSYFLOW_TOKENIZER_JSONL")) return env;
  return TokenizerDir() + "/encodings.jsonl";
}

std::string Pieces(const Qwen2Tokenizer& tok, const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t id : ids) {
    auto text = tok.Decode(std::vector<int32_t>{id});  // lossy for a partial character
    out += fmt::format("{}:{} ", id, nlohmann::json(text.ok() ? *text : tok.TokenPiece(id)).dump());
  }
  return out;
}

std::string Nfc(std::string_view s) {
  std::string out;
  REQUIRE(AppendNfc(s, &out).ok());
  return out;
}

}  // namespace

TEST_CASE("Qwen2Tokenizer: ids identical to the reference on every JSONL line") {
  auto tok = SharedTokenizer();
  std::vector<Case> cases = ReadCases(CasesPath());
  REQUIRE(!cases.empty());
  int mismatches = 0;
  for (const Case& c : cases) {
    auto ids = tok->Encode(c.text);
    REQUIRE_MESSAGE(ids.ok(), ids.status().ToString());
    if (*ids != c.ids) {
      ++mismatches;
      MESSAGE("text:     " << nlohmann::json(c.text).dump() << "\nexpected: " << Pieces(*tok, c.ids)
                           << "\nactual:   " << Pieces(*tok, *ids));
    }
  }
  MESSAGE((cases.size() - mismatches) << "/" << cases.size() << " lines match " << CasesPath());
  CHECK(mismatches == 0);
}

TEST_CASE("Qwen2Tokenizer: decode(encode(x)) == NFC(x) on every JSONL line") {
  auto tok = SharedTokenizer();
  for (const Case& c : ReadCases(CasesPath())) {
    auto ids = tok->Encode(c.text);
    REQUIRE(ids.ok());
    auto text = tok->Decode(*ids);
    REQUIRE(text.ok());
    CHECK_MESSAGE(*text == Nfc(c.text), nlohmann::json(c.text).dump());
  }
}

TEST_CASE("Qwen2Tokenizer: hard-coded special tokens equal special_tokens.json") {
  std::ifstream in(TokenizerDir() + "/special_tokens.json");
  REQUIRE(in.good());
  nlohmann::json j = nlohmann::json::parse(in);
  const auto& list = j.at("special_tokens");
  REQUIRE(list.size() == kCosyVoice2SpecialTokens.size());
  auto tok = SharedTokenizer();
  for (size_t i = 0; i < list.size(); ++i) {
    std::string content = list[i].at("content");
    int32_t id = list[i].at("id");
    CHECK(kCosyVoice2SpecialTokens[i].content == content);
    CHECK(kCosyVoice2SpecialTokens[i].id == id);
    CHECK(tok->SpecialTokenId(content) == id);
    auto ids = tok->Encode(content);
    REQUIRE(ids.ok());
    CHECK(*ids == std::vector<int32_t>{id});
    CHECK(tok->TokenPiece(id) == content);
  }
  CHECK(tok->vocab_size() == 151663);
}

TEST_CASE("Qwen2Tokenizer: special tokens split raw text, exact spelling only") {
  auto tok = SharedTokenizer();
  auto enc = [&](std::string_view s) { return tok->Encode(s).value(); };
  std::vector<int32_t> hello = enc("hello");
  std::vector<int32_t> expect = hello;
  expect.push_back(151646);
  expect.insert(expect.end(), hello.begin(), hello.end());
  CHECK(enc("hello<|endofprompt|>hello") == expect);
  CHECK(enc("[breath][breath]") == std::vector<int32_t>{151647, 151647});
  CHECK(enc("<laughter>x</laughter>") == std::vector<int32_t>{151656, enc("x")[0], 151657});
  // Near misses are ordinary text.
  for (std::string_view s : {"[Laughter]", "<|ENDOFPROMPT|>", "[breath", "<strong >", "[j]"}) {
    for (int32_t id : enc(s)) CHECK_MESSAGE(id < 151643, s);
  }
  // A combining mark right after a special token is not composed into it.
  CHECK(enc("[mn]\xCC\x81").front() == 151662);
}

TEST_CASE("Qwen2Tokenizer: decode handles specials, partial characters and bad ids") {
  auto tok = SharedTokenizer();
  std::vector<int32_t> ids = tok->Encode("你<|im_end|>好").value();
  CHECK(tok->Decode(ids).value() == "你<|im_end|>好");
  CHECK(tok->Decode(ids, /*skip_special_tokens=*/true).value() == "你好");
  // "你" is one token of 3 bytes; its byte tokens alone decode to raw bytes / U+FFFD.
  std::vector<int32_t> bytes;
  for (unsigned char b : std::string("\xE4\xBD\xA0")) {
    bytes.push_back(tok->bpe().TokenId(std::string(1, static_cast<char>(b))));
  }
  std::span<const int32_t> first_two(bytes.data(), 2);
  CHECK(tok->DecodeBytes(first_two).value() == "\xE4\xBD");
  CHECK(tok->Decode(first_two).value() == "\xEF\xBF\xBD");
  CHECK(tok->Decode(bytes).value() == "你");
  std::vector<int32_t> bad = {1, 151663};
  auto r = tok->Decode(bad);
  REQUIRE(!r.ok());
  CHECK(r.status().code() == StatusCode::kOutOfRange);
  CHECK(r.status().message().find("151663") != std::string::npos);
  CHECK(!tok->Decode(std::vector<int32_t>{-1}).ok());
}

TEST_CASE("Qwen2Tokenizer: invalid UTF-8 is an error naming the byte; empty gives no ids") {
  auto tok = SharedTokenizer();
  auto r = tok->Encode(
      "ab\xFF"
      "cd");
  REQUIRE(!r.ok());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(r.status().message().find("byte 2") != std::string::npos);
  CHECK(!tok->Encode("\xED\xA0\x80").ok());  // surrogate
  CHECK(!tok->Encode("\xC0\xAF").ok());      // overlong
  CHECK(!tok->Encode("\xE4\xBD").ok());      // truncated
  // The documented lossy route.
  auto repaired =
      tok->Encode(ReplaceInvalidUtf8("ab\xFF"
                                     "cd"));
  REQUIRE(repaired.ok());
  CHECK(tok->Decode(*repaired).value() ==
        "ab\xEF\xBF\xBD"
        "cd");
  CHECK(tok->Encode("").value().empty());
  // Control characters and NUL are ordinary bytes.
  auto ctrl = tok->Encode(std::string("a\0b\x01\x7F", 5));
  REQUIRE(ctrl.ok());
  CHECK(tok->Decode(*ctrl).value() == std::string("a\0b\x01\x7F", 5));
}

TEST_CASE("Qwen2Tokenizer: 1 MB inputs finish with a sane token count") {
  auto tok = SharedTokenizer();
  const size_t kBytes = 1 << 20;
  std::string cjk;
  while (cjk.size() + 3 <= kBytes) cjk += "你";  // one regex word of 349k characters
  std::string mixed;
  while (mixed.size() < kBytes) mixed += "Hello, world! 你好，世界。It's 2024; 12.5% off. ";
  std::string spaces(kBytes, ' ');
  spaces += "x";
  std::string newline_then_spaces = "\n" + spaces;
  std::string space_newlines;
  while (space_newlines.size() < kBytes) space_newlines += " \r\n\t";
  std::string apostrophes(kBytes, '\'');
  std::string digits;
  while (digits.size() < kBytes) digits += "0123456789";
  for (const std::string& text : {std::string(kBytes, 'a'), cjk, mixed, spaces, newline_then_spaces,
                                  space_newlines, apostrophes, digits}) {
    auto ids = tok->Encode(text);
    REQUIRE(ids.ok());
    CHECK(ids->size() > 0);
    CHECK(ids->size() <= text.size());
    CHECK(tok->Decode(*ids).value() == text);
  }
  CHECK(tok->Encode(cjk).value().size() == cjk.size() / 3);  // no 你你 merge in the trimmed list
}

TEST_CASE("Qwen2Tokenizer: concurrent Encode on one shared instance gives the same ids") {
  auto tok = SharedTokenizer();
  std::vector<Case> cases = ReadCases(TokenizerDir() + "/encodings.jsonl");
  std::vector<int> failures(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (size_t i = t; i < cases.size() + t; ++i) {
          const Case& c = cases[i % cases.size()];
          auto ids = tok->Encode(c.text);
          if (!ids.ok() || *ids != c.ids) ++failures[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) CHECK(f == 0);
}

}  // namespace cosyflow::tokenizer
