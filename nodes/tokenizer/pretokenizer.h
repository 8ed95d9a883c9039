// Qwen2 pre-tokenizer: splits NFC text into the words BPE runs on, with the Qwen2 regex.
//
// Why PCRE2: the pattern needs Unicode property classes (\p{L}, \p{N}), a caseless group and a
// negative lookahead (\s+(?!\S)); std::regex has neither the properties nor UTF-8 awareness.
// PCRE2 (UTF + UCP, JIT when available) is the well-kept engine that has all of them, and its
// compiled code is immutable, so one instance serves every thread.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "runtime/status.h"

namespace cosyflow::tokenizer {

// The pattern as Hugging Face's Qwen2 tokenizer.json writes it (spec §2.3).
inline constexpr std::string_view kQwen2PreTokenizerPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*)"
    R"(|\s*[\r\n]+|\s+(?!\S)|\s+)";

class Qwen2PreTokenizer {
 public:
  static Result<std::unique_ptr<Qwen2PreTokenizer>> Create();
  ~Qwen2PreTokenizer();
  Qwen2PreTokenizer(const Qwen2PreTokenizer&) = delete;
  Qwen2PreTokenizer& operator=(const Qwen2PreTokenizer&) = delete;

  // Appends the words of `text` (valid UTF-8) to `words`, in order; the words tile the text
  // exactly (HF Split "Isolated": text between matches, if any, is a word too). Thread-safe.
  Status Split(std::string_view text, std::vector<std::string_view>* words) const;

 private:
  struct Impl;
  explicit Qwen2PreTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cosyflow::tokenizer
