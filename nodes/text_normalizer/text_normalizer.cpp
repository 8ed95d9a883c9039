// CosyVoice text_normalize (see text_normalizer.h).
#include "nodes/text_normalizer/text_normalizer.h"

#include <utility>

#include "nodes/text_normalizer/frontend_utils.h"
#include "nodes/text_normalizer/unicode_text.h"

namespace cosyflow::text_normalizer {
namespace {

bool IsBypass(std::string_view text) {
  return text.find("<|") != std::string_view::npos && text.find("|>") != std::string_view::npos;
}

// Trailing run of ，,、 -> 。 (step 6.8).
void ReplaceTrailingCommas(std::u32string* s) {
  size_t end = s->size();
  while (end > 0 && ((*s)[end - 1] == U'，' || (*s)[end - 1] == U',' || (*s)[end - 1] == U'、'))
    --end;
  if (end == s->size()) return;
  s->resize(end);
  s->push_back(U'。');
}

bool ContainsKana(std::u32string_view s) {
  for (char32_t c : s)
    if (IsHiragana(c) || IsKatakana(c)) return true;
  return false;
}

SplitParagraphOptions SplitOptions(const TextNormalizerOptions& o, bool zh) {
  SplitParagraphOptions sp;
  sp.zh = zh;
  sp.token_max_n = o.token_max_n;
  sp.token_min_n = o.token_min_n;
  sp.merge_len = o.merge_len;
  sp.comma_split = o.comma_split;
  sp.drop_repeated_marks = o.drop_repeated_marks;
  return sp;
}

}  // namespace

Status TextNormalizerOptions::Validate() const {
  if (token_min_n <= 0 || token_max_n < token_min_n) {
    return InvalidArgument(
        "text normalizer: need 0 < token_min_n <= token_max_n, got token_min_n={} "
        "token_max_n={}",
        token_min_n, token_max_n);
  }
  if (merge_len < 0) {
    return InvalidArgument("text normalizer: merge_len must be >= 0, got {}", merge_len);
  }
  return OkStatus();
}

Result<std::shared_ptr<const TextNormalizer>> TextNormalizer::Create(
    TextNormalizerOptions options, std::shared_ptr<const tokenizer::Qwen2Tokenizer> tokenizer) {
  COSY_RETURN_IF_ERROR(options.Validate());
  std::shared_ptr<TextNormalizer> n(new TextNormalizer(std::move(options), std::move(tokenizer)));
  if (n->options_.tn) {
    WetextOptions w;
    w.fst_dir = n->options_.fst_dir;
    w.remove_erhua = n->options_.remove_erhua;
    w.load_ja = n->options_.ja;
    w.max_piece_bytes = n->options_.fst_piece_bytes;
    COSY_ASSIGN_OR_RETURN(n->wetext_, WetextNormalizer::Load(w));
  }
  return std::shared_ptr<const TextNormalizer>(std::move(n));
}

Result<std::u32string> TextNormalizer::WetextTn(std::u32string_view text, WetextLang lang,
                                                const std::atomic<bool>* cancelled) const {
  if (wetext_ == nullptr) return std::u32string(text);
  if (options_.tn_only_with_digits && !ContainsDecimalDigit(text)) return std::u32string(text);
  COSY_ASSIGN_OR_RETURN(std::string out, wetext_->Normalize(ToU8(text), lang, cancelled));
  return ToU32(out);
}

bool TextNormalizer::UsesJa(std::u32string_view text) const {
  return options_.ja && ContainsKana(text);
}

Status TextNormalizer::RunZh(std::u32string_view input, bool ja, bool split,
                             std::u32string* processed, std::vector<std::u32string>* segments,
                             std::u32string* tn, const std::atomic<bool>* cancelled) const {
  COSY_ASSIGN_OR_RETURN(std::u32string text,
                        WetextTn(input, ja ? WetextLang::kJa : WetextLang::kZh, cancelled));
  if (tn != nullptr) *tn = text;
  std::u32string no_newlines;
  no_newlines.reserve(text.size());
  for (char32_t c : text)
    if (c != U'\n') no_newlines.push_back(c);
  text = ReplaceBlank(no_newlines, options_.keep_single_space_in_runs);
  text = ReplaceCornerMark(text);
  for (char32_t& c : text)
    if (c == U'.') c = U'。';
  ReplaceAll(&text, U" - ", U"，");
  text = RemoveBracket(text);
  ReplaceTrailingCommas(&text);
  if (split) {
    *segments = SplitParagraph(text, SplitOptions(options_, /*zh=*/true),
                               [](std::u32string_view s) { return s.size(); });
  }
  *processed = std::move(text);
  return OkStatus();
}

Status TextNormalizer::RunEn(std::u32string_view input, bool split, std::u32string* processed,
                             std::vector<std::u32string>* segments, std::u32string* tn,
                             const std::atomic<bool>* cancelled) const {
  COSY_ASSIGN_OR_RETURN(std::u32string wetext, WetextTn(input, WetextLang::kEn, cancelled));
  if (tn != nullptr) *tn = wetext;
  COSY_ASSIGN_OR_RETURN(std::u32string text, SpellOutNumber(wetext));
  if (split && !text.empty()) {
    if (tokenizer_ == nullptr) {
      return InvalidArgument(
          "text normalizer: splitting English text needs the Qwen2 tokenizer (lengths are "
          "counted in tokens), none was given");
    }
    Status error;
    auto length = [&](std::u32string_view s) -> size_t {
      auto ids = tokenizer_->Encode(ToU8(s));
      if (!ids.ok()) {
        if (error.ok()) error = ids.status();
        return 0;
      }
      return ids->size();
    };
    *segments = SplitParagraph(text, SplitOptions(options_, /*zh=*/false), length);
    COSY_RETURN_IF_ERROR_CTX(error, "text normalizer: token length");
  }
  *processed = std::move(text);
  return OkStatus();
}

Status TextNormalizer::Run(std::u32string_view input, bool split, std::u32string* processed,
                           std::vector<std::u32string>* segments, std::u32string* tn,
                           const std::atomic<bool>* cancelled) const {
  const std::u32string_view text = StripPython(input);
  if (ContainsChinese(text) || UsesJa(text)) {
    COSY_RETURN_IF_ERROR(RunZh(text, UsesJa(text), split, processed, segments, tn, cancelled));
  } else {
    COSY_RETURN_IF_ERROR(RunEn(text, split, processed, segments, tn, cancelled));
  }
  if (split) {
    std::vector<std::u32string> kept;
    for (auto& s : *segments)
      if (!IsOnlyPunctuation(s)) kept.push_back(std::move(s));
    *segments = std::move(kept);
  }
  return OkStatus();
}

Result<std::vector<std::string>> TextNormalizer::Segments(
    std::string_view text, bool text_frontend, const std::atomic<bool>* cancelled) const {
  std::u32string u = ToU32(text);
  if (IsBypass(text) || !text_frontend || text.empty()) return std::vector<std::string>{ToU8(u)};
  std::u32string processed;
  std::vector<std::u32string> segments;
  COSY_RETURN_IF_ERROR(Run(u, /*split=*/true, &processed, &segments, nullptr, cancelled));
  std::vector<std::string> out;
  out.reserve(segments.size());
  for (const auto& s : segments) out.push_back(ToU8(s));
  return out;
}

Result<std::string> TextNormalizer::Normalize(std::string_view text, bool text_frontend,
                                              const std::atomic<bool>* cancelled) const {
  std::u32string u = ToU32(text);
  if (IsBypass(text) || !text_frontend || text.empty()) return ToU8(u);
  std::u32string processed;
  std::vector<std::u32string> segments;
  COSY_RETURN_IF_ERROR(Run(u, /*split=*/false, &processed, &segments, nullptr, cancelled));
  return ToU8(processed);
}

Result<FrontendResult> TextNormalizer::Frontend(std::string_view text, bool text_frontend) const {
  FrontendResult r;
  std::u32string u = ToU32(text);
  if (IsBypass(text) || !text_frontend || text.empty()) {
    r.bypass = true;
    r.normalized = ToU8(u);
    r.segments = {r.normalized};
    return r;
  }
  std::u32string processed, tn;
  std::vector<std::u32string> segments;
  COSY_RETURN_IF_ERROR(Run(u, /*split=*/true, &processed, &segments, &tn, nullptr));
  r.tn = ToU8(tn);
  r.normalized = ToU8(processed);
  for (const auto& s : segments) r.segments.push_back(ToU8(s));
  return r;
}

Result<std::string> TextNormalizer::TextNormalization(std::string_view text) const {
  const std::u32string u = ToU32(text);
  const std::u32string_view stripped = StripPython(u);
  const WetextLang lang = UsesJa(stripped)            ? WetextLang::kJa
                          : ContainsChinese(stripped) ? WetextLang::kZh
                                                      : WetextLang::kEn;
  COSY_ASSIGN_OR_RETURN(std::u32string out, WetextTn(stripped, lang, nullptr));
  return ToU8(out);
}

Result<std::string> TextNormalizer::TextNormalization(std::string_view text, WetextLang lang,
                                                      const std::atomic<bool>* cancelled) const {
  if (wetext_ != nullptr && !wetext_->has(lang)) {
    return InvalidArgument("text normalizer: the {} FSTs are not loaded (ja needs option ja)",
                           WetextLangName(lang));
  }
  COSY_ASSIGN_OR_RETURN(std::u32string out, WetextTn(ToU32(text), lang, cancelled));
  return ToU8(out);
}

}  // namespace cosyflow::text_normalizer
