// Codec: cosyflow messages <-> FlatBuffers envelopes (bridges/schema/cosyflow_wire.fbs).
//
// Every frame on a bridge is one Envelope with file identifier "CSYF" and a schema version.
// Decoding never reads a field before the buffer passed the size limit, the identifier check
// and the FlatBuffers Verifier (depth and table limits from WireLimits); it then checks the
// version and every value a node relies on (tensor dtype/shape/byte count, finite values,
// sample rate, flags, voice prompts at most 30 s).
// Errors are kDataLoss (corrupt / truncated), kUnsupported (version) or kInvalidArgument, and
// say what was wrong with which value. Tensors decode zero-copy as read-only views of the
// received buffer when a keeper owns it and the data is 4-byte aligned; otherwise they are
// copied. Tensors travel as dtype + shape + raw little-endian bytes (hosts are little-endian).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <flatbuffers/flatbuffers.h>

#include "nodes/core/message.h"
#include "runtime/status.h"

namespace cosyflow::bridges {

inline constexpr uint32_t kWireSchemaVersion = 1;
inline constexpr char kWireFileIdentifier[] = "CSYF";

struct WireLimits {
  size_t max_message_bytes = size_t{64} << 20;  // whole envelope; at most 2 GiB - 1
  uint32_t max_depth = 16;                      // nesting of tables and vectors
  uint32_t max_tables = 100000;                 // tables visited by the Verifier
};

// Hello: the client's side of the connect-time handshake.
struct HelloInfo {
  uint32_t schema_version = kWireSchemaVersion;
  std::string input;                         // graph input ("" = the only one)
  PayloadType sends = PayloadType::kNone;    // payload the client sends
  PayloadType receives = PayloadType::kNone; // payload it expects back (kNone = any)
  std::string peer;
  uint32_t window = 0;  // per-session credit the client grants the server (0 = unlimited)
};

struct HelloAckInfo {
  uint32_t schema_version = kWireSchemaVersion;
  bool ok = false;
  std::string error;
  std::string input;
  PayloadType accepts = PayloadType::kNone;
  std::string output;
  PayloadType produces = PayloadType::kNone;
  uint32_t heartbeat_ms = 0;
  uint32_t window = 0;  // per-session credit the server grants the client (0 = unlimited)
  uint64_t max_message_bytes = 0;  // the server's frame limit (0 = not said)
};

struct CreditInfo {
  uint64_t session_id = 0;
  uint32_t messages = 0;  // > 0
};

struct RejectedInfo {
  uint64_t session_id = 0;  // 0: not tied to a session
  Status status;
};

// One encoded envelope; owns its bytes.
class WireBuffer {
 public:
  WireBuffer() = default;
  explicit WireBuffer(flatbuffers::DetachedBuffer b) : buffer_(std::move(b)) {}
  const uint8_t* data() const { return buffer_.data(); }
  size_t size() const { return buffer_.size(); }
  flatbuffers::DetachedBuffer& buffer() { return buffer_; }

 private:
  flatbuffers::DetachedBuffer buffer_;
};

// Data/control message (header + payload). InvalidArgument for tensors that are not f32 on the
// CPU or too large for one envelope.
Result<WireBuffer> EncodeMessage(const Message& m);
WireBuffer EncodeHello(const HelloInfo& hello);
WireBuffer EncodeHelloAck(const HelloAckInfo& ack);
WireBuffer EncodeHeartbeat(int64_t sent_ns);
WireBuffer EncodeRejected(const RejectedInfo& rejected);
WireBuffer EncodeCredit(const CreditInfo& credit);

enum class EnvelopeKind : uint8_t { kHello, kHelloAck, kHeartbeat, kData, kRejected, kCredit };

struct Envelope {
  EnvelopeKind kind = EnvelopeKind::kHeartbeat;
  HelloInfo hello;
  HelloAckInfo ack;
  RejectedInfo rejected;
  CreditInfo credit;
  int64_t heartbeat_ns = 0;
  MessagePtr message;  // kData
};

// Verifies and decodes one frame. `keeper` (may be null) keeps `bytes` alive; with it tensors
// are zero-copy views of `bytes`. `session_id` (may be null) receives the session of a Data
// envelope whenever the frame passed the Verifier, also when a later check fails, so that a
// rejection can name the session it fails (else 0). With it, a frame over max_message_bytes is
// still verified (not decoded) for that id: the socket's own size limit bounds that work.
Result<Envelope> DecodeEnvelope(const uint8_t* bytes, size_t size, const WireLimits& limits,
                                std::shared_ptr<void> keeper = nullptr,
                                uint64_t* session_id = nullptr);

}  // namespace cosyflow::bridges
