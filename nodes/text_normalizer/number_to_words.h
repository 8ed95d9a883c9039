// English number words: inflect 7.3.1's number_to_words(num) with its defaults (group=0,
// andword "and", zero "zero", one "one", comma ","), as CosyVoice's spell_out_number calls it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cosyflow::text_normalizer {

// `digits` is a run of decimal digits (any count, leading zeros allowed). Examples:
// "007" -> "seven", "1990" -> "one thousand, nine hundred and ninety",
// "2024" -> "two thousand and twenty-four"; "" reads "zero" (inflect's empty chunk). nullopt
// beyond inflect's scale words (more than 36 significant digits: NumOutOfRangeError).
std::optional<std::string> InflectNumberToWords(std::string_view digits);

}  // namespace cosyflow::text_normalizer
