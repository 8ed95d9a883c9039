// Chinese number readers used by the zh normalizer rules (WeTextProcessing zh conventions).
#pragma once

#include <string>
#include <string_view>

namespace cosyflow::text_normalizer {

// Digit by digit: "2008" -> "二零零八"; yao reads 1 as "幺" (phone numbers).
std::u32string ZhDigits(std::string_view digits, bool yao = false);
// Cardinal with 万/亿 grouping and 零 for gaps: "10011" -> "一万零一十一", "101111" ->
// "十万一千一百一十一". liang: a leading 2 before 百/千/万/亿 reads "两" ("200" -> "两百").
// More than 16 significant digits falls back to ZhDigits.
std::u32string ZhCardinal(std::string_view digits, bool liang = true);
// "6.42" -> "六点四二" (integer part as ZhCardinal, fraction digit by digit).
std::u32string ZhDecimal(std::string_view int_part, std::string_view frac, bool has_frac,
                         bool liang = true);

}  // namespace cosyflow::text_normalizer
