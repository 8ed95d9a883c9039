// CosyVoice 2's text front end without ttsfrd: `CosyVoiceFrontEnd.text_normalize(text,
// split=True, text_frontend=True)` in "wetext" mode (spec §1.2–§1.5), on top of RuleNormalizer.
//
// Order (spec §1.2): `<|`+`|>` anywhere -> bypass; text_frontend=false or "" -> [text]
// verbatim; strip; contains Chinese (U+4E00..U+9FFF) ? zh branch : en branch; drop segments that
// are only punctuation (P*/S*).
//   zh: TN -> delete '\n' -> replace_blank -> corner marks -> '.'->'。' -> ' - '->'，' ->
//       remove_bracket -> trailing [，,、]+ -> '。' -> split_paragraph (lengths in code points)
//   en: TN -> spell_out_number -> split_paragraph (lengths in Qwen2 tokens)
//
// Reference quirks, each an option whose default is the reference behaviour:
//   tn_only_with_digits       wetext 0.0.4 returns digit-free text unchanged (§1.4, quirk 1)
//   auto_lang_digits_to_zh    wetext's lang="auto" sends an all-digit text ("2024") to zh TN
//                             even from the en branch
//   drop_repeated_marks       split_paragraph drops a mark that follows a mark (quirk 2)
//   keep_single_space_in_runs false: replace_blank deletes double spaces entirely (quirk 3)
// Decisions where the reference fails or is undefined:
//   whitespace-only text -> no segments (reference: IndexError in split_paragraph);
//   invalid UTF-8 -> each ill-formed sequence becomes U+FFFD (Python strings cannot hold it);
//   en branch without a tokenizer -> InvalidArgument naming the missing tokenizer.
//
// Thread safety: immutable after Create; Segments/Normalize may run concurrently.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/text_normalizer/rule_normalizer.h"
#include "nodes/text_normalizer/tn_options.h"
#include "nodes/tokenizer/qwen2_tokenizer.h"
#include "runtime/status.h"

namespace cosyflow::text_normalizer {

struct TextNormalizerOptions {
  bool tn = true;  // false = CosyVoice's mode '' (neither ttsfrd nor wetext installed)
  bool tn_only_with_digits = true;
  bool auto_lang_digits_to_zh = true;
  TnOptions zh_tn = {};  // CosyVoice: wetext.Normalizer(remove_erhua=False)
  TnOptions en_tn = {};
  bool drop_repeated_marks = true;
  bool keep_single_space_in_runs = false;
  int token_max_n = 80;
  int token_min_n = 60;
  int merge_len = 20;
  bool comma_split = false;

  // Ranges: 0 < token_min_n <= token_max_n, merge_len >= 0.
  Status Validate() const;
};

class TextNormalizer {
 public:
  // `tokenizer` may be null: then only zh text can be segmented (en lengths need it).
  static Result<std::shared_ptr<const TextNormalizer>> Create(
      TextNormalizerOptions options, std::shared_ptr<const tokenizer::Qwen2Tokenizer> tokenizer);

  // text_normalize(text, split=True, text_frontend): the segments CosyVoice would synthesize.
  Result<std::vector<std::string>> Segments(std::string_view text, bool text_frontend = true) const;
  // text_normalize(text, split=False, text_frontend): the cleaned text, unsplit and unfiltered
  // (what the reference does to prompt_text).
  Result<std::string> Normalize(std::string_view text, bool text_frontend = true) const;
  // TN only, language chosen like the front end (Chinese characters -> zh, else en).
  Result<std::string> TextNormalization(std::string_view text) const;

  const TextNormalizerOptions& options() const { return options_; }
  const RuleNormalizer& rules() const { return *rules_; }

 private:
  TextNormalizer(TextNormalizerOptions options,
                 std::shared_ptr<const tokenizer::Qwen2Tokenizer> tokenizer);
  // Steps 4-8 of §1.2 on non-bypassed text; fills the processed text and the segments.
  Status Run(std::u32string_view text, bool split, std::u32string* processed,
             std::vector<std::u32string>* segments) const;
  Result<std::u32string> WetextTn(std::u32string_view text, bool zh_branch) const;

  TextNormalizerOptions options_;
  std::shared_ptr<const tokenizer::Qwen2Tokenizer> tokenizer_;
  std::shared_ptr<const RuleNormalizer> rules_;
};

}  // namespace cosyflow::text_normalizer
