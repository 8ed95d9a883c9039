// `cosyflow normalize`: CosyVoice 2's text front end (segments) or TN only, for texts, stdin
// lines or a JSONL file, and `--score FILE` to score a TN suite of the fixture cases.jsonl form.
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/cli/commands.h"
#include "nodes/text_normalizer/text_normalizer.h"
#include "nodes/text_normalizer/tn_cases.h"
#include "nodes/text_normalizer/unicode_text.h"

namespace cosyflow::cli {
namespace {

namespace tn = text_normalizer;

struct NormalizeOptions {
  std::string lang = "auto";
  std::string stage = "frontend";
  bool no_split = false;
  std::vector<std::string> sets;
  std::string tokenizer_dir;
  std::string jsonl;
  std::string score;
  std::vector<std::string> texts;
};

// --set NAME=VALUE applies to both languages' TN options.
Status ApplySets(const std::vector<std::string>& sets, tn::TextNormalizerOptions* o) {
  for (const auto& kv : sets) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      return InvalidArgument("normalize: --set expects NAME=VALUE, got '{}'", kv);
    }
    COSY_RETURN_IF_ERROR(o->zh_tn.Set(kv.substr(0, eq), kv.substr(eq + 1)));
    COSY_RETURN_IF_ERROR(o->en_tn.Set(kv.substr(0, eq), kv.substr(eq + 1)));
  }
  return OkStatus();
}

// One input -> JSON output value (string for tn / --no-split, list of segments otherwise).
Result<nlohmann::json> Process(const tn::TextNormalizer& n, const NormalizeOptions& opt,
                               const std::string& text, const std::string& lang) {
  if (opt.stage == "tn") {
    if (lang == "auto") {
      auto out = n.TextNormalization(text);
      if (!out.ok()) return out.status();
      return nlohmann::json(*out);
    }
    auto l = tn::ParseTnLang(lang);
    if (!l.ok()) return l.status();
    const tn::TnOptions& o = *l == tn::TnLang::kEn ? n.options().en_tn : n.options().zh_tn;
    auto out = n.rules().Normalize(text, *l, o);
    if (!out.ok()) return out.status();
    return nlohmann::json(*out);
  }
  if (lang != "auto") {
    return InvalidArgument(
        "normalize: --lang {} only applies to --stage tn; the front end picks the branch itself "
        "(Chinese characters -> zh)",
        lang);
  }
  if (opt.no_split) {
    auto out = n.Normalize(text);
    if (!out.ok()) return out.status();
    return nlohmann::json(*out);
  }
  auto segs = n.Segments(text);
  if (!segs.ok()) return segs.status();
  return nlohmann::json(*segs);
}

int RunScore(const NormalizeOptions& opt, const tn::TextNormalizer& n) {
  auto cases = tn::LoadTnCases(opt.score);
  if (!cases.ok()) {
    std::cerr << cases.status().ToString() << "\n";
    return 1;
  }
  tn::TnScore score = tn::ScoreTnCases(*cases, n.rules());
  for (const auto& f : score.failures) {
    nlohmann::ordered_json j = {{"lang", tn::TnLangName(f.c->lang)},
                                {"category", f.c->category},
                                {"input", f.c->input},
                                {"expected", f.c->expected},
                                {"got", f.got}};
    std::cout << "FAIL " << j.dump() << "\n";
  }
  for (const auto& [name, t] : score.by_lang_category)
    std::cout << fmt::format("{:<32} {:>4}/{:<4} {:.3f}\n", name, t.passed, t.total, t.rate());
  std::cout << score.SummaryLine() << "\n";
  return 0;
}

