// wetext's TokenParser.reorder for TN (wetext/token_parser.py, spec §1.4): parses the tagger's
// output, tokens of the form `name { key: "value" key: "value" }`, and re-emits each token with
// its fields in the verbalizer's canonical order for that token name, unless the token carries
// `preserve_order: "true"`. Fields missing from a canonical order are dropped; a field given
// twice keeps its last value (the parser stores fields in a dict).
//
// Canonical orders: zh and ja (TN_ORDERS) date: year month day; fraction: denominator
// numerator; measure: denominator numerator value; money: value currency; time: noon hour
// minute second. en (EN_TN_ORDERS) date: preserve_order text day month year; money:
// integer_part fractional_part quantity currency_maj. Other tokens keep the tagger's order.
#pragma once

#include <string>
#include <string_view>

#include "runtime/status.h"

namespace cosyflow::text_normalizer {

enum class WetextLang { kZh, kEn, kJa };
std::string_view WetextLangName(WetextLang lang);
Result<WetextLang> ParseWetextLang(std::string_view name);

// The reordered token string (tokens joined by one space). Works on bytes: every delimiter is
// ASCII, so UTF-8 inside values passes through untouched. InvalidArgument where the reference
// parser would assert or never terminate (empty input, a value without its closing quote, a
// key starting at whitespace other than a space).
Result<std::string> ReorderWetextTokens(std::string_view tagged, WetextLang lang);

}  // namespace cosyflow::text_normalizer
