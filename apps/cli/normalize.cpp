// `cosyflow normalize`: CosyVoice 2's text front end (segments) or wetext TN only, for texts,
// stdin lines or a JSONL file, and `--golden FILE` to compare every case of a
// cosyvoice-frontend-text file (tn, normalized, segments) with what cosyflow produces.
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/cli/commands.h"
#include "nodes/text_normalizer/frontend_goldens.h"
#include "nodes/text_normalizer/text_normalizer.h"

namespace cosyflow::cli {
namespace {

namespace tn = text_normalizer;

struct NormalizeOptions {
  std::string lang = "auto";
  std::string stage = "frontend";
  bool no_split = false;
  std::string fst_dir;
  bool ja = false;
  bool remove_erhua = false;
  std::string tokenizer_dir;
  std::string jsonl;
  std::string golden;
  int golden_min_passed = -1;
  std::vector<std::string> texts;
};

// One input -> JSON output value (string for tn / --no-split, list of segments otherwise).
Result<nlohmann::json> Process(const tn::TextNormalizer& n, const NormalizeOptions& opt,
                               const std::string& text, const std::string& lang) {
  if (opt.stage == "tn") {
    if (lang == "auto") {
      auto out = n.TextNormalization(text);
      if (!out.ok()) return out.status();
      return nlohmann::json(*out);
    }
    auto l = tn::ParseWetextLang(lang);
    if (!l.ok()) return l.status();
    auto out = n.TextNormalization(text, *l);
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

// Exit status 0 only when every case passes (or at least --golden-min-passed cases do).
int RunGolden(const NormalizeOptions& opt, const tn::TextNormalizer& n) {
  auto goldens = tn::LoadFrontendGoldens(opt.golden);
  if (!goldens.ok()) {
    std::cerr << goldens.status().ToString() << "\n";
    return 1;
  }
  tn::FrontendGoldenReport report = tn::CompareFrontendGoldens(n, *goldens);
  for (const auto& m : report.mismatches) {
    std::cout << fmt::format("FAIL {} {}\n  want: {}\n  got:  {}\n", m.id, m.field, m.want,
                             m.got);
  }
  std::cout << report.Summary();
  if (opt.golden_min_passed >= 0) return report.total.passed >= opt.golden_min_passed ? 0 : 1;
  return report.total.failed == 0 ? 0 : 1;
}

int RunNormalize(const NormalizeOptions& opt) {
  tn::TextNormalizerOptions o;
  o.fst_dir = opt.fst_dir;
  o.ja = opt.ja || opt.lang == "ja";
  o.remove_erhua = opt.remove_erhua;
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
  if (!opt.golden.empty()) return RunGolden(opt, **n);

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
      "normalize",
      "CosyVoice 2 text front end: normalized segments (or wetext TN only with --stage tn)");
  cmd->add_option("--lang", opt->lang, "auto|zh|en|ja (zh/en/ja only with --stage tn)");
  cmd->add_option("--stage", opt->stage, "frontend (segments, default) or tn");
  cmd->add_flag("--no-split", opt->no_split, "frontend: print the cleaned text, unsplit");
  cmd->add_option("--fst-dir", opt->fst_dir,
                  "wetext FST directory ({zh,en,ja}/tn/*.fst; default: the shipped FSTs)");
  cmd->add_flag("--ja", opt->ja, "Text with kana through the ja FSTs (off in the reference)");
  cmd->add_flag("--remove-erhua", opt->remove_erhua, "zh: verbalizer_remove_erhua.fst");
  cmd->add_option("--tokenizer-dir", opt->tokenizer_dir,
                  "CosyVoice-BlankEN dir (vocab.json, merges.txt): needed to split English");
  cmd->add_option("--jsonl", opt->jsonl, "JSONL input ({\"text\"|\"input\", \"lang\"}); - = stdin");
  cmd->add_option("--golden", opt->golden,
                  "Compare every case of a cosyvoice-frontend-text cases.jsonl (tn, normalized, "
                  "segments); exit 1 on any failure");
  cmd->add_option("--golden-min-passed", opt->golden_min_passed,
                  "With --golden: succeed when at least this many cases pass");
  cmd->add_option("text", opt->texts, "Texts (default: lines of stdin)");
  cmd->callback([opt] { SetExitCode(RunNormalize(*opt)); });
}

}  // namespace cosyflow::cli
