// Helpers for the bridge tests: a served resampler graph, client graphs, audio collection.
#pragma once

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bridges/bridge_client.h"
#include "bridges/bridge_server.h"
#include "bridges/zmq_send_node.h"
#include "graph/pipeline.h"

namespace cosyflow::bridges::test {

inline const char* kResampleGraph = R"({
  "format": 1, "name": "resample-stream", "limits": {"max_in_flight": 8},
  "inputs": [{"name": "audio", "to": "resample.in"}],
  "outputs": [{"name": "audio", "from": "resample.out"}],
  "nodes": [{"id": "resample", "type": "Resampler", "options": {"output_rate": 16000}}]})";

// A graph whose only node forwards audio to `endpoint` and emits what comes back.
inline std::string SplitGraph(const std::string& endpoint, const std::string& send = "Audio",
                              const std::string& extra = "") {
  return fmt::format(R"({{
  "format": 1, "name": "front",
  "inputs": [{{"name": "audio", "to": "bridge.in"}}],
  "outputs": [{{"name": "audio", "from": "bridge.out"}}],
  "nodes": [{{"id": "bridge", "type": "ZmqSend",
             "options": {{"endpoint": "{}", "send": "{}", "receive": "Audio",
                          "heartbeat_ms": 50, "peer_timeout_ms": 2000{}}}}}]}})",
                     endpoint, send, extra);
}

struct Served {
  std::unique_ptr<Pipeline> pipeline;
  std::unique_ptr<BridgeServer> server;
  std::string endpoint;
};

inline Served Serve(const std::string& bind, const std::string& graph = kResampleGraph,
                    int heartbeat_ms = 50,
                    const std::function<void(BridgeServerOptions&)>& tweak = {}) {
  Served s;
  auto p = Pipeline::FromText(graph);
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  s.pipeline = std::move(*p);
  REQUIRE(s.pipeline->Start().ok());
  BridgeServerOptions o;
  o.endpoints = {bind};
  o.heartbeat_ms = heartbeat_ms;
  o.peer_timeout_ms = 2000;
  if (tweak) tweak(o);
  auto srv = BridgeServer::Start(s.pipeline.get(), o);
  for (int i = 0; i < 100 && !srv.ok(); ++i) {  // a just-closed socket may hold the port
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    srv = BridgeServer::Start(s.pipeline.get(), o);
  }
  REQUIRE_MESSAGE(srv.ok(), srv.status().ToString());
  s.server = std::move(*srv);
  s.endpoint = s.server->endpoints().at(0);
  return s;
}

inline std::vector<float> Ramp(size_t n, float scale = 1.0f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>((i % 200) - 100) / 100.0f;
  return v;
}

// Pushes `chunks` of 24 kHz audio through `p` as one session; returns the audio and status.
inline std::pair<std::vector<float>, Status> RunAudio(Pipeline& p,
                                                      const std::vector<std::vector<float>>& chunks) {
  auto id = p.Submit();
  REQUIRE(id.ok());
  for (const auto& c : chunks) {
    auto a = Audio::FromSamples(c, 24000);
    REQUIRE(p.Push(*id, "audio", *a).ok());
  }
  REQUIRE(p.EndInput(*id).ok());
  std::vector<float> out;
  for (;;) {
    auto m = p.Pull(*id, nullptr, std::chrono::seconds(20));
    REQUIRE(m.ok());
    if (!*m) break;
    if (const Audio* a = (*m)->get<Audio>()) {
      auto v = a->view();
      out.insert(out.end(), v.begin(), v.end());
    }
  }
  auto r = p.Wait(*id);
  REQUIRE(r.ok());
  return {out, r->status};
}

// Collects one BridgeClient session's audio until it closes (bounded wait).
inline std::pair<std::vector<float>, Status> Collect(BridgeClient& c, uint64_t id) {
  std::vector<float> out;
  for (int i = 0; i < 400; ++i) {
    auto m = c.Next(id, std::chrono::milliseconds(50));
    if (!m.ok()) return {out, m.status()};
    if (!*m) continue;
    if (const Audio* a = (*m)->get<Audio>()) {
      auto v = a->view();
      out.insert(out.end(), v.begin(), v.end());
    }
    if ((*m)->header.error()) return {out, (*m)->get<ErrorInfo>()->status};
    if ((*m)->header.closes()) return {out, OkStatus()};
  }
  return {out, Internal("timeout")};
}

inline BridgeClientOptions AudioClient(const std::string& endpoint) {
  BridgeClientOptions o;
  o.endpoint = endpoint;
  o.hello.sends = PayloadType::kAudio;
  o.hello.receives = PayloadType::kAudio;
  o.heartbeat_ms = 50;
  o.peer_timeout_ms = 2000;  // loaded CI machines stall threads; peer-loss tests lower it
  o.connect_timeout_ms = 3000;
  return o;
}

}  // namespace cosyflow::bridges::test
