// Parity groups of the flow model (nodes/flow): "flow" (non-streaming call, noise, and the flow
// calls of the token2wav_stream schedule) and "token2wav_stream_flow" (those stream calls only).
#pragma once

#include <vector>

#include "apps/parity/parity.h"
#include "nodes/flow/flow_model.h"

namespace cosyflow::parity {

std::vector<Group> FlowGroups();

// Device of the flow model in the flow groups and the token2wav / pipeline groups (cpu default;
// cuda: the CFM sampler on the GPU, flow_cuda.h).
void SetFlowDevice(Device device);
flow::FlowOptions FlowLoadOptions();

}  // namespace cosyflow::parity
