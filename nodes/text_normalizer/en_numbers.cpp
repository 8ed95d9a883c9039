// English number readers (see en_numbers.h).
#include "nodes/text_normalizer/en_numbers.h"

#include <array>
#include <vector>

namespace cosyflow::text_normalizer {
namespace {

constexpr std::array<const char*, 20> kSmall = {
    "zero",     "one",     "two",     "three",     "four",     "five",    "six",
    "seven",    "eight",   "nine",    "ten",       "eleven",   "twelve",  "thirteen",
    "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"};
constexpr std::array<const char*, 10> kTens = {"",      "",      "twenty",  "thirty", "forty",
                                               "fifty", "sixty", "seventy", "eighty", "ninety"};
constexpr std::array<const char*, 7> kScales = {
    "", " thousand", " million", " billion", " trillion", " quadrillion", " quintillion"};

std::string Below100(int v) {
  if (v < 20) return kSmall[v];
  std::string out = kTens[v / 10];
  if (v % 10) out += std::string(" ") + kSmall[v % 10];
  return out;
}

}  // namespace

std::string EnDigits(std::string_view digits, bool oh) {
  std::string out;
  for (char c : digits) {
    if (c < '0' || c > '9') continue;
    if (!out.empty()) out += ' ';
    out += c == '0' && oh ? "oh" : kSmall[c - '0'];
  }
  return out;
}

std::string EnCardinal(std::string_view digits, bool drop_leading_one) {
  size_t first = digits.find_first_not_of('0');
  if (first == std::string_view::npos) return "zero";
  std::string_view num = digits.substr(first);
  size_t groups = (num.size() + 2) / 3;
  if (groups > kScales.size()) return EnDigits(num, false);
  std::vector<int> g(groups);
  for (size_t k = 0; k < groups; ++k) {  // k = 0 is the lowest group
    int v = 0;
    for (int d = 2; d >= 0; --d) {
      size_t from_right = k * 3 + d;
      v = v * 10 + (from_right < num.size() ? num[num.size() - 1 - from_right] - '0' : 0);
    }
    g[k] = v;
  }
  std::string out;
  for (size_t k = groups; k-- > 0;) {
    int v = g[k];
    if (v == 0) continue;
    std::string words;
    if (v >= 100) {
      words = std::string(kSmall[v / 100]) + " hundred";
      if (v % 100) words += " and " + Below100(v % 100);
    } else {
      words = Below100(v);
      if (k == 0 && !out.empty()) out += " and";
    }
    if (!out.empty()) out += ' ';
    out += words + kScales[k];
  }
  if (drop_leading_one && groups == 2 && g[1] == 1) out = out.substr(4);  // "one thousand"
  return out;
}

std::string EnOrdinalWord(const std::string& cardinal) {
  size_t sp = cardinal.rfind(' ');
  std::string head = sp == std::string::npos ? "" : cardinal.substr(0, sp + 1);
  std::string last = sp == std::string::npos ? cardinal : cardinal.substr(sp + 1);
  static const std::array<std::pair<const char*, const char*>, 8> kIrregular = {{
      {"one", "first"},
      {"two", "second"},
      {"three", "third"},
      {"five", "fifth"},
      {"eight", "eighth"},
      {"nine", "ninth"},
      {"twelve", "twelfth"},
      {"zero", "zeroth"},
  }};
  for (auto [c, o] : kIrregular)
    if (last == c) return head + o;
  if (!last.empty() && last.back() == 'y') return head + last.substr(0, last.size() - 1) + "ieth";
  return head + last + "th";
}

std::string EnOrdinal(std::string_view digits) { return EnOrdinalWord(EnCardinal(digits)); }

std::string EnYear(std::string_view y) {
  if (y.size() != 4) return EnCardinal(y);
  int hi = (y[0] - '0') * 10 + (y[1] - '0');
  int lo = (y[2] - '0') * 10 + (y[3] - '0');
  if (lo == 0 && hi % 10 == 0) return EnCardinal(y);  // 2000, 1000
  if (hi % 10 == 0 && lo < 10) return EnCardinal(y.substr(0, 1)) + " thousand " + kSmall[lo];
  std::string out = Below100(hi);
  if (lo == 0) return out + " hundred";
  if (lo < 10) return out + " oh " + kSmall[lo];
  return out + " " + Below100(lo);
}

std::string EnDecimal(std::string_view int_part, std::string_view frac, bool oh) {
  std::string out = int_part.empty() ? "" : EnCardinal(int_part) + " ";
  if (!frac.empty()) out += "point " + EnDigits(frac, oh);
  if (frac.empty() && !out.empty()) out.pop_back();
  return out;
}

}  // namespace cosyflow::text_normalizer
