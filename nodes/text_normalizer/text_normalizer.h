// CosyVoice 2's text front end without ttsfrd: `CosyVoiceFrontEnd.text_normalize(text,
// split=True, text_frontend=True)` in "wetext" mode (spec §1.2–§1.5), on top of
// WetextNormalizer (wetext's FSTs on OpenFst).
//
// Order (spec §1.2): `<|`+`|>` anywhere -> bypass; text_frontend=false or "" -> [text]
// verbatim; strip; contains Chinese (U+4E00..U+9FFF) ? zh branch : en branch; drop segments that
// are only punctuation (P*/S*).
//   zh: TN -> delete '\n' -> replace_blank -> corner marks -> '.'->'。' -> ' - '->'，' ->
//       remove_bracket -> trailing [，,、]+ -> '。' -> split_paragraph (lengths in code points)
//   en: TN -> spell_out_number -> split_paragraph (lengths in Qwen2 tokens)
// TN is wetext 0.0.4's Normalizer.normalize: text without a Unicode decimal digit (Python `\d`)
// is returned unchanged; otherwise the zh FSTs if it has a CJK ideograph, else the en FSTs;
// output not stripped. CosyVoice's zh instance uses remove_erhua=False.
//
// Reference quirks, each an option whose default is the reference behaviour:
//   tn_only_with_digits       wetext 0.0.4 returns digit-free text unchanged (§1.4, quirk 1)
//   drop_repeated_marks       split_paragraph drops a mark that follows a mark (quirk 2)
//   keep_single_space_in_runs false: replace_blank deletes double spaces entirely (quirk 3)
// Japanese (option `ja`, off by default): the reference sends text with kanji to the zh grammar
// and kana-only text to the en grammar and spell_out_number. With `ja` on, text containing
// hiragana or katakana goes through the ja FSTs instead and then the zh branch's clean-up and
// splitting (code-point lengths, 。、 marks), never the en branch.
// Decisions where the reference fails or is undefined:
//   whitespace-only text -> no segments (reference: IndexError in split_paragraph);
//   invalid UTF-8 -> each ill-formed sequence becomes U+FFFD (Python strings cannot hold it);
//   en branch without a tokenizer -> InvalidArgument naming the missing tokenizer;
//   a digit run of more than 36 digits left for spell_out_number -> OutOfRange (the reference
//   raises inflect's NumOutOfRangeError).
//
// Thread safety: immutable after Create; Segments/Normalize may run concurrently.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/text_normalizer/wetext_normalizer.h"
#include "nodes/tokenizer/qwen2_tokenizer.h"
#include "runtime/status.h"

namespace cosyflow::text_normalizer {

// Every stage of one text_normalize call (the fields of the cosyvoice-frontend-text goldens).
struct FrontendResult {
  bool bypass = false;     // returned untouched (<|..|>, text_frontend=false or "")
  std::string tn;          // wetext's output for the stripped text ("" when bypass)
  std::string normalized;  // text_normalize(split=False)
  std::vector<std::string> segments;  // text_normalize(split=True)
};

struct TextNormalizerOptions {
  bool tn = true;  // false = CosyVoice's mode '' (neither ttsfrd nor wetext installed)
  bool tn_only_with_digits = true;
  std::string fst_dir;        // wetext FST directory; "" = the FSTs shipped with cosyflow
  bool remove_erhua = false;  // zh verbalizer_remove_erhua.fst (CosyVoice: false)
  bool ja = false;            // text with kana -> ja FSTs + zh clean-up (see above)
  // TN of longer texts runs piece by piece, cut after sentence ends (WetextOptions). 0 = whole.
  size_t fst_piece_bytes = 1024;
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
  // Loads the FSTs (when tn is on); errors name the missing or corrupt file. `tokenizer` may be
  // null: then only zh text can be segmented (en lengths need it).
  static Result<std::shared_ptr<const TextNormalizer>> Create(
      TextNormalizerOptions options, std::shared_ptr<const tokenizer::Qwen2Tokenizer> tokenizer);

  // `cancelled` (may be null): a session's cancel flag, read between wetext's pieces; once set
  // the call ends with kCancelled.
  // text_normalize(text, split=True, text_frontend): the segments CosyVoice would synthesize.
  Result<std::vector<std::string>> Segments(std::string_view text, bool text_frontend = true,
                                            const std::atomic<bool>* cancelled = nullptr) const;
  // text_normalize(text, split=False, text_frontend): the cleaned text, unsplit and unfiltered
  // (what the reference does to prompt_text).
  Result<std::string> Normalize(std::string_view text, bool text_frontend = true,
                                const std::atomic<bool>* cancelled = nullptr) const;
  // Segments, Normalize and the wetext output in one pass (same results as the three calls).
  Result<FrontendResult> Frontend(std::string_view text, bool text_frontend = true) const;
  // wetext TN only of the stripped text, language chosen like the front end (the `tn` field of
  // the cosyvoice-frontend-text goldens).
  Result<std::string> TextNormalization(std::string_view text) const;
  // wetext TN only in a given language (digit gate per tn_only_with_digits, nothing stripped).
  Result<std::string> TextNormalization(std::string_view text, WetextLang lang,
                                        const std::atomic<bool>* cancelled = nullptr) const;

  const TextNormalizerOptions& options() const { return options_; }
  // Null when tn is off.
  const WetextNormalizer* wetext() const { return wetext_.get(); }

 private:
  TextNormalizer(TextNormalizerOptions options,
                 std::shared_ptr<const tokenizer::Qwen2Tokenizer> tokenizer)
      : options_(std::move(options)), tokenizer_(std::move(tokenizer)) {}
  // Steps 4-8 of §1.2 on non-bypassed text; fills the processed text and the segments.
  // `tn` (may be null) receives the wetext output; `cancelled` (may be null) as for Segments.
  Status Run(std::u32string_view text, bool split, std::u32string* processed,
             std::vector<std::u32string>* segments, std::u32string* tn,
             const std::atomic<bool>* cancelled) const;
  Status RunZh(std::u32string_view text, bool ja, bool split, std::u32string* processed,
               std::vector<std::u32string>* segments, std::u32string* tn,
               const std::atomic<bool>* cancelled) const;
  Status RunEn(std::u32string_view text, bool split, std::u32string* processed,
               std::vector<std::u32string>* segments, std::u32string* tn,
               const std::atomic<bool>* cancelled) const;
  Result<std::u32string> WetextTn(std::u32string_view text, WetextLang lang,
                                  const std::atomic<bool>* cancelled) const;
  bool UsesJa(std::u32string_view text) const;

  TextNormalizerOptions options_;
  std::shared_ptr<const tokenizer::Qwen2Tokenizer> tokenizer_;
  std::shared_ptr<const WetextNormalizer> wetext_;
};

}  // namespace cosyflow::text_normalizer
