// NodeSpec lookups and NodeContext path resolution.
#include "nodes/core/node.h"

#include <filesystem>

namespace cosyflow {

namespace {
int FindPort(const std::vector<PortSpec>& ports, std::string_view name) {
  for (size_t i = 0; i < ports.size(); ++i) {
    if (ports[i].name == name) return static_cast<int>(i);
  }
  return -1;
}
}  // namespace

int NodeSpec::InputIndex(std::string_view name) const { return FindPort(inputs, name); }
int NodeSpec::OutputIndex(std::string_view name) const { return FindPort(outputs, name); }

std::string NodeContext::ResolvePath(const std::string& path) const {
  std::filesystem::path p(path);
  if (p.is_absolute() || model_dir.empty()) return path;
  return (std::filesystem::path(model_dir) / p).string();
}

}  // namespace cosyflow
