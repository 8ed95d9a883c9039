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

bool AllPythonDigits(std::u32string_view s) {
  if (s.empty()) return false;
  for (char32_t c : s)
    if (!IsPythonDigit(c)) return false;
  return true;
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

TextNormalizer::TextNormalizer(TextNormalizerOptions options,
                               std::shared_ptr<const tokenizer::Qwen2Tokenizer> tokenizer)
    : options_(std::move(options)),
      tokenizer_(std::move(tokenizer)),
      rules_(RuleNormalizer::Create()) {}

Result<std::shared_ptr<const TextNormalizer>> TextNormalizer::Create(
    TextNormalizerOptions options, std::shared_ptr<const tokenizer::Qwen2Tokenizer> tokenizer) {
  COSY_RETURN_IF_ERROR(options.Validate());
  std::shared_ptr<const TextNormalizer> n(
      new TextNormalizer(std::move(options), std::move(tokenizer)));
  // Fail at Create, not per request, when a configured option cannot work in this build.
  for (const TnOptions* o : {&n->options_.zh_tn, &n->options_.en_tn}) {
    if (n->options_.tn && o->traditional_to_simple && !n->rules_->has_traditional_to_simple()) {
      auto probe = n->rules_->Normalize("", TnLang::kZh, *o);
      return probe.status();
    }
  }
  return n;
}

Result<std::u32string> TextNormalizer::WetextTn(std::u32string_view text, bool zh_branch) const {
  if (!options_.tn) return std::u32string(text);
  if (options_.tn_only_with_digits && !ContainsDecimalDigit(text)) return std::u32string(text);
  // wetext lang="auto": zh if any CJK ideograph or the whole text is digits.
  bool zh = ContainsChinese(text) || (options_.auto_lang_digits_to_zh && AllPythonDigits(text));
  const TnOptions& o = zh_branch ? options_.zh_tn : options_.en_tn;
  return rules_->NormalizeU32(text, zh ? TnLang::kZh : TnLang::kEn, o);
}

Status TextNormalizer::Run(std::u32string_view input, bool split, std::u32string* processed,
                           std::vector<std::u32string>* segments) const {
  std::u32string text(StripPython(input));
  SplitParagraphOptions sp;
  sp.token_max_n = options_.token_max_n;
  sp.token_min_n = options_.token_min_n;
  sp.merge_len = options_.merge_len;
  sp.comma_split = options_.comma_split;
  sp.drop_repeated_marks = options_.drop_repeated_marks;
  if (ContainsChinese(text)) {
    auto tn = WetextTn(text, /*zh_branch=*/true);
    if (!tn.ok()) return tn.status();
    text = std::move(*tn);
    std::u32string no_newlines;
    for (char32_t c : text)
      if (c != U'\n') no_newlines.push_back(c);
    text = ReplaceBlank(no_newlines, options_.keep_single_space_in_runs);
    text = ReplaceCornerMark(text);
    for (char32_t& c : text)
      if (c == U'.') c = U'。';
    ReplaceAll(&text, U" - ", U"，");
    text = RemoveBracket(text);
    ReplaceTrailingCommas(&text);
    sp.zh = true;
    if (split) {
      *segments = SplitParagraph(text, sp, [](std::u32string_view s) { return s.size(); });
    }
  } else {
    auto tn = WetextTn(text, /*zh_branch=*/false);
    if (!tn.ok()) return tn.status();
    text = SpellOutNumber(*tn);
    sp.zh = false;
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
      *segments = SplitParagraph(text, sp, length);
      COSY_RETURN_IF_ERROR_CTX(error, "text normalizer: token length");
    }
  }
  if (split) {
    std::vector<std::u32string> kept;
    for (auto& s : *segments)
      if (!IsOnlyPunctuation(s)) kept.push_back(std::move(s));
    *segments = std::move(kept);
  }
  *processed = std::move(text);
  return OkStatus();
}

Result<std::vector<std::string>> TextNormalizer::Segments(std::string_view text,
                                                          bool text_frontend) const {
  std::u32string u = ToU32(text);
  if (IsBypass(text) || !text_frontend || text.empty()) return std::vector<std::string>{ToU8(u)};
  std::u32string processed;
  std::vector<std::u32string> segments;
  COSY_RETURN_IF_ERROR(Run(u, /*split=*/true, &processed, &segments));
  std::vector<std::string> out;
  out.reserve(segments.size());
  for (const auto& s : segments) out.push_back(ToU8(s));
  return out;
}

Result<std::string> TextNormalizer::Normalize(std::string_view text, bool text_frontend) const {
  std::u32string u = ToU32(text);
  if (IsBypass(text) || !text_frontend || text.empty()) return ToU8(u);
  std::u32string processed;
  std::vector<std::u32string> segments;
  COSY_RETURN_IF_ERROR(Run(u, /*split=*/false, &processed, &segments));
  return ToU8(processed);
}

Result<std::string> TextNormalizer::TextNormalization(std::string_view text) const {
  std::u32string u = ToU32(text);
  bool zh = ContainsChinese(u);
  auto out =
      rules_->NormalizeU32(u, zh ? TnLang::kZh : TnLang::kEn, zh ? options_.zh_tn : options_.en_tn);
  if (!out.ok()) return out.status();
  return ToU8(*out);
}

}  // namespace cosyflow::text_normalizer
