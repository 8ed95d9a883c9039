// The synthesis facade (graph/synthesis.h): graph overrides, loading, one synthesis request.
#include "graph/synthesis.h"

#include <fmt/ranges.h>

#include <filesystem>
#include <mutex>
#include <utility>

#include "graph/graph_file.h"
#include "graph/voices.h"
#include "runtime/small_file.h"

namespace cosyflow::tts {

void PatchGraph(nlohmann::json* graph, const GraphOverrides& o, GraphInfo* info) {
  if (!graph->is_object() || !graph->contains("nodes") || !(*graph)["nodes"].is_array()) return;
  if (o.max_sessions > 0) {
    nlohmann::json& limits = (*graph)["limits"];
    if (limits.is_null()) limits = nlohmann::json::object();
    if (limits.is_object()) limits["max_sessions"] = o.max_sessions;
  }
  // Wrongly typed fields are left as they are: the graph's validation names them.
  auto string_at = [](const nlohmann::json& o, const char* key, const std::string& otherwise) {
    const auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : otherwise;
  };
  for (auto& node : (*graph)["nodes"]) {
    if (!node.is_object()) continue;
    if (!node.contains("options")) node["options"] = nlohmann::json::object();
    nlohmann::json& opt = node["options"];
    if (!opt.is_object()) continue;  // null or another type: the validation names it
    const std::string type = string_at(node, "type", "");
    if (type == "SpeechLM") {
      if (o.stream_text) opt["bistream"] = true;
      if (o.greedy) opt["greedy"] = true;
      if (!o.lm_precision.empty()) opt["precision"] = o.lm_precision;
      if (!o.lm_device.empty()) node["device"] = o.lm_device;
      if (string_at(opt, "text_id_policy", "error") == "modulo") info->test_model = true;
    } else if (type == "TextNormalizer") {
      if (o.stream_text) opt["input"] = "bistream";
      const auto max_chars = opt.find("max_chars");
      if (max_chars != opt.end() && max_chars->is_number_integer()) {
        info->max_input_chars = max_chars->get<int64_t>();
      }
    } else if (type == "Flow") {
      if (o.mode == "no_prompt" || o.mode == "sft") {
        opt.erase("prompt_tokens");
        opt.erase("prompt_feat");
      }
      if (o.speed != 1.0f) opt["stream"] = false;
      if (!o.flow_precision.empty()) opt["precision"] = o.flow_precision;
      if (!o.flow_device.empty()) {
        node["device"] = o.flow_device;
        if (o.flow_device == "cuda") opt["precision"] = "f32";
      }
    } else if (type == "VoiceFrontend") {
      if (!o.voice_store.empty()) opt["voices"] = o.voice_store;
    } else if (type == "ZmqSend") {
      if (!o.bridge_endpoint.empty()) opt["endpoint"] = o.bridge_endpoint;
    } else if (type == "ZmqReceive") {
      if (!o.bridge_bind.empty()) opt["bind"] = o.bridge_bind;
    } else if (type == "HiftVocoder") {
      if (o.seed) opt["seed"] = *o.seed;
      if (o.zero_noise) opt["noise"] = "zero";
    }
  }
}

Result<std::unique_ptr<Pipeline>> LoadPipeline(const std::string& graph_file,
                                               const GraphOverrides& o, GraphInfo* info) {
  COSY_ASSIGN_OR_RETURN(const std::string text,
                        ReadSmallFile(graph_file, kMaxGraphFileBytes, "graph file"));
  nlohmann::json graph;
  JsonDuplicateKeyFinder duplicate(kMaxGraphJsonDepth);
  try {
    graph = nlohmann::json::parse(text, std::ref(duplicate), /*allow_exceptions=*/false);
  } catch (const JsonTooDeep& e) {  // refused while parsing, before it is built
    return InvalidArgument("{}", e.what()).WithContext(graph_file);
  } catch (const nlohmann::json::exception&) {  // a number beyond double's range (1e999)
    graph = nlohmann::json::value_t::discarded;
  }
  if (graph.is_discarded()) {
    return Pipeline::Load(graph_file).status();  // reports the syntax error with line/column
  }
  // Before anything walks it recursively (dump, comparisons).
  COSY_RETURN_IF_ERROR(CheckJsonDepth(graph, kMaxGraphJsonDepth).WithContext(graph_file));
  if (!duplicate.message().empty()) {
    return InvalidArgument("{}: {}", graph_file, duplicate.message());
  }
  PatchGraph(&graph, o, info);
  info->stream_text = o.stream_text;
  std::string dir = o.model_dir;
  if (dir.empty()) {
    namespace fs = std::filesystem;
    const fs::path base = fs::path(graph_file).parent_path();
    const auto it = graph.is_object() ? graph.find("model_dir") : graph.end();
    fs::path md = it != graph.end() && it->is_string() ? it->get<std::string>() : ".";
    dir = (md.is_absolute() ? md : (base.empty() ? fs::path(".") : base) / md)
              .lexically_normal()
              .string();
  }
  info->model_dir = dir;
  PipelineOverrides po;
  po.model_dir = dir;
  po.threads = o.threads;
  po.registry = o.registry;
  auto p = Pipeline::FromText(graph.dump(), po);
  if (!p.ok()) {  // name the file instead of FromText's "<string>"
    std::string message = p.status().message();
    if (message.rfind("<string>: ", 0) == 0) message = message.substr(10);
    return Status(p.status().code(), graph_file + ": " + message);
  }
  info->voices = GraphVoices::Of(**p);
  return p;
}

TextRequest Chunk(std::string text, const TextRequest& fields) {
  TextRequest r = fields;
  r.text = std::move(text);
  return r;
}

TextRequest RequestFields(const GraphOverrides& o) {
  TextRequest r;
  r.mode = o.mode;
  if (o.seed) r.seed = static_cast<uint64_t>(*o.seed);
  r.voice = o.voice;
  r.prompt_audio_path = o.prompt_wav;
  r.prompt_text = o.prompt_text;
  r.instruct_text = o.instruct;
  r.source_audio_path = o.source_wav;
  r.speed = o.speed;
  return r;
}

Status CheckTtsGraph(const Pipeline& p) {
  const GraphPlan& plan = p.plan();
  int text_inputs = 0;
  bool audio_output = false;
  std::vector<std::string> ins, outs;
  for (const auto& i : plan.inputs) {
    text_inputs += i.type == PayloadType::kTextRequest ? 1 : 0;
    ins.push_back(fmt::format("{} ({})", i.name, PayloadTypeName(i.type)));
  }
  for (const auto& o : plan.outputs) {
    audio_output = audio_output || o.type == PayloadType::kAudio;
    outs.push_back(fmt::format("{} ({})", o.name, PayloadTypeName(o.type)));
  }
  if (text_inputs == 1 && audio_output) return OkStatus();
  return InvalidArgument(
      "graph '{}' is not a text-to-speech graph: it needs one TextRequest input and an Audio "
      "output, it has inputs [{}] and outputs [{}]",
      plan.file.name, fmt::join(ins, ", "), fmt::join(outs, ", "));
}

Result<SynthOutput> Synthesize(Pipeline& p, const std::vector<std::string>& chunks, bool stream,
                               const std::function<bool(std::string*)>& next_chunk,
                               const std::function<void(SessionId)>& on_submit,
                               const TextRequest& fields) {
  auto out = std::make_shared<SynthOutput>();
  auto mu = std::make_shared<std::mutex>();
  SubmitOptions so;
  so.on_output = [out, mu](const std::string&, const MessagePtr& m) {
    const Audio* a = m->get<Audio>();
    if (a == nullptr || a->size() == 0) return;
    std::lock_guard<std::mutex> lock(*mu);
    auto v = a->view();
    out->audio.insert(out->audio.end(), v.begin(), v.end());
    out->sample_rate = a->sample_rate;
    ++out->chunks;
  };
  COSY_ASSIGN_OR_RETURN(SessionId id, p.Submit(std::move(so)));
  if (on_submit) on_submit(id);
  Status pushed = OkStatus();
  if (stream) {
    for (const auto& c : chunks) {
      if (pushed.ok()) pushed = p.PushText(id, Chunk(c, fields));
    }
    std::string more;
    while (pushed.ok() && next_chunk && next_chunk(&more)) {
      pushed = p.PushText(id, Chunk(more, fields));
    }
    if (pushed.ok()) pushed = p.EndText(id);
  } else {
    std::string all;
    for (const auto& c : chunks) all += c;
    std::string more;
    while (next_chunk && next_chunk(&more)) all += more;
    pushed = p.PushText(id, Chunk(all, fields));
    if (pushed.ok()) pushed = p.EndText(id);
  }
  if (!pushed.ok() && pushed.code() != StatusCode::kCancelled) (void)p.Cancel(id);
  COSY_ASSIGN_OR_RETURN(SessionResult r, p.Wait(id));
  std::lock_guard<std::mutex> lock(*mu);
  out->result = std::move(r);
  if (out->result.status.ok() && !pushed.ok()) out->result.status = pushed;
  return std::move(*out);
}

Result<bool> VoiceKnown(const GraphInfo& info, const std::string& voice) {
  if (voice.empty() || voice == kDefaultVoiceId) return true;
  if (info.voices == nullptr) return false;
  return info.voices->Lookup(voice);
}

std::vector<std::string> VoiceIds(const GraphInfo& info) {
  std::vector<std::string> ids;
  auto listed = info.voices ? info.voices->List() : Result<std::vector<VoiceListing>>(
                                                         std::vector<VoiceListing>{});
  if (listed.ok()) {
    for (const auto& v : *listed) ids.push_back(v.id);
  }
  if (ids.empty() || ids.front() != kDefaultVoiceId) ids.insert(ids.begin(), kDefaultVoiceId);
  return ids;
}

Result<std::unique_ptr<SpeechStream>> SpeechStream::Open(Pipeline& p, TextRequest fields,
                                                         bool stream_text) {
  COSY_ASSIGN_OR_RETURN(SessionId id, p.Submit({}));  // no callback: pull mode
  return std::unique_ptr<SpeechStream>(new SpeechStream(p, id, std::move(fields), stream_text));
}

SpeechStream::~SpeechStream() {
  if (finished_) return;
  Cancel();
  (void)Finish();
}

Status SpeechStream::Push(const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ended_) return InvalidArgument("speech stream {}: text after the end", id_);
  if (!pushed_.ok()) return pushed_;
  if (!stream_text_) {
    joined_ += text;
    return OkStatus();
  }
  pushed_ = pipeline_.PushText(id_, Chunk(text, fields_));
  return pushed_;
}

