// Loading and scoring of TN suites (see tn_cases.h).
#include "nodes/text_normalizer/tn_cases.h"

#include <fmt/format.h>

#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>

namespace cosyflow::text_normalizer {

Result<std::vector<TnCase>> LoadTnCases(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("TN cases: cannot open {}", path);
  std::vector<TnCase> cases;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    auto bad = [&](std::string_view what) {
      return InvalidArgument("TN cases {}:{}: {}", path, line_no, what);
    };
    if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
    for (const char* key : {"lang", "input", "expected"}) {
      if (!j.contains(key) || !j[key].is_string()) {
        return bad(fmt::format("missing string field \"{}\"", key));
      }
    }
    TnCase c;
    auto lang = ParseTnLang(j["lang"].get<std::string>());
    if (!lang.ok()) return bad(lang.status().message());
    c.lang = *lang;
    c.category = j.value("category", std::string("all"));
    c.input = j["input"].get<std::string>();
    c.expected = j["expected"].get<std::string>();
    c.source = j.value("source", std::string());
    if (j.contains("expected_alternatives") && j["expected_alternatives"].is_array()) {
      for (const auto& a : j["expected_alternatives"])
        if (a.is_string()) c.alternatives.push_back(a.get<std::string>());
    }
    if (j.contains("tested_by") && j["tested_by"].is_array()) {
      for (const auto& t : j["tested_by"]) {
        if (!t.is_string()) continue;
        c.tested_by.push_back(t.get<std::string>());
        if (c.tested_by.back().find("must CONTAIN") != std::string::npos) c.contains = true;
      }
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

TnOptions OptionsForCase(const TnCase& c) {
  TnOptions o;
  auto named = [&](std::string_view needle) {
    for (const auto& t : c.tested_by)
      if (t.find(needle) != std::string::npos) return true;
    return false;
  };
  if (c.lang == TnLang::kZh) {
    // WeTextProcessing's zh Normalizer defaults (the full normalizer and its post-processor).
    bool full = named("tn.chinese.normalizer.Normalizer") || named("PostProcessor");
    if (full) {
      o.remove_interjections = true;
      o.remove_erhua = true;
      o.traditional_to_simple = true;
      o.full_to_half = true;
    }
    o.tag_oov = named("tag_oov=True");
    if (named("PreProcessor")) o.traditional_to_simple = true;
  } else if (c.lang == TnLang::kEn) {
    o.en_deterministic = !named("deterministic=False");
    o.en_nemo = named("nemo_text_processing");
    for (const auto& t : c.tested_by) {
      const std::string kPrefix = "tn.english.rules.";
      size_t at = t.find(kPrefix);
      if (at == std::string::npos) continue;
      size_t end = t.find('(', at);
      std::string cls = t.substr(at + kPrefix.size(), end - at - kPrefix.size());
      for (char& ch : cls) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      o.en_rule_class = cls;
    }
  } else {
    o.full_to_half = !named("nemo_text_processing");
  }
  return o;
}

std::string TnScore::SummaryLine() const {
  auto rate = [&](const char* lang) {
    auto it = by_lang.find(lang);
    return it == by_lang.end() ? std::string("n/a") : fmt::format("{:.3f}", it->second.rate());
  };
  return fmt::format("score: zh={} en={} ja={} overall={:.3f} cases={}", rate("zh"), rate("en"),
                     rate("ja"), overall.rate(), overall.total);
}

TnScore ScoreTnCases(const std::vector<TnCase>& cases, const RuleNormalizer& rules) {
  TnScore score;
  for (const auto& c : cases) {
    auto got = rules.Normalize(c.input, c.lang, OptionsForCase(c));
    std::string out = got.ok() ? *got : "<error: " + got.status().ToString() + ">";
    bool pass = out == c.expected;
    for (const auto& a : c.alternatives) pass = pass || out == a;
    if (c.contains) pass = out.find(c.expected) != std::string::npos;
    std::string lang(TnLangName(c.lang));
    for (TnScore::Tally* t :
         {&score.overall, &score.by_lang[lang], &score.by_lang_category[lang + "/" + c.category]}) {
      ++t->total;
      if (pass) ++t->passed;
    }
    if (!pass) score.failures.push_back({&c, out});
  }
  return score;
}

}  // namespace cosyflow::text_normalizer
