// BridgeClient: one DEALER connection to a BridgeServer (a served graph), shared by the sessions
// of a ZmqSend node or of `cosyflow say`.
//
// Connect performs the handshake (schema version, graph input and payload types; a mismatch is
// an error naming both sides) before returning. An I/O thread owns the socket: it sends queued
// frames, routes received messages to per-session inboxes, sends a heartbeat every
// heartbeat_ms and declares the peer lost after peer_timeout_ms without any frame from it.
// Losing the peer fails every open session with kUnavailable (never a hang); the client then
// reconnects and repeats the handshake, so sessions opened after the peer is back succeed.
// Session ids are chosen here and are only meaningful on this connection.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "bridges/codec.h"
#include "bridges/zmq_util.h"

namespace cosyflow::bridges {

struct BridgeClientOptions {
  std::string endpoint;       // e.g. tcp://127.0.0.1:5701, ipc:///tmp/x, inproc://x
  HelloInfo hello;            // input, sends, receives, peer
  int heartbeat_ms = 500;
  int peer_timeout_ms = 5000;
  int connect_timeout_ms = 5000;
  int send_hwm = 1000;        // frames queued in the socket before sends wait (backpressure)
  WireLimits limits;
  CurveKeys curve;
};

struct BridgeClientStats {
  uint64_t sent = 0, received = 0, rejected_by_peer = 0, undecodable = 0, peer_losses = 0;
};

class BridgeClient {
 public:
  static Result<std::shared_ptr<BridgeClient>> Connect(const BridgeClientOptions& options);
  ~BridgeClient();
  BridgeClient(const BridgeClient&) = delete;
  BridgeClient& operator=(const BridgeClient&) = delete;

  // A new session; kUnavailable while the peer is lost (until the handshake succeeds again).
  Result<uint64_t> OpenSession();
  // Queues one message of session `id` (payload or control: flags kFlagEndOfStream/kFlagCancel).
  // With send_hwm frames already waiting for the socket, a data message waits for room (at most
  // peer_timeout_ms, then kResourceExhausted): the peer's high-water mark becomes backpressure.
  Status Send(uint64_t id, Payload payload, uint32_t flags = 0);
  // The session's next message from the server, waiting up to `timeout`: nullptr when none came;
  // an error when the session failed (peer lost, message rejected). A message that closes()
  // ends the session.
  Result<MessagePtr> Next(uint64_t id, std::chrono::milliseconds timeout);
  // Forgets the session (sends a cancel first unless it already ended).
  void CloseSession(uint64_t id);

  const HelloAckInfo& ack() const { return ack_; }
  bool connected() const;
  BridgeClientStats stats() const;
  const BridgeClientOptions& options() const { return options_; }

 private:
  struct Session {
    std::deque<MessagePtr> inbox;
    Status failed;
    bool ended = false;
    uint64_t sequence = 0;
  };
  explicit BridgeClient(BridgeClientOptions options);
  Status StartSocket();
  void Run();
  void Step();
  void HandleFrame(zmq::message_t frame);
  void FailAll(const Status& status);
  void Wake();

  BridgeClientOptions options_;
  HelloAckInfo ack_;
  std::unique_ptr<zmq::socket_t> socket_;  // I/O thread only (after Connect)
  zmq::socket_t wake_pull_;
  std::string wake_endpoint_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unique_ptr<zmq::socket_t> wake_push_;  // guarded by mu_
  std::deque<zmq::message_t> outbox_;         // guarded by mu_
  std::map<uint64_t, Session> sessions_;
  uint64_t next_id_ = 1;
  bool connected_ = false;
  Status handshake_;  // last handshake failure
  bool handshake_done_ = false;
  bool stop_ = false;
  BridgeClientStats stats_;
  int64_t last_recv_ms_ = 0, last_beat_ms_ = 0;
  std::thread thread_;
};

}  // namespace cosyflow::bridges
