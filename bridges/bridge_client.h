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
//
// Flow control is credit-based per session, both ways: the server's HelloAck names how many
// data messages a session may send before the server grants more (it grants as its graph
// takes them), and this client's Hello names how many the server may send before the client
// grants more (it grants as Next hands them out). Messages beyond the credit wait here, in
// order (Post never blocks: it holds them and the session's wake callback fires when they
// leave; Send waits), so a fast sender never overruns a slow receiver and nothing is dropped.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bridges/codec.h"
#include "bridges/zmq_util.h"

namespace cosyflow::bridges {

struct BridgeClientOptions {
  std::string endpoint;       // e.g. tcp://127.0.0.1:5701, ipc:///tmp/x, inproc://x
  HelloInfo hello;            // input, sends, receives, peer
  int heartbeat_ms = 500;
  int peer_timeout_ms = 5000;
  int connect_timeout_ms = 5000;
  int send_hwm = 1000;        // ZeroMQ send high-water mark of the socket (frames)
  int window = 32;            // credit granted to the server per session (messages), >= 1
  WireLimits limits;
  CurveKeys curve;
};

struct BridgeClientStats {
  uint64_t sent = 0, received = 0, rejected_by_peer = 0, undecodable = 0, peer_losses = 0;
  uint64_t credits_received = 0, credits_sent = 0;
  size_t max_inbox = 0;  // largest per-session inbox seen (<= window: the server honours credit)
  size_t max_held = 0;   // largest per-session backlog held for lack of credit
};

class BridgeClient {
 public:
  static Result<std::shared_ptr<BridgeClient>> Connect(const BridgeClientOptions& options);
  ~BridgeClient();
  BridgeClient(const BridgeClient&) = delete;
  BridgeClient& operator=(const BridgeClient&) = delete;

  // A new session; kUnavailable while the peer is lost (until the handshake succeeds again).
  Result<uint64_t> OpenSession();
  // Queues one message of session `id` (payload or control: flags kFlagEndOfStream/kFlagCancel)
  // and returns at once. A data message beyond the session's credit is held (in order, with any
  // end of stream behind it) until the server grants more; a cancel drops what is held.
  Status Post(uint64_t id, Payload payload, uint32_t flags = 0);
  // Post, then waits until nothing of the session is held any more (the peer granted credit);
  // fails when the session fails meanwhile (peer lost after peer_timeout_ms, rejected).
  Status Send(uint64_t id, Payload payload, uint32_t flags = 0);
  // Called (from the I/O thread, no lock held) whenever session `id` may have progressed:
  // a message arrived, credit released held messages, or the session failed.
  void SetWake(uint64_t id, std::function<void()> wake);
  struct Progress {
    size_t held = 0;     // messages waiting for credit
    size_t inbox = 0;    // messages waiting for Next
    bool failed = false;
  };
  Progress SessionProgress(uint64_t id) const;
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
  struct Held {
    bool data;
    zmq::message_t frame;
  };
  struct Session {
    std::deque<MessagePtr> inbox;
    std::deque<Held> held;  // waiting for credit
    Status failed;
    bool ended = false;
    uint64_t sequence = 0;
    bool limited = false;   // the server does flow control (HelloAck.window > 0)
    int64_t credit = 0;     // data messages that may still be sent
    uint32_t consumed = 0;  // handed out by Next since the last grant
    std::function<void()> wake;
  };
  using Wakes = std::vector<std::function<void()>>;
  explicit BridgeClient(BridgeClientOptions options);
  Status StartSocket();
  void Run();
  void Step();
  void HandleFrame(zmq::message_t frame);
  void HandleEnvelope(Result<Envelope>& e, Wakes* wakes);  // mu_ held
  void FailAll(const Status& status, Wakes* wakes);
  void ReleaseHeld(Session& s);
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
