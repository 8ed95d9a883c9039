// cosyflow-bench-bridges: bridge overhead per message and per MB (in-process graph vs the same
// graph served over inproc://, ipc:// and tcp://127.0.0.1), and the first-audio latency a split
// TTS pipeline (configs/split/tts_tiny_*.json) adds over in-process (configs/tts_tiny.json).
// Checks every result (all samples back, split audio == in-process audio), then prints JSON.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "bridges/bridge_server.h"
#include "graph/session_source.h"
#include "bridges/zmq_send_node.h"
#include "graph/pipeline.h"

namespace cosyflow::bridges {
namespace {

// Resampler at the input rate passes chunks through unchanged: the graph adds almost nothing.
const char* kEchoGraph = R"({"format": 1, "name": "echo", "limits": {"max_in_flight": 64},
  "inputs": [{"name": "audio", "to": "echo.in"}], "outputs": [{"name": "audio", "from": "echo.out"}],
  "nodes": [{"id": "echo", "type": "Resampler", "options": {"output_rate": 24000}}]})";

std::string FrontGraph(const std::string& endpoint) {
  return fmt::format(R"({{"format": 1, "name": "front", "limits": {{"max_in_flight": 64}},
  "inputs": [{{"name": "audio", "to": "b.in"}}], "outputs": [{{"name": "audio", "from": "b.out"}}],
  "nodes": [{{"id": "b", "type": "ZmqSend", "options": {{"endpoint": "{}", "send": "Audio",
  "receive": "Audio", "send_hwm": 1000}}}}]}})", endpoint);
}

double Seconds(int64_t ns) { return ns / 1e9; }

// Streams `n` chunks of `samples` floats through `p`; returns seconds, checks every sample came back.
Result<double> Stream(Pipeline& p, int n, int samples) {
  std::vector<float> chunk(static_cast<size_t>(samples), 0.25f);
  COSY_ASSIGN_OR_RETURN(Audio a, Audio::FromSamples(chunk, 24000));
  std::mutex mu;
  int64_t got = 0;
  SubmitOptions so;
  so.on_output = [&](const std::string&, const MessagePtr& m) {
    if (const Audio* x = m->get<Audio>()) {
      std::lock_guard<std::mutex> lock(mu);
      got += x->size();
    }
  };
  const int64_t start = NowNs();
  COSY_ASSIGN_OR_RETURN(SessionId id, p.Submit(so));
  for (int i = 0; i < n; ++i) COSY_RETURN_IF_ERROR(p.Push(id, "audio", a));
  COSY_RETURN_IF_ERROR(p.EndInput(id));
  COSY_ASSIGN_OR_RETURN(SessionResult r, p.Wait(id));
  COSY_RETURN_IF_ERROR(r.status);
  const int64_t took = NowNs() - start;
  if (got != int64_t{n} * samples) {
    return Internal("bench: {} of {} samples came back", got, int64_t{n} * samples);
  }
  return Seconds(took);
}

Result<nlohmann::json> Transport(const std::string& bind, double local_small, double local_big,
                                 int n_small, int n_big, int big_samples) {
  COSY_ASSIGN_OR_RETURN(auto back, Pipeline::FromText(kEchoGraph));
  COSY_RETURN_IF_ERROR(back->Start());
  BridgeServerOptions so;
  so.endpoints = {bind};
  so.limits.max_message_bytes = size_t{64} << 20;
  COSY_ASSIGN_OR_RETURN(auto server, BridgeServer::Start(back.get(), so));
  PipelineOverrides po;
  po.registry = &FullNodeRegistry();
  COSY_ASSIGN_OR_RETURN(auto front, Pipeline::FromText(FrontGraph(server->endpoints()[0]), po));
  COSY_RETURN_IF_ERROR(front->Start());
  COSY_RETURN_IF_ERROR(Stream(*front, 50, 16).status());  // warm up
  COSY_ASSIGN_OR_RETURN(double small, Stream(*front, n_small, 16));
  COSY_ASSIGN_OR_RETURN(double big, Stream(*front, n_big, big_samples));
  const double mb = n_big * big_samples * 4.0 / (1 << 20);
  nlohmann::json j;
  j["endpoint"] = server->endpoints()[0];
  j["small_msg_us"] = small / n_small * 1e6;
  j["overhead_us_per_msg"] = (small - local_small) / n_small * 1e6;
  j["mb_per_s"] = mb / big;
  j["overhead_ms_per_mb"] = (big - local_big) / mb * 1e3;
  (void)front->Stop();
  server->Stop();
  (void)back->Stop();
  return j;
}

