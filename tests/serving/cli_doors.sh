#!/usr/bin/env bash
# `cosyflow http --wyoming` on the tiny graph: the ready line names both endpoints (port 0 =
# free ports), a speech request and a Wyoming describe succeed, SIGTERM drains and exits 0.
# Usage: cli_doors.sh COSYFLOW CONFIG_DIR WORK_DIR
set -euo pipefail
cosyflow=$1 configs=$2 work=$3
# A fresh directory: ctest runs this once per forced kernel variant, and a ready line left by
# the previous run could be read before the new server truncates its log.
rm -rf "$work" && mkdir -p "$work"
"$cosyflow" http --graph "$configs/tts_tiny.json" --listen 127.0.0.1:0 \
  --wyoming tcp://127.0.0.1:0 --greedy --zero-noise >"$work/ready.json" 2>"$work/stderr.txt" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do [ -s "$work/ready.json" ] && break; sleep 0.1; done
cat "$work/ready.json"
python3 - "$work/ready.json" <<'PY'
import json, socket, sys, urllib.request
ready = json.load(open(sys.argv[1]))
assert ready["ready"] and ready["http"].startswith("http://127.0.0.1:"), ready
req = urllib.request.Request(ready["http"] + "/v1/audio/speech", method="POST",
    data=json.dumps({"model": "cosyvoice2", "input": "Hello there.", "voice": "default"}).encode(),
    headers={"Content-Type": "application/json"})
body = urllib.request.urlopen(req).read()
assert body[:4] == b"RIFF" and len(body) > 1000, len(body)
host, port = ready["wyoming"][len("tcp://"):].rsplit(":", 1)
with socket.create_connection((host, int(port))) as s:
    s.sendall(b'{"type": "describe"}\n')
    f = s.makefile("rb")
    head = json.loads(f.readline())
    data = json.loads(f.read(head["data_length"]))
    assert head["type"] == "info" and data["tts"][0]["name"] == "cosyflow", (head, data)
print("cli doors ok:", len(body), "wav bytes; wyoming info ok")
PY
kill -TERM $pid
wait $pid
grep -q '"stopped":true' "$work/stderr.txt"
trap - EXIT
