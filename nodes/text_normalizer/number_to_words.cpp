// inflect-equivalent number_to_words (see number_to_words.h). Works on 3-digit groups from the
// right exactly like inflect's enword: each non-empty group becomes "<h> hundred and <tens>"
// plus its scale word; the groups are joined by ", " and a final single-word group is joined
// by " and " instead.
#include "nodes/text_normalizer/number_to_words.h"

#include <array>
#include <vector>

namespace cosyflow::text_normalizer {
namespace {

constexpr std::array<const char*, 10> kUnits = {"",     "one", "two",   "three", "four",
                                                "five", "six", "seven", "eight", "nine"};
constexpr std::array<const char*, 10> kTeens = {"ten",      "eleven",  "twelve",  "thirteen",
                                                "fourteen", "fifteen", "sixteen", "seventeen",
                                                "eighteen", "nineteen"};
constexpr std::array<const char*, 10> kTens = {"",      "",      "twenty",  "thirty", "forty",
                                               "fifty", "sixty", "seventy", "eighty", "ninety"};
constexpr std::array<const char*, 12> kScales = {"",
                                                 " thousand",
                                                 " million",
                                                 " billion",
                                                 " trillion",
                                                 " quadrillion",
                                                 " quintillion",
                                                 " sextillion",
                                                 " septillion",
                                                 " octillion",
                                                 " nonillion",
                                                 " decillion"};

std::string TensWords(int tens, int units) {
  if (tens == 1) return kTeens[units];
  std::string out = kTens[tens];
  if (tens != 0 && units != 0) out += "-";
  out += kUnits[units];
  return out;
}

// One group (0..999) with its scale; empty when the group is zero.
std::string GroupWords(int h, int t, int u, size_t scale) {
  std::string out;
  if (h != 0) {
    out = std::string(kUnits[h]) + " hundred";
    if (t != 0 || u != 0) out += " and " + TensWords(t, u);
  } else if (t != 0 || u != 0) {
    out = TensWords(t, u);
  } else {
    return out;
  }
  return out + kScales[scale];
}

}  // namespace

std::optional<std::string> InflectNumberToWords(std::string_view digits) {
  size_t first = digits.find_first_not_of('0');
  if (first == std::string_view::npos) return "zero";
  std::string_view num = digits.substr(first);
  if (num == "1") return "one";
  size_t groups = (num.size() + 2) / 3;
  if (groups > kScales.size()) return std::nullopt;
  std::vector<std::string> chunks;  // most significant first, empty groups dropped
  for (size_t g = groups; g-- > 0;) {
    // Digits of group g (counted from the right), padded with zeros on the left.
    int d[3] = {0, 0, 0};
    for (int k = 0; k < 3; ++k) {
      size_t from_right = g * 3 + (2 - k);
      if (from_right < num.size()) d[k] = num[num.size() - 1 - from_right] - '0';
    }
    std::string words = GroupWords(d[0], d[1], d[2], g);
    if (!words.empty()) chunks.push_back(std::move(words));
  }
  std::string out;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i > 0) {
      bool last_single_word = i + 1 == chunks.size() && chunks[i].find(' ') == std::string::npos;
      out += last_single_word ? " and " : ", ";
    }
    out += chunks[i];
  }
  return out;
}

}  // namespace cosyflow::text_normalizer
