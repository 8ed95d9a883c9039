// Qwen2 byte-level BPE tokenizer as CosyVoice 2 configures it (CosyVoice-BlankEN + 17 added
// special tokens); ids identical to Hugging Face tokenizers (spec §2).
//
// Encode(text):
//   1. split on the 20 special tokens, matched verbatim (leftmost, longest first) on the raw text;
//   2. NFC-normalise each remaining piece (utf8proc);
//   3. split it into words with the Qwen2 regex (PCRE2, UTF + UCP; see pretokenizer.h);
//   4. BPE each word's UTF-8 bytes by merge rank (the byte-level alphabet of vocab.json is
//      undone at load time, so encoding works on raw bytes);
//   no BOS/EOS is added.
// Libraries: PCRE2 because the pattern needs \p{L}/\p{N} classes, a caseless group and a
// lookahead; utf8proc because it is a small, well-kept, exact NFC implementation.
//
// Invalid UTF-8: Encode returns InvalidArgument naming the byte offset (the reference cannot
// receive such text: Python strings are Unicode). Callers that prefer the lossy behaviour
// apply ReplaceInvalidUtf8 (utf8.h) first. Decode replaces ill-formed byte sequences (a token
// list that cuts a character) with U+FFFD, as HF's decode does.
//
// Thread safety: an instance is immutable after Load apart from an internal word cache
// (sharded, mutex-protected, bounded); Encode/Decode may run concurrently on a shared instance.
// Long inputs cost O(n log n): no word-length cap is needed because BPE uses a heap over a
// linked list of symbols and the regex runs without per-call UTF re-validation.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "nodes/tokenizer/bpe.h"
#include "nodes/tokenizer/pretokenizer.h"
#include "runtime/status.h"

namespace cosyflow::tokenizer {

struct SpecialToken {
  std::string_view content;
  int32_t id;
};

// The three Qwen2 added tokens and CosyVoice2Tokenizer's additions, with their ids (spec §2.2).
inline constexpr std::array<SpecialToken, 20> kCosyVoice2SpecialTokens = {{
    {"<|endoftext|>", 151643},   {"<|im_start|>", 151644}, {"<|im_end|>", 151645},
    {"<|endofprompt|>", 151646}, {"[breath]", 151647},     {"<strong>", 151648},
    {"</strong>", 151649},       {"[noise]", 151650},      {"[laughter]", 151651},
    {"[cough]", 151652},         {"[clucking]", 151653},   {"[accent]", 151654},
    {"[quick_breath]", 151655},  {"<laughter>", 151656},   {"</laughter>", 151657},
    {"[hissing]", 151658},       {"[sigh]", 151659},       {"[vocalized-noise]", 151660},
    {"[lipsmack]", 151661},      {"[mn]", 151662},
}};

class Qwen2Tokenizer {
 public:
  // Reads DIR/vocab.json and DIR/merges.txt (a CosyVoice-BlankEN directory). Errors name the
  // file and the entry/line at fault.
  static Result<std::shared_ptr<const Qwen2Tokenizer>> Load(const std::string& dir);
  // Same from file contents already in memory (names are used in error messages).
  static Result<std::shared_ptr<const Qwen2Tokenizer>> FromText(std::string_view vocab_json,
                                                                std::string_view merges_txt,
                                                                std::string_view vocab_name,
                                                                std::string_view merges_name);

  // Token ids of `text`, exactly as CosyVoice2Tokenizer.encode. Empty text -> no ids.
  Result<std::vector<int32_t>> Encode(std::string_view text) const;
  // Appends instead of returning (no allocation of a result vector per call).
  Status EncodeTo(std::string_view text, std::vector<int32_t>* ids) const;

  // Text of `ids`; special tokens are written out unless skip_special_tokens (what CosyVoice's
  // batch_decode passes). An id outside [0, vocab_size()) is an OutOfRange error.
  Result<std::string> Decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;
  // Raw bytes, without the U+FFFD repair (for callers that stream partial characters).
  Result<std::string> DecodeBytes(std::span<const int32_t> ids,
                                  bool skip_special_tokens = false) const;

  // Number of ids (regular + special): 151663 for CosyVoice 2.
  int32_t vocab_size() const { return vocab_size_; }
  // The token as vocab.json spells it (byte-level alphabet), or the special token's text;
  // "<invalid id N>" outside the vocabulary. For diagnostics.
  std::string TokenPiece(int32_t id) const;
  // Id of a special token's exact text, or -1.
  int32_t SpecialTokenId(std::string_view content) const;
  const BpeModel& bpe() const { return bpe_; }

 private:
  Qwen2Tokenizer(BpeModel bpe, std::unique_ptr<Qwen2PreTokenizer> pre);
  void EncodeWord(std::string_view word, std::vector<int32_t>* ids) const;

  // Word -> ids cache; a shard is cleared when full (bounded memory, no LRU bookkeeping).
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct CacheShard {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> map;
  };
  static constexpr size_t kCacheShards = 16;
  static constexpr size_t kCacheShardCapacity = 4096;
  static constexpr size_t kCacheMaxWordBytes = 64;

  BpeModel bpe_;
  std::unique_ptr<Qwen2PreTokenizer> pre_;
  std::vector<std::string> special_by_index_;  // id - first_special_id_ -> content
  int32_t first_special_id_ = 0;
  int32_t vocab_size_ = 0;
  mutable std::array<CacheShard, kCacheShards> cache_;
};

}  // namespace cosyflow::tokenizer
