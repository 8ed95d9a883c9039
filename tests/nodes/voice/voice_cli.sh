#!/usr/bin/env bash
# `cosyflow voice add/list/remove` and `cosyflow synth --voice / --prompt-wav / --mode vc` on the
# tiny test model (configs/tts_tiny.json): the stored voice and the inline recording give the
# same audio; errors exit non-zero with the voice named.
# Usage: voice_cli.sh COSYFLOW REPO_ROOT WORK_DIR
set -euo pipefail
cosyflow=$1 repo=$2 work=$3
fx=$repo/tests/fixtures
rm -rf "$work" && mkdir -p "$work" && cd "$work"
common=(--tokenizer-dir "$fx/qwen2-tokenizer" --speech-tokenizer "$fx/frontend-tiny/speech_tokenizer_v2_tiny.onnx"
        --campplus "$fx/frontend-tiny/campplus_tiny.onnx" --store "$work/voices.pt")
text="Hello, this is a short prompt for voice cloning."

"$cosyflow" voice add --id en "${common[@]}" --prompt-wav "$fx/frontend-tiny/en/prompt.wav" \
  --prompt-text "$text" --normalize | tee add.json
grep -q '"speech_tokens":85' add.json
"$cosyflow" voice add --id 中文 "${common[@]}" --prompt-wav "$fx/frontend-tiny/zh/prompt.wav" --prompt-text "你好"
if "$cosyflow" voice add --id en "${common[@]}" --prompt-wav "$fx/frontend-tiny/en/prompt.wav" \
     --prompt-text x 2> dup.err; then
  echo "FAIL: adding an existing id succeeded"; exit 1
fi
grep -q "already exists" dup.err
# "default" always names the graph's own voice at every door: not an id a stored voice can take.
if "$cosyflow" voice add --id default "${common[@]}" --prompt-wav "$fx/frontend-tiny/en/prompt.wav" \
     --prompt-text x 2> default.err; then
  echo "FAIL: adding a voice named 'default' succeeded"; exit 1
fi
grep -q "names the graph's own voice" default.err
# A transcript the SpeechLM cannot hold beside the prompt speech (default max_context 4096).
long_text=$(printf ' hello%.0s' $(seq 4200))
if "$cosyflow" voice add --id long "${common[@]}" --prompt-wav "$fx/frontend-tiny/en/prompt.wav" \
     --prompt-text "$long_text" 2> long.err; then
  echo "FAIL: adding a voice with a transcript over max_context succeeded"; exit 1
fi
grep -q "over max_context 4096" long.err
"$cosyflow" voice list --store "$work/voices.pt" --json | tee list.json
grep -q '"id":"en"' list.json && grep -q '"id":"中文"' list.json

synth=("$cosyflow" synth --graph "$repo/configs/tts_tiny.json" --model-dir "$fx/tiny-seed0"
       --voices "$work/voices.pt" --greedy --zero-noise --seed 3 --text "One two three.")
"${synth[@]}" --voice en --out stored.wav
"${synth[@]}" --prompt-wav "$fx/frontend-tiny/en/prompt.wav" --prompt-text "$text" --out inline.wav
cmp stored.wav inline.wav
"${synth[@]}" --voice 中文 --mode cross_lingual --out cl.wav
"${synth[@]}" --voice en --instruct "Speak slowly." --out instruct.wav
"${synth[@]}" --voice en --speed 1.25 --out fast.wav
"$cosyflow" synth --graph "$repo/configs/tts_tiny.json" --model-dir "$fx/tiny-seed0" \
  --voices "$work/voices.pt" --zero-noise --voice en --source-wav "$fx/frontend-tiny/zh/prompt.wav" \
  --out vc.wav | tee vc.json
grep -q '"audio_s":5.4' vc.json  # 135 source tokens x 40 ms
if "${synth[@]}" --voice nobody --out x.wav 2> unknown.err; then
  echo "FAIL: an unknown voice succeeded"; exit 1
fi
grep -q "voice 'nobody' not found" unknown.err

"$cosyflow" voice remove --store "$work/voices.pt" --id 中文
"$cosyflow" voice list --store "$work/voices.pt" --json | tee list2.json
if grep -q '中文' list2.json; then echo "FAIL: removed voice still listed"; exit 1; fi
echo "voice_cli: OK"
