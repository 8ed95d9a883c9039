// A CosyVoice2-0.5B-shaped model directory with random weights, in the official formats, for the
// real-shape benchmark (cosyflow-bench-e2e --real): llm.pt, flow.pt and hift.pt written with
// runtime/io/torch_save from a state-dict key listing (bench/data/real-0.5B-state-dict-keys.json:
// key names and shapes of the official checkpoints, no weights), so the graph loads them through
// the same readers as a real release directory. Timings do not depend on the weight values.
#pragma once

#include <string>

#include "runtime/status.h"

namespace cosyflow::bench {

// Writes <dir>/llm.pt, flow.pt and hift.pt (dir must exist). Values: uniform in
// +-1/sqrt(fan_in) for matrices and kernels, 1 for norm scales and weight-norm magnitudes,
// 1 +- 0.1 for Snake alphas, 0 for biases and other vectors; llm.pt leaves out the tied Qwen
// lm_head (the loader accepts its absence; CosyVoice never uses it). Needs about twice the
// largest file (2 GB) in memory while writing: call it from a child process to keep that out
// of the caller's peak RSS.
Status WriteRandomModelDir(const std::string& keys_json, const std::string& dir);

// Forks, runs WriteRandomModelDir in the child and waits; the status of the child (its message
// travels back through a pipe).
Status WriteRandomModelDirInChild(const std::string& keys_json, const std::string& dir);

}  // namespace cosyflow::bench
