// ReadJsonFile: one place for opening and parsing model config files.
#include "nodes/core/json_file.h"

#include <fstream>

namespace cosyflow {

Result<nlohmann::json> ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("{}: cannot open", path);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    return DataLoss("{}: malformed JSON: {}", path, e.what());
  }
}

}  // namespace cosyflow
