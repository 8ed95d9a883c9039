// The one explicit list of node types built into cosyflow.
//
// It lives in graph/ rather than nodes/ because registering a type needs that stage's
// library: nodes/core must not depend on the stages built on it, while cosyflow_graph links
// every stage (cosyflow_nodes). Add a new stage's node here, nowhere else.
#pragma once

#include "nodes/core/node_registry.h"

namespace cosyflow {

// Registers every built-in node type; fails only on a duplicate name (a programming error).
Status RegisterBuiltinNodes(NodeRegistry& registry);
// A registry holding the built-in types, built once.
const NodeRegistry& BuiltinNodeRegistry();

}  // namespace cosyflow
