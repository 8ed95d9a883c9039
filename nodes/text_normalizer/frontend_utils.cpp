// CosyVoice text clean-up helpers (see frontend_utils.h).
#include "nodes/text_normalizer/frontend_utils.h"

#include <string>

#include "nodes/text_normalizer/number_to_words.h"
#include "nodes/text_normalizer/unicode_text.h"

namespace cosyflow::text_normalizer {
namespace {

bool IsAsciiNonSpace(char32_t c) { return c < 0x80 && c != U' '; }

bool IsSentenceMark(char32_t c, const SplitParagraphOptions& o) {
  if (o.zh) {
    switch (c) {
      case U'。':
      case U'？':
      case U'！':
      case U'；':
      case U'：':
      case U'、':
      case U'.':
      case U'?':
      case U'!':
      case U';':
        return true;
      default:
        break;
    }
  } else if (c == U'.' || c == U'?' || c == U'!' || c == U';' || c == U':') {
    return true;
  }
  return o.comma_split && (c == U'，' || c == U',');
}

}  // namespace

bool ContainsChinese(std::u32string_view s) {
  for (char32_t c : s)
    if (IsCjkIdeograph(c)) return true;
  return false;
}

std::u32string ReplaceBlank(std::u32string_view s, bool keep_single_space_in_runs) {
  std::u32string out;
  const size_t n = s.size();
  for (size_t i = 0; i < n; ++i) {
    char32_t c = s[i];
    if (c != U' ') {
      out.push_back(c);
      continue;
    }
    // Python: s[i - 1] at i == 0 is the last char; s[i + 1] at the end raises (cannot happen
    // on stripped text), treated here as "not ASCII".
    char32_t prev = s[i == 0 ? n - 1 : i - 1];
    char32_t next = i + 1 < n ? s[i + 1] : U'\0';
    bool keep = i + 1 < n && IsAsciiNonSpace(next) && IsAsciiNonSpace(prev);
    if (!keep && keep_single_space_in_runs && prev == U' ' && IsAsciiNonSpace(next)) {
      size_t b = i;
      while (b > 0 && s[b - 1] == U' ') --b;
      keep = b > 0 && IsAsciiNonSpace(s[b - 1]);
    }
    if (keep) out.push_back(c);
  }
  return out;
}

std::u32string ReplaceCornerMark(std::u32string_view s) {
  std::u32string out;
  for (char32_t c : s) {
    if (c == 0xB2) {
      out += U"平方";
    } else if (c == 0xB3) {
      out += U"立方";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::u32string RemoveBracket(std::u32string_view s) {
  std::u32string out;
  for (char32_t c : s) {
    if (c == U'（' || c == U'）' || c == U'【' || c == U'】' || c == U'`') continue;
    out.push_back(c);
  }
  ReplaceAll(&out, U"——", U" ");
  return out;
}

Result<std::u32string> SpellOutNumber(std::u32string_view s) {
  std::u32string out;
  size_t i = 0;
  while (i < s.size()) {
    if (!IsPythonDigit(s[i])) {
      out.push_back(s[i++]);
      continue;
    }
    std::string digits;
    while (i < s.size() && IsPythonDigit(s[i])) {
      // inflect deletes \D characters (superscripts, circled digits) before reading the run.
      const int v = DigitValue(s[i]);
      if (v >= 0) digits.push_back(static_cast<char>('0' + v));
      ++i;
    }
    auto words = InflectNumberToWords(digits);
    if (!words.has_value()) {
      return OutOfRange(
          "text normalizer: spell_out_number: a number of {} digits is beyond inflect's scale "
          "words (at most 36 digits)",
          digits.size());
    }
    out += ToU32(*words);
  }
  return out;
}

bool IsOnlyPunctuation(std::u32string_view s) {
  for (char32_t c : s)
    if (!IsPunctOrSymbol(c)) return false;
  return true;
}

std::vector<std::u32string> SplitParagraph(
    std::u32string_view input, const SplitParagraphOptions& o,
    const std::function<size_t(std::u32string_view)>& length) {
  std::vector<std::u32string> segments;
  if (input.empty()) return segments;
  std::u32string text(input);
  if (!IsSentenceMark(text.back(), o)) text.push_back(o.zh ? U'。' : U'.');

  std::vector<std::u32string> sentences;
  size_t st = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char32_t c = text[i];
    if (!IsSentenceMark(c, o)) continue;
    if (i > st) {
      sentences.push_back(text.substr(st, i - st) + c);
    } else if (!o.drop_repeated_marks && !sentences.empty() && i == st) {
      sentences.back().push_back(c);
    }
    if (i + 1 < text.size() && (text[i + 1] == U'"' || text[i + 1] == U'”')) {
      // Reference: the quote goes onto whatever the last sentence is.
      if (!sentences.empty()) sentences.back().push_back(text[i + 1]);
      st = i + 2;
    } else {
      st = i + 1;
    }
  }

  std::u32string cur;
  for (const auto& u : sentences) {
    std::u32string joined = cur + u;
    if (length(joined) > static_cast<size_t>(o.token_max_n) &&
        length(cur) > static_cast<size_t>(o.token_min_n)) {
      segments.push_back(cur);
      cur.clear();
    }
    cur += u;
  }
  if (!cur.empty()) {
    if (length(cur) < static_cast<size_t>(o.merge_len) && !segments.empty()) {
      segments.back() += cur;
    } else {
      segments.push_back(cur);
    }
  }
  return segments;
}

}  // namespace cosyflow::text_normalizer
