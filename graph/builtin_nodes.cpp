// The explicit registration list of built-in node types.
#include "graph/builtin_nodes.h"

#include "nodes/audio_io/audio_io_nodes.h"
#include "nodes/flow/flow_node.h"
#include "nodes/hift/hift_node.h"
#include "nodes/llm/speech_lm_node.h"
#include "nodes/resample/resampler_node.h"
#include "nodes/text_normalizer/text_normalizer_node.h"
#include "nodes/tokenizer/tokenizer_node.h"
#include "nodes/voice/voice_node.h"

namespace cosyflow {

Status RegisterBuiltinNodes(NodeRegistry& registry) {
  COSY_RETURN_IF_ERROR(registry.Register(MakeNodeType<ResamplerNode>()));
  COSY_RETURN_IF_ERROR(registry.Register(MakeNodeType<SpeechLmNode>()));
  COSY_RETURN_IF_ERROR(registry.Register(MakeNodeType<AudioFileSinkNode>()));
  COSY_RETURN_IF_ERROR(registry.Register(MakeNodeType<RawPcmWriterNode>()));
  COSY_RETURN_IF_ERROR(registry.Register(MakeNodeType<AudioFileSourceNode>()));
  COSY_RETURN_IF_ERROR(registry.Register(MakeNodeType<FlowNode>()));
  COSY_RETURN_IF_ERROR(registry.Register(MakeNodeType<HiftVocoderNode>()));
  COSY_RETURN_IF_ERROR(registry.Register(MakeNodeType<TextNormalizerNode>()));
  COSY_RETURN_IF_ERROR(registry.Register(MakeNodeType<Qwen2TokenizerNode>()));
  COSY_RETURN_IF_ERROR(registry.Register(MakeNodeType<VoiceFrontendNode>()));
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
