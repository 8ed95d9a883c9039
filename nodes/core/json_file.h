// Reads a JSON file into nlohmann::json with errors that name the file (model config files), and
// bounds the nesting of parsed documents (graph files, request bodies).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "runtime/status.h"

namespace cosyflow {

// NotFound "<path>: cannot open" (also a directory) or DataLoss "<path>: malformed JSON: ...".
Result<nlohmann::json> ReadJsonFile(const std::string& path);

// InvalidArgument naming the JSON path of the first value nested deeper than `max_depth`
// containers (a document's root is depth 1). Without recursion: nlohmann's serializer and
// comparisons recurse once per level, so a document nested ~100k deep overflows the stack.
Status CheckJsonDepth(const nlohmann::json& j, int max_depth);

}  // namespace cosyflow
