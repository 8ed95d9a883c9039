// English number readers in WeTextProcessing's en TN style (no hyphens or commas:
// "one hundred and twenty three").
#pragma once

#include <string>
#include <string_view>

namespace cosyflow::text_normalizer {

// "1001" -> "one thousand and one"; drop_leading_one (the deterministic=False reading) gives
// "thousand and one" for 1000..1999.
std::string EnCardinal(std::string_view digits, bool drop_leading_one = false);
// "21" -> "twenty first", "100" -> "one hundredth".
std::string EnOrdinal(std::string_view digits);
// Last word of a cardinal turned ordinal ("three" -> "third").
std::string EnOrdinalWord(const std::string& cardinal);
// Digit by digit, 0 read "oh" (or "zero").
std::string EnDigits(std::string_view digits, bool oh = true);
// Year reading: "2024" -> "twenty twenty four", "2000" -> "two thousand", "2005" -> "two
// thousand five", "1905" -> "nineteen oh five", "1900" -> "nineteen hundred".
std::string EnYear(std::string_view digits);
// "12" + "05" -> "twelve point oh five" (fraction digit by digit, 0 = "oh").
// oh = false reads 0 as "zero" (NeMo); an empty int_part gives "point five".
std::string EnDecimal(std::string_view int_part, std::string_view frac, bool oh = true);

}  // namespace cosyflow::text_normalizer
