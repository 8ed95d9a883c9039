// ZmqReceiveNode: the receiving half of a split graph, as a node in the graph file.
//
// A session source (graph/session_source.h): it binds a ZeroMQ ROUTER (a BridgeServer) when
// the pipeline starts; each session a remote ZmqSend node (or `cosyflow say`, the Python
// client) opens becomes a session of this graph, whose messages enter at this node and whose
// graph output `reply` streams back to that peer chunk by chunk, then its end of stream or
// error. So a back-half graph file reads `ZmqReceive -> Flow -> HiftVocoder`, and `cosyflow
// serve` (or any Pipeline) runs it. Handshake, heartbeats, peer loss, per-session credit flow
// control and bad-input handling are the BridgeServer's (bridges/bridge_server.h).
//
// Ports: none in (the plan gives it the implicit graph input named after the node id) -> out
//   `out` (payload type = option `receive`).
// Options:
//   bind ("tcp://127.0.0.1:0")  endpoint to bind (port 0 = a free one, reported by serve)
//   receive (required)          payload type peers send: TextRequest, TextSegments, TokenIds,
//                               SpeechTokens, Mel, Audio
//   reply ("")                  graph output streamed back ("" = the graph's first output)
//   heartbeat_ms (500, 10..60000), peer_timeout_ms (10000, > heartbeat_ms),
//   max_message_bytes (64 MiB), window (32, 1..65536): credit per session granted to peers
//   curve_secret_key ("": no CURVE)  this server's secret key file (Z85)
//   curve_allow ("")            with CURVE: file of allowed client public keys (ZAP); "" = any
//   allow_paths (false)         accept TextRequest prompt_audio_path / source_audio_path (files
//                               on this host) from peers; refused by default
//   key files resolve against model_dir.
// Create checks options only; the socket is bound at Pipeline::Start (so `cosyflow check
//   --load` binds nothing); a busy port or a bad key file fails Start, naming the node.
// Session state: none (Process forwards the peer's payload on `out`). Errors: a peer's
//   session fails alone (remote cancel, peer loss -> cancelled here).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bridges/bridge_server.h"
#include "graph/session_source.h"
#include "nodes/core/node.h"

namespace cosyflow::bridges {

struct ZmqReceiveOptions {
  std::string bind = "tcp://127.0.0.1:0";
  std::string receive;
  std::string reply;
  int heartbeat_ms = 500;
  int peer_timeout_ms = 10000;
  int64_t max_message_bytes = int64_t{64} << 20;
  int window = 32;
  std::string curve_secret_key, curve_allow;
  bool allow_paths = false;

  void Parse(const nlohmann::json& j, const std::string& path, ErrorList* errors);
  void Validate(const std::string& path, ErrorList* errors) const;
  std::string ToString() const;
};

class ZmqReceiveNode : public Node, public SessionSource {
 public:
  using Options = ZmqReceiveOptions;
  static NodeSpec Spec();
  static NodeSpec SpecFor(const Options& options);
  static Result<std::unique_ptr<Node>> Create(const Options& options, const NodeContext& context);
  ~ZmqReceiveNode() override { StopSource(); }

  Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo& info) override;

  Status StartSource(Pipeline* pipeline, const std::string& input) override;
  int DrainSource(std::chrono::milliseconds timeout) override;
  void StopSource() override;
  std::vector<std::string> SourceEndpoints() const override;
  // The serving side's counters (zero before StartSource).
  BridgeServerStats stats() const;
  int open_sessions() const;

 private:
  ZmqReceiveNode(BridgeServerOptions options, std::string id)
      : options_(std::move(options)), id_(std::move(id)) {}
  BridgeServerOptions options_;
  std::string id_;
  std::unique_ptr<BridgeServer> server_;
};

}  // namespace cosyflow::bridges
