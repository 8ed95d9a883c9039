// English TN rules in WeTextProcessing's en conventions. A left-to-right scan tries, at each
// word start, the rule classes in this order: whitelist, electronic, telephone, date, time,
// money, measure (with addresses), fraction, range, ordinal, decimal, roman, cardinal; with
// TnOptions::en_rule_class set only that class runs (what the rule-level test files assume).
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "nodes/text_normalizer/en_numbers.h"
#include "nodes/text_normalizer/en_rules.h"
#include "nodes/text_normalizer/en_tables.h"
#include "nodes/text_normalizer/rule_normalizer.h"
#include "nodes/text_normalizer/tn_scan.h"

namespace cosyflow::text_normalizer {
namespace en_rules {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return s;
}

}  // namespace en_rules

namespace {

using namespace en_rules;  // NOLINT(build/namespaces): the rule helpers of this file
using Out = std::string;

bool TryWhitelist(Text s, size_t i, size_t* len, Out* out) {
  if (!WordStart(s, i)) return false;
  for (const auto& [abbr, full] : kEnWhitelist) {
    std::u32string a = ToU32(abbr);
    if (At(s, i, a) && (a.back() == U'.' || WordEnd(s, i + a.size()))) {
      *out = full;
      *len = a.size();
      return true;
    }
  }
  return false;
}

bool IsEmailChar(char32_t c) {
  return IsAsciiAlnum(c) || c == U'.' || c == U'_' || c == U'-' || c == U'+';
}

Out SpellElectronic(Text s) {
  Out out;
  auto add = [&](const Out& w) {
    if (!out.empty()) out += ' ';
    out += w;
  };
  size_t i = 0;
  while (i < s.size()) {
    char32_t c = s[i];
    if (IsAsciiAlpha(c)) {
      size_t j = i;
      while (j < s.size() && IsAsciiAlpha(s[j])) ++j;
      add(ToU8(s.substr(i, j - i)));
      i = j;
      continue;
    }
    if (IsAsciiDigit(c)) {
      add(EnDigits(AsciiOf(s, i, 1), false));
    } else if (c == U'.') {
      add("dot");
    } else if (c == U'@') {
      add("at");
    } else if (c == U'-') {
      add("dash");
    } else if (c == U'_') {
      add("underscore");
    } else if (c == U'/') {
      add("slash");
    } else if (c == U':') {
      add("colon");
    } else {
      add(ToU8(s.substr(i, 1)));
    }
    ++i;
  }
  return out;
}

bool TryElectronic(Text s, size_t i, size_t* len, Out* out) {
  if (!WordStart(s, i) || !IsAsciiAlnum(s[i])) return false;
  size_t p = i;
  while (p < s.size() && IsEmailChar(s[p])) ++p;
  size_t end = p;
  if (CharAt(s, p) == U'@') {
    size_t q = p + 1;
    while (q < s.size() && (IsAsciiAlnum(s[q]) || s[q] == U'.' || s[q] == U'-')) ++q;
    while (q > p + 1 && s[q - 1] == U'.') --q;
    if (s.substr(p + 1, q - p - 1).find(U'.') == Text::npos) return false;
    end = q;
  } else {
    // domain.tld (a known top-level domain, no '@').
    while (end > i && s[end - 1] == U'.') --end;
    size_t dot = s.substr(i, end - i).rfind(U'.');
    if (dot == Text::npos || dot == 0) return false;
    std::string tld = Lower(ToU8(s.substr(i + dot + 1, end - i - dot - 1)));
    bool known = false;
    for (const char* t : {"com", "org", "net", "edu", "gov", "io", "ai", "co", "uk", "cn"})
      known = known || tld == t;
    if (!known) return false;
  }
  *out = SpellElectronic(s.substr(i, end - i));
  *len = end - i;
  return true;
}

Out PhoneGroup(const std::string& g) {
  if (g.size() == 3 && g[1] == '0' && g[2] == '0' && g[0] != '0') return EnCardinal(g);
  return EnDigits(g, true);
}

bool TryTelephone(Text s, size_t i, size_t* len, Out* out) {
  if (!WordStart(s, i) && s[i] != U'+') return false;
  size_t p = i;
  Out prefix;
  if (s[p] == U'+') {
    size_t c = DigitRun(s, p + 1);
    if (c == 0 || c > 3 || (CharAt(s, p + 1 + c) != U' ' && CharAt(s, p + 1 + c) != U'-'))
      return false;
    prefix = "plus " + EnDigits(AsciiOf(s, p + 1, c), true) + ", ";
    p += c + 2;
  }
  std::vector<Out> groups;
  std::vector<size_t> sizes;
  bool letters = false;
  while (true) {
    size_t d = DigitRun(s, p);
    size_t a = 0;
    while (IsAsciiUpper(CharAt(s, p + a))) ++a;
    if (d > 0 && !letters) {
      groups.push_back(PhoneGroup(AsciiOf(s, p, d)));
      sizes.push_back(d);
      p += d;
    } else if (a > 0 && d == 0 && groups.size() >= 2) {
      Out w = ToU8(s.substr(p, a));
      if (letters) {
        groups.back() += " " + w;
      } else {
        groups.push_back(w);
      }
      letters = true;
      p += a;
    } else {
      return false;
    }
    if (CharAt(s, p) == U'-' &&
        (IsAsciiDigit(CharAt(s, p + 1)) || IsAsciiUpper(CharAt(s, p + 1)))) {
      ++p;
      continue;
    }
    break;
  }
  if (!WordEnd(s, p)) return false;
  bool nanp = sizes.size() >= 3 && sizes[0] == 3 && sizes[1] == 3 && sizes[2] == 4;
  bool vanity = letters && sizes.size() >= 2;
  if (!nanp && !vanity) return false;
  Out joined = prefix;
  for (size_t k = 0; k < groups.size(); ++k) joined += (k ? ", " : "") + groups[k];
  *out = joined;
  *len = p - i;
  return true;
}

}  // namespace
}  // namespace cosyflow::text_normalizer

