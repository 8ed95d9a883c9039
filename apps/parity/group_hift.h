// Parity groups of the HiFT vocoder (nodes/hift): "hift" (the fixture's hift group, plus the
// HiFT calls and chunks of token2wav_stream driven from their recorded mels, plus
// t2w_nonstream_wav from the flow's mel) and "token2wav_stream_hift" (the stream part only).
#pragma once

#include <vector>

#include "apps/parity/parity.h"

namespace cosyflow::parity {

std::vector<Group> HiftGroups();

}  // namespace cosyflow::parity
