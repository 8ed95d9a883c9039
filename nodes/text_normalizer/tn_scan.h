// Small scanning helpers shared by the zh/en/ja rule normalizers: each rule looks at the text
// from a position and either declines or consumes a span and emits its spoken form.
#pragma once

#include <string>
#include <string_view>

#include "nodes/text_normalizer/unicode_text.h"

namespace cosyflow::text_normalizer {

// Length of the ASCII digit run starting at i.
inline size_t DigitRun(std::u32string_view s, size_t i) {
  size_t n = 0;
  while (i + n < s.size() && IsAsciiDigit(s[i + n])) ++n;
  return n;
}

inline std::string AsciiOf(std::u32string_view s, size_t i, size_t n) {
  std::string out;
  for (size_t k = 0; k < n && i + k < s.size(); ++k) out.push_back(static_cast<char>(s[i + k]));
  return out;
}

inline bool At(std::u32string_view s, size_t i, std::u32string_view lit) {
  return i <= s.size() && s.substr(i, lit.size()) == lit;
}

// Case-insensitive ASCII comparison of s[i, i + lit.size()) with lit.
inline bool AtNoCase(std::u32string_view s, size_t i, std::u32string_view lit) {
  if (i + lit.size() > s.size()) return false;
  for (size_t k = 0; k < lit.size(); ++k) {
    char32_t a = s[i + k], b = lit[k];
    if (IsAsciiAlpha(a)) a |= 0x20;
    if (IsAsciiAlpha(b)) b |= 0x20;
    if (a != b) return false;
  }
  return true;
}

inline char32_t CharAt(std::u32string_view s, size_t i) { return i < s.size() ? s[i] : U'\0'; }
inline char32_t CharBefore(std::u32string_view s, size_t i) { return i > 0 ? s[i - 1] : U'\0'; }

inline bool IsAsciiAlnum(char32_t c) { return IsAsciiAlpha(c) || IsAsciiDigit(c); }

// A plain number at i: digits, optional thousands commas (groups of exactly 3), optional
// fraction ".digits". `int_part` has the commas removed.
struct NumberToken {
  size_t len = 0;
  std::string int_part;
  std::string frac;  // without the dot
  bool has_frac = false;
};

inline bool ScanNumber(std::u32string_view s, size_t i, NumberToken* t, bool allow_commas = true,
                       bool allow_frac = true) {
  size_t n = DigitRun(s, i);
  if (n == 0) return false;
  t->int_part = AsciiOf(s, i, n);
  size_t p = i + n;
  if (allow_commas && n <= 3) {
    while (CharAt(s, p) == U',' && DigitRun(s, p + 1) == 3) {
      t->int_part += AsciiOf(s, p + 1, 3);
      p += 4;
    }
  }
  t->has_frac = false;
  t->frac.clear();
  if (allow_frac && CharAt(s, p) == U'.' && DigitRun(s, p + 1) > 0) {
    size_t f = DigitRun(s, p + 1);
    t->frac = AsciiOf(s, p + 1, f);
    t->has_frac = true;
    p += 1 + f;
  }
  t->len = p - i;
  return true;
}

inline int ToInt(std::string_view digits) {
  int v = 0;
  for (char c : digits) {
    if (v > 100000000) return v;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace cosyflow::text_normalizer
