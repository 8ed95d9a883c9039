// NodeRegistry: node types by name (spec + options parser + factory), filled from one explicit
// list (graph/builtin_nodes.cpp) — no static-initializer registration.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nodes/core/config_errors.h"
#include "nodes/core/node.h"

namespace cosyflow {

struct NodeTypeInfo {
  NodeSpec spec;
  // Parses and validates an options object; errors go to `errors` with paths under `path`.
  // Returns the options even when errors were recorded (callers check the error list).
  std::function<std::unique_ptr<NodeOptionsBase>(const nlohmann::json& options,
                                                 const std::string& path, ErrorList* errors)>
      parse;
  std::function<Result<std::unique_ptr<Node>>(const NodeOptionsBase& options,
                                              const NodeContext& context)>
      create;
  // Optional: one node's spec from its parsed, valid options, for types whose port payload
  // types are options (the bridges' ZmqSend). Empty: every node of the type has `spec`.
  std::function<NodeSpec(const NodeOptionsBase& options)> spec_for_options;
};

// Holds a node type's concrete options struct behind NodeOptionsBase.
template <typename Options>
class NodeOptionsHolder : public NodeOptionsBase {
 public:
  Options options;
  std::string ToString() const override { return options.ToString(); }
};

// Parses + validates a concrete options struct outside a graph (tests, embedding).
// Options provides: void Parse(const json&, const std::string& path, ErrorList*);
//                   void Validate(const std::string& path, ErrorList*) const;
//                   std::string ToString() const.
template <typename Options>
Result<Options> ParseNodeOptions(const nlohmann::json& j, const std::string& path = "options") {
  ErrorList errors;
  Options o;
  o.Parse(j, path, &errors);
  if (errors.empty()) o.Validate(path, &errors);
  if (!errors.empty()) return errors.ToStatus("options");
  return o;
}

// Builds the registry entry for NodeT, which provides: using Options = ...;
// static NodeSpec Spec(); static Result<std::unique_ptr<Node>> Create(const Options&,
// const NodeContext&).
template <typename NodeT>
NodeTypeInfo MakeNodeType() {
  using Options = typename NodeT::Options;
  NodeTypeInfo info;
  info.spec = NodeT::Spec();
  info.parse = [](const nlohmann::json& j, const std::string& path, ErrorList* errors) {
    auto holder = std::make_unique<NodeOptionsHolder<Options>>();
    size_t before = errors->size();
    holder->options.Parse(j, path, errors);
    if (errors->size() == before) holder->options.Validate(path, errors);
    return std::unique_ptr<NodeOptionsBase>(std::move(holder));
  };
  info.create = [](const NodeOptionsBase& o,
                   const NodeContext& ctx) -> Result<std::unique_ptr<Node>> {
    return NodeT::Create(static_cast<const NodeOptionsHolder<Options>&>(o).options, ctx);
  };
  return info;
}

class NodeRegistry {
 public:
  // InvalidArgument when the type name is already registered.
  Status Register(NodeTypeInfo info);
  const NodeTypeInfo* Find(const std::string& type) const;  // nullptr when unknown
  std::vector<std::string> TypeNames() const;

 private:
  std::map<std::string, NodeTypeInfo> types_;
};

}  // namespace cosyflow
