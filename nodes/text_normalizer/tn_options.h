// Options of the rule-based text normalizers (zh/en/ja), named after WeTextProcessing's
// normalizer flags. Defaults are CosyVoice 2's production configuration: wetext.Normalizer
// (remove_erhua=False) with every other flag False (spec §1.1, §1.4).
#pragma once

#include <string>
#include <string_view>

#include "runtime/status.h"

namespace cosyflow::text_normalizer {

enum class TnLang { kZh, kEn, kJa };
std::string_view TnLangName(TnLang lang);
Result<TnLang> ParseTnLang(std::string_view name);

struct TnOptions {
  // zh post-processing: drop 儿 after a character unless it belongs to a word such as 婴儿/儿子.
  bool remove_erhua = false;
  // Full-width ASCII forms (and the ideographic space, CJK quotes/full stop) -> half width.
  // zh: pre-processing; ja: WeTextProcessing's ja normalizer default is true.
  bool full_to_half = false;
  // zh pre-processing through OpenCC t2s (Unsupported when built without OpenCC).
  bool traditional_to_simple = false;
  // zh: drop filler interjections (呃, 啊, 嗯, ...).
  bool remove_interjections = false;
  // zh: wrap characters outside the zh vocabulary as <oov>c</oov>.
  bool tag_oov = false;
  // zh: delete punctuation.
  bool remove_puncts = false;
  // en: WeTextProcessing's deterministic=False rule classes read some numbers differently
  // ("1000" -> "thousand"). The full en normalizer is deterministic.
  bool en_deterministic = true;
  // en: NeMo's en conventions instead of WeTextProcessing's where the two differ ("july fifth"
  // not "the fifth of july", "twenty dollars fifty cents", spelled URLs, "2-5" -> "two - five").
  bool en_nemo = false;
  // en: run a single WeTextProcessing rule class ("cardinal", "date", "money", ...) instead of
  // the whole normalizer, as the rule-level test files do. Empty = full normalizer.
  std::string en_rule_class;

  // Sets one flag by its WeTextProcessing name ("remove_erhua", "full_to_half", ...; also
  // "deterministic"). Unknown names and values other than true/false/1/0 are InvalidArgument.
  Status Set(std::string_view name, std::string_view value);
  std::string ToString() const;
};

}  // namespace cosyflow::text_normalizer
