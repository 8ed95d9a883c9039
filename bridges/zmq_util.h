// ZeroMQ plumbing shared by the bridge client and server: the process-wide context, zero-copy
// frames from encoded envelopes, CURVE key files, and endpoint helpers.
#pragma once

#include <memory>
#include <string>

#include <zmq.hpp>

#include "bridges/codec.h"
#include "runtime/status.h"

namespace cosyflow::bridges {

// The process-wide context (created once, never destroyed: sockets live in threads that may
// outlast static destruction order).
zmq::context_t& BridgeContext();

// A zmq message that owns `buffer`'s bytes (no copy).
zmq::message_t ToFrame(WireBuffer buffer);

// Decodes a received frame; tensors view the frame (kept alive by the returned message).
// `session_id`: as DecodeEnvelope's.
Result<Envelope> DecodeFrame(zmq::message_t frame, const WireLimits& limits,
                             uint64_t* session_id = nullptr);

// "" when `endpoint` is one this project connects or binds: tcp://HOST:PORT with PORT in
// [0, 65535] or "*" (libzmq would wrap a larger number modulo 65536 without a word), ipc://PATH or
// inproc://NAME; else what is wrong with it.
std::string EndpointProblem(const std::string& endpoint);

// "tcp://host:0" -> "tcp://host:*" (libzmq picks a free port for "*").
std::string BindSpec(const std::string& endpoint);

// CURVE keys: Z85 text files (40 characters, as `curve_keygen` / zmq_curve_keypair print).
struct CurveKeys {
  std::string server_public_file;  // client: the server's public key
  std::string public_file;         // own public key
  std::string secret_file;         // own secret key
  bool enabled() const { return !secret_file.empty(); }
};
// Applies CURVE to a socket as server or client; InvalidArgument naming the bad file.
Status ApplyCurve(zmq::socket_t& socket, const CurveKeys& keys, bool server);
Result<std::string> ReadZ85Key(const std::string& path);

// A process-unique number for inproc wake-up endpoints (a freed object's address may be reused
// before its closed socket released the name).
uint64_t NextWakeId();

// Monotonic milliseconds.
int64_t NowMs();

}  // namespace cosyflow::bridges
