// Chinese text normalization (TN) rules equivalent to WeTextProcessing's zh grammars: a left to
// right scan where, at each position, the first matching rule of this order consumes a span:
// whitelist, telephone/service numbers, date, time, money, math, score, percentage, fraction,
// measure, cardinal/decimal; anything else is copied. Pre-processing (traditional->simple,
// full->half width) and post-processing (erhua, interjections, OOV tags, punctuation) follow
// the TnOptions flags.
#pragma once

#include <string>
#include <string_view>

#include "nodes/text_normalizer/tn_options.h"

namespace cosyflow::text_normalizer {

// Only the tagging/verbalizing part (no pre/post-processing).
std::u32string ZhVerbalize(std::u32string_view text);

// Full-width ASCII forms, U+3000 and the CJK quotes/full stop -> half width.
std::u32string FullToHalf(std::u32string_view text);

// The post-processing steps of TnOptions (remove_erhua, remove_interjections, remove_puncts,
// tag_oov), in WeTextProcessing's order.
std::u32string ZhPostProcess(std::u32string_view text, const TnOptions& options);

}  // namespace cosyflow::text_normalizer
