#!/usr/bin/env python3
"""Text to a WAV file from Python through the cosyflow C API (libcosyflow.so) with ctypes only.

Audio arrives chunk by chunk in a callback as the engine makes it; here the chunks are appended
to a WAV file (the `wave` module fills in the sizes at close). With the same seed the audio is
`cosyflow synth --seed SEED`'s (tests/examples) and the file equals the C example's. The structures below mirror
include/cosyflow/cosyflow.h field by field.

    python3 docs/examples/synthesize_ctypes.py --lib build/apps/libcosyflow.so \
        --graph configs/tts_tiny.json --text "Hello there." --out out.wav [--seed 7]

Bi-stream text (an upstream chat LLM's deltas): create the engine with stream_text = 1 and use
cosyflow_session_open / cosyflow_session_push_text / cosyflow_session_finish (see --stream).
"""
import argparse
import array
import ctypes
import json
import os
import sys
import wave

AUDIO_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t,
                                  ctypes.c_int, ctypes.c_void_p)


class EngineParams(ctypes.Structure):
    _fields_ = [("graph_path", ctypes.c_char_p), ("model_dir", ctypes.c_char_p),
                ("threads", ctypes.c_int), ("stream_text", ctypes.c_int),
                ("seed", ctypes.c_int64)]


class RequestParams(ctypes.Structure):
    _fields_ = [("mode", ctypes.c_char_p), ("seed", ctypes.c_uint64),
                ("on_audio", AUDIO_CALLBACK), ("user", ctypes.c_void_p),
                ("voice", ctypes.c_char_p), ("prompt_wav", ctypes.c_char_p),
                ("prompt_samples", ctypes.POINTER(ctypes.c_float)),
                ("prompt_samples_len", ctypes.c_size_t), ("prompt_sample_rate", ctypes.c_int),
                ("prompt_text", ctypes.c_char_p), ("instruct_text", ctypes.c_char_p),
                ("source_wav", ctypes.c_char_p), ("speed", ctypes.c_float)]


def load(lib_path):
    lib = ctypes.CDLL(lib_path)
    lib.cosyflow_version.restype = ctypes.c_char_p
    lib.cosyflow_engine_default_params.restype = EngineParams
    lib.cosyflow_request_default_params.restype = RequestParams
    lib.cosyflow_engine_create.restype = ctypes.c_void_p
    lib.cosyflow_engine_create.argtypes = [ctypes.POINTER(EngineParams), ctypes.c_char_p,
                                           ctypes.c_size_t]
    lib.cosyflow_engine_free.argtypes = [ctypes.c_void_p]
    lib.cosyflow_synthesize.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                        ctypes.POINTER(RequestParams), ctypes.c_char_p,
                                        ctypes.c_size_t]
    lib.cosyflow_session_open.restype = ctypes.c_void_p
    lib.cosyflow_session_open.argtypes = [ctypes.c_void_p, ctypes.POINTER(RequestParams),
                                          ctypes.c_char_p, ctypes.c_size_t]
    lib.cosyflow_session_push_text.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                               ctypes.c_size_t]
    lib.cosyflow_session_finish.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    return lib


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", default=os.environ.get("COSYFLOW_LIB", "libcosyflow.so"))
    ap.add_argument("--graph", required=True)
    ap.add_argument("--model-dir", default="")
    ap.add_argument("--text", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=-1, help="as cosyflow synth --seed")
    ap.add_argument("--stream", action="store_true",
                    help="push the text word by word into a bi-stream session")
    args = ap.parse_args()

    lib = load(args.lib)
    err = ctypes.create_string_buffer(1024)
    ep = lib.cosyflow_engine_default_params()
    ep.graph_path = args.graph.encode()
    if args.model_dir:
        ep.model_dir = args.model_dir.encode()
    ep.seed = args.seed
    ep.stream_text = 1 if args.stream else 0
    engine = lib.cosyflow_engine_create(ctypes.byref(ep), err, len(err))
    if not engine:
        sys.exit(f"synthesize_ctypes: {err.value.decode()}")

    out = wave.open(args.out, "wb")
    state = {"chunks": 0, "samples": 0, "rate": 0}

    @AUDIO_CALLBACK
    def on_audio(samples, n, rate, _user):
        # Runs on an engine thread as each chunk exists; returning nonzero would cancel.
        if state["chunks"] == 0:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            state["rate"] = rate
        # s16 as the C example and the HTTP door: clipped to [-1, 1], times 32767 in float32
        # (array "f"), rounded to nearest even.
        scaled = array.array("f", (max(-1.0, min(1.0, samples[i])) * 32767.0 for i in range(n)))
        pcm = array.array("h", (round(x) for x in scaled))
        if sys.byteorder != "little":
            pcm.byteswap()
        out.writeframesraw(pcm.tobytes())
        state["chunks"] += 1
        state["samples"] += n
        return 0

    rp = lib.cosyflow_request_default_params()
    rp.on_audio = on_audio
    if args.seed >= 0:
        rp.seed = args.seed
    if args.stream:
        session = lib.cosyflow_session_open(engine, ctypes.byref(rp), err, len(err))
        rc = -1 if not session else 0
        for word in args.text.split(" ") if session else []:
            if rc == 0:
                rc = lib.cosyflow_session_push_text(session, (word + " ").encode(), err, len(err))
        if session:
            finish = lib.cosyflow_session_finish(session, err, len(err))
            rc = rc if rc != 0 else finish
    else:
        rc = lib.cosyflow_synthesize(engine, args.text.encode(), ctypes.byref(rp), err, len(err))
    lib.cosyflow_engine_free(engine)
    if rc != 0 or state["chunks"] == 0:
        out.close()
        os.remove(args.out)
        sys.exit(f"synthesize_ctypes: {err.value.decode() or 'no audio'} (code {rc})")
    out.close()
    print(json.dumps({"samples": state["samples"], "sample_rate": state["rate"],
                      "chunks": state["chunks"], "version": lib.cosyflow_version().decode()}))


if __name__ == "__main__":
    main()
