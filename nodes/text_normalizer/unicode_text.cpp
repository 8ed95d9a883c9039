// Code-point helpers (see unicode_text.h); categories come from utf8proc.
#include "nodes/text_normalizer/unicode_text.h"

#include <utf8proc.h>

#include "nodes/tokenizer/utf8.h"

namespace cosyflow::text_normalizer {

std::u32string ToU32(std::string_view s) {
  std::string repaired;
  if (tokenizer::FindInvalidUtf8(s) != std::string_view::npos) {
    repaired = tokenizer::ReplaceInvalidUtf8(s);
    s = repaired;
  }
  std::u32string out;
  out.reserve(s.size());
  size_t pos = 0;
  char32_t cp = 0;
  while (pos < s.size() && tokenizer::NextCodePoint(s, &pos, &cp)) out.push_back(cp);
  return out;
}

std::string ToU8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size() * 3);
  for (char32_t c : s) tokenizer::AppendUtf8(c, &out);
  return out;
}

bool IsDecimalDigit(char32_t c) {
  if (c < 0x80) return IsAsciiDigit(c);
  return utf8proc_category(static_cast<utf8proc_int32_t>(c)) == UTF8PROC_CATEGORY_ND;
}

int DigitValue(char32_t c) {
  if (IsAsciiDigit(c)) return static_cast<int>(c - U'0');
  if (!IsDecimalDigit(c)) return -1;
  if (c >= 0x1D7CE && c <= 0x1D7FF) return static_cast<int>((c - 0x1D7CE) % 10);  // math digits
  // Nd characters come in contiguous runs of ten starting at a zero.
  char32_t zero = c;
  while (zero > 0 && IsDecimalDigit(zero - 1) && c - zero < 9) --zero;
  return static_cast<int>((c - zero) % 10);
}

bool IsPythonDigit(char32_t c) {
  if (IsDecimalDigit(c)) return true;
  // Numeric_Type=Digit (not Decimal): superscripts, subscripts, circled/parenthesized digits.
  return c == 0xB2 || c == 0xB3 || c == 0xB9 || c == 0x2070 || (c >= 0x2074 && c <= 0x2079) ||
         (c >= 0x2080 && c <= 0x2089) || (c >= 0x2460 && c <= 0x2468) ||
         (c >= 0x2474 && c <= 0x247C) || (c >= 0x2488 && c <= 0x2490) || c == 0x24EA ||
         (c >= 0x24F5 && c <= 0x24FD) || c == 0x24FF || (c >= 0x2776 && c <= 0x277E) ||
         (c >= 0x2780 && c <= 0x2788) || (c >= 0x278A && c <= 0x2792) ||
         (c >= 0x1369 && c <= 0x1371) || c == 0x19DA || (c >= 0x1F100 && c <= 0x1F10A);
}

bool IsPythonSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

bool IsPunctOrSymbol(char32_t c) {
  auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_SO;
}

std::u32string_view StripPython(std::u32string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && IsPythonSpace(s[b])) ++b;
  while (e > b && IsPythonSpace(s[e - 1])) --e;
  return s.substr(b, e - b);
}

void ReplaceAll(std::u32string* s, std::u32string_view from, std::u32string_view to) {
  if (from.empty()) return;
  std::u32string out;
  size_t pos = 0;
  while (true) {
    size_t hit = s->find(from, pos);
    if (hit == std::u32string::npos) break;
    out.append(*s, pos, hit - pos);
    out.append(to);
    pos = hit + from.size();
  }
  if (pos == 0) return;
  out.append(*s, pos, std::u32string::npos);
  *s = std::move(out);
}

bool ContainsDecimalDigit(std::u32string_view s) {
  for (char32_t c : s)
    if (IsDecimalDigit(c)) return true;
  return false;
}

}  // namespace cosyflow::text_normalizer
