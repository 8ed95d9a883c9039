// ReadJsonFile: one place for opening and parsing model config files.
#include "nodes/core/json_file.h"

#include <filesystem>
#include <fstream>
#include <vector>

namespace cosyflow {

Result<nlohmann::json> ReadJsonFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return NotFound("{}: is a directory, not a JSON file", path);
  std::ifstream in(path);
  if (!in) return NotFound("{}: cannot open", path);
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    COSY_RETURN_IF_ERROR(CheckJsonDepth(j, 64).WithContext(path));
    return j;
  } catch (const nlohmann::json::exception& e) {
    return DataLoss("{}: malformed JSON: {}", path, e.what());
  } catch (const std::exception& e) {
    return DataLoss("{}: cannot read: {}", path, e.what());
  }
}

Status CheckJsonDepth(const nlohmann::json& j, int max_depth) {
  struct Frame {
    const nlohmann::json* node;
    nlohmann::json::const_iterator it;
    std::string at;  // the key or index of the child being visited
  };
  if (!j.is_structured()) return OkStatus();
  std::vector<Frame> stack;
  stack.push_back({&j, j.cbegin(), {}});
  std::vector<size_t> index{0};
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.it == f.node->cend()) {
      stack.pop_back();
      index.pop_back();
      continue;
    }
    const nlohmann::json& child = *f.it;
    const bool descend = child.is_structured() && !child.empty();
    if (descend) f.at = f.node->is_object() ? f.it.key() : std::to_string(index.back());
    ++f.it;
    ++index.back();
    if (!descend) continue;
    if (static_cast<int>(stack.size()) + 1 > max_depth) {
      std::string where;
      for (const Frame& g : stack) where += (where.empty() ? "" : ".") + g.at;
      return InvalidArgument("{}: JSON nested deeper than {} levels", where, max_depth);
    }
    stack.push_back({&child, child.cbegin(), {}});
    index.push_back(0);
  }
  return OkStatus();
}

}  // namespace cosyflow
