#!/usr/bin/env bash
# SIGINT with a session in flight (ctest cosyflow_bridges_drain_e2e): `cosyflow serve` finishes
# that session's audio completely (the client gets every sample and the end), refuses new
# sessions during the drain with a clear error, then exits 0. The in-flight session is held
# open deterministically by a slow consumer: `cosyflow say --raw --window 1` writes into a pipe
# nobody reads, so it stops granting credit and the server stops sending (flow control).
# usage: drain_e2e.sh COSYFLOW REPO_DIR WORK_DIR
set -euo pipefail
cosyflow=$1 repo=$2 work=$3
# A fresh directory: ctest runs this once per forced kernel variant, and a ready line left by
# the previous run could be read before the new server truncates its log.
rm -rf "$work" && mkdir -p "$work"
cd "$work"
rm -f drain.* late.err
sentence="This is a long request that is still streaming when the server is told to stop."
text="Hello there, how are you? $sentence $sentence $sentence It must finish all of its audio."
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_for() {  # wait_for DESCRIPTION COMMAND...: polls up to 60 s
  local what=$1; shift
  for _ in $(seq 1 600); do "$@" && return 0; sleep 0.1; done
  echo "timed out waiting for $what"; exit 1
}

# Deterministic sessions (greedy tokens, no vocoder noise): every request of the text is equal.
"$cosyflow" serve "$repo/configs/tts_tiny.json" --bind tcp://127.0.0.1:0 --greedy --zero-noise \
  > serve.out 2> serve.err &
server_pid=$!
pids+=("$server_pid")
wait_for "the ready line" grep -q '"ready":true' serve.out
endpoint=$(sed -n 's/.*"ingress":"\([^"]*\)".*/\1/p' serve.out)

"$cosyflow" say --connect "$endpoint" --text "$text" --raw > expected.raw 2> expected.json
bytes=$(stat -c %s expected.raw)
# More audio than a pipe holds (64 KiB), so the unread pipe below keeps the session in flight.
[[ $bytes -gt 250000 ]] || { echo "audio too short to stay in flight: $bytes bytes"; exit 1; }

"$cosyflow" say --connect "$endpoint" --text "$text" --raw --window 1 2> drain.say.json |
  { dd bs=1 count=1 status=none > drain.first; touch drain.started
    while [[ ! -e drain.go ]]; do sleep 0.1; done
    cat > drain.rest; } &
reader=$!
pids+=("$reader")
wait_for "the first audio byte" test -e drain.started

kill -INT "$server_pid"
wait_for "the drain to start" grep -q 'draining 1 open session' serve.err
if "$cosyflow" say --connect "$endpoint" --text "too late" --raw > /dev/null 2> late.err; then
  echo "a new session was served during the drain"; exit 1
fi
grep -q 'shutting down (draining open sessions); no new sessions accepted' late.err
echo "new session refused during drain: $(tail -1 late.err)"

touch drain.go
wait "$reader"
cat drain.first drain.rest | cmp - expected.raw
grep -q '"samples"' drain.say.json
echo "in-flight session finished: $bytes bytes, identical"
wait "$server_pid"  # exit status 0 (set -e)
grep -q '"cancelled_at_drain":0' serve.err
grep -o '"max_unacked":[0-9]*' serve.err
echo "serve drained and exited 0"
