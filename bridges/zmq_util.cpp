// ZeroMQ plumbing shared by the bridge client and server.
#include "bridges/zmq_util.h"

#include <atomic>
#include <chrono>

#include "runtime/small_file.h"

namespace cosyflow::bridges {

zmq::context_t& BridgeContext() {
  static zmq::context_t* context = new zmq::context_t(1);
  return *context;
}

zmq::message_t ToFrame(WireBuffer buffer) {
  auto* owned = new flatbuffers::DetachedBuffer(std::move(buffer.buffer()));
  return zmq::message_t(
      owned->data(), owned->size(),
      [](void*, void* hint) { delete static_cast<flatbuffers::DetachedBuffer*>(hint); }, owned);
}

Result<Envelope> DecodeFrame(zmq::message_t frame, const WireLimits& limits, uint64_t* session_id) {
  auto keeper = std::make_shared<zmq::message_t>(std::move(frame));
  return DecodeEnvelope(static_cast<const uint8_t*>(keeper->data()), keeper->size(), limits, keeper,
                        session_id);
}

std::string EndpointProblem(const std::string& endpoint) {
  if (endpoint.rfind("ipc://", 0) == 0 || endpoint.rfind("inproc://", 0) == 0) {
    return endpoint.find("://") + 3 < endpoint.size() ? "" : "names no path";
  }
  if (endpoint.rfind("tcp://", 0) != 0) return "must start with tcp://, ipc:// or inproc://";
  const size_t colon = endpoint.rfind(':');
  if (colon < 6 || colon == 6) return "must be tcp://HOST:PORT";
  const std::string port = endpoint.substr(colon + 1);
  if (port == "*") return "";
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
    return fmt::format("port must be a number in [0, 65535] or *, got '{}'", port);
  }
  return "";
}

std::string BindSpec(const std::string& endpoint) {
  if (endpoint.rfind("tcp://", 0) == 0 && endpoint.size() > 2 &&
      endpoint.compare(endpoint.size() - 2, 2, ":0") == 0) {
    return endpoint.substr(0, endpoint.size() - 1) + "*";
  }
  return endpoint;
}

Result<std::string> ReadZ85Key(const std::string& path) {
  COSY_ASSIGN_OR_RETURN(const std::string text, ReadSmallFile(path, 4096, "bridge CURVE key file"));
  std::string key;
  for (char c : text) {
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t') key += c;
  }
  if (key.size() != 40) {
    return InvalidArgument("bridge: CURVE key file {} must hold a 40-character Z85 key, got {} "
                           "characters", path, key.size());
  }
  return key;
}

Status ApplyCurve(zmq::socket_t& socket, const CurveKeys& keys, bool server) {
  if (!keys.enabled()) return OkStatus();
  try {
    COSY_ASSIGN_OR_RETURN(std::string secret, ReadZ85Key(keys.secret_file));
    if (server) {
      socket.set(zmq::sockopt::curve_server, 1);
      socket.set(zmq::sockopt::curve_secretkey, secret);
      return OkStatus();
    }
    COSY_ASSIGN_OR_RETURN(std::string pub, ReadZ85Key(keys.public_file));
    COSY_ASSIGN_OR_RETURN(std::string server_pub, ReadZ85Key(keys.server_public_file));
    socket.set(zmq::sockopt::curve_serverkey, server_pub);
    socket.set(zmq::sockopt::curve_publickey, pub);
    socket.set(zmq::sockopt::curve_secretkey, secret);
  } catch (const zmq::error_t& e) {
    return InvalidArgument("bridge: CURVE setup failed ({}); is libzmq built with libsodium?",
                           e.what());
  }
  return OkStatus();
}

uint64_t NextWakeId() {
  static std::atomic<uint64_t> next{1};
  return next++;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace cosyflow::bridges
