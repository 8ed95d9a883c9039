// Loading errors (missing/corrupt files, bad merges) on tiny synthetic vocabularies, and the
// byte-level / UTF-8 helpers.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "nodes/tokenizer/byte_level.h"
#include "nodes/tokenizer/qwen2_tokenizer.h"
#include "nodes/tokenizer/utf8.h"

namespace cosyflow::tokenizer {
namespace {

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// vocab.json text with the 256 byte tokens (ids 0..255) followed by `extra` tokens.
std::string TinyVocab(const std::vector<std::string>& extra) {
  std::string out = "{\n";
  int id = 0;
  for (int b = 0; b < 256; ++b) {
    out += JsonString(ByteLevelEncode(std::string(1, static_cast<char>(b)))) + ": " +
           std::to_string(id++) + ",\n";
  }
  for (const std::string& t : extra) out += JsonString(t) + ": " + std::to_string(id++) + ",\n";
  out.resize(out.size() - 2);
  return out + "\n}\n";
}

Status LoadError(const std::string& vocab, const std::string& merges) {
  auto r = Qwen2Tokenizer::FromText(vocab, merges, "vocab.json", "merges.txt");
  return r.ok() ? OkStatus() : r.status();
}

bool Contains(const Status& s, std::string_view what) {
  return s.message().find(what) != std::string::npos;
}

}  // namespace

TEST_CASE("Qwen2Tokenizer: tiny vocabulary merges by rank") {
  std::string vocab = TinyVocab({"ab", "bc", "abc", "ĠĠ"});
  auto tok = Qwen2Tokenizer::FromText(vocab, "#version: 0.2\nb c\na b\nab c\nĠ Ġ\n", "v", "m");
  REQUIRE_MESSAGE(tok.ok(), tok.status().ToString());
  CHECK((*tok)->bpe().num_merges() == 4);
  // "b c" (rank 0) wins over "a b" (rank 1): a + bc, and "ab c" never applies.
  CHECK((*tok)->Encode("abc").value() == std::vector<int32_t>{'a', 257});
  CHECK((*tok)->Encode("ab").value() == std::vector<int32_t>{256});
  // Leftmost first on equal ranks: "bcbc" -> bc bc.
  CHECK((*tok)->Encode("bcbc").value() == std::vector<int32_t>{257, 257});
}

TEST_CASE("Qwen2Tokenizer: loading errors name the file and the entry or line") {
  std::string good_vocab = TinyVocab({"ab"});
  CHECK(LoadError(good_vocab, "a b\n").ok());

  Status s = LoadError(good_vocab.substr(0, good_vocab.size() / 2), "a b\n");
  CHECK(!s.ok());
  CHECK(Contains(s, "vocab.json"));
  CHECK(Contains(s, "line"));

  s = LoadError(TinyVocab({"ab", "ab"}), "a b\n");
  CHECK(Contains(s, "duplicate token"));
  CHECK(Contains(s, "entry 257"));

  std::string dup_id = good_vocab;
  dup_id.replace(dup_id.find("\"ab\": 256"), 9, "\"ab\": 255");
  s = LoadError(dup_id, "a b\n");
  CHECK(Contains(s, "duplicate id 255"));

  std::string gap = good_vocab;
  gap.replace(gap.find("\"ab\": 256"), 9, "\"ab\": 999");
  s = LoadError(gap, "a b\n");
  CHECK(Contains(s, "id 256 is missing"));

  s = LoadError(good_vocab, "a b\n\nzz y\n");  // blank lines still count as lines
  CHECK(Contains(s, "merges.txt: line 3: unknown token \"zz\""));

  s = LoadError(good_vocab, "a b\nb c\n");
  CHECK(Contains(s, "merges.txt: line 2: merge result \"bc\""));

  s = LoadError(good_vocab, "a b\na  b\n");
  CHECK(Contains(s, "merges.txt: line 2: expected two tokens"));

  s = LoadError(good_vocab, "a b\na b\n");
  CHECK(Contains(s, "duplicate merge"));

  s = LoadError(TinyVocab({"a\xE2\x82\xAC"}), "");
  CHECK(Contains(s, "not in the byte-level alphabet"));

  std::string no_space_byte = good_vocab;
  no_space_byte.replace(no_space_byte.find("\"Ġ\""), 4, "\"zz\"");
  s = LoadError(no_space_byte, "a b\n");
  CHECK(Contains(s, "byte 0x20"));

  s = LoadError("[1, 2]", "a b\n");
  CHECK(Contains(s, "expected '{'"));
}

TEST_CASE("Qwen2Tokenizer: Load reports a missing directory or file") {
  auto r = Qwen2Tokenizer::Load("/nonexistent/cosyflow-tokenizer");
  REQUIRE(!r.ok());
  CHECK(r.status().code() == StatusCode::kNotFound);
  CHECK(Contains(r.status(), "/nonexistent/cosyflow-tokenizer"));

  auto dir =
      std::filesystem::temp_directory_path() / ("cosyflow-tok-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "vocab.json") << TinyVocab({"ab"});
  r = Qwen2Tokenizer::Load(dir.string());
  REQUIRE(!r.ok());
  CHECK(Contains(r.status(), "merges.txt"));
  std::ofstream(dir / "merges.txt") << "a b\n";
  r = Qwen2Tokenizer::Load(dir.string());
  CHECK_MESSAGE(r.ok(), r.status().ToString());
  std::ofstream(dir / "vocab.json") << "{\"a\": 0,\n \"b\" 1}";
  r = Qwen2Tokenizer::Load(dir.string());
  REQUIRE(!r.ok());
  CHECK(Contains(r.status(), "vocab.json: entry 1 (line 2:"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("Qwen2Tokenizer: Load says which path is a directory or not a directory") {
  auto dir = std::filesystem::temp_directory_path() /
             ("cosyflow-tok-kind-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "vocab.json");
  std::ofstream(dir / "merges.txt") << "a b\n";
  auto r = Qwen2Tokenizer::Load(dir.string());
  REQUIRE(!r.ok());
  CHECK_MESSAGE(Contains(r.status(), (dir / "vocab.json").string() + ": is a directory"),
                r.status().ToString());

  std::filesystem::remove_all(dir / "vocab.json");
  std::filesystem::remove(dir / "merges.txt");
  std::ofstream(dir / "vocab.json") << TinyVocab({"ab"});
  std::filesystem::create_directories(dir / "merges.txt");
  r = Qwen2Tokenizer::Load(dir.string());
  REQUIRE(!r.ok());
  CHECK_MESSAGE(Contains(r.status(), (dir / "merges.txt").string() + ": is a directory"),
                r.status().ToString());

  // A regular file given as the directory.
  r = Qwen2Tokenizer::Load((dir / "vocab.json").string());
  REQUIRE(!r.ok());
  CHECK_MESSAGE(Contains(r.status(), (dir / "vocab.json").string() + ": is not a directory"),
                r.status().ToString());
  CHECK(!Contains(r.status(), "does not exist"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("Tokenizer byte level: 256 distinct printable code points, reversible") {
  std::set<char32_t> seen;
  for (int b = 0; b < 256; ++b) {
    char32_t cp = ByteToCodePoint(static_cast<uint8_t>(b));
    seen.insert(cp);
    CHECK(CodePointToByte(cp) == b);
  }
  CHECK(seen.size() == 256);
  CHECK(ByteToCodePoint(' ') == 0x120);   // 'Ġ'
  CHECK(ByteToCodePoint('\n') == 0x10A);  // 'Ċ'
  CHECK(ByteToCodePoint('A') == 'A');
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  CHECK(ByteLevelDecode(ByteLevelEncode(all)).value() == all);
  CHECK(!ByteLevelDecode("\xE4\xBD\xA0").ok());
}

TEST_CASE("Tokenizer UTF-8: NFC, validation and lossy repair") {
  std::string out;
  REQUIRE(AppendNfc("e\xCC\x81", &out).ok());  // e + COMBINING ACUTE
  CHECK(out == "\xC3\xA9");
  out.clear();
  REQUIRE(AppendNfc("\xE1\x84\x92\xE1\x85\xA1", &out).ok());  // Hangul jamo -> syllable
  CHECK(out == "\xED\x95\x98");
  out.clear();
  REQUIRE(AppendNfc(std::string("a\0b", 3), &out).ok());  // NUL survives
  CHECK(out == std::string("a\0b", 3));
  out.clear();
  REQUIRE(AppendNfc("\xE2\x84\xAB", &out).ok());  // ANGSTROM SIGN -> A WITH RING
  CHECK(out == "\xC3\x85");
  CHECK(FindInvalidUtf8("ok \xE4\xBD\xA0") == std::string_view::npos);
  CHECK(FindInvalidUtf8("ok \xE4\xBD") == 3);
  CHECK(ReplaceInvalidUtf8("a\xE4\xBD"
                           "b") ==
        "a\xEF\xBF\xBD"
        "b");  // one maximal subpart
  CHECK(ReplaceInvalidUtf8("a\xFF\xFE"
                           "b") ==
        "a\xEF\xBF\xBD\xEF\xBF\xBD"
        "b");
  CHECK(ReplaceInvalidUtf8("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

}  // namespace cosyflow::tokenizer