namespace cosyflow::text_normalizer {
namespace {

using en_rules::Context;
using RuleFn = bool (*)(en_rules::Text, size_t, const Context&, size_t*, std::string*);

struct EnRule {
  std::string_view rule_class;
  RuleFn fn;
};

// "2 * 10 μm": a multiplication sign between numbers reads "times" (measure class).
bool TryTimes(en_rules::Text s, size_t i, const Context& c, size_t* len, std::string* out) {
  if (c.nemo) return false;  // NeMo reads "2*8" as "two asterisk eight"
  size_t n = DigitRun(s, i);
  if (n == 0 || !en_rules::WordStart(s, i)) return false;
  size_t p = i + n;
  while (CharAt(s, p) == U' ') ++p;
  if (CharAt(s, p) != U'*' && CharAt(s, p) != U'×') return false;
  size_t q = p + 1;
  while (CharAt(s, q) == U' ') ++q;
  if (!IsAsciiDigit(CharAt(s, q))) return false;
  *out = EnCardinal(AsciiOf(s, i, n)) + " times ";
  *len = q - i;
  return true;
}

const std::array<EnRule, 17> kEnRules = {{
    {"whitelist", [](en_rules::Text s, size_t i, const Context&, size_t* l,
                     std::string* o) { return TryWhitelist(s, i, l, o); }},
    {"electronic", [](en_rules::Text s, size_t i, const Context& c, size_t* l,
                      std::string* o) {
       return c.nemo ? en_rules::TryNemoElectronic(s, i, l, o) : TryElectronic(s, i, l, o);
     }},
    {"telephone", [](en_rules::Text s, size_t i, const Context&, size_t* l,
                     std::string* o) { return TryTelephone(s, i, l, o); }},
    {"date", en_rules::TryDate},
    {"time", en_rules::TryTime},
    {"money", en_rules::TryMoney},
    {"measure", en_rules::TryAddress},
    {"measure", TryTimes},
    {"measure", en_rules::TryMeasure},
    {"fraction", en_rules::TryFraction},
    {"range", en_rules::TryRange},
    {"ordinal", en_rules::TryOrdinal},
    {"decimal", en_rules::TryDecimal},
    {"roman", en_rules::TryRoman},
    {"cardinal", en_rules::TryNemoSerial},
    {"cardinal", en_rules::TryCardinal},
    {"word", nullptr},
}};

// NeMo-only joins between tokens: "$250-$300" and "5pm-7 pm" read "to"; symbols between or
// around words are spoken ("f++" -> "f plus plus", "a/b" -> "a slash b", "@x" -> "at x").
// Consumes s[*i...] and appends to *result when it applies.
bool NemoJoin(std::u32string_view s, size_t start, const Context& ctx, const std::string& only,
              std::string_view last_class, size_t last_end, std::u32string* result,
              size_t* i) {
  char32_t c = s[start];
  if (c == U'-' && last_end == start && (last_class == "money" || last_class == "time")) {
    size_t from = start + 1;
    for (const auto& rule : kEnRules) {
      if (rule.rule_class != last_class || rule.fn == nullptr) continue;
      size_t len = 0;
      std::string out;
      if (rule.fn(s, from, ctx, &len, &out) && len > 0) {
        *result += U" to " + ToU32(out);
        *i = from + len;
        return true;
      }
    }
    return false;
  }
  if (!ctx.full && only != "word") return false;
  auto space_before = [&] {
    if (!result->empty() && result->back() != U' ') result->push_back(U' ');
  };
  auto space_after = [&](size_t next) {
    char32_t n = CharAt(s, next);
    bool punct = n == U'.' || n == U',' || n == U'!' || n == U'?' || n == U';' || n == U':';
    if (next < s.size() && n != U' ' && !punct) result->push_back(U' ');
  };
  if (c == U'/') {
    size_t a = start, b = start + 1;
    while (a > 0 && s[a - 1] == U' ') --a;
    while (b < s.size() && s[b] == U' ') ++b;
    if (a == 0 || !IsAsciiAlpha(s[a - 1]) || !IsAsciiAlpha(CharAt(s, b))) return false;
    if (!IsAsciiAlpha(CharAt(s, b + 1)) || (a >= 2 && !IsAsciiAlpha(s[a - 2]))) return false;
    result->resize(result->size() - (start - a));
    space_before();
    *result += U"slash ";
    *i = b;
    return true;
  }
  const char* word = nullptr;
  bool digit_around = IsAsciiDigit(CharBefore(s, start)) || IsAsciiDigit(CharAt(s, start + 1));
  if (c == U'@') word = "at";
  if (c == U'+' && (CharAt(s, start + 1) == U'+' || CharBefore(s, start) == U'+' ||
                    (IsAsciiDigit(CharBefore(s, start)) && IsAsciiDigit(CharAt(s, start + 1)))))
    word = "plus";
  if (c == U'$' && !IsAsciiDigit(CharAt(s, start + 1)) && !IsAsciiDigit(CharAt(s, start + 2)))
    word = "dollar";
  if (c == U'&' && CharAt(s, start + 1) == U' ' && CharBefore(s, start) == U' ') word = "and";
  if (c == U'*' && IsAsciiDigit(CharBefore(s, start)) && IsAsciiDigit(CharAt(s, start + 1)))
    word = "asterisk";
  if (c == U'=' && digit_around) word = "equals";
  if (word == nullptr) return false;
  space_before();
  *result += ToU32(word);
  space_after(start + 1);
  *i = start + 1;
  return true;
}

}  // namespace

std::u32string EnVerbalize(std::u32string_view s, const TnOptions& options) {
  Context ctx;
  ctx.deterministic = options.en_deterministic;
  ctx.nemo = options.en_nemo;
  const std::string& only = options.en_rule_class;
  bool known_class = false;
  for (const auto& r : kEnRules) known_class = known_class || r.rule_class == only;
  ctx.full = only.empty() || !known_class;
  std::u32string result;
  size_t i = 0;
  std::string_view last_class;  // class of the rule whose output ends at i (if any)
  size_t last_end = std::u32string::npos;
  while (i < s.size()) {
    bool done = false;
    if (ctx.nemo && NemoJoin(s, i, ctx, only, last_class, last_end, &result, &i)) continue;
    if (en_rules::WordStart(s, i) && s[i] != U' ') {
      for (const auto& rule : kEnRules) {
        if (rule.fn == nullptr || (!ctx.full && rule.rule_class != only)) continue;
        size_t len = 0;
        std::string out;
        if (rule.fn(s, i, ctx, &len, &out) && len > 0) {
          result += ToU32(out);
          i += len;
          last_class = rule.rule_class;
          last_end = i;
          done = true;
          break;
        }
      }
    }
    if (!done) result.push_back(s[i++]);
  }
  return result;
}

}  // namespace cosyflow::text_normalizer
