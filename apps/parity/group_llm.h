// Parity groups of the speech LM: `llm`, `llm_modes`, `llm_bistream`.
#pragma once

#include <vector>

#include "apps/parity/parity.h"
#include "runtime/dtype.h"

namespace cosyflow::parity {

std::vector<Group> LlmGroups();

// Where the LM groups (and the pipeline group's greedy tokens) run their model: cpu (default)
// or cuda.
void SetLlmDevice(Device device);
Device LlmDevice();

}  // namespace cosyflow::parity
