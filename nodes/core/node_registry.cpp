// NodeRegistry: lookup of node types by their graph-file name.
#include "nodes/core/node_registry.h"

namespace cosyflow {

Status NodeRegistry::Register(NodeTypeInfo info) {
  std::string name = info.spec.type;
  if (name.empty()) return InvalidArgument("node registry: empty type name");
  if (!types_.emplace(name, std::move(info)).second) {
    return InvalidArgument("node registry: type '{}' registered twice", name);
  }
  return OkStatus();
}

const NodeTypeInfo* NodeRegistry::Find(const std::string& type) const {
  auto it = types_.find(type);
  return it == types_.end() ? nullptr : &it->second;
}

std::vector<std::string> NodeRegistry::TypeNames() const {
  std::vector<std::string> names;
  for (const auto& [name, info] : types_) names.push_back(name);
  return names;
}

}  // namespace cosyflow
