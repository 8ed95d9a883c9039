// Golden comparison of text_normalize (see frontend_goldens.h).
#include "nodes/text_normalizer/frontend_goldens.h"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <utility>

namespace cosyflow::text_normalizer {
namespace {

// Reads an optional (JSON null = absent) field of type T.
template <typename T>
Status ReadNullable(const nlohmann::json& j, const char* key, std::optional<T>* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return OkStatus();
  try {
    *out = it->get<T>();
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument("field '{}': {}", key, e.what());
  }
  return OkStatus();
}

Status ParseGolden(const nlohmann::json& j, FrontendGolden* g) {
  if (!j.is_object()) return InvalidArgument("expected an object");
  if (!j.contains("text") || !j["text"].is_string()) {
    return InvalidArgument("needs a string 'text'");
  }
  g->text = j["text"].get<std::string>();
  g->id = j.value("id", std::string());
  g->text_frontend = j.value("text_frontend", true);
  g->branch = j.value("branch", std::string("?"));
  COSY_RETURN_IF_ERROR(ReadNullable(j, "tn", &g->tn));
  COSY_RETURN_IF_ERROR(ReadNullable(j, "normalized", &g->normalized));
  COSY_RETURN_IF_ERROR(ReadNullable(j, "segments", &g->segments));
  COSY_RETURN_IF_ERROR(ReadNullable(j, "error", &g->error));
  return OkStatus();
}

std::string Json(const std::string& s) { return nlohmann::json(s).dump(); }
std::string Json(const std::vector<std::string>& v) { return nlohmann::json(v).dump(); }

FrontendGoldenMismatch Mismatch(const FrontendGolden& g, std::string field, std::string want,
                                std::string got) {
  return {g.id, std::move(field), std::move(want), std::move(got)};
}

}  // namespace

Result<std::vector<FrontendGolden>> LoadFrontendGoldens(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("{}: cannot open", path);
  std::vector<FrontendGolden> out;
  std::string line;
  for (size_t no = 1; std::getline(in, line); ++no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return DataLoss("{}:{}: malformed JSON", path, no);
    FrontendGolden g;
    if (Status s = ParseGolden(j, &g); !s.ok()) {
      return s.WithContext(fmt::format("{}:{}", path, no));
    }
    out.push_back(std::move(g));
  }
  return out;
}

std::optional<FrontendGoldenMismatch> CompareFrontendGolden(const TextNormalizer& n,
                                                            const FrontendGolden& g) {
  auto r = n.Frontend(g.text, g.text_frontend);
  if (g.error.has_value()) {
    // The reference raises: an error or no segments is the accepted answer.
    if (!r.ok() || r->segments.empty()) return std::nullopt;
    return Mismatch(g, "error", Json(*g.error), Json(r->segments));
  }
  if (!r.ok()) return Mismatch(g, "error", "null", r.status().ToString());
  if (g.tn.has_value() && (r->bypass || r->tn != *g.tn)) {
    return Mismatch(g, "tn", Json(*g.tn), r->bypass ? "null (bypass)" : Json(r->tn));
  }
  if (g.normalized.has_value() && r->normalized != *g.normalized) {
    return Mismatch(g, "normalized", Json(*g.normalized), Json(r->normalized));
  }
  if (g.segments.has_value() && r->segments != *g.segments) {
    return Mismatch(g, "segments", Json(*g.segments), Json(r->segments));
  }
  return std::nullopt;
}

FrontendGoldenReport CompareFrontendGoldens(const TextNormalizer& n,
                                            const std::vector<FrontendGolden>& goldens) {
  FrontendGoldenReport r;
  for (const FrontendGolden& g : goldens) {
    auto mismatch = CompareFrontendGolden(n, g);
    auto& branch = r.by_branch[g.branch];
    if (mismatch.has_value()) {
      ++r.total.failed;
      ++branch.failed;
      r.mismatches.push_back(std::move(*mismatch));
    } else {
      ++r.total.passed;
      ++branch.passed;
    }
  }
  return r;
}

std::string FrontendGoldenReport::Summary() const {
  std::string s = fmt::format("golden: {} passed, {} failed\n", total.passed, total.failed);
  for (const auto& [name, t] : by_branch) {
    s += fmt::format("  {}: {} passed, {} failed\n", name, t.passed, t.failed);
  }
  return s;
}

}  // namespace cosyflow::text_normalizer
