// `cosyflow tokenize`: CosyVoice 2 text token ids for texts, stdin lines or a JSONL file, and
// `--check` to compare against the "ids" a JSONL file records (any suite of encodings.jsonl form).
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/cli/commands.h"
#include "nodes/tokenizer/qwen2_tokenizer.h"
#include "nodes/tokenizer/utf8.h"

namespace cosyflow::cli {
namespace {

struct TokenizeOptions {
  std::string tokenizer_dir;
  std::string jsonl;  // "-" = stdin
  bool check = false;
  std::vector<std::string> texts;
};

using tokenizer::Qwen2Tokenizer;

// Readable pieces for a mismatch report: id and the token's text, JSON-escaped.
std::string Pieces(const Qwen2Tokenizer& tok, const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t id : ids) {
    auto text = tok.Decode(std::vector<int32_t>{id});
    out += fmt::format("{}:{} ", id, nlohmann::json(text.ok() ? *text : tok.TokenPiece(id)).dump());
  }
  return out;
}

void PrintResult(const std::string& text, const std::vector<int32_t>& ids) {
  nlohmann::ordered_json out = {{"text", text}, {"ids", ids}};
  std::cout << out.dump() << "\n";
}

// One JSONL line: prints or checks it. Returns false on a bad line or a mismatch.
bool HandleJsonLine(const Qwen2Tokenizer& tok, const TokenizeOptions& opt, const std::string& line,
                    size_t line_no, size_t* checked, size_t* matched) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("text") || !j["text"].is_string()) {
    std::cerr << fmt::format("{}:{}: not a JSON object with a string \"text\"\n", opt.jsonl,
                             line_no);
    return false;
  }
  std::string text = j["text"];
  auto ids = tok.Encode(text);
  if (!ids.ok()) {
    std::cerr << fmt::format("{}:{}: {}\n", opt.jsonl, line_no, ids.status().ToString());
    return false;
  }
  if (!opt.check) {
    PrintResult(text, *ids);
    return true;
  }
  if (!j.contains("ids") || !j["ids"].is_array()) {
    std::cerr << fmt::format("{}:{}: --check needs an \"ids\" array\n", opt.jsonl, line_no);
    return false;
  }
  std::vector<int32_t> expected;
  for (const auto& v : j["ids"]) {
    if (!v.is_number_integer()) {
      std::cerr << fmt::format("{}:{}: \"ids\" holds a non-integer\n", opt.jsonl, line_no);
      return false;
    }
    expected.push_back(v.get<int32_t>());
  }
  ++*checked;
  if (expected == *ids) {
    ++*matched;
    return true;
  }
  std::cout << fmt::format("MISMATCH {}:{}\n  text:     {}\n  expected: {}\n  actual:   {}\n",
                           opt.jsonl, line_no, nlohmann::json(text).dump(), Pieces(tok, expected),
                           Pieces(tok, *ids));
  return false;
}

int RunTokenize(const TokenizeOptions& opt) {
  auto loaded = Qwen2Tokenizer::Load(opt.tokenizer_dir);
  if (!loaded.ok()) {
    std::cerr << "tokenize: " << loaded.status().ToString() << "\n";
    return 2;
  }
  const Qwen2Tokenizer& tok = **loaded;
  if (opt.check && opt.jsonl.empty()) {
    std::cerr << "tokenize: --check needs --jsonl FILE\n";
    return 2;
  }
  if (!opt.texts.empty()) {
    int rc = 0;
    for (const std::string& text : opt.texts) {
      auto ids = tok.Encode(text);
      if (!ids.ok()) {
        std::cerr << "tokenize: " << ids.status().ToString() << "\n";
        rc = 1;
        continue;
      }
      PrintResult(text, *ids);
    }
    return rc;
  }
  std::ifstream file;
  std::istream* in = &std::cin;
  if (!opt.jsonl.empty() && opt.jsonl != "-") {
    file.open(opt.jsonl);
    if (!file) {
      std::cerr << fmt::format("tokenize: cannot open {}\n", opt.jsonl);
      return 2;
    }
    in = &file;
  }
  size_t line_no = 0, failures = 0, checked = 0, matched = 0;
  std::string line;
  while (std::getline(*in, line)) {
    ++line_no;
    if (!opt.jsonl.empty()) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      if (!HandleJsonLine(tok, opt, line, line_no, &checked, &matched)) ++failures;
      continue;
    }
    // Plain text: one text per line, without its '\n' (a '\r' is kept: it is text).
    auto ids = tok.Encode(line);
    if (!ids.ok()) {
      std::cerr << fmt::format("stdin:{}: {}\n", line_no, ids.status().ToString());
      ++failures;
      continue;
    }
    PrintResult(line, *ids);
  }
  if (opt.check) {
    std::cout << fmt::format("tokenize --check: {}/{} lines match, {} bad lines\n", matched,
                             checked, failures - (checked - matched));
    return failures == 0 && checked > 0 ? 0 : 1;
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

void RegisterTokenize(CLI::App& app) {
  auto opt = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Print CosyVoice 2 text token ids as {\"text\":..., \"ids\":[...]} lines");
  cmd->add_option("--tokenizer-dir", opt->tokenizer_dir,
                  "Directory with vocab.json and merges.txt (CosyVoice-BlankEN)")
      ->required();
  cmd->add_option("--jsonl", opt->jsonl,
                  "Read JSON objects with a \"text\" field, one per line ('-' = stdin)");
  cmd->add_flag("--check", opt->check,
                "Compare with each line's \"ids\"; print mismatches, exit 1 on any");
  cmd->add_option("text", opt->texts, "Texts to tokenize (default: lines of stdin)");
  cmd->callback([opt] { SetExitCode(RunTokenize(*opt)); });
}

}  // namespace cosyflow::cli
