// Qwen2 / CosyVoice 2 tokenizer (see qwen2_tokenizer.h).
#include "nodes/tokenizer/qwen2_tokenizer.h"

#include <cstring>
#include <filesystem>

#include "nodes/tokenizer/byte_level.h"
#include "nodes/tokenizer/utf8.h"
#include "runtime/small_file.h"

namespace cosyflow::tokenizer {
namespace {

Result<std::string> ReadFile(const std::string& path) {
  // vocab.json 2.8 MB, merges.txt 1.7 MB, tokenizer.json 7 MB in the release.
  return ReadSmallFile(path, int64_t{256} << 20, "tokenizer file");
}

}  // namespace

Qwen2Tokenizer::Qwen2Tokenizer(BpeModel bpe, std::unique_ptr<Qwen2PreTokenizer> pre)
    : bpe_(std::move(bpe)), pre_(std::move(pre)) {}

Result<std::shared_ptr<const Qwen2Tokenizer>> Qwen2Tokenizer::Load(const std::string& dir) {
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(dir, ec);
  if (st.type() == std::filesystem::file_type::not_found) {
    return NotFound("tokenizer directory {} does not exist", dir);
  }
  if (ec) return NotFound("tokenizer directory {}: cannot access: {}", dir, ec.message());
  if (st.type() != std::filesystem::file_type::directory) {
    return NotFound("tokenizer directory {}: is not a directory", dir);
  }
  std::string vocab_path = dir + "/vocab.json";
  std::string merges_path = dir + "/merges.txt";
  COSY_ASSIGN_OR_RETURN(std::string vocab, ReadFile(vocab_path));
  COSY_ASSIGN_OR_RETURN(std::string merges, ReadFile(merges_path));
  return FromText(vocab, merges, vocab_path, merges_path);
}

Result<std::shared_ptr<const Qwen2Tokenizer>> Qwen2Tokenizer::FromText(
    std::string_view vocab_json, std::string_view merges_txt, std::string_view vocab_name,
    std::string_view merges_name) {
  COSY_ASSIGN_OR_RETURN(BpeModel bpe,
                        BpeModel::Parse(vocab_json, vocab_name, merges_txt, merges_name));
  COSY_ASSIGN_OR_RETURN(std::unique_ptr<Qwen2PreTokenizer> pre, Qwen2PreTokenizer::Create());
  std::shared_ptr<Qwen2Tokenizer> tok(new Qwen2Tokenizer(std::move(bpe), std::move(pre)));
  tok->first_special_id_ = kCosyVoice2SpecialTokens.front().id;
  for (size_t i = 0; i < kCosyVoice2SpecialTokens.size(); ++i) {
    const SpecialToken& s = kCosyVoice2SpecialTokens[i];
    // HF gives a token that is already in the vocabulary its vocabulary id; the hard-coded ids
    // hold only for a vocabulary that ends below them and lacks these strings.
    if (s.id < tok->bpe_.vocab_size()) {
      return InvalidArgument("{}: has {} tokens, which overlaps special token {} (id {})",
                             vocab_name, tok->bpe_.vocab_size(), s.content, s.id);
    }
    if (tok->bpe_.TokenId(s.content) >= 0) {
      return InvalidArgument("{}: special token {} is also a regular token (id {})", vocab_name,
                             s.content, tok->bpe_.TokenId(s.content));
    }
    tok->special_by_index_.emplace_back(s.content);
  }
  tok->vocab_size_ = kCosyVoice2SpecialTokens.back().id + 1;
  return std::shared_ptr<const Qwen2Tokenizer>(std::move(tok));
}

int32_t Qwen2Tokenizer::SpecialTokenId(std::string_view content) const {
  for (const SpecialToken& s : kCosyVoice2SpecialTokens) {
    if (s.content == content) return s.id;
  }
  return -1;
}

std::string Qwen2Tokenizer::TokenPiece(int32_t id) const {
  if (id >= 0 && id < bpe_.vocab_size()) return ByteLevelEncode(bpe_.TokenBytes(id));
  if (id >= first_special_id_ && id < vocab_size_) return special_by_index_[id - first_special_id_];
  return fmt::format("<invalid id {}>", id);
}

void Qwen2Tokenizer::EncodeWord(std::string_view word, std::vector<int32_t>* ids) const {
  if (word.size() > kCacheMaxWordBytes) {
    bpe_.Encode(word, ids);
    return;
  }
  CacheShard& shard = cache_[StringHash{}(word) % kCacheShards];
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.map.find(word);
    if (it != shard.map.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t first = ids->size();
  bpe_.Encode(word, ids);
  std::vector<int32_t> entry(ids->begin() + static_cast<std::ptrdiff_t>(first), ids->end());
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.map.size() >= kCacheShardCapacity) shard.map.clear();
  shard.map.emplace(std::string(word), std::move(entry));
}

Status Qwen2Tokenizer::EncodeTo(std::string_view text, std::vector<int32_t>* ids) const {
  size_t bad = FindInvalidUtf8(text);
  if (bad != std::string_view::npos) {
    return InvalidArgument("tokenizer: text is not valid UTF-8 at byte {} of {}", bad, text.size());
  }
  std::string normalized;
  std::vector<std::string_view> words;
  auto encode_piece = [&](std::string_view piece) -> Status {
    if (piece.empty()) return OkStatus();
    normalized.clear();
    COSY_RETURN_IF_ERROR(AppendNfc(piece, &normalized));
    words.clear();
    COSY_RETURN_IF_ERROR(pre_->Split(normalized, &words));
    for (std::string_view w : words) EncodeWord(w, ids);
    return OkStatus();
  };
  // Special tokens all start with '<' or '['; at each such byte take the longest one there.
  size_t piece_start = 0;
  for (size_t pos = text.find_first_of("<["); pos != std::string_view::npos;
       pos = text.find_first_of("<[", pos)) {
    const SpecialToken* best = nullptr;
    for (const SpecialToken& s : kCosyVoice2SpecialTokens) {
      if (text.substr(pos).starts_with(s.content) &&
          (best == nullptr || s.content.size() > best->content.size())) {
        best = &s;
      }
    }
    if (best == nullptr) {
      ++pos;
      continue;
    }
    COSY_RETURN_IF_ERROR(encode_piece(text.substr(piece_start, pos - piece_start)));
    ids->push_back(best->id);
    pos += best->content.size();
    piece_start = pos;
  }
  return encode_piece(text.substr(piece_start));
}

Result<std::vector<int32_t>> Qwen2Tokenizer::Encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  COSY_RETURN_IF_ERROR(EncodeTo(text, &ids));
  return ids;
}

Result<std::string> Qwen2Tokenizer::DecodeBytes(std::span<const int32_t> ids,
                                                bool skip_special_tokens) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    int32_t id = ids[i];
    if (id >= 0 && id < bpe_.vocab_size()) {
      out += bpe_.TokenBytes(id);
    } else if (id >= first_special_id_ && id < vocab_size_) {
      if (!skip_special_tokens) out += special_by_index_[id - first_special_id_];
    } else {
      return OutOfRange("tokenizer: id {} at position {} is not a token (vocabulary: 0..{})", id, i,
                        vocab_size_ - 1);
    }
  }
  return out;
}

Result<std::string> Qwen2Tokenizer::Decode(std::span<const int32_t> ids,
                                           bool skip_special_tokens) const {
  COSY_ASSIGN_OR_RETURN(std::string bytes, DecodeBytes(ids, skip_special_tokens));
  if (FindInvalidUtf8(bytes) == std::string::npos) return bytes;
  return ReplaceInvalidUtf8(bytes);
}

}  // namespace cosyflow::tokenizer