Status SpeechStream::End() {
  std::lock_guard<std::mutex> lock(mu_);
  if (ended_) return OkStatus();
  ended_ = true;
  if (!pushed_.ok()) return pushed_;
  if (!stream_text_) pushed_ = pipeline_.PushText(id_, Chunk(std::move(joined_), fields_));
  if (pushed_.ok()) pushed_ = pipeline_.EndText(id_);
  return pushed_;
}

void SpeechStream::Cancel() {
  cancelled_ = true;
  (void)pipeline_.Cancel(id_);
}

Result<bool> SpeechStream::Next(std::vector<float>* samples, int* sample_rate,
                                std::chrono::milliseconds timeout) {
  while (true) {
    COSY_ASSIGN_OR_RETURN(MessagePtr m, pipeline_.Pull(id_, nullptr, timeout));
    if (m == nullptr) return false;
    if (cancelled_.load()) continue;  // drained to the end, not delivered
    const Audio* a = m->get<Audio>();
    if (a == nullptr || a->size() == 0) continue;  // end of stream, error, other outputs
    const auto v = a->view();
    samples->assign(v.begin(), v.end());
    *sample_rate = a->sample_rate;
    return true;
  }
}

Result<SessionResult> SpeechStream::Finish() {
  if (finished_) return InvalidArgument("speech stream {}: finished twice", id_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ended_ && pushed_.ok()) Cancel();  // never ended: nothing more will come
    if (!pushed_.ok() && pushed_.code() != StatusCode::kCancelled) Cancel();
  }
  // Drain what is left so the session can close (pull-mode outputs hold their queues).
  std::vector<float> rest;
  int rate = 0;
  while (true) {
    auto more = Next(&rest, &rate, std::chrono::milliseconds(100));
    if (more.ok() ? !*more : more.status().code() != StatusCode::kUnavailable) break;
  }
  finished_ = true;
  COSY_ASSIGN_OR_RETURN(SessionResult r, pipeline_.Wait(id_));
  std::lock_guard<std::mutex> lock(mu_);
  if (r.status.ok() && !pushed_.ok()) r.status = pushed_;
  return r;
}

}  // namespace cosyflow::tts
