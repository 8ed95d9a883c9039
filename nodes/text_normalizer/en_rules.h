// Internal: the English rule functions shared by en_tn.cpp (driver, whitelist, electronic,
// telephone) and en_tn_numeric.cpp (dates, times, money, measures, numbers). Each Try*(s, i,
// &len, &out) consumes s[i, i + len) and emits its spoken form, or declines.
#pragma once

#include <string>
#include <string_view>

#include "nodes/text_normalizer/tn_scan.h"

namespace cosyflow::text_normalizer {
struct EnCurrency;
}  // namespace cosyflow::text_normalizer

namespace cosyflow::text_normalizer::en_rules {

using Text = std::u32string_view;

inline bool WordStart(Text s, size_t i) { return !IsAsciiAlnum(CharBefore(s, i)); }
inline bool WordEnd(Text s, size_t p) { return !IsAsciiAlnum(CharAt(s, p)); }
std::string Lower(std::string s);

struct Context {
  bool deterministic = true;
  bool full = true;  // full normalizer (not a single rule class)
  bool nemo = false;  // NeMo's conventions (TnOptions::en_nemo)
};

bool TryDate(Text s, size_t i, const Context& c, size_t* len, std::string* out);
bool TryTime(Text s, size_t i, const Context& c, size_t* len, std::string* out);
bool TryMoney(Text s, size_t i, const Context& c, size_t* len, std::string* out);
bool TryMeasure(Text s, size_t i, const Context& c, size_t* len, std::string* out);
bool TryAddress(Text s, size_t i, const Context& c, size_t* len, std::string* out);
bool TryFraction(Text s, size_t i, const Context& c, size_t* len, std::string* out);
bool TryRange(Text s, size_t i, const Context& c, size_t* len, std::string* out);
bool TryOrdinal(Text s, size_t i, const Context& c, size_t* len, std::string* out);
bool TryDecimal(Text s, size_t i, const Context& c, size_t* len, std::string* out);
bool TryRoman(Text s, size_t i, const Context& c, size_t* len, std::string* out);
bool TryCardinal(Text s, size_t i, const Context& c, size_t* len, std::string* out);

// NeMo-only readers (en_tn_nemo.cpp).
bool TryNemoElectronic(Text s, size_t i, size_t* len, std::string* out);
bool TryNemoSerial(Text s, size_t i, const Context& c, size_t* len, std::string* out);
// "$20.50" -> "twenty dollars fifty cents"; "" when the amount has no such reading.
std::string NemoMoney(const NumberToken& t, const EnCurrency& cur, std::string_view plural);
// "/mo" -> " per month"; returns the length consumed (0: none).
size_t MatchPerUnit(Text s, size_t p, std::string* word);
// "14:10:30" -> "fourteen hours ten minutes and thirty seconds" (h = hour digit count).
bool NemoClock(Text s, size_t i, size_t h, size_t* len, std::string* out);

}  // namespace cosyflow::text_normalizer::en_rules
