// BridgeServer: serves a started Pipeline to many clients over a ROUTER socket (the receiving
// end of a ZmqSend node, `cosyflow serve`, `cosyflow say`, the Python client).
//
// Protocol (bridges/schema/cosyflow_wire.fbs): a client's first frame is a Hello naming the
// graph input it feeds and the payload types it sends/expects; the server answers HelloAck (ok,
// or an error naming both sides). Then Data frames carry a client-chosen session id: the first
// one opens a pipeline session (ids are per client, mapped to server-unique pipeline ids, so
// clients cannot collide); payloads are pushed to the input; end of stream ends the input;
// cancel cancels the session at once. Output messages of the chosen graph output stream back
// as they are produced, then one closing message (end of stream, cancel, or error with
// ErrorInfo). Heartbeats go both ways; a client silent for peer_timeout_ms is dropped and its
// sessions cancelled. Frames that fail to decode, come before Hello, have the wrong payload
// type or overflow a session's queue are rejected (Rejected reply), counted and logged; they
// never affect other sessions. Each session has a feeder thread so a full input queue
// (backpressure) blocks only that session, and a pump thread that pulls the graph output.
//
// Flow control is credit-based per session (see bridge_client.h): HelloAck.window grants each
// client session `window` data messages; the feeder grants more as it pushes them into the graph
// (so a slow graph slows the client down and the session queue never exceeds the window).
// Towards the client, the pump sends at most Hello.window messages the client has not granted
// back; without credit it stops pulling, the session's graph output queue fills and the graph
// parks that session (bounded memory; nothing dropped). A client with Hello.window 0 gets no
// flow control (then max_queued_per_session bounds what it may send ahead).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bridges/codec.h"
#include "bridges/zmq_util.h"
#include "graph/pipeline.h"

namespace cosyflow::bridges {

struct BridgeServerOptions {
  std::vector<std::string> endpoints = {"tcp://127.0.0.1:0"};  // port 0 = a free port
  std::string output;  // graph output streamed back ("" = the graph's first output)
  std::string input;   // serve only this graph input ("" = any; Hello names it)
  uint32_t window = 32;  // credit per session granted to clients (data messages), >= 1
  int heartbeat_ms = 500;
  int peer_timeout_ms = 10000;
  size_t max_queued_per_session = 4096;  // messages waiting for the graph input per session
  WireLimits limits;
  CurveKeys curve;
  // With CURVE: a file of client public keys (Z85, one per line, '#' comments) allowed to
  // connect; others are refused at the CURVE handshake (ZAP). "" = any client with the key.
  std::string curve_allow_file;
  // Accept TextRequest prompt_audio_path / source_audio_path from clients: files the server
  // opens on its own disk. Off by default: a remote client could read any audio file the server
  // can, and learn from the errors which files exist (inline prompt_samples always work).
  bool allow_paths = false;
  // Called on a session's thread right after its closing frame is queued, before the thread's
  // last bookkeeping (tests widen that window with it; must not throw). Empty = none.
  std::function<void()> after_close_queued;
};

struct BridgeServerStats {
  uint64_t frames_received = 0, rejected = 0, sessions_opened = 0, sessions_closed = 0,
           peers = 0, peers_dropped = 0, credits_sent = 0;
  uint64_t rejections_unsent = 0;  // Rejected replies dropped: their client was not reading
  size_t max_queued = 0;   // largest per-session queue of client messages waiting for the graph
  size_t max_unacked = 0;  // largest count of messages sent to a session's client, not yet
                           // granted back (<= the client's window)
};

class BridgeServer {
 public:
  // Binds and starts serving `pipeline` (started, outliving the server).
  static Result<std::unique_ptr<BridgeServer>> Start(Pipeline* pipeline,
                                                     const BridgeServerOptions& options);
  ~BridgeServer();  // Stop()

  // The bound endpoints (port 0 resolved).
  const std::vector<std::string>& endpoints() const { return bound_; }
  // Refuses new sessions, waits up to `timeout` for open ones to finish, then cancels the rest.
  // Returns the number of sessions that had to be cancelled.
  int Drain(std::chrono::milliseconds timeout);
  void Stop();
  BridgeServerStats stats() const;
  int open_sessions() const;

 private:
  struct Session;
  struct Peer;
  explicit BridgeServer(Pipeline* pipeline, BridgeServerOptions options);
  Status Bind();
  void Run();
  void Step();
  void HandleFrame(const std::string& peer, zmq::message_t frame);
  void HandleHello(const std::string& peer, const HelloInfo& hello);
  void HandleData(const std::string& peer, const MessagePtr& m);
  void HandleCredit(const std::string& peer, const CreditInfo& credit);
  void Reject(const std::string& peer, uint64_t session, const Status& status);
  // Fails session `session` of `peer` (cancels it if open) and rejects the frame naming it.
  void RejectSession(const std::string& peer, uint64_t session, const Status& status);
  void Enqueue(const std::string& peer, zmq::message_t frame);
  void EnqueueLocked(const std::string& peer, zmq::message_t frame,
                     bool rejection = false);  // mu_ held
  void Feed(std::shared_ptr<Session> s);
  void Pump(std::shared_ptr<Session> s);
  void Finish(const std::shared_ptr<Session>& s);
  void Forget(const std::shared_ptr<Session>& s);  // mu_ held: drops s from sessions_
  void DropPeer(const std::string& peer, const char* why, std::vector<SessionId>* to_cancel);

  Pipeline* pipeline_;
  BridgeServerOptions options_;
  int output_index_ = 0;
  std::vector<std::string> bound_;
  std::unique_ptr<zmq::socket_t> router_;
  zmq::socket_t wake_pull_;
  std::string wake_endpoint_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unique_ptr<zmq::socket_t> wake_push_;                 // guarded by mu_
  struct Outgoing {
    std::string peer;
    zmq::message_t frame;
    bool rejection = false;
  };
  std::vector<Outgoing> outbox_;                     // guarded by mu_
  std::map<std::string, size_t> queued_rejections_;  // per peer, in outbox_ (mu_)
  std::map<std::string, Peer> peers_;
  std::map<std::pair<std::string, uint64_t>, std::shared_ptr<Session>> sessions_;
  int feeders_ = 0;  // feeder + pump threads running
  std::shared_ptr<void> zap_;  // the allow-list registration (curve_allow_file)
  bool draining_ = false;
  bool stop_ = false;
  BridgeServerStats stats_;
  int64_t last_beat_ms_ = 0;
  std::thread thread_;
};

}  // namespace cosyflow::bridges
