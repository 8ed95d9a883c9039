#!/usr/bin/env bash
# cosyflow-parity must be strict. On symlinked copies of a tiny-seed0-format fixture, group hift:
#   clean  - the unmodified copy passes;
#   extra  - a manifest entry of group hift that no comparison reads fails the run, and the
#            coverage line names it;
#   nan    - a NaN in a golden (last value of hift_f0) fails that comparison.
# and, when FRONTEND_DIR is given, the same extra-entry check on a frontend-tiny-format copy
# (group frontend): an extra .npy listed in "files" that nothing compares must fail.
# Usage: strict_parity.sh COSYFLOW_PARITY FIXTURE_DIR WORK_DIR [FRONTEND_DIR]
set -u
tool=$1
fix=$(cd "$2" && pwd)
work=$3
front=${4:+$(cd "$4" && pwd)}
rm -rf "$work" && mkdir -p "$work"
status=0
fail() { echo "FAIL: $*"; status=1; }

cp -rs "$fix" "$work/clean"
if ! "$tool" --fixtures "$work/clean" --group hift > "$work/clean.log" 2>&1; then
  cat "$work/clean.log"; fail "the unmodified copy does not pass"
fi
grep -E "^coverage hift: [0-9]+ compared \+ [0-9]+ used as input / [0-9]+ entries$" "$work/clean.log" \
  || fail "no clean coverage line for hift"

cp -rs "$fix" "$work/extra"
rm "$work/extra/manifest.json"
sed '0,/"entries": \[/s//"entries": [\n  {"name": "hift_never_compared", "file": "golden\/hift_f0.npy", "shape": [1, 40], "dtype": "float32", "group": "hift", "description": "strictness test: no group compares this"},/' \
  "$fix/manifest.json" > "$work/extra/manifest.json"
if "$tool" --fixtures "$work/extra" --group hift > "$work/extra.log" 2>&1; then
  fail "an entry that was never compared passed"
fi
grep "never compared: hift_never_compared" "$work/extra.log" || fail "coverage does not name the entry"

cp -rs "$fix" "$work/nan"
rm "$work/nan/golden/hift_f0.npy"
cp "$fix/golden/hift_f0.npy" "$work/nan/golden/hift_f0.npy"
size=$(stat -c %s "$work/nan/golden/hift_f0.npy")
printf '\x00\x00\xc0\x7f' | dd of="$work/nan/golden/hift_f0.npy" bs=1 seek=$((size - 4)) conv=notrunc status=none
if "$tool" --fixtures "$work/nan" --group hift > "$work/nan.log" 2>&1; then
  fail "a NaN golden passed"
fi
grep -E "^hift/hift_f0 .* FAIL .*NaN/Inf in golden" "$work/nan.log" || fail "hift_f0 did not fail on NaN"
if [ -n "$front" ]; then
  cp -rs "$front" "$work/front_extra"
  rm "$work/front_extra/manifest.json"
  cp "$front/en/feats_length.npy" "$work/front_extra/en/extra_never_compared.npy"
  sed '0,/"files": {/s//"files": {\n  "en\/extra_never_compared.npy": {"shape": [1], "dtype": "int32", "how": "strictness test"},/' \
    "$front/manifest.json" > "$work/front_extra/manifest.json"
  if "$tool" --fixtures "$work/front_extra" --group frontend > "$work/front_extra.log" 2>&1; then
    fail "a frontend entry that was never compared passed"
  fi
  grep "never compared: en/extra_never_compared" "$work/front_extra.log" \
    || fail "frontend coverage does not name the entry"
fi
exit $status
