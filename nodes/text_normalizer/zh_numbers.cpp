// Chinese number readers (see zh_numbers.h).
#include "nodes/text_normalizer/zh_numbers.h"

namespace cosyflow::text_normalizer {
namespace {

constexpr char32_t kZhDigit[] = U"零一二三四五六七八九";
constexpr char32_t kPlace[] = U" 十百千";  // within a 4-digit group
constexpr std::u32string_view kGroupUnit[] = {U"", U"万", U"亿", U"万亿"};

}  // namespace

std::u32string ZhDigits(std::string_view digits, bool yao) {
  std::u32string out;
  for (char c : digits) {
    if (c < '0' || c > '9') continue;
    out.push_back(yao && c == '1' ? U'幺' : kZhDigit[c - '0']);
  }
  return out;
}

std::u32string ZhCardinal(std::string_view digits, bool liang) {
  size_t first = digits.find_first_not_of('0');
  if (first == std::string_view::npos) return U"零";
  std::string_view num = digits.substr(first);
  if (num.size() > 16) return ZhDigits(digits);
  const size_t n = num.size();
  std::u32string out;
  bool zero_pending = false;
  bool group_has_digit = false;
  for (size_t k = 0; k < n; ++k) {
    size_t pos = n - 1 - k;  // power of ten
    size_t place = pos % 4, group = pos / 4;
    int d = num[k] - '0';
    if (d == 0) {
      if (!out.empty()) zero_pending = true;
    } else {
      if (zero_pending) out.push_back(U'零');
      zero_pending = false;
      group_has_digit = true;
      bool leading = k == 0;
      if (leading && d == 1 && place == 1) {
        // "十", "十万": a leading one-ten drops its "一".
      } else if (leading && d == 2 && liang && (place >= 2 || (place == 0 && group > 0))) {
        out.push_back(U'两');
      } else {
        out.push_back(kZhDigit[d]);
      }
      if (place > 0) out.push_back(kPlace[place]);
    }
    if (place == 0 && group > 0) {
      if (group_has_digit) {
        out += kGroupUnit[group];
        zero_pending = false;  // trailing zeros of a group need no 零
      }
      group_has_digit = false;
    }
  }
  return out;
}

std::u32string ZhDecimal(std::string_view int_part, std::string_view frac, bool has_frac,
                         bool liang) {
  std::u32string out = ZhCardinal(int_part, liang && !has_frac);
  if (has_frac) {
    out.push_back(U'点');
    out += ZhDigits(frac);
  }
  return out;
}

}  // namespace cosyflow::text_normalizer
