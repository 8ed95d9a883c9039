// English rules for times, money, measures/addresses, fractions, ranges, ordinals, decimals,
// Roman numerals and cardinals (see en_rules.h).
#include <array>
#include <string>
#include <tuple>
#include <vector>

#include "nodes/text_normalizer/en_numbers.h"
#include "nodes/text_normalizer/en_rules.h"
#include "nodes/text_normalizer/en_tables.h"

namespace cosyflow::text_normalizer::en_rules {
namespace {

using Out = std::string;

// A signed number: "-" reads "negative" for integers and "minus" for decimals.
struct Signed {
  NumberToken t;
  bool neg = false;
  size_t len = 0;
};
bool ScanSigned(Text s, size_t i, Signed* n, bool allow_frac = true) {
  size_t p = i;
  n->neg = false;
  if (CharAt(s, p) == U'-' && IsAsciiDigit(CharAt(s, p + 1))) {
    n->neg = true;
    ++p;
  }
  if (!ScanNumber(s, p, &n->t, true, allow_frac)) return false;
  n->len = p + n->t.len - i;
  return true;
}
Out SignedWords(const Signed& n, bool drop_leading_one = false, bool nemo = false) {
  Out w = n.t.has_frac ? EnDecimal(n.t.int_part, n.t.frac, !nemo)
                       : EnCardinal(n.t.int_part, drop_leading_one);
  if (n.neg) w = (n.t.has_frac || nemo ? "minus " : "negative ") + w;
  return w;
}

// " million" etc. after a number.
size_t MatchScale(Text s, size_t p, Out* word) {
  if (CharAt(s, p) != U' ') return 0;
  for (std::u32string_view w : {U"thousand", U"million", U"billion", U"trillion"}) {
    if (At(s, p + 1, w) && WordEnd(s, p + 1 + w.size())) {
      *word = ToU8(w);
      return 1 + w.size();
    }
  }
  return 0;
}

size_t MatchMeridiem(Text s, size_t p, Out* word) {
  size_t q = CharAt(s, p) == U' ' ? p + 1 : p;
  for (auto [lit, w] : {std::pair{U"a.m.", "AM"}, std::pair{U"p.m.", "PM"}, std::pair{U"a.m", "AM"},
                        std::pair{U"p.m", "PM"}, std::pair{U"am", "AM"}, std::pair{U"pm", "PM"}}) {
    std::u32string_view l(lit);
    if (AtNoCase(s, q, l) && !IsAsciiAlpha(CharAt(s, q + l.size()))) {
      *word = w;
      return q + l.size() - p;
    }
  }
  return 0;
}

size_t MatchZone(Text s, size_t p, Out* word) {
  if (CharAt(s, p) != U' ') return 0;
  for (std::u32string_view z : {U"est", U"edt", U"cst", U"cdt", U"mst", U"mdt", U"pst", U"pdt",
                                U"gmt", U"utc", U"bst", U"cet"}) {
    if (AtNoCase(s, p + 1, z) && !IsAsciiAlpha(CharAt(s, p + 1 + z.size()))) {
      Out u = ToU8(s.substr(p + 1, z.size()));
      for (char& ch : u) ch = static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
      *word = u;
      return 1 + z.size();
    }
  }
  return 0;
}

Out FractionWords(const std::string& num, const std::string& den) {
  bool one = ToInt(num) == 1;
  Out d;
  if (den == "2") {
    d = one ? "half" : "halves";
  } else if (den == "4") {
    d = one ? "quarter" : "quarters";
  } else {
    d = EnOrdinal(den) + (one ? "" : "s");
  }
  return EnCardinal(num) + " " + d;
}

int RomanValue(char32_t c) {
  switch (c) {
    case U'I':
      return 1;
    case U'V':
      return 5;
    case U'X':
      return 10;
    case U'L':
      return 50;
    case U'C':
      return 100;
    case U'D':
      return 500;
    case U'M':
      return 1000;
    default:
      return 0;
  }
}

// Value of a canonical Roman numeral (re-encoding must give the same letters), or 0.
int ParseRoman(Text r) {
  int total = 0;
  for (size_t k = 0; k < r.size(); ++k) {
    int v = RomanValue(r[k]);
    if (v == 0) return 0;
    int next = k + 1 < r.size() ? RomanValue(r[k + 1]) : 0;
    total += v < next ? -v : v;
  }
  if (total <= 0 || total >= 4000) return 0;
  static constexpr std::array<std::pair<int, std::u32string_view>, 13> kTable = {{{1000, U"M"},
                                                                                  {900, U"CM"},
                                                                                  {500, U"D"},
                                                                                  {400, U"CD"},
                                                                                  {100, U"C"},
                                                                                  {90, U"XC"},
                                                                                  {50, U"L"},
                                                                                  {40, U"XL"},
                                                                                  {10, U"X"},
                                                                                  {9, U"IX"},
                                                                                  {5, U"V"},
                                                                                  {4, U"IV"},
                                                                                  {1, U"I"}}};
  std::u32string canon;
  int v = total;
  for (auto [n, sym] : kTable)
    while (v >= n) {
      canon += sym;
      v -= n;
    }
  return canon == r ? total : 0;
}

}  // namespace

bool TryTime(Text s, size_t i, const Context& c, size_t* len, Out* out) {
  size_t h = DigitRun(s, i);
  if (h == 0 || h > 2) return false;
  if (c.nemo && NemoClock(s, i, h, len, out)) return true;
  int hour = ToInt(AsciiOf(s, i, h));
  size_t p = i + h;
  std::string mm;
  char32_t sep = CharAt(s, p);
  if ((sep == U':' || sep == U'.') && DigitRun(s, p + 1) == 2) {
    mm = AsciiOf(s, p + 1, 2);
    p += 3;
  }
  Out mer, zone;
  size_t m = MatchMeridiem(s, p, &mer);
  if (mm.empty() && m == 0) return false;
  if (sep == U'.' && m == 0) return false;  // 2.30 alone is a decimal
  if (hour > 24 || (!mm.empty() && ToInt(mm) > 59) || IsAsciiDigit(CharAt(s, p))) return false;
  if (m == 0 && IsAsciiAlnum(CharAt(s, p))) return false;
  p += m;
  p += MatchZone(s, p, &zone);
  Out t = EnCardinal(std::to_string(hour));
  if (mm.empty() || mm == "00") {
    if (mer.empty()) t += " o'clock";
  } else if (mm[0] == '0') {
    t += " oh " + EnCardinal(mm);
  } else {
    t += " " + EnCardinal(mm);
  }
  if (!mer.empty()) t += " " + mer;
  if (!zone.empty()) t += " " + zone;
  *out = t;
  *len = p - i;
  return true;
}

bool TryMoney(Text s, size_t i, const Context& c, size_t* len, Out* out) {
  for (const auto& cur : kEnCurrencies) {
    std::u32string sym = ToU32(cur.symbol);
    if (!At(s, i, sym)) continue;
    size_t p = i + sym.size();
    if (CharAt(s, p) == U' ') ++p;
    NumberToken t;
    if (c.nemo && CharAt(s, p) == U'.' && IsAsciiDigit(CharAt(s, p + 1))) {  // $.01
      size_t f = DigitRun(s, p + 1);
      t.frac = AsciiOf(s, p + 1, f);
      t.has_frac = true;
      t.len = f + 1;
    } else if (!ScanNumber(s, p, &t)) {
      return false;
    }
    p += t.len;
    if (c.nemo) {
      Out scale;
      size_t sc = MatchScale(s, p, &scale);
      if (sc == 0) {  // ¥30B, ¥30 b
        size_t q = CharAt(s, p) == U' ' ? p + 1 : p;
        char32_t k = CharAt(s, q);
        if ((k == U'B' || k == U'b' || k == U'M' || k == U'm' || k == U'K' || k == U'k') &&
            !IsAsciiAlnum(CharAt(s, q + 1)) && CharAt(s, q + 1) != U'.') {
          scale = k == U'B' || k == U'b' ? "billion" : k == U'M' || k == U'm' ? "million"
                                                                              : "thousand";
          sc = q + 1 - p;
        }
      }
      std::string_view plural = cur.nemo_plural.empty() ? cur.plural : cur.nemo_plural;
      Out value = scale.empty() ? NemoMoney(t, cur, plural) : "";
      if (value.empty()) {
        std::string frac = t.frac;
        if (frac.find_first_not_of('0') == std::string::npos) frac.clear();
        value = EnDecimal(t.int_part, frac, false);
        if (!scale.empty()) value.append(" ").append(scale);
        bool singular = frac.empty() && scale.empty() && t.int_part == "1";
        value.append(" ").append(singular ? cur.singular : plural);
      }
      p += sc;
      Out per;
      p += MatchPerUnit(s, p, &per);
      *out = value + per;
      *len = p - i;
      return true;
    }
    std::string frac = t.frac;
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    Out value = EnDecimal(t.int_part, frac);
    Out scale;
    size_t sc = MatchScale(s, p, &scale);
    p += sc;
    if (!scale.empty()) value += " " + scale;
    bool singular = frac.empty() && scale.empty() && ToInt(t.int_part) == 1;
    *out = value + " " + std::string(singular ? cur.singular : cur.plural);
    *len = p - i;
    return true;
  }
  return false;
}

// Unit symbol at q (NeMo also takes "KG" for "kg"); its table entry and length, or nullptr.
const EnUnit* MatchUnit(Text s, size_t q, bool nemo, size_t* n) {
  for (int pass = 0; pass < (nemo ? 2 : 1); ++pass) {
    for (const auto& u : kEnUnits) {
      std::u32string sym = ToU32(u.symbol);
      if (!(pass == 0 ? At(s, q, sym) : AtNoCase(s, q, sym))) continue;
      if (IsAsciiAlnum(CharAt(s, q + sym.size()))) continue;
      if (pass == 1 && sym.size() < 2) continue;
      *n = sym.size();
      return &u;
    }
  }
  return nullptr;
}

bool TryMeasure(Text s, size_t i, const Context& c, size_t* len, Out* out) {
  Signed n;
  if (!ScanSigned(s, i, &n)) return false;
  size_t p = i + n.len;
  Out scale;
  if (c.nemo) p += MatchScale(s, p, &scale);  // "100 million kg"
  size_t q = CharAt(s, p) == U' ' ? p + 1 : p;
  size_t un = 0;
  const EnUnit* u = MatchUnit(s, q, c.nemo, &un);
  if (u == nullptr) return false;
  size_t end = q + un;
  bool singular = !n.t.has_frac && n.t.int_part == "1" && scale.empty();
  *out = SignedWords(n, false, c.nemo) + (scale.empty() ? "" : " " + scale) + " " +
         std::string(singular ? u->singular : u->plural);
  size_t pn = 0;
  const EnUnit* per = c.nemo && CharAt(s, end) == U'/' ? MatchUnit(s, end + 1, true, &pn) : nullptr;
  if (per != nullptr) {  // "12kg/kg"
    *out += " per " + std::string(per->singular);
    end += 1 + pn;
  }
  *len = end - i;
  return true;
}

bool TryAddress(Text s, size_t i, const Context&, size_t* len, Out* out) {
  size_t n = DigitRun(s, i);
  if (n < 2 || n > 5 || CharAt(s, i + n) != U' ') return false;
  size_t p = i + n + 1;
  Out words;
  for (int w = 0; w < 4; ++w) {
    for (const auto& [abbr, full] : kEnStreetTypes) {
      std::u32string a = ToU32(abbr);
      if (w > 0 && At(s, p, a) && !IsAsciiAlpha(CharAt(s, p + a.size()))) {
        size_t e = p + a.size() + (CharAt(s, p + a.size()) == U'.' ? 1 : 0);
        std::string num = AsciiOf(s, i, n);
        Out head = n == 4 ? EnYear(num) : EnCardinal(num);
        Out tail;
        // ", City, ST 12345"
        size_t c = e;
        if (CharAt(s, c) == U',' && CharAt(s, c + 1) == U' ') {
          size_t k = c + 2;
          while (k < s.size() && s[k] != U',' && s[k] != U'\n') ++k;
          if (CharAt(s, k) == U',' && CharAt(s, k + 1) == U' ') {
            for (const auto& [code, state] : kEnStates) {
              std::u32string cc = ToU32(code);
              if (!At(s, k + 2, cc) || IsAsciiAlpha(CharAt(s, k + 2 + cc.size()))) continue;
              size_t z = k + 2 + cc.size();
              tail = ToU8(s.substr(c, k + 2 - c)) + std::string(state);
              if (CharAt(s, z) == U' ' && DigitRun(s, z + 1) == 5) {
                tail += " " + EnDigits(AsciiOf(s, z + 1, 5), true);
                z += 6;
              }
              e = z;
              break;
            }
          }
        }
        *out = head + " " + words + std::string(full) + tail;
        *len = e - i;
        return true;
      }
    }
    if (!IsAsciiUpper(CharAt(s, p))) return false;
    size_t q = p;
    while (IsAsciiAlpha(CharAt(s, q))) ++q;
    if (CharAt(s, q) != U' ') return false;
    words += ToU8(s.substr(p, q + 1 - p));
    p = q + 1;
  }
  return false;
}

bool TryFraction(Text s, size_t i, const Context&, size_t* len, Out* out) {
  static constexpr std::array<std::tuple<char32_t, const char*, const char*>, 11> kVulgar = {
      {{U'½', "1", "2"},
       {U'¼', "1", "4"},
       {U'¾', "3", "4"},
       {U'⅓', "1", "3"},
       {U'⅔', "2", "3"},
       {U'⅛', "1", "8"},
       {U'⅜', "3", "8"},
       {U'⅝', "5", "8"},
       {U'⅞', "7", "8"},
       {U'⅕', "1", "5"},
       {U'⅖', "2", "5"}}};
  size_t p = i;
  Out whole;
  size_t n = DigitRun(s, i);
  if (n > 0 && (CharAt(s, i + n) == U' ' || !IsAsciiDigit(CharAt(s, i + n)))) {
    size_t q = i + n + (CharAt(s, i + n) == U' ' ? 1 : 0);
    bool next_is_fraction = false;
    for (auto [c, a, b] : kVulgar) next_is_fraction = next_is_fraction || CharAt(s, q) == c;
    size_t nn = DigitRun(s, q);
    if (q > i + n && nn > 0 && CharAt(s, q + nn) == U'/') next_is_fraction = true;
    if (next_is_fraction) {
      whole = EnCardinal(AsciiOf(s, i, n)) + " and ";
      p = q;
    }
  }
  for (auto [c, a, b] : kVulgar) {
    if (CharAt(s, p) == c) {
      *out = whole + FractionWords(a, b);
      *len = p + 1 - i;
      return true;
    }
  }
  size_t a = DigitRun(s, p);
  if (a == 0 || CharAt(s, p + a) != U'/') return false;
  size_t b = DigitRun(s, p + a + 1);
  if (b == 0) return false;
  size_t end = p + a + 1 + b;
  for (std::u32string_view suf : {U"th", U"st", U"nd", U"rd", U"s"})
    if (At(s, end, suf) && WordEnd(s, end + suf.size())) {
      end += suf.size();
      break;
    }
  if (!WordEnd(s, end) || CharAt(s, end) == U'/') return false;
  *out = whole + FractionWords(AsciiOf(s, p, a), AsciiOf(s, p + a + 1, b));
  *len = end - i;
  return true;
}

bool TryRange(Text s, size_t i, const Context& c, size_t* len, Out* out) {
  // Weekdays: Mon.-Sun.
  for (const auto& [abbr, day] : kEnWeekdays) {
    std::u32string a = ToU32(abbr);
    if (!At(s, i, a) || IsAsciiAlpha(CharAt(s, i + a.size()))) continue;
    size_t p = i + a.size() + (CharAt(s, i + a.size()) == U'.' ? 1 : 0);
    if (CharAt(s, p) != U'-') break;
    for (const auto& [abbr2, day2] : kEnWeekdays) {
      std::u32string b = ToU32(abbr2);
      if (!At(s, p + 1, b) || IsAsciiAlpha(CharAt(s, p + 1 + b.size()))) continue;
      size_t e = p + 1 + b.size() + (CharAt(s, p + 1 + b.size()) == U'.' ? 1 : 0);
      *out = std::string(day) + " to " + std::string(day2);
      *len = e - i;
      return true;
    }
    break;
  }
  size_t a = DigitRun(s, i);
  if (a == 0 || a > 4 || CharAt(s, i + a) != U'-') return false;
  size_t b = DigitRun(s, i + a + 1);
  size_t end = i + a + 1 + b;
  if (b == 0 || b > 4 || (!WordEnd(s, end) && !c.nemo) || CharAt(s, end) == U'-' ||
      (CharAt(s, end) == U'.' && IsAsciiDigit(CharAt(s, end + 1))))
    return false;
  std::string x = AsciiOf(s, i, a), y = AsciiOf(s, i + a + 1, b);
  if (c.nemo) {
    // NeMo: "1980-1970 kg" -> "... to ... kilograms", "1960-80" -> "nineteen sixty to eighty",
    // and other number pairs keep the dash: "2-5" -> "two - five".
    size_t q = CharAt(s, end) == U' ' ? end + 1 : end;
    for (const auto& u : kEnUnits) {
      std::u32string sym = ToU32(u.symbol);
      if (!At(s, q, sym) || IsAsciiAlnum(CharAt(s, q + sym.size()))) continue;
      *out = EnCardinal(x) + " to " + EnCardinal(y) + " " + std::string(u.plural);
      *len = q + sym.size() - i;
      return true;
    }
    if (!WordEnd(s, end)) return false;
    if (a == 4 && (b == 4 || b == 2) && (x[0] == '1' || x[0] == '2')) {
      *out = EnYear(x) + " to " + (b == 4 ? EnYear(y) : EnCardinal(y));
    } else {
      *out = EnCardinal(x) + " - " + EnCardinal(y);
    }
    *len = end - i;
    return true;
  }
  bool years = a == 4 && b == 4;
  *out = (years ? EnYear(x) : EnCardinal(x)) + " to " + (years ? EnYear(y) : EnCardinal(y));
  *len = end - i;
  return true;
}

bool TryOrdinal(Text s, size_t i, const Context&, size_t* len, Out* out) {
  NumberToken t;
  if (!ScanNumber(s, i, &t, true, false)) return false;
  size_t p = i + t.len;
  for (std::u32string_view suf : {U"st", U"nd", U"rd", U"th"}) {
    if (AtNoCase(s, p, suf) && WordEnd(s, p + 2)) {
      *out = EnOrdinal(t.int_part);
      *len = p + 2 - i;
      return true;
    }
  }
  return false;
}

bool TryDecimal(Text s, size_t i, const Context& c, size_t* len, Out* out) {
  Signed n;
  if (c.nemo && s[i] == U'.' && IsAsciiDigit(CharAt(s, i + 1))) {  // .5
    n.t.frac = AsciiOf(s, i + 1, DigitRun(s, i + 1));
    n.t.has_frac = true;
    n.t.len = n.len = 1 + n.t.frac.size();
  } else if (!ScanSigned(s, i, &n)) {
    return false;
  }
  size_t p = i + n.len;
  Out scale;
  size_t sc = MatchScale(s, p, &scale);
  if (!n.t.has_frac && sc == 0) return false;
  if (IsAsciiAlnum(CharAt(s, p))) return false;
  *out = SignedWords(n, false, c.nemo) + (scale.empty() ? "" : " " + scale);
  *len = p + sc - i;
  return true;
}

bool TryRoman(Text s, size_t i, const Context& c, size_t* len, Out* out) {
  size_t p = i;
  while (RomanValue(CharAt(s, p)) != 0) ++p;
  if (p == i || IsAsciiAlnum(CharAt(s, p))) return false;
  int v = ParseRoman(s.substr(i, p - i));
  if (v == 0) return false;
  if (c.full) {
    // Only after words that take a number: World War II, Chapter IV, Henry VIII.
    bool after = false;
    for (std::u32string_view w : {U"War ", U"Chapter ", U"Part ", U"Volume ", U"Vol. ", U"Act ",
                                  U"Book ", U"Phase ", U"Section ", U"Article ", U"Title ",
                                  U"Super Bowl ", U"Type ", U"Class ", U"Stage ", U"Level "}) {
      after = after || (i >= w.size() && s.substr(i - w.size(), w.size()) == w);
    }
    if (!after) return false;
  }
  *out = EnCardinal(std::to_string(v));
  *len = p - i;
  return true;
}

bool TryCardinal(Text s, size_t i, const Context& c, size_t* len, Out* out) {
  Signed n;
  if (!ScanSigned(s, i, &n, false)) return false;
  size_t p = i + n.len;
  if (IsAsciiAlpha(CharAt(s, p))) return false;
  const std::string& d = n.t.int_part;
  if (c.full && !n.neg && d.size() == 4 && n.t.len == 4 &&
      (d[0] == '1' || d.substr(0, 2) == "20")) {
    *out = EnYear(d);  // bare 4-digit numbers in running text read as years
  } else if (d.size() > 1 && d[0] == '0') {
    *out = EnDigits(d, !c.nemo);
  } else {
    *out = SignedWords(n, !c.deterministic && !c.full, c.nemo);
  }
  *len = p - i;
  return true;
}

}  // namespace cosyflow::text_normalizer::en_rules
