// Graph files, pass 1: JSON syntax and the graph file's own schema.
#include "graph/graph_file.h"

#include <filesystem>

#include "runtime/small_file.h"

namespace cosyflow {

using nlohmann::json;

namespace {

// Splits "node.port" at the last dot.
bool ParsePortRef(const json* v, const std::string& path, ErrorList* errors, PortRef* out) {
  if (!v) return false;
  if (!v->is_string()) {
    errors->Add(path, "expected \"node.port\" string, got {}", JsonTypeName(*v));
    return false;
  }
  std::string s = v->get<std::string>();
  size_t dot = s.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == s.size()) {
    errors->Add(path, "expected \"node.port\", got \"{}\"", s);
    return false;
  }
  out->node = s.substr(0, dot);
  out->port = s.substr(dot + 1);
  return true;
}

const json* GetArray(JsonObjectReader& r, const char* key, bool required, ErrorList* errors) {
  const json* v = r.Get(key, required);
  if (v && !v->is_array()) {
    errors->Add(r.PathOf(key), "expected array, got {}", JsonTypeName(*v));
    return nullptr;
  }
  return v;
}

void ParseNodes(const json& arr, GraphFile* g, ErrorList* errors) {
  for (size_t i = 0; i < arr.size(); ++i) {
    GraphNodeDecl n;
    std::string base = fmt::format("nodes[{}]", i);
    if (arr[i].is_object() && arr[i].contains("id") && arr[i]["id"].is_string() &&
        !arr[i]["id"].get_ref<const std::string&>().empty()) {
      base += "(" + arr[i]["id"].get<std::string>() + ")";
    }
    n.path = base;
    JsonObjectReader r(arr[i], base, errors);
    r.Read("id", &n.id, true);
    r.Read("type", &n.type, true);
    r.Read("device", &n.device);
    if (const json* o = r.Get("options")) {
      if (o->is_object()) {
        n.options = *o;
      } else {
        errors->Add(base + ".options", "expected object, got {}", JsonTypeName(*o));
      }
    }
    r.Finish();
    g->nodes.push_back(std::move(n));
  }
}

void ParseEdges(const json& arr, GraphFile* g, ErrorList* errors) {
  for (size_t i = 0; i < arr.size(); ++i) {
    GraphEdgeDecl e;
    e.path = fmt::format("edges[{}]", i);
    JsonObjectReader r(arr[i], e.path, errors);
    bool ok = ParsePortRef(r.Get("from", true), e.path + ".from", errors, &e.from);
    ok = ParsePortRef(r.Get("to", true), e.path + ".to", errors, &e.to) && ok;
    r.Finish();
    if (ok) g->edges.push_back(std::move(e));
  }
}

void ParseEndpoints(const json& arr, const char* what, const char* port_key,
                    std::vector<GraphEndpointDecl>* out, ErrorList* errors) {
  for (size_t i = 0; i < arr.size(); ++i) {
    GraphEndpointDecl d;
    d.path = fmt::format("{}[{}]", what, i);
    JsonObjectReader r(arr[i], d.path, errors);
    const size_t errors_before = errors->size();
    r.Read("name", &d.name, true);
    // Requests and outputs are addressed by name: an empty one could never be used.
    if (errors->size() == errors_before && d.name.empty()) {
      errors->Add(d.path + ".name", "must not be empty");
    }
    bool ok = ParsePortRef(r.Get(port_key, true), d.path + "." + port_key, errors, &d.port);
    r.Finish();
    if (ok) out->push_back(std::move(d));
  }
}

std::string LineColumn(const std::string& text, size_t byte) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return fmt::format("line {}, column {}", line, col);
}

}  // namespace

GraphFile ParseGraphText(const std::string& text, const std::string& source,
                         const std::string& base_dir, ErrorList* errors) {
  GraphFile g;
  g.source = source;
  json root;
  JsonDuplicateKeyFinder duplicate(kMaxGraphJsonDepth);
  try {
    root = json::parse(text, std::ref(duplicate));
  } catch (const JsonTooDeep& e) {  // refused while parsing, before it is built
    errors->Add("", "{}", e.what());
    return g;
  } catch (const json::parse_error& e) {
    // e.byte is 1-based and points just past the offending character.
    size_t at = e.byte > 0 ? e.byte - 1 : 0;
    std::string what = e.what();
    size_t cut = what.find("syntax error");
    errors->Add("", "invalid JSON at {}: {}", LineColumn(text, at),
                cut == std::string::npos ? what : what.substr(cut));
    return g;
  } catch (const json::exception& e) {  // e.g. a number beyond double's range (1e999)
    errors->Add("", "invalid JSON: {}", e.what());
    return g;
  }
  if (const Status depth = CheckJsonDepth(root, kMaxGraphJsonDepth); !depth.ok()) {
    errors->Add("", "{}", depth.message());
    return g;
  }
  if (!duplicate.message().empty()) errors->Add("", "{}", duplicate.message());
  JsonObjectReader r(root, "", errors);
  if (!root.is_object()) return g;
  r.Read("format", &g.format, true);
  if (root.contains("format") && root["format"].is_number_integer() &&
      g.format != kGraphFormatVersion) {
    errors->Add("format", "unsupported graph format {} (this build reads {})", g.format,
                kGraphFormatVersion);
  }
  r.Read("name", &g.name);
  std::string model_dir;
  r.Read("model_dir", &model_dir);
  std::filesystem::path md(model_dir.empty() ? "." : model_dir);
  g.model_dir = md.is_absolute() || base_dir.empty() ? md.string()
                                                     : (std::filesystem::path(base_dir) / md).string();
  if (const json* l = r.Get("limits")) {
    JsonObjectReader lr(*l, "limits", errors);
    lr.Read("max_in_flight", &g.limits.max_in_flight);
    lr.Read("max_sessions", &g.limits.max_sessions);
    lr.Read("threads", &g.limits.threads);
    lr.Finish();
    if (g.limits.threads < 0 || g.limits.threads > kMaxGraphThreads) {
      errors->Add("limits.threads", "must be in [0, {}] (0 = hardware threads), got {}",
                  kMaxGraphThreads, g.limits.threads);
    }
    if (g.limits.max_in_flight < 1 || g.limits.max_in_flight > 1 << 20) {
      errors->Add("limits.max_in_flight", "must be in [1, 1048576], got {}", g.limits.max_in_flight);
    }
    if (g.limits.max_sessions < 1 || g.limits.max_sessions > 1 << 20) {
      errors->Add("limits.max_sessions", "must be in [1, 1048576], got {}", g.limits.max_sessions);
    }
  }
  if (const json* a = GetArray(r, "nodes", true, errors)) ParseNodes(*a, &g, errors);
  if (const json* a = GetArray(r, "edges", false, errors)) ParseEdges(*a, &g, errors);
  if (const json* a = GetArray(r, "inputs", false, errors)) {
    ParseEndpoints(*a, "inputs", "to", &g.inputs, errors);
  }
  if (const json* a = GetArray(r, "outputs", false, errors)) {
    ParseEndpoints(*a, "outputs", "from", &g.outputs, errors);
  }
  r.Finish();
  return g;
}

GraphFile ParseGraphFile(const std::string& path, ErrorList* errors) {
  auto text = ReadSmallFile(path, kMaxGraphFileBytes, "graph file");
  if (!text.ok()) {
    errors->Add("", "cannot read graph file: {}", text.status().message());
    GraphFile g;
    g.source = path;
    return g;
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  return ParseGraphText(*text, path, dir.empty() ? "." : dir, errors);
}

}  // namespace cosyflow
