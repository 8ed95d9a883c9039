// Byte-level BPE model (see bpe.h).
#include "nodes/tokenizer/bpe.h"

#include <algorithm>
#include <functional>

#include "nodes/tokenizer/byte_level.h"
#include "nodes/tokenizer/vocab_json.h"

namespace cosyflow::tokenizer {
namespace {

// One line of merges.txt without its line break and surrounding blanks.
std::string_view TrimLine(std::string_view line) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!line.empty() && blank(line.front())) line.remove_prefix(1);
  while (!line.empty() && blank(line.back())) line.remove_suffix(1);
  return line;
}

Status ParseVocab(std::string_view text, std::string_view name,
                  std::vector<std::string>* id_to_bytes,
                  std::unordered_map<std::string, int32_t>* bytes_to_id) {
  std::vector<bool> seen;
  id_to_bytes->clear();
  bytes_to_id->reserve(text.size() / 16);
  COSY_RETURN_IF_ERROR(
      ParseStringIntObject(text, name, [&](std::string&& key, int64_t value) -> Status {
        auto id = static_cast<size_t>(value);
        Result<std::string> bytes = ByteLevelDecode(key);
        if (!bytes.ok()) return bytes.status().WithContext(fmt::format("token \"{}\"", key));
        if (id >= id_to_bytes->size()) {
          id_to_bytes->resize(id + 1);
          seen.resize(id + 1, false);
        }
        if (seen[id]) {
          return DataLoss("duplicate id {} (token \"{}\" and token \"{}\")", id,
                          ByteLevelEncode((*id_to_bytes)[id]), key);
        }
        auto [it, inserted] = bytes_to_id->emplace(*bytes, static_cast<int32_t>(id));
        if (!inserted) {
          return DataLoss("duplicate token \"{}\" (ids {} and {})", key, it->second, id);
        }
        seen[id] = true;
        (*id_to_bytes)[id] = std::move(bytes).value();
        return OkStatus();
      }));
  for (size_t id = 0; id < seen.size(); ++id) {
    if (!seen[id]) {
      return DataLoss("{}: id {} is missing (ids must be dense 0..{})", name, id, seen.size() - 1);
    }
  }
  if (id_to_bytes->empty()) return DataLoss("{}: no tokens", name);
  return OkStatus();
}

}  // namespace

Result<BpeModel> BpeModel::Parse(std::string_view vocab_json, std::string_view vocab_name,
                                 std::string_view merges_txt, std::string_view merges_name) {
  BpeModel m;
  COSY_RETURN_IF_ERROR(ParseVocab(vocab_json, vocab_name, &m.id_to_bytes_, &m.bytes_to_id_));
  for (int b = 0; b < 256; ++b) {
    int32_t id = m.TokenId(std::string(1, static_cast<char>(b)));
    if (id < 0) {
      return DataLoss("{}: byte 0x{:02X} (\"{}\") has no token", vocab_name, b,
                      ByteLevelEncode(std::string(1, static_cast<char>(b))));
    }
    m.byte_ids_[b] = id;
  }

  m.merges_.reserve(merges_txt.size() / 8);
  size_t line_no = 0;
  int32_t rank = 0;
  std::string joined;
  for (size_t pos = 0; pos < merges_txt.size();) {
    size_t end = merges_txt.find('\n', pos);
    if (end == std::string_view::npos) end = merges_txt.size();
    std::string_view line = TrimLine(merges_txt.substr(pos, end - pos));
    pos = end + 1;
    ++line_no;
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    size_t space = line.find(' ');
    if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos) {
      return DataLoss("{}: line {}: expected two tokens separated by one space, got \"{}\"",
                      merges_name, line_no, line);
    }
    std::string_view parts[2] = {line.substr(0, space), line.substr(space + 1)};
    int32_t ids[2];
    joined.clear();
    for (int i = 0; i < 2; ++i) {
      Result<std::string> bytes = ByteLevelDecode(parts[i]);
      if (!bytes.ok()) {
        return bytes.status().WithContext(fmt::format("{}: line {}", merges_name, line_no));
      }
      ids[i] = m.TokenId(*bytes);
      if (ids[i] < 0) {
        return DataLoss("{}: line {}: unknown token \"{}\" (not in {})", merges_name, line_no,
                        parts[i], vocab_name);
      }
      joined += *bytes;
    }
    int32_t merged = m.TokenId(joined);
    if (merged < 0) {
      return DataLoss("{}: line {}: merge result \"{}{}\" is not in {}", merges_name, line_no,
                      parts[0], parts[1], vocab_name);
    }
    auto [it, inserted] = m.merges_.emplace(PairKey(ids[0], ids[1]), Merge{rank, merged});
    if (!inserted) {
      return DataLoss("{}: line {}: duplicate merge \"{}\" (first at rank {})", merges_name,
                      line_no, line, it->second.rank);
    }
    ++rank;
  }
  if (m.merges_.empty()) return DataLoss("{}: no merges", merges_name);
  return m;
}

int32_t BpeModel::TokenId(std::string_view bytes) const {
  auto it = bytes_to_id_.find(std::string(bytes));
  return it == bytes_to_id_.end() ? -1 : it->second;
}

const BpeModel::Merge* BpeModel::FindMerge(int32_t a, int32_t b) const {
  auto it = merges_.find(PairKey(a, b));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::Encode(std::string_view word, std::vector<int32_t>* ids) const {
  const size_t n = word.size();
  if (n == 1) {
    ids->push_back(byte_ids_[static_cast<unsigned char>(word[0])]);
    return;
  }
  // Symbols form a doubly linked list over the byte positions; a merge keeps the left symbol
  // and unlinks the right one. Heap entries go stale when a neighbour changes; they are
  // recognised on pop by comparing the recorded ids.
  struct Candidate {
    int32_t rank;
    int32_t left;
    int32_t right;
    int32_t left_id;
    int32_t right_id;
    int32_t merged_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : left > o.left;
    }
  };
  // Scratch reused across words on this thread (no allocation per word in steady state).
  thread_local std::vector<int32_t> sym, prev, next;
  thread_local std::vector<Candidate> heap;
  sym.resize(n);
  prev.resize(n);
  next.resize(n);
  heap.clear();
  for (size_t i = 0; i < n; ++i) {
    sym[i] = byte_ids_[static_cast<unsigned char>(word[i])];
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  const std::greater<> later;  // min-heap on (rank, left)
  auto push = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    if (const Merge* m = FindMerge(sym[left], sym[right])) {
      heap.push_back({m->rank, left, right, sym[left], sym[right], m->merged_id});
      std::push_heap(heap.begin(), heap.end(), later);
    }
  };
  for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i), static_cast<int32_t>(i + 1));
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    Candidate c = heap.back();
    heap.pop_back();
    if (sym[c.left] != c.left_id || next[c.left] != c.right || sym[c.right] != c.right_id) {
      continue;  // stale: a neighbour was merged since this entry was pushed
    }
    sym[c.left] = c.merged_id;
    sym[c.right] = -1;
    next[c.left] = next[c.right];
    if (next[c.left] >= 0) prev[next[c.left]] = c.left;
    push(prev[c.left], c.left);
    push(c.left, next[c.left]);
  }
  for (int32_t i = 0; i >= 0; i = next[i]) ids->push_back(sym[i]);
  if (n > (1u << 16)) {  // do not keep megabytes of scratch alive after one huge word
    std::vector<int32_t>().swap(sym);
    std::vector<int32_t>().swap(prev);
    std::vector<int32_t>().swap(next);
    std::vector<Candidate>().swap(heap);
  }
}

}  // namespace cosyflow::tokenizer
