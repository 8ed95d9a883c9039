// Parity groups of the speech LM: `llm`, `llm_modes`, `llm_bistream`.
#pragma once

#include <vector>

#include "apps/parity/parity.h"

namespace cosyflow::parity {

std::vector<Group> LlmGroups();

}  // namespace cosyflow::parity
