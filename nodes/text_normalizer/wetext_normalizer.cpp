// WetextNormalizer: tagger -> token reorder -> verbalizer (see wetext_normalizer.h).
#include "nodes/text_normalizer/wetext_normalizer.h"

#include <filesystem>
#include <utility>

namespace cosyflow::text_normalizer {

std::string DefaultWetextFstDir() {
#ifdef COSYFLOW_WETEXT_FST_SOURCE_DIR
  std::error_code ec;
  if (std::filesystem::is_directory(COSYFLOW_WETEXT_FST_SOURCE_DIR, ec)) {
    return COSYFLOW_WETEXT_FST_SOURCE_DIR;
  }
#endif
#ifdef COSYFLOW_WETEXT_FST_INSTALL_DIR
  return COSYFLOW_WETEXT_FST_INSTALL_DIR;
#else
  return "fsts";
#endif
}

namespace {

bool IsSentenceEndAt(std::string_view t, size_t p) {  // a sentence ends right before p
  if (p == 0) return false;
  if (t[p - 1] == '\n') return true;
  if (p >= 3) {
    const std::string_view last = t.substr(p - 3, 3);
    if (last == "。" || last == "！" || last == "？") return true;
  }
  // [.!?] + spaces, cut after the spaces (not inside the run).
  if (t[p - 1] != ' ' || (p < t.size() && t[p] == ' ')) return false;
  size_t q = p - 1;
  while (q > 0 && t[q - 1] == ' ') --q;
  return q > 0 && (t[q - 1] == '.' || t[q - 1] == '!' || t[q - 1] == '?');
}

size_t CutPoint(std::string_view t, size_t start, size_t max_bytes) {
  const size_t limit = start + max_bytes;
  for (size_t p = limit; p > start; --p)
    if (IsSentenceEndAt(t, p)) return p;
  for (size_t p = limit; p > start; --p)
    if (t[p - 1] == ' ') return p;
  size_t p = limit;
  while (p > start + 1 && (static_cast<unsigned char>(t[p]) & 0xC0) == 0x80) --p;
  return p;
}

}  // namespace

std::vector<std::string_view> SplitForWetext(std::string_view text, size_t max_bytes) {
  std::vector<std::string_view> pieces;
  size_t start = 0;
  if (max_bytes > 0) {
    while (text.size() - start > max_bytes) {
      const size_t cut = CutPoint(text, start, max_bytes);
      pieces.push_back(text.substr(start, cut - start));
      start = cut;
    }
  }
  pieces.push_back(text.substr(start));
  return pieces;
}

Result<std::shared_ptr<const WetextNormalizer>> WetextNormalizer::Load(
    const WetextOptions& options) {
  auto n = std::shared_ptr<WetextNormalizer>(new WetextNormalizer());
  n->dir_ = options.fst_dir.empty() ? DefaultWetextFstDir() : options.fst_dir;
  n->max_piece_bytes_ = options.max_piece_bytes;
  std::error_code ec;
  if (!std::filesystem::is_directory(n->dir_, ec)) {
    return NotFound("wetext FST directory {}: not a directory (expected {{zh,en,ja}}/tn/*.fst)",
                    n->dir_);
  }
  auto load = [&](std::string_view lang, std::string_view verbalizer, Grammar* g) -> Status {
    const std::string base = fmt::format("{}/{}/tn/", n->dir_, lang);
    COSY_ASSIGN_OR_RETURN(g->tagger, FstRewriter::LoadShared(base + "tagger.fst"));
    COSY_ASSIGN_OR_RETURN(g->verbalizer,
                          FstRewriter::LoadShared(base + std::string(verbalizer) + ".fst"));
    return OkStatus();
  };
  if (options.load_zh) {
    COSY_RETURN_IF_ERROR(load(
        "zh", options.remove_erhua ? "verbalizer_remove_erhua" : "verbalizer", &n->zh_));
  }
  if (options.load_en) COSY_RETURN_IF_ERROR(load("en", "verbalizer", &n->en_));
  if (options.load_ja) COSY_RETURN_IF_ERROR(load("ja", "verbalizer", &n->ja_));
  return std::shared_ptr<const WetextNormalizer>(std::move(n));
}

const WetextNormalizer::Grammar& WetextNormalizer::Get(WetextLang lang) const {
  switch (lang) {
    case WetextLang::kEn:
      return en_;
    case WetextLang::kJa:
      return ja_;
    case WetextLang::kZh:
      break;
  }
  return zh_;
}

Result<const WetextNormalizer::Grammar*> WetextNormalizer::Require(WetextLang lang) const {
  const Grammar& g = Get(lang);
  if (g.tagger == nullptr) {
    return InvalidArgument("wetext: the {} FSTs were not loaded", WetextLangName(lang));
  }
  return &g;
}

Result<std::string> WetextNormalizer::Tag(std::string_view text, WetextLang lang) const {
  COSY_ASSIGN_OR_RETURN(const Grammar* g, Require(lang));
  return g->tagger->Rewrite(text);
}

Result<std::string> WetextNormalizer::Normalize(std::string_view text, WetextLang lang,
                                                const std::atomic<bool>* cancelled) const {
  COSY_ASSIGN_OR_RETURN(const Grammar* g, Require(lang));
  std::string out;
  for (std::string_view piece : SplitForWetext(text, max_piece_bytes_)) {
    if (cancelled != nullptr && cancelled->load(std::memory_order_relaxed)) {
      return MakeError(StatusCode::kCancelled, "wetext {}: cancelled after {} of {} bytes",
                       WetextLangName(lang), piece.data() - text.data(), text.size());
    }
    COSY_ASSIGN_OR_RETURN(std::string normalized, NormalizePiece(piece, *g, lang));
    out += normalized;
  }
  return out;
}

Result<std::string> WetextNormalizer::NormalizePiece(std::string_view text, const Grammar& g,
                                                     WetextLang lang) const {
  COSY_ASSIGN_OR_RETURN(std::string tagged, g.tagger->Rewrite(text));
  if (tagged.empty()) {
    // wetext's TokenParser asserts on an empty tagging: the grammar rejected the text.
    return InvalidArgument("wetext {}: the tagger {} rejects the text", WetextLangName(lang),
                           g.tagger->path());
  }
  COSY_ASSIGN_OR_RETURN(std::string reordered, ReorderWetextTokens(tagged, lang));
  return g.verbalizer->Rewrite(reordered);
}

}  // namespace cosyflow::text_normalizer
