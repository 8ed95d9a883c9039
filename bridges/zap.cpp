// ZAP handler: answers the CURVE handshakes of bridge servers that name a client allow-list.
#include "bridges/zap.h"

#include <fmt/format.h>

#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "bridges/zmq_util.h"
#include "runtime/logging.h"

namespace cosyflow::bridges {
namespace {

// Process-lifetime (never destroyed, like the bridge context): the handler thread may outlive
// static destruction.
struct ZapHub {
  std::mutex mu;
  std::map<std::string, std::set<std::string>> domains;  // domain -> binary 32-byte keys
  std::unique_ptr<zmq::socket_t> socket;
  bool started = false;
};

ZapHub& Hub() {
  static ZapHub* hub = new ZapHub();
  return *hub;
}

std::string Part(const std::vector<zmq::message_t>& parts, size_t i) {
  return i < parts.size() ? parts[i].to_string() : std::string();
}

// One request (RFC 27: version, request id, domain, address, identity, mechanism, credentials)
// -> status code and text.
std::pair<std::string, std::string> Decide(const std::vector<zmq::message_t>& req) {
  const std::string domain = Part(req, 2), mechanism = Part(req, 5);
  std::lock_guard<std::mutex> lock(Hub().mu);
  auto it = Hub().domains.find(domain);
  if (it == Hub().domains.end()) return {"200", "OK"};  // this server keeps no list
  if (mechanism != "CURVE" || req.size() < 7 || req[6].size() != 32) {
    return {"400", "CURVE client key required"};
  }
  if (!it->second.count(Part(req, 6))) return {"400", "client key not on the allow-list"};
  return {"200", "OK"};
}

void Serve(zmq::socket_t* socket) {
  for (;;) {
    try {
      std::vector<zmq::message_t> req;
      do {
        zmq::message_t part;
        if (!socket->recv(part, zmq::recv_flags::none)) break;
        req.push_back(std::move(part));
      } while (socket->get(zmq::sockopt::rcvmore));
      auto [code, text] = Decide(req);
      if (code != "200") {
        Log(LogLevel::kWarning, "bridge: CURVE client refused ({}): {}", Part(req, 3), text);
      }
      const std::string reply[] = {"1.0", Part(req, 1), code, text, "", ""};
      for (int i = 0; i < 6; ++i) {
        (void)socket->send(zmq::buffer(reply[i]),
                           i < 5 ? zmq::send_flags::sndmore : zmq::send_flags::none);
      }
    } catch (const std::exception& e) {
      Log(LogLevel::kError, "bridge: ZAP handler error: {}", e.what());
    }
  }
}

}  // namespace

Result<std::set<std::string>> ReadCurveAllowList(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("bridge: cannot open CURVE allow-list {}", path);
  std::set<std::string> keys;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    // '#' is a Z85 character: a comment starts at a '#' opening the line or after a blank.
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
        line.resize(i);
        break;
      }
    }
    std::string key;
    for (char c : line) {
      if (c != ' ' && c != '\t' && c != '\r') key += c;
    }
    if (key.empty()) continue;
    uint8_t bin[32];
    if (key.size() != 40 || zmq_z85_decode(bin, key.c_str()) == nullptr) {
      return InvalidArgument(
          "bridge: CURVE allow-list {} line {}: expected a 40-character Z85 "
          "public key, got '{}'",
          path, n, key);
    }
    keys.insert(std::string(reinterpret_cast<const char*>(bin), 32));
  }
  if (keys.empty()) return InvalidArgument("bridge: CURVE allow-list {} holds no key", path);
  return keys;
}

Result<std::shared_ptr<void>> RegisterZapAllowList(const std::string& domain,
                                                   const std::string& path) {
  COSY_ASSIGN_OR_RETURN(std::set<std::string> keys, ReadCurveAllowList(path));
  ZapHub& hub = Hub();
  std::lock_guard<std::mutex> lock(hub.mu);
  if (!hub.started) {
    try {
      hub.socket = std::make_unique<zmq::socket_t>(BridgeContext(), zmq::socket_type::rep);
      hub.socket->bind("inproc://zeromq.zap.01");
    } catch (const zmq::error_t& e) {
      hub.socket.reset();
      return Internal("bridge: cannot start the ZAP handler: {}", e.what());
    }
    std::thread(Serve, hub.socket.get()).detach();
    hub.started = true;
  }
  hub.domains[domain] = std::move(keys);
  return std::shared_ptr<void>(nullptr, [domain](void*) {
    std::lock_guard<std::mutex> lock(Hub().mu);
    Hub().domains.erase(domain);
  });
}

}  // namespace cosyflow::bridges
