// English number-bearing rules: dates, times, money, measures/addresses, fractions, ranges,
// ordinals, decimals, Roman numerals and cardinals (see en_rules.h).
#include <array>
#include <string>

#include "nodes/text_normalizer/en_numbers.h"
#include "nodes/text_normalizer/en_rules.h"
#include "nodes/text_normalizer/en_tables.h"

namespace cosyflow::text_normalizer::en_rules {
namespace {

using Out = std::string;

size_t MatchWord(Text s, size_t p, std::string_view word, bool nocase) {
  std::u32string u = ToU32(word);
  bool hit = nocase ? AtNoCase(s, p, u) : At(s, p, u);
  return hit && !IsAsciiAlpha(CharAt(s, p + u.size())) ? u.size() : 0;
}

// Month name or abbreviation (optional trailing '.') at p.
size_t MatchMonth(Text s, size_t p, std::string_view* month) {
  if (!WordStart(s, p)) return 0;
  for (const auto& [spelling, name] : kEnMonths) {
    size_t n = MatchWord(s, p, spelling, true);
    if (n == 0) continue;
    *month = name;
    return n + (CharAt(s, p + n) == U'.' && spelling.size() <= 4 ? 1 : 0);
  }
  return 0;
}

// Day number 1..31 with an optional st/nd/rd/th suffix.
size_t MatchDay(Text s, size_t p, std::string* day) {
  size_t n = DigitRun(s, p);
  if (n == 0 || n > 2) return 0;
  int v = ToInt(AsciiOf(s, p, n));
  if (v < 1 || v > 31) return 0;
  size_t q = p + n;
  for (std::u32string_view suf : {U"st", U"nd", U"rd", U"th"})
    if (AtNoCase(s, q, suf)) q += 2;
  if (IsAsciiAlnum(CharAt(s, q)) || CharAt(s, q) == U':') return 0;
  *day = AsciiOf(s, p, n);
  return q - p;
}

Out TheDayOf(const std::string& day, std::string_view month) {
  return "the " + EnOrdinal(day) + " of " + std::string(month);
}

// NeMo reads month-first dates as "july twenty fifth"; WeTextProcessing "the 25th of july".
Out MonthDay(const std::string& day, std::string_view month, bool nemo) {
  return nemo ? std::string(month) + " " + EnOrdinal(day) : TheDayOf(day, month);
}

// Two-digit years read as a cardinal ("twenty"), with a leading zero as "zero five".
Out ShortYear(const std::string& y) {
  return y[0] == '0' ? "zero " + EnCardinal(y.substr(1)) : EnCardinal(y);
}

bool ValidMd(int m, int d) { return m >= 1 && m <= 12 && d >= 1 && d <= 31; }

bool NumericDate(Text s, size_t i, bool nemo, size_t* len, Out* out) {
  size_t a = DigitRun(s, i);
  char32_t sep = CharAt(s, i + a);
  if (sep != U'-' && sep != U'/' && sep != U'.') return false;
  size_t b = DigitRun(s, i + a + 1);
  size_t p = i + a + 1 + b;
  if (b == 0 || b > 2 || CharAt(s, p) != sep) return false;
  size_t c = DigitRun(s, p + 1);
  size_t end = p + 1 + c;
  if (c == 0 || IsAsciiAlnum(CharAt(s, end)) ||
      (CharAt(s, end) == U'.' && IsAsciiDigit(CharAt(s, end + 1))))
    return false;
  std::string x = AsciiOf(s, i, a), y = AsciiOf(s, i + a + 1, b), z = AsciiOf(s, p + 1, c);
  if (a == 4 && c <= 2 && ValidMd(ToInt(y), ToInt(z))) {
    *out = MonthDay(z, kEnMonthNames[ToInt(y) - 1], nemo) + " " + EnYear(x);
  } else if (c == 4 && a <= 2 && ValidMd(ToInt(x), ToInt(y))) {
    *out = MonthDay(y, kEnMonthNames[ToInt(x) - 1], nemo) + " " + EnYear(z);
  } else if (c == 4 && a <= 2 && ValidMd(ToInt(y), ToInt(x))) {
    *out = TheDayOf(x, kEnMonthNames[ToInt(y) - 1]) + " " + EnYear(z);
  } else if (nemo && sep == U'/' && c == 2 && a <= 2 && ValidMd(ToInt(x), ToInt(y))) {
    *out = MonthDay(y, kEnMonthNames[ToInt(x) - 1], nemo) + " " + ShortYear(z);
  } else {
    return false;
  }
  *len = end - i;
  return true;
}

size_t MatchEra(Text s, size_t p, Out* era) {
  size_t q = CharAt(s, p) == U' ' ? p + 1 : p;
  for (auto [lit, word] :
       {std::pair{U"B.C.E.", "BCE"}, std::pair{U"B.C.", "BC"}, std::pair{U"B.C", "BC"},
        std::pair{U"BCE", "BCE"}, std::pair{U"BC", "BC"}, std::pair{U"A.D.", "AD"},
        std::pair{U"A.D", "AD"}, std::pair{U"AD", "AD"}, std::pair{U"CE", "CE"}}) {
    std::u32string_view l(lit);
    if (At(s, q, l) && !IsAsciiAlpha(CharAt(s, q + l.size()))) {
      *era = word;
      return q + l.size() - p;
    }
  }
  return 0;
}

}  // namespace

bool TryDate(Text s, size_t i, const Context& c, size_t* len, Out* out) {
  if (!WordStart(s, i)) return false;
  if (IsAsciiDigit(s[i]) && NumericDate(s, i, c.nemo, len, out)) return true;
  if (c.nemo && s[i] == U'\'' && DigitRun(s, i + 1) == 2 && CharAt(s, i + 3) == U's' &&
      WordEnd(s, i + 4)) {  // '80s
    Out w = EnCardinal(AsciiOf(s, i + 1, 2));
    *out = w.back() == 'y' ? w.substr(0, w.size() - 1) + "ies" : w + "s";
    *len = 4;
    return true;
  }
  std::string_view month;
  std::string day;
  if (size_t m = MatchMonth(s, i, &month)) {
    size_t p = i + m;
    if (CharAt(s, p) != U' ' && !(c.nemo && CharAt(s, p) == U'-')) return false;
    if (size_t d = MatchDay(s, p + 1, &day)) {
      *out = MonthDay(day, month, c.nemo);
      p += 1 + d;
      if (CharAt(s, p) == U',' && CharAt(s, p + 1) == U' ' && DigitRun(s, p + 2) == 4 &&
          WordEnd(s, p + 6)) {
        *out += (c.nemo ? ", " : " , ") + EnYear(AsciiOf(s, p + 2, 4));
        p += 6;
      } else if (c.nemo && CharAt(s, p) == U' ' && DigitRun(s, p + 1) == 4 &&
                 WordEnd(s, p + 5)) {
        *out += " " + EnYear(AsciiOf(s, p + 1, 4));
        p += 5;
      }
      *len = p - i;
      return true;
    }
    if (DigitRun(s, p + 1) == 4 && WordEnd(s, p + 5)) {
      *out = std::string(month) + " " + EnYear(AsciiOf(s, p + 1, 4));
      *len = p + 5 - i;
      return true;
    }
    return false;
  }
  if (size_t d = MatchDay(s, i, &day)) {
    size_t p = i + d;
    size_t m = CharAt(s, p) == U' ' ? MatchMonth(s, p + 1, &month) : 0;
    if (m > 0) {
      *out = TheDayOf(day, month);
      // "on the 26th May": the article is already there.
      if (c.nemo && i >= 4 && Lower(ToU8(s.substr(i - 4, 4))) == "the ") *out = out->substr(4);
      p += 1 + m;
      if (CharAt(s, p) == U' ' && DigitRun(s, p + 1) == 4 && WordEnd(s, p + 5)) {
        *out += " " + EnYear(AsciiOf(s, p + 1, 4));
        p += 5;
      }
      *len = p - i;
      return true;
    }
  }
  size_t n = DigitRun(s, i);
  // 1H23: first/second half of a year.
  if (n == 1 && (s[i] == U'1' || s[i] == U'2') && CharAt(s, i + 1) == U'H') {
    size_t y = DigitRun(s, i + 2);
    if ((y == 2 || y == 4) && WordEnd(s, i + 2 + y)) {
      *out = std::string("the ") + (s[i] == U'1' ? "first" : "second") + " half of " +
             (y == 2 ? EnCardinal(AsciiOf(s, i + 2, 2)) : EnYear(AsciiOf(s, i + 2, 4)));
      *len = 2 + y;
      return true;
    }
  }
  if (c.nemo && (n == 3 || n == 4) && !IsAsciiDigit(CharAt(s, i + n))) {
    Out era;
    if (size_t e = MatchEra(s, i + n, &era)) {
      *out = EnYear(AsciiOf(s, i, n)) + " " + era;
      *len = n + e;
      return true;
    }
    if (n == 4 && CharAt(s, i + 4) == U' ' && CharAt(s, i + 5) == U's' && WordEnd(s, i + 6)) {
      Out w = EnYear(AsciiOf(s, i, 4));  // "1980 s"
      *out = w.back() == 'y' ? w.substr(0, w.size() - 1) + "ies" : w + "s";
      *len = 6;
      return true;
    }
  }
  if (n == 4 && !IsAsciiDigit(CharAt(s, i + 4))) {
    std::string y = AsciiOf(s, i, 4);
    Out era;
    if (size_t e = MatchEra(s, i + 4, &era)) {
      *out = EnYear(y) + " " + era;
      *len = 4 + e;
      return true;
    }
    if (CharAt(s, i + 4) == U's' && WordEnd(s, i + 5)) {  // 1990s
      Out w = EnYear(y);
      *out = w.back() == 'y' ? w.substr(0, w.size() - 1) + "ies" : w + "s";
      *len = 5;
      return true;
    }
    if (!c.full && WordEnd(s, i + 4)) {
      *out = EnYear(y);
      *len = 4;
      return true;
    }
  }
  return false;
}

}  // namespace cosyflow::text_normalizer::en_rules