int RunNormalize(const NormalizeOptions& opt) {
  tn::TextNormalizerOptions o;
  if (Status s = ApplySets(opt.sets, &o); !s.ok()) {
    std::cerr << s.ToString() << "\n";
    return 2;
  }
  if (opt.stage != "tn" && opt.stage != "frontend") {
    std::cerr << fmt::format("normalize: --stage must be tn or frontend, got '{}'\n", opt.stage);
    return 2;
  }
  std::shared_ptr<const tokenizer::Qwen2Tokenizer> tok;
  if (!opt.tokenizer_dir.empty()) {
    auto t = tokenizer::Qwen2Tokenizer::Load(opt.tokenizer_dir);
    if (!t.ok()) {
      std::cerr << t.status().ToString() << "\n";
      return 1;
    }
    tok = *t;
  }
  auto n = tn::TextNormalizer::Create(o, tok);
  if (!n.ok()) {
    std::cerr << n.status().ToString() << "\n";
    return 1;
  }
  if (!opt.score.empty()) return RunScore(opt, **n);

  int rc = 0;
  auto emit = [&](const std::string& text, const std::string& lang, nlohmann::ordered_json row) {
    auto out = Process(**n, opt, text, lang);
    if (!out.ok()) {
      std::cerr << out.status().ToString() << "\n";
      rc = 1;
      return;
    }
    if (row.is_null()) {
      std::cout << (out->is_string() ? out->get<std::string>() : out->dump()) << "\n";
    } else {
      row["output"] = *out;
      std::cout << row.dump() << "\n";
    }
  };
  if (!opt.jsonl.empty()) {
    std::ifstream file;
    std::istream* in = &std::cin;
    if (opt.jsonl != "-") {
      file.open(opt.jsonl);
      if (!file) {
        std::cerr << fmt::format("normalize: cannot open {}\n", opt.jsonl);
        return 1;
      }
      in = &file;
    }
    std::string line;
    for (size_t no = 1; std::getline(*in, line); ++no) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto j = nlohmann::ordered_json::parse(line, nullptr, false);
      std::string key = j.is_object() && j.contains("text") ? "text" : "input";
      if (!j.is_object() || !j.contains(key) || !j[key].is_string()) {
        std::cerr << fmt::format("{}:{}: need an object with a string \"text\" or \"input\"\n",
                                 opt.jsonl, no);
        rc = 1;
        continue;
      }
      std::string lang = j.value("lang", opt.lang);
      emit(j[key].get<std::string>(), lang, j);
    }
    return rc;
  }
  if (opt.texts.empty()) {
    std::string line;
    while (std::getline(std::cin, line)) emit(line, opt.lang, nullptr);
  }
  for (const auto& t : opt.texts) emit(t, opt.lang, nullptr);
  return rc;
}

}  // namespace

void RegisterNormalize(CLI::App& app) {
  auto opt = std::make_shared<NormalizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "normalize", "CosyVoice 2 text front end: normalized segments (or TN only with --stage tn)");
  cmd->add_option("--lang", opt->lang, "auto|zh|en|ja (zh/en/ja only with --stage tn)");
  cmd->add_option("--stage", opt->stage, "frontend (segments, default) or tn");
  cmd->add_flag("--no-split", opt->no_split, "frontend: print the cleaned text, unsplit");
  cmd->add_option("--set", opt->sets,
                  "TN option NAME=VALUE (remove_erhua, full_to_half, traditional_to_simple, "
                  "remove_interjections, tag_oov, remove_puncts, deterministic)");
  cmd->add_option("--tokenizer-dir", opt->tokenizer_dir,
                  "CosyVoice-BlankEN dir (vocab.json, merges.txt): needed to split English");
  cmd->add_option("--jsonl", opt->jsonl, "JSONL input ({\"text\"|\"input\", \"lang\"}); - = stdin");
  cmd->add_option("--score", opt->score, "Score a TN suite (cases.jsonl form) and print rates");
  cmd->add_option("text", opt->texts, "Texts (default: lines of stdin)");
  cmd->callback([opt] { SetExitCode(RunNormalize(*opt)); });
}

}  // namespace cosyflow::cli
