#!/usr/bin/env bash
# Two-process tests of the bridges through the CLI, over tcp://127.0.0.1 (ctest
# cosyflow_bridges_split_e2e): the tiny TTS pipeline split into configs/split/tts_tiny_front.json
# (synth, this process) + configs/split/tts_tiny_back.json (ZmqReceive -> Flow -> HiftVocoder,
# `cosyflow serve`, another process) gives exactly the in-process audio, and so does the same
# back half served through serve's implicit ingress (tests/bridges/tts_tiny_back_ingress.json);
# `cosyflow say` against a served whole pipeline gives the same audio as a file and as raw PCM;
# SIGTERM drains and exits 0.
# usage: split_e2e.sh COSYFLOW REPO_DIR WORK_DIR
set -euo pipefail
cosyflow=$1 repo=$2 work=$3
# A fresh directory: ctest runs this once per forced kernel variant, and a ready line left by
# the previous run could be read before the new server truncates its log.
rm -rf "$work" && mkdir -p "$work"
cd "$work"
text="Hello there, how are you? This is a split pipeline."
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Starts `cosyflow serve ARGS...` in the background; sets $endpoint from its ready line.
serve() {
  local log=$1; shift
  "$cosyflow" serve "$@" --bind tcp://127.0.0.1:0 > "$log.out" 2> "$log.err" &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 1 600); do
    if grep -q '"ready":true' "$log.out" 2>/dev/null; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then cat "$log.err"; echo "serve died"; exit 1; fi
    sleep 0.1
  done
  endpoint=$(sed -n 's/.*"ingress":"\([^"]*\)".*/\1/p' "$log.out")
  [[ -n "$endpoint" ]] || { echo "no ready line from serve"; cat "$log.err"; exit 1; }
  echo "served $* at $endpoint"
}

stop() {  # SIGTERM must drain and exit 0
  kill -TERM "$1"
  for _ in $(seq 1 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  wait "$1"
}

"$cosyflow" synth --graph "$repo/configs/tts_tiny.json" --text "$text" --out inproc.wav

# The back half as a graph file starting with ZmqReceive (--bind replaces the node's bind).
serve back "$repo/configs/split/tts_tiny_back.json"
grep -q '"sources":{"tokens":"tcp://127.0.0.1:' back.out
"$cosyflow" synth --graph "$repo/configs/split/tts_tiny_front.json" --bridge "$endpoint" \
  --text "$text" --out split.wav
cmp inproc.wav split.wav
echo "split (ZmqReceive back half) == in-process: $(stat -c %s split.wav) bytes"
stop "$server_pid"
grep -q '"stopped":true' back.err

# The same back half without ZmqReceive: serve's implicit ingress on the graph input.
serve back_ingress "$repo/tests/bridges/tts_tiny_back_ingress.json"
"$cosyflow" synth --graph "$repo/configs/split/tts_tiny_front.json" --bridge "$endpoint" \
  --text "$text" --out split_ingress.wav
cmp inproc.wav split_ingress.wav
echo "split (implicit ingress) == in-process"
stop "$server_pid"

serve whole "$repo/configs/tts_tiny.json"
"$cosyflow" say --connect "$endpoint" --text "$text" --out say.wav | tee say.json
grep -q '"first_audio_ms"' say.json
"$cosyflow" say --connect "$endpoint" --text "$text" --raw > say.raw 2> say_raw.json
[[ $(stat -c %s say.raw) -gt 1000 ]]
cmp inproc.wav say.wav
echo "say == in-process"
# Voices over the wire: "default" is the graph's own voice (same speech tokens, so the same
# length; the vocoder's noise is seeded per session); an unknown id fails naming it.
"$cosyflow" say --connect "$endpoint" --text "$text" --voice default --out say_voice.wav > say_voice.json
samples() { sed -n 's/.*"samples":\([0-9]*\).*/\1/p' "$1"; }
[[ "$(samples say_voice.json)" == "$(samples say.json)" ]]
if "$cosyflow" say --connect "$endpoint" --text "$text" --voice nobody --out bad.wav 2> bad_voice.err
then
  echo "FAIL: an unknown voice succeeded"; exit 1
fi
grep -q "nobody" bad_voice.err
echo "say --voice: default as the graph's voice, unknown refused"

# The Python client (docs/examples) with the schema compiled for Python now.
py=/usr/bin/python3
if "$py" -c "import zmq, flatbuffers" 2>/dev/null && command -v flatc >/dev/null; then
  flatc --python -o pyschema "$repo/bridges/schema/cosyflow_wire.fbs"
  PYTHONPATH=pyschema "$py" "$repo/docs/examples/cosyflow_say.py" --connect "$endpoint" \
    --text "$text" --out python.wav | tee python.json
  grep -q "\"samples\": $(sed -n 's/.*"samples":\([0-9]*\).*/\1/p' say.json)" python.json
  echo "python client ok"
else
  echo "python3-zmq / python3-flatbuffers missing: python client not tested"
fi
stop "$server_pid"

# Bi-stream text over the wire: stdin lines are sent as chunks as they are read.
serve stream "$repo/configs/tts_tiny.json" --stream-text
printf 'Hello there.\nHow are you?\n' | "$cosyflow" say --connect "$endpoint" --stream-text \
  --out stream.wav | tee stream.json
grep -q '"sample_rate":24000' stream.json
stop "$server_pid"
