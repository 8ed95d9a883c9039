// End-to-end parity groups: "pipeline" (text ids -> greedy speech LM -> flow -> HiFT),
// "token2wav" (speech tokens -> non-streaming flow -> HiFT) and "token2wav_stream" (speech
// tokens -> FlowSession chunk schedule -> HiftSession caches and cross-fade, every t2w_stream_*
// golden). They chain the stage classes (SpeechLmGenerator, FlowSession, HiftSession) the way
// the graph nodes do; the per-stage groups (llm, flow, hift) check each stage on recorded inputs.
#pragma once

#include <vector>

#include "apps/parity/parity.h"

namespace cosyflow::parity {

std::vector<Group> E2eGroups();

}  // namespace cosyflow::parity
