// Parity group "frontend" on a fixture directory of the frontend-tiny format
// (tests/fixtures/frontend-tiny/README.md): for every prompt of the manifest, the prompt-audio
// front end of nodes/prompt_audio (decode, resample to 16/24 kHz, whisper log-mel 128, Kaldi
// fbank 80 raw and mean-normalised, Matcha mel 24 kHz), the two ONNX models run natively by
// runtime/onnx (speech tokens exact, padded input too, with the tokenizer and CAM++
// intermediates as extra outputs), and the voice-level VoiceFrontend (embedding, aligned trims);
// plus the top-level mel filter matrices.
#pragma once

#include <vector>

#include "apps/parity/parity.h"

namespace cosyflow::parity {

std::vector<Group> FrontendGroups();

}  // namespace cosyflow::parity
