// Graph files, passes 2 (graph checks) and 3 (node creation).
#include "graph/graph_plan.h"

#include <algorithm>
#include <exception>
#include <map>

#include <fmt/ranges.h>

namespace cosyflow {

namespace {

int Find(const std::unordered_map<std::string, int>& index, const std::string& name) {
  auto it = index.find(name);
  return it == index.end() ? -1 : it->second;
}

}  // namespace

int GraphPlan::NodeIndex(const std::string& id) const { return Find(node_index_, id); }
int GraphPlan::InputIndex(const std::string& name) const { return Find(input_index_, name); }
int GraphPlan::OutputIndex(const std::string& name) const { return Find(output_index_, name); }

void GraphPlan::AddNode(PlanNode node) {
  node_index_.emplace(node.id, static_cast<int>(nodes.size()));
  nodes.push_back(std::move(node));
}
void GraphPlan::AddInput(PlanInput input) {
  input_index_.emplace(input.name, static_cast<int>(inputs.size()));
  inputs.push_back(std::move(input));
}
void GraphPlan::AddOutput(PlanOutput output) {
  output_index_.emplace(output.name, static_cast<int>(outputs.size()));
  outputs.push_back(std::move(output));
}

namespace {

bool ParseDevice(const std::string& name, Device* out) {
  if (name == "cpu") *out = Device::kCpu;
  else if (name == "cuda") *out = Device::kCuda;
  else return false;
  return true;
}

void CheckNodes(GraphPlan* plan, const NodeRegistry& registry, ErrorList* errors) {
  for (const GraphNodeDecl& d : plan->file.nodes) {
    PlanNode n;
    n.id = d.id;
    n.path = d.path;
    if (d.id.empty()) errors->Add(d.path + ".id", "must not be empty");
    if (d.id.find('.') != std::string::npos) {
      errors->Add(d.path + ".id", "must not contain '.', got '{}'", d.id);
    }
    if (const int first = plan->NodeIndex(d.id); first >= 0) {
      errors->Add(d.path + ".id", "duplicate id '{}' (first at {})", d.id, plan->nodes[first].path);
    }
    n.type = registry.Find(d.type);
    if (!n.type) {
      errors->Add(d.path + ".type", "unknown node type '{}' (known: {})", d.type,
                  fmt::join(registry.TypeNames(), ", "));
    } else {
      const size_t errors_before = errors->size();
      n.options = n.type->parse(d.options, d.path + ".options", errors);
      n.spec = n.type->spec_for_options && errors->size() == errors_before
                   ? n.type->spec_for_options(*n.options)
                   : n.type->spec;
      if (!ParseDevice(d.device, &n.device)) {
        errors->Add(d.path + ".device", "unknown device '{}' (cpu|cuda)", d.device);
      } else if (std::find(n.spec.devices.begin(), n.spec.devices.end(), n.device) ==
                 n.spec.devices.end()) {
        errors->Add(d.path + ".device", "{} does not run on {}", d.type, d.device);
      }
#ifndef COSYFLOW_WITH_CUDA
      if (n.device == Device::kCuda) {
        errors->Add(d.path + ".device", "this build has no CUDA backend");
      }
#endif
      n.targets.resize(n.spec.outputs.size());
    }
    plan->AddNode(std::move(n));
  }
}

// Resolves "node.port" to (node index, port index) on the input or output side.
bool Resolve(const GraphPlan& plan, const PortRef& ref, bool output, const std::string& path,
             ErrorList* errors, int* node, int* port) {
  *node = plan.NodeIndex(ref.node);
  if (*node < 0) {
    errors->Add(path, "unknown node '{}'", ref.node);
    return false;
  }
  if (!plan.nodes[*node].type) return false;  // already reported as an unknown type
  const NodeSpec* t = &plan.nodes[*node].spec;
  const auto& ports = output ? t->outputs : t->inputs;
  *port = output ? t->OutputIndex(ref.port) : t->InputIndex(ref.port);
  if (*port < 0) {
    std::vector<std::string> names;
    for (const auto& p : ports) names.push_back(p.name);
    errors->Add(path, "{} '{}' has no {} port '{}' (has: {})", t->type, ref.node,
                output ? "output" : "input", ref.port, fmt::join(names, ", "));
    return false;
  }
  return true;
}

PayloadType InType(const GraphPlan& p, int node, int port) {
  return p.nodes[node].spec.inputs[port].type;
}
PayloadType OutType(const GraphPlan& p, int node, int port) {
  return p.nodes[node].spec.outputs[port].type;
}

void CheckConnections(GraphPlan* plan, ErrorList* errors) {
  std::map<std::pair<int, int>, std::string> fed;  // input port -> path of its source
  auto feed = [&](int node, int port, const std::string& path) {
    auto [it, fresh] = fed.emplace(std::make_pair(node, port), path);
    if (!fresh) {
      errors->Add(path, "input port {}.{} is already fed by {}", plan->nodes[node].id,
                  plan->nodes[node].spec.inputs[port].name, it->second);
    }
  };
  for (const GraphEndpointDecl& in : plan->file.inputs) {
    int node, port;
    if (!Resolve(*plan, in.port, false, in.path + ".to", errors, &node, &port)) continue;
    if (plan->InputIndex(in.name) >= 0) errors->Add(in.path + ".name", "duplicate input '{}'", in.name);
    feed(node, port, in.path);
    plan->AddInput({in.name, node, port, InType(*plan, node, port)});
  }
  for (const GraphEdgeDecl& e : plan->file.edges) {
    int fn, fp, tn, tp;
    bool ok = Resolve(*plan, e.from, true, e.path + ".from", errors, &fn, &fp);
    ok = Resolve(*plan, e.to, false, e.path + ".to", errors, &tn, &tp) && ok;
    if (!ok) continue;
    if (OutType(*plan, fn, fp) != InType(*plan, tn, tp)) {
      errors->Add(e.path, "payload type mismatch: {} emits {}, {} expects {}", e.from.ToString(),
                  PayloadTypeName(OutType(*plan, fn, fp)), e.to.ToString(),
                  PayloadTypeName(InType(*plan, tn, tp)));
      continue;
    }
    feed(tn, tp, e.path);
    plan->nodes[fn].targets[fp].push_back({tn, tp});
    auto& up = plan->nodes[tn].upstream;
    if (std::find(up.begin(), up.end(), fn) == up.end()) up.push_back(fn);
  }
  for (const GraphEndpointDecl& out : plan->file.outputs) {
    int node, port;
    if (!Resolve(*plan, out.port, true, out.path + ".from", errors, &node, &port)) continue;
    if (plan->OutputIndex(out.name) >= 0) {
      errors->Add(out.path + ".name", "duplicate output '{}'", out.name);
    }
    plan->nodes[node].targets[port].push_back({-1, static_cast<int>(plan->outputs.size())});
    plan->AddOutput({out.name, node, port, OutType(*plan, node, port)});
  }
  for (size_t i = 0; i < plan->nodes.size(); ++i) {  // session sources: implicit inputs
    const PlanNode& n = plan->nodes[i];
    if (!n.type || !n.spec.source || n.spec.outputs.empty()) continue;
    if (plan->InputIndex(n.id) >= 0) {
      errors->Add(n.path, "graph input '{}' has the name of this source node; rename one", n.id);
    }
    plan->AddInput({n.id, static_cast<int>(i), 0, n.spec.outputs[0].type, true});
  }
  if (plan->inputs.empty() && plan->file.inputs.empty()) {
    errors->Add("inputs", "a graph needs at least one input (or a source node such as ZmqReceive)");
  }
  for (size_t i = 0; i < plan->nodes.size(); ++i) {
    const PlanNode& n = plan->nodes[i];
    if (!n.type) continue;
    for (size_t p = 0; p < n.spec.inputs.size(); ++p) {
      if (!fed.count({static_cast<int>(i), static_cast<int>(p)})) {
        errors->Add(n.path + ".inputs." + n.spec.inputs[p].name,
                    "input port is not connected (add an edge or a graph input)");
      }
    }
    for (size_t p = 0; p < n.targets.size(); ++p) {
      if (n.targets[p].empty()) {
        errors->Add(n.path + ".outputs." + n.spec.outputs[p].name,
                    "output port is not connected (add an edge or a graph output)");
      }
    }
  }
}

// Kahn's algorithm; nodes left over sit on or behind a cycle, reported at the edges joining them.
void CheckCycles(GraphPlan* plan, ErrorList* errors) {
  size_t n = plan->nodes.size();
  std::vector<int> indeg(n, 0);
  for (const auto& node : plan->nodes) {
    for (const auto& ts : node.targets) {
      for (const auto& t : ts) {
        if (t.node >= 0) ++indeg[t.node];
      }
    }
  }
  std::vector<int> ready;
  for (size_t i = 0; i < n; ++i) {
    if (indeg[i] == 0) ready.push_back(static_cast<int>(i));
  }
  while (!ready.empty()) {
    int i = ready.back();
    ready.pop_back();
    plan->topo_order.push_back(i);
    for (const auto& ts : plan->nodes[i].targets) {
      for (const auto& t : ts) {
        if (t.node >= 0 && --indeg[t.node] == 0) ready.push_back(t.node);
      }
    }
  }
  if (plan->topo_order.size() == n) return;
  // Every edge between two unsorted nodes whose target still waits lies on a cycle path.
  for (const GraphEdgeDecl& e : plan->file.edges) {
    int a = plan->NodeIndex(e.from.node), b = plan->NodeIndex(e.to.node);
    if (a >= 0 && b >= 0 && indeg[a] > 0 && indeg[b] > 0) {
      errors->Add(e.path, "edge {} -> {} is part of a cycle", e.from.ToString(), e.to.ToString());
    }
  }
}

}  // namespace

std::unique_ptr<GraphPlan> BuildGraphPlan(GraphFile file, const NodeRegistry& registry,
                                          ErrorList* errors) {
  auto plan = std::make_unique<GraphPlan>();
  plan->file = std::move(file);
  if (plan->file.nodes.empty()) errors->Add("nodes", "a graph needs at least one node");
  CheckNodes(plan.get(), registry, errors);
  CheckConnections(plan.get(), errors);
  CheckCycles(plan.get(), errors);
  return plan;
}

std::vector<std::unique_ptr<Node>> CreateGraphNodes(const GraphPlan& plan, ErrorList* errors) {
  std::vector<std::unique_ptr<Node>> nodes;
  size_t before = errors->size();
  for (const PlanNode& n : plan.nodes) {
    NodeContext ctx{n.id, n.device, plan.file.model_dir};
    Result<std::unique_ptr<Node>> r = Internal("not created");
    try {
      r = n.type->create(*n.options, ctx);
    } catch (const std::exception& e) {
      r = Internal("Create threw: {}", e.what());
    }
    if (!r.ok()) {
      errors->Add(n.path, "{}", r.status().message());
      nodes.emplace_back();
    } else {
      nodes.push_back(std::move(r).value());
    }
  }
  if (errors->size() != before) nodes.clear();
  return nodes;
}

CheckedGraph CheckGraphFile(const std::string& path, const NodeRegistry& registry,
                            const GraphLoadOptions& options, bool create, ErrorList* errors) {
  CheckedGraph out;
  size_t before = errors->size();
  GraphFile file = ParseGraphFile(path, errors);
  if (!options.model_dir.empty()) file.model_dir = options.model_dir;
  if (errors->size() != before) return out;  // pass 2 on a broken file only repeats errors
  out.plan = BuildGraphPlan(std::move(file), registry, errors);
  if (errors->size() != before || !create) return out;
  out.nodes = CreateGraphNodes(*out.plan, errors);
  return out;
}

}  // namespace cosyflow
