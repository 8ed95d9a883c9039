// Byte-level BPE model: vocab.json + merges.txt, merging by rank on raw bytes.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/status.h"

namespace cosyflow::tokenizer {

class BpeModel {
 public:
  // Parses a vocab.json text ({"token": id, ...}; tokens in byte-level spelling) and a
  // merges.txt text ("A B" per line, rank = 0-based line index after an optional "#version"
  // header). `vocab_name`/`merges_name` name the files in errors, which also give the entry or
  // line. Ids must be dense 0..N-1 and unique; every merge must join two vocab tokens into a
  // vocab token; every single byte must be a token.
  static Result<BpeModel> Parse(std::string_view vocab_json, std::string_view vocab_name,
                                std::string_view merges_txt, std::string_view merges_name);

  // Appends the ids of one pre-tokenized word (raw bytes, non-empty). Merges the adjacent pair
  // with the lowest rank first (leftmost on ties), as Hugging Face tokenizers does; O(n log n)
  // in the word length with a heap over a linked list of symbols.
  void Encode(std::string_view word, std::vector<int32_t>* ids) const;

  int32_t vocab_size() const { return static_cast<int32_t>(id_to_bytes_.size()); }
  size_t num_merges() const { return merges_.size(); }
  // Raw bytes of token `id` (0 <= id < vocab_size()).
  const std::string& TokenBytes(int32_t id) const { return id_to_bytes_[id]; }
  // Id of the token spelled by these raw bytes, or -1.
  int32_t TokenId(std::string_view bytes) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  static uint64_t PairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  const Merge* FindMerge(int32_t a, int32_t b) const;

  std::vector<std::string> id_to_bytes_;
  std::unordered_map<std::string, int32_t> bytes_to_id_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_ids_{};
};

}  // namespace cosyflow::tokenizer
