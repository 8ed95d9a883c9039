#!/usr/bin/env python3
"""Runs cosyflow's real-shape streaming benchmark and, in the same run, the reference harness's
timing at the CosyVoice2-0.5B shapes; prints one JSON with the reference figures and ratios merged.

    bench/reference_timing.py [--bench build/bench/cosyflow-bench-e2e | --bench-json FILE]
                              [--harness DIR] [--threads 2] [--llm-tokens 20] [--repeats 2]
                              [--out FILE] [-- BENCH ARGS...]

The harness is an external checkout that this script only invokes (nothing of it is copied into
cosyflow): --harness, else $COSYFLOW_REFERENCE_HARNESS, else ../shared/reference-harness beside
the repository, else /work/shared/reference-harness. It needs Debian's python3-torch (and the
harness's vendored CosyVoice sources, $COSYVOICE_VENDOR; see its README). When torch or the
harness is missing, or the harness fails, the reference part is skipped with a one-line note on
stderr and "reference": {"skipped": why} in the JSON; the bench figures are printed anyway.

The reference's time_reference.py times the stages separately, non-streaming (LLM prefill of 127
positions and decode ms/token, flow for 2 s of audio with a 3 s / 75-token prompt, HiFT for 2 s)
and sums them per audio second (prefill excluded). cosyflow's figure is the wall time of a whole
streaming request (prefill included) per audio second. The ratio reference_rtf / cosyflow_rtf is
therefore conservative for cosyflow; the reference streaming path would add its prefix recompute.
"""
import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def find_harness(arg):
    candidates = [arg] if arg else [os.environ.get("COSYFLOW_REFERENCE_HARNESS"),
                                    os.path.join(os.path.dirname(REPO), "shared", "reference-harness"),
                                    "/work/shared/reference-harness"]
    for d in candidates:
        if d and os.path.isfile(os.path.join(d, "time_reference.py")):
            return d
    return None


def run_bench(args):
    if args.bench_json:
        with open(args.bench_json) as f:
            return json.load(f)
    cmd = [args.bench, "--real"] + args.bench_args
    print("running: " + " ".join(cmd), file=sys.stderr)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"reference_timing: {' '.join(cmd)} failed with status {r.returncode}")
    return json.loads(r.stdout)


PATTERNS = {
    "llm": r"LLM prefill \((\d+) positions\): ([\d.]+) ms; decode median ([\d.]+) ms/token",
    "flow": r"Flow 50 tok -> 100 frames: ([\d.]+) s",
    "flow_prompt": r"Flow 50 tok -> 100 frames \+ 75-token/150-frame prompt: ([\d.]+) s",
    "hift": r"HiFT 100 frames -> 48000 samples: ([\d.]+) s",
    "total": r"TOTAL RTF .*?: ([\d.]+) without prompt, ([\d.]+) with a 3 s prompt",
}


def run_reference(args):
    """The harness's figures, or (None, why it was skipped)."""
    harness = find_harness(args.harness)
    if harness is None:
        return None, ("no reference harness with time_reference.py at " +
                      (args.harness or "$COSYFLOW_REFERENCE_HARNESS, ../shared/reference-harness"))
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    if subprocess.run([py, "-c", "import torch"], capture_output=True).returncode != 0:
        return None, f"{py} cannot import torch (install python3-torch)"
    cmd = [py, "time_reference.py", "--threads", str(args.threads), "--llm-tokens",
           str(args.llm_tokens), "--repeats", str(args.repeats)]
    print(f"running in {harness}: " + " ".join(cmd), file=sys.stderr)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    r = subprocess.run(cmd, cwd=harness, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"time_reference.py failed ({r.returncode}): {last}"
    m = {k: re.search(p, r.stdout) for k, p in PATTERNS.items()}
    missing = [k for k, v in m.items() if v is None]
    if missing:
        return None, f"time_reference.py output not understood (no {', '.join(missing)} line)"
    return {
        "harness": harness,
        "command": " ".join(cmd),
        "llm_prefill_positions": int(m["llm"].group(1)),
        "llm_prefill_s": float(m["llm"].group(2)) / 1e3,
        "llm_decode_ms_per_token": float(m["llm"].group(3)),
        "flow_2s_s": float(m["flow"].group(1)),
        "flow_2s_prompt_3s_s": float(m["flow_prompt"].group(1)),
        "hift_2s_s": float(m["hift"].group(1)),
        "rtf_sum_of_stages": float(m["total"].group(1)),
        "rtf_sum_of_stages_prompt_3s": float(m["total"].group(2)),
        "output": r.stdout.strip().splitlines(),
    }, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", default=os.path.join(REPO, "build", "bench", "cosyflow-bench-e2e"))
    ap.add_argument("--bench-json", help="merge into this bench JSON instead of running the bench")
    ap.add_argument("--harness")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--llm-tokens", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("bench_args", nargs="*", help="after --: more cosyflow-bench-e2e --real options")
    args = ap.parse_args()

    out = run_bench(args)
    ref, why = run_reference(args)
    if ref is None:
        print(f"reference timing skipped: {why}", file=sys.stderr)
        out["reference"] = {"skipped": why}
    else:
        ref_rtf = ref["rtf_sum_of_stages_prompt_3s"]
        ratios = {}
        for name, c in out.get("configs", {}).items():
            best = c["best"]
            ratios[name] = {
                "reference_rtf_over_cosyflow_rtf": ref_rtf / best["rtf"],
                "reference_decode_over_cosyflow_lm_ms_per_token":
                    ref["llm_decode_ms_per_token"] / best["lm_ms_per_token"],
            }
        ref["ratio"] = ratios
        ref["note"] = ("reference: non-streaming sum of stages per audio second with a 3 s prompt "
                       "(prefill excluded); cosyflow: wall time of the whole streaming request")
        out["reference"] = ref
    text = json.dumps(out, indent=2, ensure_ascii=False)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
