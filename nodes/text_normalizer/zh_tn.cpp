// Chinese TN rules (see zh_tn.h). Each TryX(s, i, &len, &out) consumes s[i, i + len) or
// declines; numbers are read with zh_numbers.h.
#include "nodes/text_normalizer/zh_tn.h"

#include <array>
#include <utility>

#include "nodes/text_normalizer/tn_scan.h"
#include "nodes/text_normalizer/zh_numbers.h"

namespace cosyflow::text_normalizer {
namespace {

using Out = std::u32string;

bool IsClassifier(char32_t c) {
  static constexpr std::u32string_view kClassifiers =
      U"个年岁次天只本件位名张台辆条头匹把种家份项场轮部架艘座栋层所间套双对批组倍周斤两米吨"
      U"公里克升元块角毛支枚颗粒片瓶杯碗盒包袋箱桶句首篇页章节课门道题分秒刻小";
  return kClassifiers.find(c) != std::u32string_view::npos;
}

// Digits read one by one with 幺 after these words (尾号1702, 手机13501234567).
bool AfterDigitContext(std::u32string_view s, size_t i) {
  static constexpr std::array<std::u32string_view, 13> kWords = {
      U"尾号", U"号码", U"电话", U"手机",   U"拨打", U"编号", U"账号",
      U"卡号", U"单号", U"密码", U"验证码", U"热线", U"分机"};
  size_t end = i;
  // allow a linking 是/为/:/：/space between the word and the digits
  while (end > 0 && (s[end - 1] == U'是' || s[end - 1] == U'为' || s[end - 1] == U':' ||
                     s[end - 1] == U'：' || s[end - 1] == U' '))
    --end;
  for (auto w : kWords)
    if (end >= w.size() && s.substr(end - w.size(), w.size()) == w) return true;
  return false;
}

bool IsServiceNumber(std::string_view d) {
  static constexpr std::array<std::string_view, 15> kNumbers = {
      "110",   "119",   "120",   "122",   "114",   "12306", "12315", "12121",
      "12110", "10086", "10010", "95588", "95533", "95599", "12580"};
  for (auto n : kNumbers)
    if (n == d) return true;
  return false;
}

bool TryWhitelist(std::u32string_view s, size_t i, size_t* len, Out* out) {
  // B2B, P2P, O2O: letter-2-letter reads "to".
  if (IsAsciiUpper(CharAt(s, i)) && CharAt(s, i + 1) == U'2' && IsAsciiUpper(CharAt(s, i + 2)) &&
      !IsAsciiAlnum(CharBefore(s, i)) && !IsAsciiAlnum(CharAt(s, i + 3))) {
    *out = Out(1, s[i]) + U" to " + Out(1, s[i + 2]);
    *len = 3;
    return true;
  }
  // Generations: 90后, 00后.
  if (DigitRun(s, i) == 2 && s[i + 1] == U'0' && CharAt(s, i + 2) == U'后') {
    *out = ZhDigits(AsciiOf(s, i, 2)) + U"后";
    *len = 3;
    return true;
  }
  return false;
}

bool TryTelephone(std::u32string_view s, size_t i, size_t* len, Out* out) {
  size_t n = DigitRun(s, i);
  // Landline: 0xx(x)-xxxxxxx(x), read digit by digit, separators dropped.
  if (s[i] == U'0' && (n == 3 || n == 4) && CharAt(s, i + n) == U'-') {
    size_t m = DigitRun(s, i + n + 1);
    if (m >= 7 && m <= 8) {
      *out = ZhDigits(AsciiOf(s, i, n)) + ZhDigits(AsciiOf(s, i + n + 1, m));
      *len = n + 1 + m;
      return true;
    }
  }
  std::string d = AsciiOf(s, i, n);
  bool mobile = n == 11 && d[0] == '1' && d[1] >= '3';
  char32_t next = CharAt(s, i + n);
  bool standalone = !IsAsciiDigit(CharBefore(s, i)) && !IsAsciiAlnum(next) && next != U'.' &&
                    next != U'%' && next != U'°' && next != U'²' && !IsClassifier(next);
  if ((mobile && !IsAsciiDigit(next)) || (standalone && IsServiceNumber(d)) ||
      (n >= 3 && !IsAsciiDigit(next) && next != U'.' && AfterDigitContext(s, i))) {
    *out = ZhDigits(d, /*yao=*/true);
    *len = n;
    return true;
  }
  return false;
}

bool ValidMonth(int m) { return m >= 1 && m <= 12; }
bool ValidDay(int d) { return d >= 1 && d <= 31; }
bool IsYear(std::string_view y) { return y.size() == 4 && (y[0] == '1' || y[0] == '2'); }

Out ZhYmd(std::string_view y, std::string_view m, std::string_view d) {
  Out out;
  if (!y.empty()) out += ZhDigits(y) + U"年";
  if (!m.empty()) out += ZhCardinal(m, false) + U"月";
  if (!d.empty()) out += ZhCardinal(d, false) + U"日";
  return out;
}

// A date must not run into a number, a letter or a unit ("12.30元" is money, not 12月30日).
bool DateEndOk(std::u32string_view s, size_t end) {
  static constexpr std::u32string_view kNo = U"元块角万亿千百%％米克";
  char32_t c = CharAt(s, end);
  if (IsAsciiAlnum(c) || kNo.find(c) != std::u32string_view::npos) return false;
  return !(c == U'.' && IsAsciiDigit(CharAt(s, end + 1)));
}

bool TryDate(std::u32string_view s, size_t i, size_t* len, Out* out) {
  if (IsAsciiAlnum(CharBefore(s, i))) return false;
  size_t a = DigitRun(s, i);
  char32_t sep = CharAt(s, i + a);
  if (sep != U'-' && sep != U'/' && sep != U'.') return false;
  size_t b = DigitRun(s, i + a + 1);
  if (b == 0) return false;
  std::string x = AsciiOf(s, i, a), y = AsciiOf(s, i + a + 1, b);
  size_t p = i + a + 1 + b;
  if (CharAt(s, p) == sep && DigitRun(s, p + 1) > 0) {
    size_t c = DigitRun(s, p + 1);
    std::string z = AsciiOf(s, p + 1, c);
    size_t end = p + 1 + c;
    if (!DateEndOk(s, end)) return false;
    if (IsYear(x) && b <= 2 && c <= 2 && ValidMonth(ToInt(y)) && ValidDay(ToInt(z))) {
      *out = ZhYmd(x, y, z);
    } else if (IsYear(z) && a <= 2 && b <= 2 && ValidMonth(ToInt(x)) && ValidDay(ToInt(y))) {
      *out = ZhYmd(z, x, y);  // MM-DD-YYYY
    } else if (IsYear(z) && a <= 2 && b <= 2 && ValidMonth(ToInt(y)) && ValidDay(ToInt(x))) {
      *out = ZhYmd(z, y, x);  // DD-MM-YYYY
    } else {
      return false;
    }
    *len = end - i;
    return true;
  }
  if (!DateEndOk(s, p)) return false;
  bool two_digit_month = sep == U'.' ? b == 2 : b <= 2;
  if (IsYear(x) && two_digit_month && ValidMonth(ToInt(y))) {
    *out = ZhYmd(x, y, "");
  } else if (IsYear(y) && a == 2 && ValidMonth(ToInt(x))) {
    *out = ZhYmd(y, x, "");
  } else if (a == 2 && b == 2 && ValidMonth(ToInt(x)) && ValidDay(ToInt(y))) {
    *out = ZhYmd("", x, y);
  } else {
    return false;
  }
  *len = p - i;
  return true;
}

// "a.m.", "am", "AM", "p.m." ... at p (optionally after one space); returns its length.
size_t MatchMeridiem(std::u32string_view s, size_t p, bool* pm) {
  size_t q = p + (CharAt(s, p) == U' ' ? 1 : 0);
  for (auto [lit, is_pm] :
       {std::pair{std::u32string_view(U"a.m."), false},
        std::pair{std::u32string_view(U"p.m."), true}, std::pair{std::u32string_view(U"am"), false},
        std::pair{std::u32string_view(U"pm"), true}}) {
    if (AtNoCase(s, q, lit) && !IsAsciiAlpha(CharAt(s, q + lit.size()))) {
      *pm = is_pm;
      return q + lit.size() - p;
    }
  }
  return 0;
}

bool TryTime(std::u32string_view s, size_t i, size_t* len, Out* out) {
  size_t h = DigitRun(s, i);
  if (h == 0 || h > 2 || CharAt(s, i + h) != U':' || DigitRun(s, i + h + 1) != 2) return false;
  int hour = ToInt(AsciiOf(s, i, h));
  std::string mm = AsciiOf(s, i + h + 1, 2);
  if (hour > 24 || ToInt(mm) > 59) return false;
  size_t p = i + h + 3;
  std::string ss;
  if (CharAt(s, p) == U':' && DigitRun(s, p + 1) == 2) {
    ss = AsciiOf(s, p + 1, 2);
    if (ToInt(ss) > 59) return false;
    p += 3;
  }
  if (IsAsciiDigit(CharAt(s, p))) return false;
  bool pm = false;
  size_t mer = MatchMeridiem(s, p, &pm);
  Out t = hour == 2 ? Out(U"两") : ZhCardinal(std::to_string(hour), false);
  t += U"点";
  auto part = [](const std::string& v, char32_t unit) {
    if (v == "00") return Out();
    return (v[0] == '0' ? Out(U"零") : Out()) + ZhCardinal(v, false) + Out(1, unit);
  };
  if (!ss.empty() && mm == "00" && ss != "00") {
    t += U"零分";
  } else {
    t += part(mm, U'分');
  }
  if (!ss.empty()) t += part(ss, U'秒');
  *out = mer ? Out(pm ? U"下午" : U"上午") + t : t;
  *len = p + mer - i;
  return true;
}

struct Currency {
  std::u32string_view symbol;
  std::u32string_view name;
};
constexpr std::array<Currency, 22> kCurrencies = {{
    {U"US$", U"美元"},   {U"HK$", U"港元"},   {U"A$", U"澳元"},    {U"C$", U"加元"},
    {U"NT$", U"新台币"}, {U"CNY", U"人民币"}, {U"RMB", U"人民币"}, {U"HKD", U"港元"},
    {U"USD", U"美元"},   {U"AUD", U"澳元"},   {U"EUR", U"欧元"},   {U"GBP", U"英镑"},
    {U"JPY", U"日元"},   {U"CAD", U"加元"},   {U"KRW", U"韩元"},   {U"SGD", U"新加坡元"},
    {U"￥", U"元"},      {U"¥", U"元"},       {U"$", U"美元"},     {U"€", U"欧元"},
    {U"£", U"英镑"},     {U"₩", U"韩元"},
}};

bool TryMoney(std::u32string_view s, size_t i, size_t* len, Out* out) {
  for (const auto& c : kCurrencies) {
    if (!At(s, i, c.symbol)) continue;
    if (IsAsciiAlpha(c.symbol[0]) && IsAsciiAlpha(CharBefore(s, i))) continue;
    size_t p = i + c.symbol.size();
    if (CharAt(s, p) == U' ') ++p;
    NumberToken t;
    if (!ScanNumber(s, p, &t)) continue;
    p += t.len;
    Out value = ZhDecimal(t.int_part, t.frac, t.has_frac);
    for (std::u32string_view scale : {U"千万", U"百万", U"万", U"亿"}) {
      if (At(s, p, scale)) {
        value += scale;
        p += scale.size();
        break;
      }
    }
    *out = value + Out(c.name);
    *len = p - i;
    return true;
  }
  return false;
}

// Math operators; longest first.
constexpr std::array<std::pair<std::u32string_view, std::u32string_view>, 13> kMathOps = {{
    {U"<=", U"小于等于"},
    {U">=", U"大于等于"},
    {U"!=", U"不等于"},
    {U"≤", U"小于等于"},
    {U"≥", U"大于等于"},
    {U"≠", U"不等于"},
    {U"+", U"加"},
    {U"×", U"乘"},
    {U"÷", U"除以"},
    {U"=", U"等于"},
    {U"<", U"小于"},
    {U">", U"大于"},
    {U"-", U"减"},
}};

size_t MatchOp(std::u32string_view s, size_t p, std::u32string_view* word) {
  for (const auto& [op, w] : kMathOps) {
    if (At(s, p, op)) {
      *word = w;
      return op.size();
    }
  }
  return 0;
}

// An operand: optional sign then a number.
bool ScanOperand(std::u32string_view s, size_t p, size_t* len, Out* out) {
  Out sign;
  size_t q = p;
  if (CharAt(s, q) == U'-') {
    sign = U"负";
    ++q;
  } else if (CharAt(s, q) == U'±') {
    sign = U"正负";
    ++q;
  }
  NumberToken t;
  if (!ScanNumber(s, q, &t, false)) return false;
  *out = sign + ZhDecimal(t.int_part, t.frac, t.has_frac);
  *len = q + t.len - p;
  return true;
}

size_t SkipSpaces(std::u32string_view s, size_t p) {
  while (CharAt(s, p) == U' ') ++p;
  return p;
}

// operand (op operand)+ with at least one operator other than '-'.
bool TryMath(std::u32string_view s, size_t i, size_t* len, Out* out) {
  if (IsAsciiAlnum(CharBefore(s, i))) return false;
  size_t n;
  Out text;
  if (!ScanOperand(s, i, &n, &text)) return false;
  size_t p = i + n;
  bool real_op = false;
  int ops = 0;
  while (true) {
    size_t q = SkipSpaces(s, p);
    std::u32string_view word;
    size_t opn = MatchOp(s, q, &word);
    if (opn == 0) break;
    size_t r = SkipSpaces(s, q + opn);
    Out operand;
    size_t m;
    if (!ScanOperand(s, r, &m, &operand)) break;
    if (s[q] != U'-') real_op = true;
    text += Out(word) + operand;
    p = r + m;
    ++ops;
  }
  if (ops == 0 || !real_op || IsAsciiAlpha(CharAt(s, p))) return false;
  *out = text;
  *len = p - i;
  return true;
}

// Scores and ranges: 1-2 / 0:1 / 78:96 -> 比; N-N before a CJK character -> 到.
bool TryScore(std::u32string_view s, size_t i, size_t* len, Out* out) {
  if (IsAsciiAlnum(CharBefore(s, i))) return false;
  size_t a = DigitRun(s, i);
  char32_t sep = CharAt(s, i + a);
  if (a == 0 || a > 3 || (sep != U':' && sep != U'-' && sep != U'：')) return false;
  size_t b = DigitRun(s, i + a + 1);
  size_t end = i + a + 1 + b;
  if (b == 0 || b > 3 || CharAt(s, end) == U'.' || IsAsciiAlnum(CharAt(s, end))) return false;
  bool range = sep == U'-' && IsCjkIdeograph(CharAt(s, end));
  *out = ZhCardinal(AsciiOf(s, i, a), false) + (range ? U"到" : U"比") +
         ZhCardinal(AsciiOf(s, i + a + 1, b), false);
  *len = end - i;
  return true;
}

bool TryPercentOrFraction(std::u32string_view s, size_t i, size_t* len, Out* out) {
  size_t p = i;
  Out sign;
  if (s[p] == U'-' && !IsAsciiAlnum(CharBefore(s, i))) {
    sign = U"负";
    ++p;
  }
  NumberToken t;
  if (!ScanNumber(s, p, &t)) return false;
  size_t q = p + t.len;
  if (CharAt(s, q) == U'%' || CharAt(s, q) == U'％') {
    *out = sign + U"百分之" + ZhDecimal(t.int_part, t.frac, t.has_frac);
    *len = q + 1 - i;
    return true;
  }
  if (!t.has_frac && t.int_part.size() == t.len && CharAt(s, q) == U'/') {
    size_t d = DigitRun(s, q + 1);
    if (d == 0 || IsAsciiAlpha(CharAt(s, q + 1 + d)) || CharAt(s, q + 1 + d) == U'/') return false;
    *out = sign + ZhCardinal(AsciiOf(s, q + 1, d), false) + U"分之" + ZhCardinal(t.int_part, false);
    *len = q + 1 + d - i;
    return true;
  }
  return false;
}

struct Unit {
  std::u32string_view symbol;
  std::u32string_view name;
};
// Longest symbols first within a shared prefix; matched case-sensitively.
constexpr std::array<Unit, 45> kUnits = {{
    {U"km/h", U"千米每小时"},
    {U"m/s", U"米每秒"},
    {U"km²", U"平方千米"},
    {U"km2", U"平方千米"},
    {U"cm²", U"平方厘米"},
    {U"mm²", U"平方毫米"},
    {U"m²", U"平方米"},
    {U"m³", U"立方米"},
    {U"cm³", U"立方厘米"},
    {U"°C", U"摄氏度"},
    {U"℃", U"摄氏度"},
    {U"°F", U"华氏度"},
    {U"℉", U"华氏度"},
    {U"°", U"度"},
    {U"km", U"千米"},
    {U"cm", U"厘米"},
    {U"mm", U"毫米"},
    {U"nm", U"纳米"},
    {U"μm", U"微米"},
    {U"kg", U"千克"},
    {U"mg", U"毫克"},
    {U"ml", U"毫升"},
    {U"mL", U"毫升"},
    {U"mAh", U"毫安时"},
    {U"min", U"分钟"},
    {U"ms", U"毫秒"},
    {U"kHz", U"千赫兹"},
    {U"MHz", U"兆赫兹"},
    {U"GHz", U"吉赫兹"},
    {U"Hz", U"赫兹"},
    {U"kW", U"千瓦"},
    {U"KB", U"千字节"},
    {U"MB", U"兆字节"},
    {U"GB", U"吉字节"},
    {U"TB", U"太字节"},
    {U"m", U"米"},
    {U"g", U"克"},
    {U"t", U"吨"},
    {U"L", U"升"},
    {U"l", U"升"},
    {U"h", U"小时"},
    {U"s", U"秒"},
    {U"w", U"万"},
    {U"W", U"瓦"},
    {U"k", U"千"},
}};

bool TryMeasure(std::u32string_view s, size_t i, size_t* len, Out* out) {
  NumberToken t;
  if (!ScanNumber(s, i, &t)) return false;
  size_t p = i + t.len;
  size_t q = CharAt(s, p) == U' ' ? p + 1 : p;
  for (const auto& u : kUnits) {
    if (!At(s, q, u.symbol)) continue;
    size_t end = q + u.symbol.size();
    if (IsAsciiAlpha(u.symbol.back()) && IsAsciiAlnum(CharAt(s, end))) continue;
    bool liang = t.int_part == "2" && !t.has_frac;
    *out = (liang ? Out(U"两") : ZhDecimal(t.int_part, t.frac, t.has_frac)) + Out(u.name);
    *len = end - i;
    return true;
  }
  return false;
}

bool TryCardinal(std::u32string_view s, size_t i, size_t* len, Out* out) {
  Out sign;
  size_t p = i;
  if (s[p] == U'-' || s[p] == U'±' || s[p] == U'+') {
    if (IsAsciiAlnum(CharBefore(s, i)) || !IsAsciiDigit(CharAt(s, p + 1))) return false;
    sign = s[p] == U'-' ? U"负" : (s[p] == U'+' ? U"正" : U"正负");
    ++p;
  }
  NumberToken t;
  if (!ScanNumber(s, p, &t)) return false;
  size_t end = p + t.len;
  char32_t next = CharAt(s, end);
  if (!t.has_frac && t.int_part.size() == t.len) {
    if (next == U'年' && t.len == 4) {  // years are read digit by digit
      *out = sign + ZhDigits(t.int_part);
      *len = end - i;
      return true;
    }
    if (t.len > 1 && t.int_part[0] == '0') {  // 007, 0086
      *out = sign + ZhDigits(t.int_part);
      *len = end - i;
      return true;
    }
    if (t.int_part == "2" && IsClassifier(next)) {
      *out = sign + U"两";
      *len = end - i;
      return true;
    }
  }
  *out = sign + ZhDecimal(t.int_part, t.frac, t.has_frac);
  *len = end - i;
  return true;
}

using Rule = bool (*)(std::u32string_view, size_t, size_t*, Out*);
constexpr std::array<Rule, 10> kRules = {TryWhitelist, TryTelephone, TryDate,  TryTime,
                                         TryMoney,     TryMath,      TryScore, TryPercentOrFraction,
                                         TryMeasure,   TryCardinal};

bool MayStartRule(char32_t c) {
  return IsAsciiDigit(c) || IsAsciiUpper(c) || c == U'-' || c == U'+' || c == U'±' || c == U'￥' ||
         c == U'¥' || c == U'$' || c == U'€' || c == U'£' || c == U'₩';
}

}  // namespace

std::u32string ZhVerbalize(std::u32string_view s) {
  Out result;
  size_t i = 0;
  while (i < s.size()) {
    bool done = false;
    if (MayStartRule(s[i])) {
      for (Rule rule : kRules) {
        size_t len = 0;
        Out out;
        if (rule(s, i, &len, &out) && len > 0) {
          // A space between a number and a math word is dropped ("2 = 1 + 1").
          result += out;
          i += len;
          done = true;
          break;
        }
      }
    }
    if (!done) {
      // ±/operators standing alone (±2 handled by TryCardinal) are copied.
      result.push_back(s[i]);
      ++i;
    }
  }
  return result;
}

std::u32string FullToHalf(std::u32string_view s) {
  Out out;
  out.reserve(s.size());
  for (char32_t c : s) {
    if (c >= 0xFF01 && c <= 0xFF5E) {
      out.push_back(c - 0xFEE0);
    } else if (c == 0x3000) {
      out.push_back(U' ');
    } else if (c == U'“' || c == U'”') {
      out.push_back(U'"');
    } else if (c == U'‘' || c == U'’') {
      out.push_back(U'\'');
    } else if (c == U'。') {
      out.push_back(U'.');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace cosyflow::text_normalizer
