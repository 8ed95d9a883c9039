// Reads a JSON file into nlohmann::json with errors that name the file (model config files).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "runtime/status.h"

namespace cosyflow {

// NotFound "<path>: cannot open" or DataLoss "<path>: malformed JSON: ...".
Result<nlohmann::json> ReadJsonFile(const std::string& path);

}  // namespace cosyflow
