// The explicit registration list of built-in node types.
#include "graph/builtin_nodes.h"

#include "nodes/audio_io/audio_io_nodes.h"
#include "nodes/resample/resampler_node.h"

namespace cosyflow {

Status RegisterBuiltinNodes(NodeRegistry& registry) {
  COSY_RETURN_IF_ERROR(registry.Register(MakeNodeType<ResamplerNode>()));
  COSY_RETURN_IF_ERROR(registry.Register(MakeNodeType<AudioFileSinkNode>()));
  COSY_RETURN_IF_ERROR(registry.Register(MakeNodeType<RawPcmWriterNode>()));
  COSY_RETURN_IF_ERROR(registry.Register(MakeNodeType<AudioFileSourceNode>()));
  return OkStatus();
}

const NodeRegistry& BuiltinNodeRegistry() {
  static const NodeRegistry registry = [] {
    NodeRegistry r;
    Status s = RegisterBuiltinNodes(r);
    assert(s.ok() && "duplicate built-in node type");
    (void)s;
    return r;
  }();
  return registry;
}

}  // namespace cosyflow
