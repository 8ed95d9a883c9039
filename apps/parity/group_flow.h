// Parity groups of the flow model (nodes/flow): "flow" (non-streaming call, noise, and the flow
// calls of the token2wav_stream schedule) and "token2wav_stream_flow" (those stream calls only).
#pragma once

#include <vector>

#include "apps/parity/parity.h"

namespace cosyflow::parity {

std::vector<Group> FlowGroups();

}  // namespace cosyflow::parity
