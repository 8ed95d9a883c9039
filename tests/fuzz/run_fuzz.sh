#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in their own build dir and runs each for
# a bounded time: the pickle reader (seeds: the tiny fixtures' data.pkl files), the bridge wire
# decoder (seeds: tests/fuzz/wire_seeds/*.json compiled with flatc), the ONNX executor (seeds:
# tests/fuzz/onnx_seeds/*.onnx and the two tiny front-end models) and the voice store reader
# (seed: the data.pkl of tests/fixtures/voices/spk2info_torch.pt). Inputs that once failed are in
# tests/fuzz/*_regressions and are replayed first.
# Exits 0 with a message when clang or libFuzzer is not available. Reproducers of new failures
# are written to BUILD/fuzz_artifacts/.
#
# usage: tests/fuzz/run_fuzz.sh [SECONDS]      (default 60; env COSYFLOW_FUZZ_BUILD_DIR)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-60}
build=${COSYFLOW_FUZZ_BUILD_DIR:-$root/build-fuzz}

cxx=""
for c in clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
  if command -v "$c" >/dev/null 2>&1; then cxx=$(command -v "$c"); break; fi
done
if [[ -z "$cxx" ]]; then
  echo "run_fuzz: clang++ not found; skipping the pickle fuzzer"
  exit 0
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
  > "$probe/probe.cpp"
if ! "$cxx" -fsanitize=fuzzer,address "$probe/probe.cpp" -o "$probe/probe" >/dev/null 2>&1; then
  echo "run_fuzz: $cxx cannot link -fsanitize=fuzzer (libFuzzer missing); skipping"
  exit 0
fi

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
cmake -S "$root" -B "$build" "${generator[@]}" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
  -DCOSYFLOW_FUZZ=ON -DCOSYFLOW_CUDA=OFF -DCOSYFLOW_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target cosyflow_pickle_fuzzer cosyflow_wire_fuzzer cosyflow_onnx_fuzzer \
  cosyflow_voice_store_fuzzer -j"$(nproc)"

# Crash/timeout/OOM reproducers go to the build dir (libFuzzer writes them to the working
# directory by default: two once ended up committed at the repository root).
artifacts="$build/fuzz_artifacts/"
mkdir -p "$artifacts"
corpus="$build/tests/fuzz_corpus"     # grows across runs
seeds="$build/tests/fuzz_seed_corpus" # data.pkl of llm/flow/hift, extracted at configure time
mkdir -p "$corpus"
echo "run_fuzz: fuzzing the pickle reader for ${seconds}s"
"$build/tests/cosyflow_pickle_fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$artifacts" -max_len=65536 -seed=1 -print_final_stats=1 "$corpus" "$seeds"

# The bridge wire decoder (tests/fuzz/wire_fuzzer.cpp), seeded with encoded messages.
wire_corpus="$build/tests/wire_fuzz_corpus"
wire_seeds="$build/tests/wire_fuzz_seeds"   # JSON seeds compiled with the schema
mkdir -p "$wire_corpus" "$wire_seeds"
flatc -b -o "$wire_seeds" "$root/bridges/schema/cosyflow_wire.fbs" "$root"/tests/fuzz/wire_seeds/*.json
echo "run_fuzz: fuzzing the bridge wire decoder for ${seconds}s"
"$build/tests/cosyflow_wire_fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$artifacts" -max_len=65536 -seed=1 -print_final_stats=1 "$wire_corpus" \
  "$wire_seeds" "$root/tests/fuzz/wire_regressions"   # inputs that once failed (replayed first)

# The voice store reader (tests/fuzz/voice_store_fuzzer.cpp): spk2info data.pkl -> voices.
voice_corpus="$build/tests/voice_store_fuzz_corpus"
mkdir -p "$voice_corpus"
echo "run_fuzz: fuzzing the voice store reader for ${seconds}s"
"$build/tests/cosyflow_voice_store_fuzzer" -max_total_time="$seconds" -timeout=10 \
  -rss_limit_mb=2048 -artifact_prefix="$artifacts" -max_len=65536 -seed=1 -print_final_stats=1 \
  "$voice_corpus" "$build/tests/voice_store_fuzz_seeds/spk2info_torch" \
  "$root/tests/fuzz/voice_store_regressions"   # inputs that once failed (replayed first)

# The ONNX executor (tests/fuzz/onnx_fuzzer.cpp): load + one bounded run. The two tiny
# front-end models (3 MB) run once as they are (a mutation of them costs ~20 ms: too slow to
# fuzz in 30 s); the fuzzing itself starts from the small graphs of tests/fuzz/onnx_seeds.
# tests/fuzz/onnx_regressions (inputs that once crashed it; README.md there) are replayed first.
onnx_corpus="$build/tests/onnx_fuzz_corpus"
mkdir -p "$onnx_corpus" "$root/tests/fuzz/onnx_regressions"
echo "run_fuzz: the tiny front-end models through the ONNX fuzz target"
"$build/tests/cosyflow_onnx_fuzzer" -rss_limit_mb=2048 -artifact_prefix="$artifacts" \
  "$build"/tests/onnx_fuzz_seeds/*.onnx
echo "run_fuzz: fuzzing the ONNX loader/executor for ${seconds}s"
"$build/tests/cosyflow_onnx_fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$artifacts" -malloc_limit_mb=1024 -max_len=65536 -seed=1 -print_final_stats=1 \
  "$onnx_corpus" "$root/tests/fuzz/onnx_regressions" "$root/tests/fuzz/onnx_seeds"
