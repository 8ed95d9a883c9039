#!/usr/bin/env python3
"""Minimal Python client for a served cosyflow graph (`cosyflow serve configs/tts_tiny.json`).

Streams text in (one chunk per line with --stream-text, else the whole text) and writes the
audio that streams back to a 16-bit WAV file. Needs Debian's python3-zmq and
python3-flatbuffers, plus the schema compiled for Python:

    flatc --python -o /tmp/cosyflow_py bridges/schema/cosyflow_wire.fbs
    PYTHONPATH=/tmp/cosyflow_py python3 docs/examples/cosyflow_say.py \
        --connect tcp://127.0.0.1:5555 --text "Hello there." --out out.wav

Protocol (docs/bridges.md): Hello -> HelloAck, then Data frames for session 1 (TextRequest
chunks, then an end-of-stream control), Audio Data frames back until one closes the session.
Flow control: Hello.window lets the server send WINDOW audio chunks ahead; a Credit frame per
chunk written grants the next one. (Its few text chunks stay far below the server's
max_queued_per_session, so this client does not wait for the server's credit.)
"""
import argparse
import array
import json
import sys
import time
import wave

import flatbuffers
import zmq
from cosyflow.wire import (Audio, Body, Credit, Data, Envelope, ErrorInfo, Header, HelloAck,
                           Hello, Payload, Tensor, TextRequest)

SCHEMA_VERSION = 1
IDENT = b"CSYF"
TEXT_REQUEST, AUDIO = 1, 6  # cosyflow::PayloadType
EOS, CANCEL, ERROR = 1, 2, 4
WINDOW = 8  # audio chunks the server may send before we grant more


def envelope(b, body_type, body):
    Envelope.Start(b)
    Envelope.AddVersion(b, SCHEMA_VERSION)
    Envelope.AddBodyType(b, body_type)
    Envelope.AddBody(b, body)
    b.Finish(Envelope.End(b), file_identifier=IDENT)
    return bytes(b.Output())


def hello():
    b = flatbuffers.Builder(128)
    peer = b.CreateString("python example")
    Hello.Start(b)
    Hello.AddSchemaVersion(b, SCHEMA_VERSION)
    Hello.AddSends(b, TEXT_REQUEST)
    Hello.AddReceives(b, AUDIO)
    Hello.AddPeer(b, peer)
    Hello.AddWindow(b, WINDOW)
    return envelope(b, Body.Body.Hello, Hello.End(b))


def credit(session, messages):
    b = flatbuffers.Builder(64)
    Credit.Start(b)
    Credit.AddSessionId(b, session)
    Credit.AddMessages(b, messages)
    return envelope(b, Body.Body.Credit, Credit.End(b))


def data(session, seq, text=None, flags=0):
    b = flatbuffers.Builder(256)
    payload = None
    if text is not None:
        t = b.CreateString(text)
        TextRequest.Start(b)
        TextRequest.AddText(b, t)
        TextRequest.AddSpeed(b, 1.0)
        payload = TextRequest.End(b)
    Data.Start(b)
    Data.AddHeader(b, Header.CreateHeader(b, session, seq, flags, 0, time.monotonic_ns()))
    if payload is not None:
        Data.AddPayloadType(b, Payload.Payload.TextRequest)
        Data.AddPayload(b, payload)
    return envelope(b, Body.Body.Data, Data.End(b))


def decode(frame):
    buf = bytearray(frame)
    if not Envelope.Envelope.EnvelopeBufferHasIdentifier(buf, 0):
        raise ValueError("not a cosyflow envelope")
    env = Envelope.Envelope.GetRootAs(buf, 0)
    if env.Version() != SCHEMA_VERSION:
        raise ValueError(f"server speaks schema version {env.Version()}, we speak 1")
    return env


def tensor_floats(t):
    o = t._tab.Offset(8)  # Tensor.data
    if not o:
        return array.array("f")
    start, n = t._tab.Vector(o), t._tab.VectorLen(o)
    return array.array("f", bytes(t._tab.Bytes[start:start + n]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connect", required=True)
    ap.add_argument("--text")
    ap.add_argument("--stream-text", action="store_true")
    ap.add_argument("--out", default="out.wav")
    ap.add_argument("--timeout-ms", type=int, default=60000)
    a = ap.parse_args()

    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(a.connect)
    start = time.monotonic()
    sock.send(hello())
    while True:  # heartbeats may come before the answer
        if not sock.poll(a.timeout_ms):
            sys.exit("no handshake answer from " + a.connect)
        env = decode(sock.recv())
        if env.BodyType() == Body.Body.HelloAck:
            ack = HelloAck.HelloAck()
            ack.Init(env.Body().Bytes, env.Body().Pos)
            if not ack.Ok():
                sys.exit("handshake refused: " + ack.Error().decode())
            break

    chunks = [a.text] if a.text else ([line for line in sys.stdin] if a.stream_text
                                      else ["".join(sys.stdin)])
    seq = 0
    for c in chunks:
        sock.send(data(1, seq, text=c))
        seq += 1
    sock.send(data(1, seq, flags=EOS))

    out = wave.open(a.out, "wb")
    out.setnchannels(1)
    out.setsampwidth(2)
    rate, samples, first = 0, 0, None
    while True:
        if not sock.poll(a.timeout_ms):
            sys.exit("timed out waiting for audio")
        env = decode(sock.recv())
        if env.BodyType() == Body.Body.Rejected:
            sys.exit("server rejected a message")
        if env.BodyType() != Body.Body.Data:
            continue  # heartbeat
        d = Data.Data()
        d.Init(env.Body().Bytes, env.Body().Pos)
        if d.Header().SessionId() != 1:
            continue
        if d.PayloadType() == Payload.Payload.Audio:
            au = Audio.Audio()
            au.Init(d.Payload().Bytes, d.Payload().Pos)
            t = au.Samples()
            pcm = tensor_floats(t) if t else array.array("f")
            if rate == 0:
                rate = au.SampleRate()
                out.setframerate(rate)
            if first is None and len(pcm):
                first = time.monotonic() - start
            out.writeframes(array.array("h", (round(max(-1.0, min(1.0, x)) * 32767)
                                              for x in pcm)).tobytes())
            samples += len(pcm)
            sock.send(credit(1, 1))  # written: the server may send one more
        flags = d.Header().Flags()
        if flags & ERROR:
            e = ErrorInfo.ErrorInfo()
            e.Init(d.Payload().Bytes, d.Payload().Pos)
            sys.exit(f"server node {e.Node().decode()} failed: {e.Message().decode()}")
        if flags & (EOS | CANCEL):
            break
    out.close()
    total = time.monotonic() - start
    print(json.dumps({"out": a.out, "sample_rate": rate, "samples": samples,
                      "first_audio_ms": (first or 0) * 1e3, "total_ms": total * 1e3,
                      "rtf": total / (samples / rate) if samples else 0}))


if __name__ == "__main__":
    main()
