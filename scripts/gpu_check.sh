#!/usr/bin/env bash
# GPU checks of the CUDA backend, run on a machine with an NVIDIA GPU from the repository root:
# the CUDA test suite, the LM and flow parity groups on the device, the tiny graph with its
# SpeechLM and Flow on the device, and the LM and flow benchmarks (with a PyTorch LM yardstick
# when torch is installed).
#
#   scripts/gpu_check.sh BIN_DIR OUT_DIR [--quick]
#
# --quick: the tests, parity and the LM / flow benches only (no end-to-end bench, no PyTorch
# yardstick). BIN_DIR holds cosyflow, cosyflow-parity, cosyflow-bench-llm, cosyflow-bench-flow,
# cosyflow-bench-e2e and
# cosyflow_cuda_tests (a CUDA build: cmake -B build, the default finds nvcc; the e2e bench reads
# configs/, bench/data/ and tests/fixtures/ of the source directory it was built from); OUT_DIR
# receives the logs and JSON. Exits
# non-zero when a check fails (the benches' figures are written either way).
set -uo pipefail
bin=${1:?usage: scripts/gpu_check.sh BIN_DIR OUT_DIR}
out=${2:?usage: scripts/gpu_check.sh BIN_DIR OUT_DIR}
quick=${3:-}
mkdir -p "$out"
export COSYFLOW_TEST_FIXTURES=$PWD/tests/fixtures
status=0
step() {  # step NAME COMMAND...: runs one check, its output in OUT_DIR/NAME.log
  local name=$1
  shift
  local t0=$SECONDS
  "$@" >"$out/$name.log" 2>&1
  local rc=$?
  echo "$name: rc $rc ($((SECONDS - t0)) s)"
  tail -n 5 "$out/$name.log" | sed 's/^/  /'
  [ $rc -eq 0 ] || status=1
}

nvidia-smi -L || true
step cuda_tests "$bin/cosyflow_cuda_tests" --force-colors=0 --duration=true
step parity_llm_cuda "$bin/cosyflow-parity" --fixtures tests/fixtures/tiny-seed0 --llm-device cuda \
  --group llm --group llm_modes --group llm_bistream --group pipeline
step parity_flow_cuda "$bin/cosyflow-parity" --fixtures tests/fixtures/tiny-seed0 --flow-device cuda \
  --group flow --group token2wav --group token2wav_stream --group pipeline
# The tiny graph with its SpeechLM and Flow on the GPU (a copy of configs/tts_tiny.json beside
# it, so its relative paths hold).
graph=configs/.tts_tiny_cuda.json
python3 - "$graph" <<'PY'
import json, sys
g = json.load(open("configs/tts_tiny.json"))
for n in g["nodes"]:
    if n["type"] == "SpeechLM":
        n["device"] = "cuda"
    if n["type"] == "Flow":
        n["device"] = "cuda"
        n.setdefault("options", {})["precision"] = "f32"
json.dump(g, open(sys.argv[1], "w"), indent=1)
PY
step synth_tiny_cuda "$bin/cosyflow" synth --graph "$graph" \
  --text "Hello from the GPU. Two sentences." --out "$out/tiny_cuda.wav"
rm -f "$graph"
step bench_llm_cuda sh -c "'$bin/cosyflow-bench-llm' --device cuda --precisions f32,bf16 \
  --decode-steps 50 > '$out/bench_llm_cuda.json'"
step bench_llm_cuda_nograph sh -c "COSYFLOW_CUDA_GRAPHS=0 '$bin/cosyflow-bench-llm' --device cuda \
  --precisions f32 --decode-steps 50 --prefill 127 > '$out/bench_llm_cuda_nograph.json'"
step bench_llm_cuda_cublas sh -c "COSYFLOW_CUDA_GEMV=0 '$bin/cosyflow-bench-llm' --device cuda \
  --precisions f32,bf16 --decode-steps 50 --prefill 127 > '$out/bench_llm_cuda_cublas.json'"
step bench_flow_cuda sh -c "'$bin/cosyflow-bench-flow' --device cuda --repeats 5 \
  > '$out/bench_flow_cuda.json'"
step bench_flow_cuda_long sh -c "'$bin/cosyflow-bench-flow' --device cuda --long 20 \
  --recompute-chunks 10 > '$out/bench_flow_cuda_long.json'"
if [ "$quick" = --quick ]; then
  exit $status
fi
# Streaming text-to-speech at release shapes with a cached voice: LM and flow sampler on the
# GPU (encoder and vocoder on this machine's cores), the LM alone there, then all on the CPU for
# the ratio.
step bench_e2e_cuda sh -c "'$bin/cosyflow-bench-e2e' --real --tokens 250 --requests 2 \
  --no-incremental-off --precisions bf16 --lm-device cuda --flow-device cuda \
  > '$out/bench_e2e_cuda.json'"
step bench_e2e_lm_cuda sh -c "'$bin/cosyflow-bench-e2e' --real --tokens 250 --requests 2 \
  --no-incremental-off --precisions bf16/bf16 --lm-device cuda \
  > '$out/bench_e2e_lm_cuda.json'"
step bench_e2e_cpu sh -c "'$bin/cosyflow-bench-e2e' --real --tokens 250 --requests 2 \
  --no-incremental-off --precisions int8/bf16 > '$out/bench_e2e_cpu.json'"
if python3 -c "import torch, transformers; assert torch.cuda.is_available()" 2>/dev/null; then
  step torch_qwen2 sh -c "python3 bench/llm/torch_qwen2_timing.py > '$out/torch_qwen2.json'"
else
  echo "torch_qwen2: skipped (no torch + transformers with CUDA here)"
fi
exit $status
