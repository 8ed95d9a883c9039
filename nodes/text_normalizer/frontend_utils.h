// CosyVoice's text clean-up helpers (cosyvoice/utils/frontend_utils.py, spec §1.3) on UTF-32
// strings: contains_chinese, replace_blank, replace_corner_mark, remove_bracket,
// spell_out_number, split_paragraph and is_only_punctuation.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/status.h"

namespace cosyflow::text_normalizer {

bool ContainsChinese(std::u32string_view s);

// Keeps a U+0020 only between two non-space ASCII characters (Python's s[i-1] wraps to the
// last character at i = 0). keep_single_space_in_runs=false is the reference (a run of two or
// more spaces vanishes, spec §9 quirk 3); true keeps one space of such a run when it sits
// between two ASCII characters.
std::u32string ReplaceBlank(std::u32string_view s, bool keep_single_space_in_runs = false);

// "²" -> "平方", "³" -> "立方".
std::u32string ReplaceCornerMark(std::u32string_view s);

// Deletes （ ） 【 】 and '`'; "——" -> " ".
std::u32string RemoveBracket(std::u32string_view s);

// Every maximal run of Python isdigit() characters -> inflect's number_to_words(run), which
// first deletes the characters that are not decimal digits (a lone "²" reads "zero").
// OutOfRange for a run of more than 36 significant digits (inflect's NumOutOfRangeError).
Result<std::u32string> SpellOutNumber(std::u32string_view s);

// Unicode categories P* and S* only (the empty string counts as punctuation).
bool IsOnlyPunctuation(std::u32string_view s);

struct SplitParagraphOptions {
  bool zh = true;  // punctuation set and the mark appended at the end
  int token_max_n = 80;
  int token_min_n = 60;
  int merge_len = 20;
  bool comma_split = false;
  // Reference: a mark right after another mark is dropped (spec §9 quirk 2). false keeps it,
  // appended to the sentence it follows.
  bool drop_repeated_marks = true;
};

// split_paragraph: sentences at the language's marks (a closing quote after a mark is glued to
// that sentence), then greedy merging by `length` (zh: code points; en: Qwen2 tokens).
// Empty input yields no segments (the reference raises IndexError there).
std::vector<std::u32string> SplitParagraph(
    std::u32string_view text, const SplitParagraphOptions& options,
    const std::function<size_t(std::u32string_view)>& length);

}  // namespace cosyflow::text_normalizer
