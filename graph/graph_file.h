// Graph files, pass 1 (parse): JSON text -> GraphFile, checking the file's own schema.
//
// Shape (configs/README.md documents it with examples):
//   {"format": 1, "name": "...", "model_dir": "...",
//    "limits": {"max_in_flight": 16, "max_sessions": 256, "threads": 0},
//    "inputs":  [{"name": "text", "to": "node.port"}],
//    "outputs": [{"name": "audio", "from": "node.port"}],
//    "nodes":   [{"id": "...", "type": "...", "device": "cpu", "options": {...}}],
//    "edges":   [{"from": "node.port", "to": "node.port"}]}
// Unknown keys are errors. Every error is collected with its JSON path.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nodes/core/config_errors.h"
#include "nodes/core/json_file.h"

namespace cosyflow {

inline constexpr int kGraphFormatVersion = 1;
// Nesting limit of a graph file (its own structure needs 5 levels; node options a few more).
inline constexpr int kMaxGraphJsonDepth = 64;
// limits.threads and the threads overrides (CLI, C API): at most this many.
inline constexpr int kMaxGraphThreads = 4096;

struct PortRef {
  std::string node;
  std::string port;
  std::string ToString() const { return node + "." + port; }
};

struct GraphNodeDecl {
  std::string id;
  std::string type;
  std::string device = "cpu";
  nlohmann::json options = nlohmann::json::object();
  std::string path;  // "nodes[3](flow)"
};

struct GraphEdgeDecl {
  PortRef from, to;
  std::string path;  // "edges[2]"
};

struct GraphEndpointDecl {  // a graph input (port = destination) or output (port = source)
  std::string name;
  PortRef port;
  std::string path;  // "inputs[0]"
};

struct GraphLimits {
  int max_in_flight = 16;  // messages queued per edge and session before the producer waits
  int max_sessions = 256;  // sessions open at once; Submit fails beyond
  int threads = 0;         // compute threads shared by node calls (0 = hardware threads); see
                           // graph/thread_budget.h
};

struct GraphFile {
  int format = kGraphFormatVersion;
  std::string name;
  std::string source;     // file path or "<string>"
  std::string model_dir;  // resolved: absolute or relative to the working directory
  GraphLimits limits;
  std::vector<GraphNodeDecl> nodes;
  std::vector<GraphEdgeDecl> edges;
  std::vector<GraphEndpointDecl> inputs;
  std::vector<GraphEndpointDecl> outputs;
};

// Parses graph JSON. `base_dir` resolves a relative model_dir (the graph file's directory).
// Errors (including invalid JSON with line/column) are appended to *errors.
GraphFile ParseGraphText(const std::string& text, const std::string& source,
                         const std::string& base_dir, ErrorList* errors);
// Reads and parses a file; a missing, unreadable or oversized file is one error.
inline constexpr int64_t kMaxGraphFileBytes = int64_t{16} << 20;
GraphFile ParseGraphFile(const std::string& path, ErrorList* errors);

}  // namespace cosyflow
