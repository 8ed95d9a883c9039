// TnOptions parsing/printing (see tn_options.h).
#include "nodes/text_normalizer/tn_options.h"

#include <fmt/format.h>

namespace cosyflow::text_normalizer {

std::string_view TnLangName(TnLang lang) {
  switch (lang) {
    case TnLang::kZh:
      return "zh";
    case TnLang::kEn:
      return "en";
    case TnLang::kJa:
      return "ja";
  }
  return "?";
}

Result<TnLang> ParseTnLang(std::string_view name) {
  if (name == "zh") return TnLang::kZh;
  if (name == "en") return TnLang::kEn;
  if (name == "ja") return TnLang::kJa;
  return InvalidArgument("text normalizer: language must be zh, en or ja, got '{}'", name);
}

Status TnOptions::Set(std::string_view name, std::string_view value) {
  if (name == "rule_class" || name == "en_rule_class") {
    en_rule_class = std::string(value);
    return OkStatus();
  }
  bool v;
  if (value == "true" || value == "1" || value == "True") {
    v = true;
  } else if (value == "false" || value == "0" || value == "False") {
    v = false;
  } else {
    return InvalidArgument("text normalizer option {}: expected true or false, got '{}'", name,
                           value);
  }
  if (name == "remove_erhua") {
    remove_erhua = v;
  } else if (name == "full_to_half") {
    full_to_half = v;
  } else if (name == "traditional_to_simple") {
    traditional_to_simple = v;
  } else if (name == "remove_interjections") {
    remove_interjections = v;
  } else if (name == "tag_oov") {
    tag_oov = v;
  } else if (name == "remove_puncts") {
    remove_puncts = v;
  } else if (name == "deterministic" || name == "en_deterministic") {
    en_deterministic = v;
  } else if (name == "nemo" || name == "en_nemo") {
    en_nemo = v;
  } else {
    return InvalidArgument(
        "text normalizer: unknown option '{}' (known: remove_erhua, full_to_half, "
        "traditional_to_simple, remove_interjections, tag_oov, remove_puncts, deterministic, "
        "nemo)",
        name);
  }
  return OkStatus();
}

std::string TnOptions::ToString() const {
  return fmt::format(
      "remove_erhua={} full_to_half={} traditional_to_simple={} remove_interjections={} "
      "tag_oov={} remove_puncts={} deterministic={} nemo={} rule_class='{}'",
      remove_erhua, full_to_half, traditional_to_simple, remove_interjections, tag_oov,
      remove_puncts, en_deterministic, en_nemo, en_rule_class);
}

}  // namespace cosyflow::text_normalizer
