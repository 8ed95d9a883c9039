// ZmqSendNode: sends a session's stream to a remote (served) graph and emits what it returns.
//
// This is the sending half of a split pipeline: the graph file of one process ends in ZmqSend,
// the other process serves the rest of the pipeline (`cosyflow serve`, BridgeServer — the
// receiving half). Each session of this node is one session of the remote graph.
//
// Ports: in `in` (payload type = option `send`) -> out `out` (payload type = option `receive`;
//   absent when `receive` is "", then the node is a sink).
// Options:
//   endpoint (required)        tcp://host:port, ipc://path or inproc://name of the server
//   input ("")                 remote graph input to feed ("" = its only input)
//   send (required)            payload type sent: TextRequest, TextSegments, TokenIds,
//                              SpeechTokens, Mel, Audio
//   receive ("")               payload type expected from the remote graph output
//   heartbeat_ms (500, 10..60000), peer_timeout_ms (5000, > heartbeat_ms),
//   connect_timeout_ms (5000), send_hwm (1000 frames), max_message_bytes (64 MiB),
//   window (32, 1..65536): credit per session granted to the remote graph (messages it may
//     send back before this node has emitted them)
//   curve_server_public_key / curve_public_key / curve_secret_key ("": no CURVE) key files,
//   resolved against model_dir
// Create connects and performs the handshake: an unreachable server or a schema version /
//   input / payload type mismatch fails Create with an error naming both sides.
// Session state: the remote session id and its inbox of returned messages.
// Process queues the message for the client's I/O thread and emits returned messages that have
//   arrived; it never waits for the network (a oneTBB worker is never held). Flow control is
//   per-session credit (bridges/bridge_client.h): beyond the remote graph's credit, messages are
//   held and the session reports HasMoreWork() + Waiting(), so the runner parks it without a
//   thread and takes no more input for it (backpressure on this graph) until credit comes back
//   (SessionInfo::wake). Returned messages wake it too and are emitted by Continue.
//   Close(end of stream) sends end of stream; the session stays pending (parked between
//   returned messages) until the remote session ends. Close(cancel/error) cancels the remote
//   session.
// Errors: the remote graph's error (naming its node), peer loss (kUnavailable after
//   peer_timeout_ms without a frame), a rejected message — each fails only this session.
#pragma once

#include <memory>
#include <string>

#include "bridges/bridge_client.h"
#include "nodes/core/node.h"
#include "nodes/core/node_registry.h"

namespace cosyflow::bridges {

struct ZmqSendOptions {
  std::string endpoint;
  std::string input;
  std::string send;
  std::string receive;
  int heartbeat_ms = 500;
  int peer_timeout_ms = 5000;
  int connect_timeout_ms = 5000;
  int send_hwm = 1000;
  int window = 32;
  int64_t max_message_bytes = int64_t{64} << 20;
  std::string curve_server_public_key, curve_public_key, curve_secret_key;

  void Parse(const nlohmann::json& j, const std::string& path, ErrorList* errors);
  void Validate(const std::string& path, ErrorList* errors) const;
  std::string ToString() const;
};

class ZmqSendNode : public Node {
 public:
  using Options = ZmqSendOptions;
  static NodeSpec Spec();
  static NodeSpec SpecFor(const Options& options);
  static Result<std::unique_ptr<Node>> Create(const Options& options, const NodeContext& context);
  Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo& info) override;

 private:
  ZmqSendNode(std::shared_ptr<BridgeClient> client, bool has_output, std::string id)
      : client_(std::move(client)), has_output_(has_output), id_(std::move(id)) {}
  std::shared_ptr<BridgeClient> client_;
  bool has_output_;
  std::string id_;
};

// Registers the bridge node types (ZmqSend, ZmqReceive) on `registry`.
Status RegisterBridgeNodes(NodeRegistry& registry);
// Built-in node types plus the bridge node types, built once (apps use this one).
const NodeRegistry& FullNodeRegistry();

}  // namespace cosyflow::bridges
