// Graph files, passes 2 and 3: GraphFile -> validated GraphPlan -> created nodes.
//
// Pass 2 (graph) checks node types, options (parse + validate), devices, edge endpoints and
// ports, payload types, connectivity (every input port fed exactly once, every output port
// used) and cycles. Pass 3 (create) calls each node type's Create, which checks files and
// weights. Every pass collects all of its errors, each with a path.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "graph/graph_file.h"
#include "nodes/core/node.h"
#include "nodes/core/node_registry.h"

namespace cosyflow {

// Where an output port's messages go: a node input port, or a graph output.
struct PlanTarget {
  int node = -1;          // -1: graph output
  int port = 0;           // input port index, or graph output index when node == -1
};

struct PlanNode {
  std::string id;
  std::string path;  // "nodes[3](flow)"
  const NodeTypeInfo* type = nullptr;
  std::unique_ptr<NodeOptionsBase> options;
  NodeSpec spec;  // the type's spec, or NodeTypeInfo::spec_for_options of this node's options
  Device device = Device::kCpu;
  std::vector<std::vector<PlanTarget>> targets;  // per output port
  std::vector<int> upstream;                     // node indices feeding this node (deduplicated)
};

struct PlanInput {
  std::string name;
  int node = 0, port = 0;
  PayloadType type = PayloadType::kNone;
  bool source = false;  // the implicit input of a source node (NodeSpec::source), named after it
};

struct PlanOutput {
  std::string name;
  int node = 0, port = 0;
  PayloadType type = PayloadType::kNone;
};

struct GraphPlan {
  GraphFile file;
  std::vector<PlanNode> nodes;  // in file order
  std::vector<PlanInput> inputs;
  std::vector<PlanOutput> outputs;
  std::vector<int> topo_order;

  // Lookups by name in O(1): -1 when absent; the first of equal names when an error let
  // duplicates in.
  int NodeIndex(const std::string& id) const;
  int InputIndex(const std::string& name) const;
  int OutputIndex(const std::string& name) const;

  // Append and index (BuildGraphPlan builds every plan through these; a name lookup per edge
  // made the checks quadratic: 100 000 nodes took ~45 s).
  void AddNode(PlanNode node);
  void AddInput(PlanInput input);
  void AddOutput(PlanOutput output);

 private:
  std::unordered_map<std::string, int> node_index_, input_index_, output_index_;
};

// Pass 2. Returns a plan that is complete only when no error was added.
std::unique_ptr<GraphPlan> BuildGraphPlan(GraphFile file, const NodeRegistry& registry,
                                          ErrorList* errors);

// Pass 3: creates every node (errors at "nodes[i](id)"); empty result when any failed.
std::vector<std::unique_ptr<Node>> CreateGraphNodes(const GraphPlan& plan, ErrorList* errors);

struct GraphLoadOptions {
  std::string model_dir;  // overrides the file's model_dir when not empty
};

// Passes 1 + 2 (+ 3 when `create`) on a file, for `cosyflow check` and Pipeline::Load.
struct CheckedGraph {
  std::unique_ptr<GraphPlan> plan;
  std::vector<std::unique_ptr<Node>> nodes;  // filled when created
};
CheckedGraph CheckGraphFile(const std::string& path, const NodeRegistry& registry,
                            const GraphLoadOptions& options, bool create, ErrorList* errors);

}  // namespace cosyflow
