// Japanese TN rules in WeTextProcessing's ja conventions (千 without 一 in the lowest group, 〇
// for zero, ゼロ in phone numbers, 対 for scores, から for ranges). Scan order: whitelist,
// telephone, digit strings (IP addresses, 番号/号 contexts), dates, times, scores, money,
// fractions/percentages, measures and ranges, math operators, numbers.
#include <array>
#include <string>
#include <utility>

#include "nodes/text_normalizer/rule_normalizer.h"
#include "nodes/text_normalizer/tn_scan.h"

namespace cosyflow::text_normalizer {
namespace {

using Out = std::u32string;
using Text = std::u32string_view;

constexpr char32_t kJaDigit[] = U"〇一二三四五六七八九";

Out JaDigits(std::string_view d, bool zero_as_zero_word = false) {
  Out out;
  for (char c : d) {
    if (c == '0' && zero_as_zero_word) {
      out += U"ゼロ";
    } else if (c >= '0' && c <= '9') {
      out.push_back(kJaDigit[c - '0']);
    }
  }
  return out;
}

// One 4-digit group; `higher` = the group carries 万/億/兆 (then 千 is read 一千).
Out JaGroup(int v, bool higher) {
  Out out;
  static constexpr char32_t kPlace[] = U"千百十";
  int div = 1000;
  for (int k = 0; k < 3; ++k, div /= 10) {
    int d = (v / div) % 10;
    if (d == 0) continue;
    if (d > 1 || (k == 0 && higher)) out.push_back(kJaDigit[d]);
    out.push_back(kPlace[k]);
  }
  if (v % 10) out.push_back(kJaDigit[v % 10]);
  return out;
}

Out JaCardinal(std::string_view digits) {
  size_t first = digits.find_first_not_of('0');
  if (first == std::string_view::npos) return U"〇";
  std::string_view n = digits.substr(first);
  if (n.size() > 16) return JaDigits(n);
  std::array<int, 4> g{};
  for (size_t k = 0; k < 4; ++k) {
    int v = 0;
    for (int d = 3; d >= 0; --d) {
      size_t from_right = k * 4 + d;
      v = v * 10 + (from_right < n.size() ? n[n.size() - 1 - from_right] - '0' : 0);
    }
    g[k] = v;
  }
  // WeTextProcessing reads numbers from 億 up with a non-zero 万 group digit by digit.
  if (n.size() > 8 && g[1] != 0) return JaDigits(n);
  static constexpr std::u32string_view kUnit[] = {U"", U"万", U"億", U"兆"};
  Out out;
  for (size_t k = 4; k-- > 0;) {
    if (g[k] == 0) continue;
    out += JaGroup(g[k], k > 0) + Out(kUnit[k]);
  }
  return out;
}

Out JaDecimal(const NumberToken& t) {
  Out out = JaCardinal(t.int_part);
  if (t.has_frac) out += U"点" + JaDigits(t.frac);
  return out;
}

bool ValidMonth(int m) { return m >= 1 && m <= 12; }
bool ValidDay(int d) { return d >= 1 && d <= 31; }

bool TryWhitelist(Text s, size_t i, size_t* len, Out* out) {
  static constexpr std::array<std::pair<std::u32string_view, std::u32string_view>, 1> kWords = {
      {{U"FOREVER21", U"FOREVERトゥエンティーワン"}}};
  for (auto [w, r] : kWords) {
    if (At(s, i, w)) {
      *out = r;
      *len = w.size();
      return true;
    }
  }
  if (IsAsciiUpper(CharAt(s, i)) && CharAt(s, i + 1) == U'2' && IsAsciiUpper(CharAt(s, i + 2)) &&
      !IsAsciiAlnum(CharBefore(s, i)) && !IsAsciiAlnum(CharAt(s, i + 3))) {
    *out = Out(1, s[i]) + U" to " + Out(1, s[i + 2]);
    *len = 3;
    return true;
  }
  return false;
}

// 0x0-xxxx-xxxx and +81 forms; hyphens read の.
bool TryTelephone(Text s, size_t i, size_t* len, Out* out) {
  size_t p = i;
  Out text;
  if (s[p] == U'+') {
    size_t c = DigitRun(s, p + 1);
    if (c == 0 || c > 3) return false;
    text = U"プラス" + JaDigits(AsciiOf(s, p + 1, c));
    p += 1 + c;
    if (CharAt(s, p) == U'-') {
      text += U"の";
      ++p;
    } else if (CharAt(s, p) == U' ') {
      ++p;
    } else {
      return false;
    }
    if (CharAt(s, p) != U'0') return false;
  } else if (s[p] != U'0' || IsAsciiDigit(CharBefore(s, i))) {
    return false;
  }
  int groups = 0;
  while (true) {
    size_t d = DigitRun(s, p);
    if (d == 0) return false;
    text += JaDigits(AsciiOf(s, p, d), true);
    p += d;
    ++groups;
    if (CharAt(s, p) == U'-' && IsAsciiDigit(CharAt(s, p + 1))) {
      text += U"の";
      ++p;
      continue;
    }
    break;
  }
  if (groups < 3 && s[i] != U'+') return false;
  *out = text;
  *len = p - i;
  return true;
}

bool TryDigitString(Text s, size_t i, size_t* len, Out* out) {
  size_t n = DigitRun(s, i);
  if (n == 0 || IsAsciiDigit(CharBefore(s, i))) return false;
  // IP address: four dotted groups.
  size_t p = i;
  Out ip;
  int parts = 0;
  while (true) {
    size_t d = DigitRun(s, p);
    if (d == 0 || d > 3) break;
    ip += JaDigits(AsciiOf(s, p, d));
    p += d;
    ++parts;
    if (parts < 4 && CharAt(s, p) == U'.' && IsAsciiDigit(CharAt(s, p + 1))) {
      ip += U"点";
      ++p;
      continue;
    }
    break;
  }
  if (parts == 4 && !IsAsciiDigit(CharAt(s, p))) {
    *out = ip;
    *len = p - i;
    return true;
  }
  if (CharAt(s, i + n) == U'.' || CharAt(s, i + n) == U',') return false;
  bool after_bangou = i >= 2 && s.substr(i - 2, 2) == U"番号";
  bool before_go = CharAt(s, i + n) == U'号';
  if ((after_bangou || before_go) && n >= 3) {
    *out = JaDigits(AsciiOf(s, i, n));
    *len = n;
    return true;
  }
  return false;
}

// M/D, Y/M/D, Y/M, M/Y with one separator kind; returns the reading.
bool ScanDate(Text s, size_t i, bool loose_dash, size_t* len, Out* out) {
  size_t a = DigitRun(s, i);
  char32_t sep = CharAt(s, i + a);
  if (a == 0 || (sep != U'/' && sep != U'-' && sep != U'.')) return false;
  size_t b = DigitRun(s, i + a + 1);
  if (b == 0) return false;
  std::string x = AsciiOf(s, i, a), y = AsciiOf(s, i + a + 1, b);
  size_t p = i + a + 1 + b;
  if (CharAt(s, p) == sep && IsAsciiDigit(CharAt(s, p + 1))) {
    size_t c = DigitRun(s, p + 1);
    std::string z = AsciiOf(s, p + 1, c);
    if (a != 4 || !ValidMonth(ToInt(y)) || !ValidDay(ToInt(z))) return false;
    *out = JaCardinal(x) + U"年" + JaCardinal(y) + U"月" + JaCardinal(z) + U"日";
    *len = p + 1 + c - i;
    return true;
  }
  if (IsAsciiDigit(CharAt(s, p)) || (CharAt(s, p) == U'.' && IsAsciiDigit(CharAt(s, p + 1))))
    return false;
  char32_t next = CharAt(s, p);
  if (next == U'年' || next == U'月' || next == U'日') return false;  // 10-11月 is a range
  if (a == 4 && b <= 2 && ValidMonth(ToInt(y))) {
    *out = JaCardinal(x) + U"年" + JaCardinal(y) + U"月";
  } else if (b == 4 && a <= 2 && ValidMonth(ToInt(x))) {
    *out = JaCardinal(y) + U"年" + JaCardinal(x) + U"月";
  } else if (a <= 2 && b <= 2 && ValidMonth(ToInt(x)) && ValidDay(ToInt(y))) {
    bool both_two = a == 2 && b == 2;
    if (sep == U'-' && !both_two && !loose_dash) return false;
    if (sep == U'.' && !both_two) return false;
    *out = JaCardinal(x) + U"月" + JaCardinal(y) + U"日";
  } else {
    return false;
  }
  *len = p - i;
  return true;
}

bool TryDate(Text s, size_t i, size_t* len, Out* out) {
  if (IsAsciiDigit(CharBefore(s, i))) return false;
  // A dash date next to kana reads as a date ("5-15から"), otherwise as math.
  bool loose = IsHiragana(CharBefore(s, i));
  size_t probe = i;
  while (IsAsciiDigit(CharAt(s, probe)) || CharAt(s, probe) == U'-') ++probe;
  loose = loose || IsHiragana(CharAt(s, probe));
  if (!ScanDate(s, i, loose, len, out)) return false;
  // Date range: date-date -> から.
  size_t p = i + *len;
  if (CharAt(s, p) == U'-' || CharAt(s, p) == U'~') {
    size_t l2;
    Out o2;
    if (ScanDate(s, p + 1, true, &l2, &o2)) {
      *out += U"から" + o2;
      *len += 1 + l2;
    }
  }
  return true;
}

size_t MatchMeridiem(Text s, size_t p, bool* pm) {
  for (auto [lit, is_pm] :
       {std::pair{std::u32string_view(U"A M"), false}, std::pair{std::u32string_view(U"P M"), true},
        std::pair{std::u32string_view(U"am"), false},
        std::pair{std::u32string_view(U"pm"), true}}) {
    if (AtNoCase(s, p, lit) && !IsAsciiAlpha(CharAt(s, p + lit.size()))) {
      *pm = is_pm;
      return lit.size();
    }
  }
  return 0;
}

bool ScanTime(Text s, size_t i, size_t* len, Out* out) {
  size_t h = DigitRun(s, i);
  if (h == 0 || h > 2 || CharAt(s, i + h) != U':' || DigitRun(s, i + h + 1) != 2) return false;
  int hour = ToInt(AsciiOf(s, i, h)), minute = ToInt(AsciiOf(s, i + h + 1, 2));
  if (hour > 24 || minute > 59) return false;
  size_t p = i + h + 3;
  bool pm = false;
  size_t m = MatchMeridiem(s, p, &pm);
  Out t = JaCardinal(std::to_string(hour)) + U"時";
  if (minute > 0) t += JaCardinal(std::to_string(minute)) + U"分";
  *out = m ? Out(pm ? U"午後" : U"午前") + t : t;
  *len = p + m - i;
  return true;
}

bool TryTime(Text s, size_t i, size_t* len, Out* out) {
  if (!ScanTime(s, i, len, out)) return false;
  size_t p = i + *len;
  size_t l2;
  Out o2;
  if ((CharAt(s, p) == U'-' || CharAt(s, p) == U'~') && ScanTime(s, p + 1, &l2, &o2)) {
    *out += U"から" + o2;
    *len += 1 + l2;
  }
  return true;
}

bool TryScore(Text s, size_t i, size_t* len, Out* out) {
  size_t a = DigitRun(s, i);
  char32_t sep = CharAt(s, i + a);
  if (a == 0 || a > 2 || (sep != U':' && sep != U'-')) return false;
  size_t b = DigitRun(s, i + a + 1);
  size_t end = i + a + 1 + b;
  if (b == 0 || b > 2 || IsAsciiAlnum(CharAt(s, end)) || CharAt(s, end) == U'-') return false;
  if (sep == U'-') {
    char32_t prev = CharBefore(s, i);
    bool team = prev != 0 && !IsHiragana(prev) && !IsAsciiDigit(prev) && prev != U' ' &&
                !IsPunctOrSymbol(prev);
    if (!team || IsHiragana(CharAt(s, end))) return false;
  }
  *out = JaCardinal(AsciiOf(s, i, a)) + U"対" + JaCardinal(AsciiOf(s, i + a + 1, b));
  *len = end - i;
  return true;
}

struct Pair {
  std::u32string_view from;
  std::u32string_view to;
};

constexpr std::array<Pair, 14> kJaCurrencies = {{
    {U"USD", U"アメリカドル"},
    {U"HKD", U"香港ドル"},
    {U"CAD", U"カナダドル"},
    {U"AUD", U"オーストラリアドル"},
    {U"EUR", U"ユーロ"},
    {U"GBP", U"ポンド"},
    {U"JPY", U"円"},
    {U"CNY", U"人民元"},
    {U"￥", U"円"},
    {U"¥", U"円"},
    {U"$", U"ドル"},
    {U"€", U"ユーロ"},
    {U"£", U"ポンド"},
    {U"₩", U"ウォン"},
}};

bool TryMoney(Text s, size_t i, size_t* len, Out* out) {
  for (const auto& c : kJaCurrencies) {
    if (!At(s, i, c.from)) continue;
    size_t p = i + c.from.size();
    while (CharAt(s, p) == U' ') ++p;
    NumberToken t;
    if (!ScanNumber(s, p, &t)) return false;
    *out = JaDecimal(t) + Out(c.to);
    *len = p + t.len - i;
    return true;
  }
  return false;
}

bool TryFractionPercent(Text s, size_t i, size_t* len, Out* out) {
  size_t p = i;
  Out sign;
  if (s[p] == U'-') {
    if (IsAsciiDigit(CharBefore(s, i))) return false;
    sign = U"マイナス";
    ++p;
  }
  NumberToken t;
  if (!ScanNumber(s, p, &t)) return false;
  size_t q = p + t.len;
  if (CharAt(s, q) == U'%' || CharAt(s, q) == U'％') {
    *out = sign + JaDecimal(t) + U"パーセント";
    *len = q + 1 - i;
    return true;
  }
  if (!t.has_frac && CharAt(s, q) == U'/' && DigitRun(s, q + 1) > 0) {
    size_t d = DigitRun(s, q + 1);
    *out = JaCardinal(AsciiOf(s, q + 1, d)) + U"分の" + sign + JaCardinal(t.int_part);
    *len = q + 1 + d - i;
    return true;
  }
  return false;
}

constexpr std::array<Pair, 22> kJaUnits = {{
    {U"km/h", U"キロメートル毎時"},
    {U"m/s", U"メートル毎秒"},
    {U"km²", U"平方キロメートル"},
    {U"m²", U"平方メートル"},
    {U"km", U"キロメートル"},
    {U"cm", U"センチメートル"},
    {U"mm", U"ミリメートル"},
    {U"kg", U"キログラム"},
    {U"mg", U"ミリグラム"},
    {U"ml", U"ミリリットル"},
    {U"mL", U"ミリリットル"},
    {U"°C", U"度"},
    {U"℃", U"度"},
    {U"GB", U"ギガバイト"},
    {U"MB", U"メガバイト"},
    {U"Hz", U"ヘルツ"},
    {U"m", U"メートル"},
    {U"g", U"グラム"},
    {U"L", U"リットル"},
    {U"l", U"リットル"},
    {U"h", U"時間"},
    {U"s", U"秒"},
}};

size_t MatchUnit(Text s, size_t p, Out* name) {
  for (const auto& u : kJaUnits) {
    if (At(s, p, u.from) && !IsAsciiAlnum(CharAt(s, p + u.from.size()))) {
      *name = u.to;
      return u.from.size();
    }
  }
  return 0;
}

// Counters after which N-M / N~M is a range.
bool IsCounterStart(char32_t c) {
  static constexpr std::u32string_view kCounters =
      U"年月日時分秒週人個回歳才枚本冊台件歩階度倍円万億平キセミグメリトドパ";
  return c != 0 && kCounters.find(c) != std::u32string_view::npos;
}

bool TryMeasure(Text s, size_t i, size_t* len, Out* out) {
  NumberToken t;
  if (!ScanNumber(s, i, &t)) return false;
  size_t p = i + t.len;
  Out first = JaDecimal(t);
  // Range: N-M / N~M followed by a counter or a unit.
  if ((CharAt(s, p) == U'-' || CharAt(s, p) == U'~' || CharAt(s, p) == U'〜') &&
      IsAsciiDigit(CharAt(s, p + 1))) {
    NumberToken t2;
    ScanNumber(s, p + 1, &t2);
    size_t q = p + 1 + t2.len;
    Out unit;
    size_t u = MatchUnit(s, q, &unit);
    if (u > 0 || IsCounterStart(CharAt(s, q))) {
      *out = first + U"から" + JaDecimal(t2) + unit;
      *len = q + u - i;
      return true;
    }
    return false;
  }
  Out unit;
  size_t u = MatchUnit(s, p, &unit);
  if (u == 0) return false;
  *out = first + unit;
  *len = p + u - i;
  return true;
}

constexpr std::array<Pair, 12> kJaOps = {{
    {U"<=", U"小なりイコール"},
    {U">=", U"大なりイコール"},
    {U"≤", U"小なりイコール"},
    {U"≥", U"大なりイコール"},
    {U"±", U"プラスマイナス"},
    {U"+", U"プラス"},
    {U"-", U"マイナス"},
    {U"=", U"イコール"},
    {U">", U"大なり"},
    {U"<", U"小なり"},
    {U"~", U"から"},
    {U"÷", U"割る"},
}};

// An operator next to a number (spaces around it are dropped).
bool TryOperator(Text s, size_t i, size_t* len, Out* out) {
  for (const auto& op : kJaOps) {
    if (!At(s, i, op.from)) continue;
    size_t b = i;
    while (b > 0 && s[b - 1] == U' ') --b;
    size_t e = i + op.from.size();
    while (CharAt(s, e) == U' ') ++e;
    char32_t next = CharAt(s, e);
    if (!IsAsciiDigit(next) && !IsAsciiDigit(CharBefore(s, b))) return false;
    if (!IsAsciiDigit(next) && next != U'-' && next != U'+') return false;
    *out = op.to;
    *len = e - i;
    return true;
  }
  return false;
}

bool TryNumber(Text s, size_t i, size_t* len, Out* out) {
  NumberToken t;
  if (!ScanNumber(s, i, &t)) return false;
  *out = JaDecimal(t);
  *len = t.len;
  // Trailing spaces before an operator are dropped.
  return true;
}

using Rule = bool (*)(Text, size_t, size_t*, Out*);
constexpr std::array<Rule, 12> kJaRules = {
    TryWhitelist, TryTelephone,       TryDigitString, TryDate,     TryTime,   TryScore,
    TryMoney,     TryFractionPercent, TryMeasure,     TryOperator, TryNumber, nullptr};

}  // namespace

std::u32string JaVerbalize(std::u32string_view s) {
  Out result;
  size_t i = 0;
  while (i < s.size()) {
    bool done = false;
    bool inside_word = IsAsciiAlnum(CharBefore(s, i)) && IsAsciiAlnum(s[i]) &&
                       !(IsAsciiDigit(s[i]) && IsAsciiAlpha(CharBefore(s, i)));
    if (!inside_word && s[i] != U' ') {
      for (Rule rule : kJaRules) {
        if (rule == nullptr) break;
        size_t len = 0;
        Out out;
        if (rule(s, i, &len, &out) && len > 0) {
          result += out;
          i += len;
          done = true;
          break;
        }
      }
    }
    if (!done) {
      // A space between a number and an operator is dropped (the operator rule eats the rest).
      if (s[i] == U' ' && !result.empty()) {
        size_t j = i;
        while (CharAt(s, j) == U' ') ++j;
        size_t len;
        Out op;
        if (TryOperator(s, j, &len, &op)) {
          i = j;
          continue;
        }
      }
      result.push_back(s[i++]);
    }
  }
  return result;
}

}  // namespace cosyflow::text_normalizer