// One TTS request; returns first-audio ms and the audio.
Result<std::pair<double, std::vector<float>>> Speak(Pipeline& p, const std::string& text) {
  std::mutex mu;
  std::vector<float> audio;
  SubmitOptions so;
  so.on_output = [&](const std::string&, const MessagePtr& m) {
    if (const Audio* a = m->get<Audio>()) {
      std::lock_guard<std::mutex> lock(mu);
      auto v = a->view();
      audio.insert(audio.end(), v.begin(), v.end());
    }
  };
  COSY_ASSIGN_OR_RETURN(SessionId id, p.Submit(so));
  TextRequest r;
  r.text = text;
  COSY_RETURN_IF_ERROR(p.PushText(id, r));
  COSY_RETURN_IF_ERROR(p.EndText(id));
  COSY_ASSIGN_OR_RETURN(SessionResult res, p.Wait(id));
  COSY_RETURN_IF_ERROR(res.status);
  return std::make_pair(res.timing.first_output_ns / 1e6, audio);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Result<nlohmann::json> SplitLatency(const std::string& configs, int runs) {
  const std::string text = "Hello there, how are you? This is a split pipeline.";
  COSY_ASSIGN_OR_RETURN(auto whole, Pipeline::Load(configs + "/tts_tiny.json"));
  COSY_RETURN_IF_ERROR(whole->Start());
  auto read_json = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return nlohmann::json::parse(s.str());
  };
  // The back half's ZmqReceive node binds a free port.
  nlohmann::json back_json = read_json(configs + "/split/tts_tiny_back.json");
  for (auto& n : back_json["nodes"]) {
    if (n["type"] == "ZmqReceive") n["options"]["bind"] = "tcp://127.0.0.1:0";
  }
  back_json["model_dir"] = configs + "/../tests/fixtures/tiny-seed0";
  PipelineOverrides po;
  po.registry = &FullNodeRegistry();
  COSY_ASSIGN_OR_RETURN(auto back, Pipeline::FromText(back_json.dump(), po));
  COSY_RETURN_IF_ERROR(back->Start());
  if (back->sources().empty()) return Internal("bench: the back half has no ZmqReceive node");
  const std::string endpoint = back->sources()[0].second->SourceEndpoints().at(0);
  nlohmann::json front_json = read_json(configs + "/split/tts_tiny_front.json");
  for (auto& n : front_json["nodes"]) {
    if (n["type"] == "ZmqSend") n["options"]["endpoint"] = endpoint;
  }
  front_json["model_dir"] = configs + "/../tests/fixtures/tiny-seed0";
  COSY_ASSIGN_OR_RETURN(auto front, Pipeline::FromText(front_json.dump(), po));
  COSY_RETURN_IF_ERROR(front->Start());
  std::vector<double> local_ms, split_ms;
  for (int i = 0; i < runs; ++i) {
    COSY_ASSIGN_OR_RETURN(auto a, Speak(*whole, text));
    COSY_ASSIGN_OR_RETURN(auto b, Speak(*front, text));
    if (i == 0 && a.second != b.second) {
      return Internal("bench: split audio ({} samples) differs from in-process ({})",
                      b.second.size(), a.second.size());
    }
    local_ms.push_back(a.first);
    split_ms.push_back(b.first);
  }
  nlohmann::json j;
  j["runs"] = runs;
  j["in_process_first_audio_ms_p50"] = Median(local_ms);
  j["split_tcp_first_audio_ms_p50"] = Median(split_ms);
  j["added_first_audio_ms_p50"] = Median(split_ms) - Median(local_ms);
  (void)front->Stop();
  (void)back->Stop();
  return j;
}

Status Run(const std::string& configs) {
  const int n_small = 2000, n_big = 32, big_samples = 1 << 18;  // 32 x 1 MiB
  COSY_ASSIGN_OR_RETURN(auto local, Pipeline::FromText(kEchoGraph));
  COSY_RETURN_IF_ERROR(local->Start());
  COSY_RETURN_IF_ERROR(Stream(*local, 50, 16).status());
  COSY_ASSIGN_OR_RETURN(double local_small, Stream(*local, n_small, 16));
  COSY_ASSIGN_OR_RETURN(double local_big, Stream(*local, n_big, big_samples));
  nlohmann::json out;
  out["bench"] = "bridges";
  out["in_process"] = {{"small_msg_us", local_small / n_small * 1e6},
                       {"mb_per_s", n_big * 1.0 / local_big}};
  const std::string ipc = fmt::format("ipc:///tmp/cosyflow-bench-{}", ::getpid());
  for (const auto& [name, bind] : std::vector<std::pair<std::string, std::string>>{
           {"inproc", "inproc://cosyflow-bench"}, {"ipc", ipc}, {"tcp", "tcp://127.0.0.1:0"}}) {
    COSY_ASSIGN_OR_RETURN(out[name],
                          Transport(bind, local_small, local_big, n_small, n_big, big_samples));
  }
  std::remove(ipc.substr(6).c_str());
  COSY_ASSIGN_OR_RETURN(out["split_tts_tiny"], SplitLatency(configs, 5));
  fmt::print("{}\n", out.dump(2));
  return OkStatus();
}

}  // namespace
}  // namespace cosyflow::bridges

int main(int argc, char** argv) {
  const std::string configs = argc > 1 ? argv[1] : COSYFLOW_SOURCE_DIR "/configs";
  cosyflow::Status s = cosyflow::bridges::Run(configs);
  if (!s.ok()) {
    fmt::print(stderr, "cosyflow-bench-bridges: {}\n", s.ToString());
    return 1;
  }
  return 0;
}
