// Code-point level helpers of the text front end (UTF-32 work strings, character classes with
// the Python semantics the reference relies on).
#pragma once

#include <string>
#include <string_view>

namespace cosyflow::text_normalizer {

// UTF-8 -> UTF-32; ill-formed sequences become U+FFFD (one per maximal subpart).
std::u32string ToU32(std::string_view s);
std::string ToU8(std::u32string_view s);

// U+4E00..U+9FFF only (CosyVoice's contains_chinese / wetext's language switch).
inline bool IsCjkIdeograph(char32_t c) { return c >= 0x4E00 && c <= 0x9FFF; }
inline bool IsAsciiDigit(char32_t c) { return c >= U'0' && c <= U'9'; }
inline bool IsHiragana(char32_t c) { return c >= 0x3041 && c <= 0x309F; }
inline bool IsKatakana(char32_t c) { return (c >= 0x30A0 && c <= 0x30FF) || c == 0x30FC; }

// Unicode general category Nd (Python re's \d on str).
bool IsDecimalDigit(char32_t c);
// Python str.isdigit(): Nd plus the Numeric_Type=Digit characters (superscripts, circled
// digits, ...).
bool IsPythonDigit(char32_t c);
// Python str.isspace() (Unicode White_Space plus the ASCII separators 0x1C..0x1F).
bool IsPythonSpace(char32_t c);
// General category P* or S*.
bool IsPunctOrSymbol(char32_t c);
// Numeric value 0..9 of a decimal digit (any script), or -1.
int DigitValue(char32_t c);

// Python str.strip() with no argument.
std::u32string_view StripPython(std::u32string_view s);

// Replaces every occurrence of `from` by `to`.
void ReplaceAll(std::u32string* s, std::u32string_view from, std::u32string_view to);

bool ContainsDecimalDigit(std::u32string_view s);

}  // namespace cosyflow::text_normalizer
