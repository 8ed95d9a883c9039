#!/usr/bin/env bash
# `cosyflow synth` streams: --raw PCM on stdout equals the file's samples (within the 1 LSB of
# libsndfile's rounding), stdin text is streamed, an error leaves no (partial) output file, and
# a reader that closes the pipe early is a clean exit.
#   synth_stream_cli.sh COSYFLOW CONFIGS_DIR WORK_DIR
set -euo pipefail
cosyflow=$1 configs=$2 work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work"
graph=$configs/tts_tiny.json
text="Streaming synthesis writes audio as it is made. A second sentence follows the first."

"$cosyflow" synth --graph "$graph" --text "$text" --seed 5 --greedy --out a.wav --quiet > a.json
"$cosyflow" synth --graph "$graph" --text "$text" --seed 5 --greedy --raw --quiet > a.pcm 2> raw.err
python3 - a.wav a.pcm <<'PY'
import struct, sys, wave
w = wave.open(sys.argv[1]); n = w.getnframes(); f = struct.unpack(f"<{n}h", w.readframes(n))
raw = open(sys.argv[2], "rb").read(); r = struct.unpack(f"<{len(raw) // 2}h", raw)
assert len(raw) % 2 == 0 and len(r) == n and n > 0, (len(r), n)
worst = max(abs(x - y) for x, y in zip(f, r))
assert worst <= 1, worst
print(f"raw PCM == wav samples ({n}, max diff {worst} LSB)")
PY
grep -q '"out":"-"' raw.err || { echo "FAIL: --raw did not print its JSON line on stderr"; exit 1; }
[ ! -e a.wav.part-* ] 2>/dev/null || { echo "FAIL: temporary file left behind"; exit 1; }

# stdin, bi-stream chunks as they arrive.
printf 'Hello there.\nA second line.\n' | "$cosyflow" synth --graph "$graph" --stream-text --seed 5 \
  --out s.wav --quiet > s.json
python3 -c "import json; j = json.load(open('s.json')); assert j['samples'] > 0, j"

# An error (unknown voice) leaves neither the output nor a temporary file.
if "$cosyflow" synth --graph "$graph" --text "$text" --voice nobody --out bad.wav --quiet 2> bad.err; then
  echo "FAIL: an unknown voice succeeded"; exit 1
fi
ls bad.wav* > /dev/null 2>&1 && { echo "FAIL: output left after an error"; ls -la; exit 1; }
grep -q "nobody" bad.err || { echo "FAIL: the error does not name the voice"; cat bad.err; exit 1; }

# A reader that leaves early: exit status 0, no crash.
long=$(for i in $(seq 1 12); do printf '%s ' "$text"; done)
set +o pipefail
"$cosyflow" synth --graph "$graph" --text "$long" --raw --quiet 2> pipe.err | head -c 2000 > /dev/null
rc=${PIPESTATUS[0]}
set -o pipefail
[ "$rc" = 0 ] || { echo "FAIL: closed pipe gave exit status $rc"; cat pipe.err; exit 1; }
echo "synth stream CLI: ok"
