// English rules in NeMo's conventions (TnOptions::en_nemo, Context::nemo): spelled electronic
// addresses, mixed letter/digit tokens, cents, "per" units and h:mm:ss clocks (see en_rules.h).
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "nodes/text_normalizer/en_numbers.h"
#include "nodes/text_normalizer/en_rules.h"
#include "nodes/text_normalizer/en_tables.h"

namespace cosyflow::text_normalizer::en_rules {
namespace {

using Out = std::string;

bool IsEmailChar(char32_t c) {
  return IsAsciiAlnum(c) || c == U'.' || c == U'_' || c == U'-' || c == U'+';
}

// NeMo spells addresses piece by piece: "HTTPS colon slash slash WWW dot example dot com slash
// one two three dash SM". Host names are lowercased with "www", a protocol and an uncommon
// top-level domain upper-cased; path words without a vowel read as letters (html -> HTML).
bool CommonTld(const std::string& t) {
  for (const char* c : {"com", "org", "net", "edu", "gov", "mil", "int"})
    if (t == c) return true;
  return false;
}

bool HasVowel(const std::string& w) { return w.find_first_of("aeiouy") != std::string::npos; }

std::string Upper(std::string w) {
  for (char& c : w) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  return w;
}

enum class Part { kLocal, kProtocol, kHost, kPath };

void SpellNemoPart(Text s, Part part, Out* out) {
  auto add = [&](const Out& w) {
    if (!out->empty()) *out += ' ';
    *out += w;
  };
  size_t last_dot = part == Part::kHost ? s.rfind(U'.') : Text::npos;
  size_t i = 0;
  while (i < s.size()) {
    char32_t c = s[i];
    if (IsAsciiAlpha(c)) {
      size_t j = i;
      while (j < s.size() && IsAsciiAlpha(s[j])) ++j;
      std::string w = ToU8(s.substr(i, j - i));
      if (part != Part::kLocal) w = Lower(w);
      bool upper = part == Part::kProtocol && w != "file";
      if (part == Part::kHost) {
        upper = w == "www" || (last_dot != Text::npos && i == last_dot + 1 && j == s.size() &&
                               !CommonTld(w));
      }
      if (part == Part::kPath) upper = w.size() >= 2 && !HasVowel(w);
      add(upper ? Upper(w) : w);
      i = j;
      continue;
    }
    static constexpr std::array<std::pair<char32_t, const char*>, 14> kSymbols = {{
        {U'.', "dot"}, {U'@', "at"}, {U'-', "dash"}, {U'_', "underscore"}, {U'/', "slash"},
        {U':', "colon"}, {U'~', "tilde"}, {U'?', "question mark"}, {U'=', "equals"},
        {U'&', "and"}, {U'%', "percent"}, {U'#', "hash"}, {U'+', "plus"}, {U'*', "asterisk"},
    }};
    if (IsAsciiDigit(c)) {
      add(EnDigits(AsciiOf(s, i, 1), false));
    } else {
      Out w = ToU8(s.substr(i, 1));
      for (auto [sym, word] : kSymbols)
        if (c == sym) w = word;
      add(w);
    }
    ++i;
  }
}

bool IsUrlChar(char32_t c) {
  return IsEmailChar(c) || c == U'@' || c == U'/' || c == U'~' || c == U'%' || c == U'?' ||
         c == U'=' || c == U'&' || c == U'#' || c == U':';
}

}  // namespace

bool TryNemoElectronic(Text s, size_t i, size_t* len, Out* out) {
  if (!WordStart(s, i) || !IsAsciiAlnum(s[i])) return false;
  Out spoken;
  size_t proto = 0;
  for (std::u32string_view pre : {U"https://", U"http://", U"file://", U"ftp://"})
    if (AtNoCase(s, i, pre)) proto = pre.size() - 3;
  size_t end = i;
  while (end < s.size() && IsUrlChar(s[end])) ++end;
  while (end > i && (s[end - 1] == U'.' || s[end - 1] == U',' || s[end - 1] == U':' ||
                     s[end - 1] == U'?'))
    --end;
  Text tok = s.substr(i, end - i);
  size_t at = tok.find(U'@');
  size_t host_from = 0;
  if (proto > 0) {
    SpellNemoPart(tok.substr(0, proto), Part::kProtocol, &spoken);
    spoken += " colon slash slash";
    host_from = proto + 3;
  } else if (at != Text::npos && at > 0) {
    if (tok.substr(0, at).find(U'/') != Text::npos) return false;
    SpellNemoPart(tok.substr(0, at), Part::kLocal, &spoken);
    spoken += " at";
    host_from = at + 1;
  } else if (!AtNoCase(s, i, U"www.")) {
    // A bare domain needs a known top-level domain.
    size_t slash = tok.find(U'/');
    Text host = tok.substr(0, slash);
    size_t dot = host.rfind(U'.');
    if (dot == Text::npos || dot == 0 || host.find(U':') != Text::npos) return false;
    std::string tld = Lower(ToU8(host.substr(dot + 1)));
    bool known = CommonTld(tld);
    for (const char* t : {"io", "ai", "co", "uk", "cn", "de", "it", "fr", "us", "ca", "au", "in"})
      known = known || tld == t;
    if (!known) return false;
  }
  Text rest = tok.substr(host_from);
  size_t slash = rest.find(U'/');
  Text host = rest.substr(0, slash);
  if (proto == 0 && host.find(U'.') == Text::npos) return false;
  if (host.find(U'@') != Text::npos || host.find(U':') != Text::npos) return false;
  Out h;
  SpellNemoPart(host, Part::kHost, &h);
  if (!h.empty()) spoken += (spoken.empty() ? "" : " ") + h;
  if (slash != Text::npos) {
    Out path;
    SpellNemoPart(rest.substr(slash), Part::kPath, &path);
    spoken += (spoken.empty() ? "" : " ") + path;
  }
  *out = spoken;
  *len = end - i;
  return true;
}

// NeMo reads mixed letter/digit tokens piece by piece: "25d08A" -> "twenty five d zero eight
// A", "C24" -> "C twenty four" (digit runs with a leading zero digit by digit).
bool TryNemoSerial(Text s, size_t i, const Context& c, size_t* len, Out* out) {
  if (!c.nemo || !WordStart(s, i)) return false;
  size_t end = i;
  bool alpha = false, digit = false;
  auto inner_point = [&](size_t p) {  // "4.4x"
    return s[p] == U'.' && IsAsciiDigit(CharBefore(s, p)) && IsAsciiDigit(CharAt(s, p + 1));
  };
  while (IsAsciiAlnum(CharAt(s, end)) || (end < s.size() && inner_point(end))) {
    alpha = alpha || IsAsciiAlpha(s[end]);
    digit = digit || IsAsciiDigit(s[end]);
    ++end;
  }
  if (!alpha || !digit) return false;
  for (size_t b = i; b-- > 0 && s[b] != U']';)  // [HH AH0 L OW1]: phonemes stay as written
    if (s[b] == U'[') return false;
  std::string words;
  for (size_t p = i; p < end;) {
    size_t q = p;
    bool d = IsAsciiDigit(s[p]);
    while (q < end && (IsAsciiDigit(s[q]) || (d && inner_point(q))) == d) ++q;
    std::string piece = ToU8(s.substr(p, q - p));
    size_t point = piece.find('.');
    if (d && point != std::string::npos) {
      piece = EnDecimal(piece.substr(0, point), piece.substr(point + 1), false);
    } else if (d) {
      piece = piece.size() > 1 && piece[0] == '0' ? EnDigits(piece, false) : EnCardinal(piece);
    }
    words += (words.empty() ? "" : " ") + piece;
    p = q;
  }
  *out = words;
  *len = end - i;
  return true;
}

// NeMo's "$20.50": "twenty dollars fifty cents"; "" when the amount has no such reading.
Out NemoMoney(const NumberToken& t, const EnCurrency& cur, std::string_view plural) {
  std::string frac = t.frac;
  while (frac.size() > 2 && frac.back() == '0') frac.pop_back();
  if (frac.size() > 2 || cur.minor_plural.empty()) return "";
  if (frac.size() == 1) frac += '0';
  int whole = ToInt(t.int_part.empty() ? "0" : t.int_part);
  int minor = frac.empty() ? 0 : ToInt(frac);
  Out out;
  if (whole > 0 || minor == 0) {
    out = EnCardinal(t.int_part.empty() ? "0" : t.int_part) + " " +
          std::string(whole == 1 && t.int_part.size() == 1 ? cur.singular : plural);
  }
  if (minor > 0) {
    if (!out.empty()) out += " ";
    out += EnCardinal(frac) + " " + std::string(minor == 1 ? cur.minor_singular : cur.minor_plural);
  }
  return out;
}

// "/mo" after an amount: " per month".
size_t MatchPerUnit(Text s, size_t p, Out* word) {
  if (CharAt(s, p) != U'/') return 0;
  for (auto [lit, w] : {std::pair{U"month", "month"}, std::pair{U"mo", "month"},
                        std::pair{U"year", "year"}, std::pair{U"yr", "year"},
                        std::pair{U"week", "week"}, std::pair{U"wk", "week"},
                        std::pair{U"day", "day"}, std::pair{U"d", "day"},
                        std::pair{U"hour", "hour"}, std::pair{U"hr", "hour"},
                        std::pair{U"h", "hour"}, std::pair{U"min", "minute"}}) {
    std::u32string_view l(lit);
    if (At(s, p + 1, l) && !IsAsciiAlnum(CharAt(s, p + 1 + l.size()))) {
      *word = std::string(" per ") + w;
      return 1 + l.size();
    }
  }
  return 0;
}

// NeMo's "14:10:30": "fourteen hours ten minutes and thirty seconds".
bool NemoClock(Text s, size_t i, size_t h, size_t* len, Out* out) {
  size_t p = i + h;
  if (CharAt(s, p) != U':' || DigitRun(s, p + 1) != 2 || CharAt(s, p + 3) != U':' ||
      DigitRun(s, p + 4) != 2 || !WordEnd(s, p + 6))
    return false;
  int v[3] = {ToInt(AsciiOf(s, i, h)), ToInt(AsciiOf(s, p + 1, 2)), ToInt(AsciiOf(s, p + 4, 2))};
  if (v[0] > 24 || v[1] > 59 || v[2] > 59) return false;
  const char* names[3] = {"hour", "minute", "second"};
  std::vector<Out> parts;
  for (int k = 0; k < 3; ++k) {
    if (v[k] == 0) continue;
    parts.push_back(EnCardinal(std::to_string(v[k])) + " " + names[k] + (v[k] == 1 ? "" : "s"));
  }
  if (parts.empty()) return false;
  Out t;
  for (size_t k = 0; k < parts.size(); ++k) {
    if (k > 0) t += k + 1 == parts.size() ? " and " : " ";
    t += parts[k];
  }
  *out = t;
  *len = p + 6 - i;
  return true;
}

}  // namespace cosyflow::text_normalizer::en_rules
