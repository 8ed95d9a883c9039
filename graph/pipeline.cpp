// Pipeline: graph loading, sessions, and output delivery on top of GraphExecutor.
#include "graph/pipeline.h"

#include <exception>
#include <filesystem>

#include <fmt/format.h>

#include "graph/builtin_nodes.h"
#include "graph/executor.h"
#include "graph/session_source.h"
#include "graph/session_state.h"

namespace cosyflow {

Result<std::unique_ptr<Pipeline>> Pipeline::Load(const std::string& graph_file,
                                                 const PipelineOverrides& overrides) {
  ErrorList errors;
  GraphFile file = ParseGraphFile(graph_file, &errors);
  COSY_RETURN_IF_ERROR(errors.ToStatus(graph_file));
  return Build(std::move(file), overrides);
}

Result<std::unique_ptr<Pipeline>> Pipeline::FromText(const std::string& json_text,
                                                     const PipelineOverrides& overrides) {
  ErrorList errors;
  GraphFile file = ParseGraphText(json_text, "<string>", "", &errors);
  COSY_RETURN_IF_ERROR(errors.ToStatus("<string>"));
  return Build(std::move(file), overrides);
}

Result<std::unique_ptr<Pipeline>> Pipeline::Build(GraphFile file, const PipelineOverrides& o) {
  if (!o.model_dir.empty()) file.model_dir = o.model_dir;
  if (o.max_in_flight > 0) file.limits.max_in_flight = o.max_in_flight;
  if (o.threads > kMaxGraphThreads) {
    return InvalidArgument("threads must be in [0, {}] (0 = the graph's), got {}", kMaxGraphThreads,
                           o.threads);
  }
  if (o.threads > 0) file.limits.threads = o.threads;
  std::string source = file.source;
  ErrorList errors;
  const NodeRegistry& registry = o.registry ? *o.registry : BuiltinNodeRegistry();
  std::unique_ptr<Pipeline> p(new Pipeline());
  p->plan_ = BuildGraphPlan(std::move(file), registry, &errors);
  COSY_RETURN_IF_ERROR(errors.ToStatus(source));
  auto nodes = CreateGraphNodes(*p->plan_, &errors);
  COSY_RETURN_IF_ERROR(errors.ToStatus(source));
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!p->plan_->nodes[i].spec.source) continue;
    auto* src = dynamic_cast<SessionSource*>(nodes[i].get());
    if (!src) {
      return Internal("pipeline: node '{}' is a source type but no SessionSource",
                      p->plan_->nodes[i].id);
    }
    p->sources_.emplace_back(p->plan_->nodes[i].id, src);
  }
  Pipeline* raw = p.get();
  ExecutorCallbacks cb;
  cb.on_output = [raw](const SessionPtr& s, int output, const MessagePtr& m) {
    raw->OnOutput(s, output, m);
  };
  p->executor_ = std::make_unique<GraphExecutor>(*p->plan_, std::move(nodes), std::move(cb));
  return p;
}

Pipeline::~Pipeline() {
  if (executor_) (void)Stop(StopMode::kAbort);
}

Status Pipeline::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return InvalidArgument("pipeline: Start after Stop");
    if (started_) return OkStatus();
    started_ = true;
  }
  for (auto& [id, src] : sources_) {
    Status st = src->StartSource(this, id);
    if (!st.ok()) {
      (void)Stop(StopMode::kAbort);
      return Status(st.code(), fmt::format("pipeline: source node '{}': {}", id, st.message()));
    }
  }
  return OkStatus();
}

Result<SessionId> Pipeline::Submit(SubmitOptions options) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_ || stopped_) return InvalidArgument("pipeline: Submit needs a started pipeline");
  if (static_cast<int>(sessions_.size()) >= plan_->file.limits.max_sessions) {
    return MakeError(StatusCode::kResourceExhausted, "pipeline: {} sessions open (limit {})",
                     sessions_.size(), plan_->file.limits.max_sessions);
  }
  SessionId id = next_id_++;
  SessionPtr s = executor_->NewSession(id);
  s->on_output = std::move(options.on_output);
  sessions_[id] = s;
  return id;
}

Result<std::shared_ptr<SessionState>> Pipeline::Find(SessionId id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return NotFound("pipeline: no session {}", id);
  return it->second;
}

Status Pipeline::Push(SessionId id, const std::string& input, Payload payload) {
  COSY_ASSIGN_OR_RETURN(SessionPtr s, Find(id));
  int i = plan_->InputIndex(input);
  if (i < 0) return NotFound("pipeline: graph '{}' has no input '{}'", plan_->file.name, input);
  return executor_->Push(s, i, std::move(payload));
}

namespace {
Result<int> TextInput(const GraphPlan& plan) {
  int found = -1;
  for (size_t i = 0; i < plan.inputs.size(); ++i) {
    if (plan.inputs[i].type != PayloadType::kTextRequest) continue;
    if (found >= 0) return InvalidArgument("pipeline: graph has several TextRequest inputs; use Push");
    found = static_cast<int>(i);
  }
  if (found < 0) return NotFound("pipeline: graph has no TextRequest input");
  return found;
}
}  // namespace

Status Pipeline::PushText(SessionId id, TextRequest chunk) {
  COSY_ASSIGN_OR_RETURN(int input, TextInput(*plan_));
  return Push(id, plan_->inputs[input].name, std::move(chunk));
}

Status Pipeline::EndText(SessionId id) {
  COSY_ASSIGN_OR_RETURN(int input, TextInput(*plan_));
  return EndInput(id, plan_->inputs[input].name);
}

Status Pipeline::EndInput(SessionId id, const std::string& input) {
  COSY_ASSIGN_OR_RETURN(SessionPtr s, Find(id));
  if (input.empty()) {
    for (size_t i = 0; i < plan_->inputs.size(); ++i) executor_->EndInput(s, static_cast<int>(i));
    return OkStatus();
  }
  int i = plan_->InputIndex(input);
  if (i < 0) return NotFound("pipeline: graph '{}' has no input '{}'", plan_->file.name, input);
  executor_->EndInput(s, i);
  return OkStatus();
}

Status Pipeline::Cancel(SessionId id) {
  COSY_ASSIGN_OR_RETURN(SessionPtr s, Find(id));
  executor_->Cancel(s);
  return OkStatus();
}

void Pipeline::OnOutput(const SessionPtr& s, int output, const MessagePtr& m) {
  if (m->type() != PayloadType::kNone && m->type() != PayloadType::kError) {
    int64_t zero = 0;
    s->first_output_ns.compare_exchange_strong(zero, NowNs());
  }
  if (s->on_output) {
    try {
      s->on_output(plan_->outputs[output].name, m);
    } catch (const std::exception& e) {
      executor_->Fail(s, "output callback", Internal("output callback threw: {}", e.what()));
    } catch (...) {
      executor_->Fail(s, "output callback", Internal("output callback threw"));
    }
    return;
  }
  std::lock_guard<std::mutex> lock(s->mu);
  s->outbox.emplace_back(output, m);
  ++s->queued[executor_->num_runners() + output];
  s->cv.notify_all();
}

Result<MessagePtr> Pipeline::Pull(SessionId id, std::string* output,
                                  std::chrono::milliseconds timeout) {
  COSY_ASSIGN_OR_RETURN(SessionPtr s, Find(id));
  if (s->on_output) return InvalidArgument("pipeline: session {} delivers by callback", id);
  std::unique_lock<std::mutex> lock(s->mu);
  const int n_out = static_cast<int>(plan_->outputs.size());
  auto ready = [&] { return !s->outbox.empty() || s->outputs_ended == n_out || s->remaining == 0; };
  if (!s->cv.wait_for(lock, timeout, ready)) {
    return MakeError(StatusCode::kUnavailable, "pipeline: no output for session {} yet", id);
  }
  if (s->outbox.empty()) return MessagePtr();
  auto [out, m] = s->outbox.front();
  s->outbox.pop_front();
  if (m->header.closes()) ++s->outputs_ended;
  lock.unlock();
  executor_->OutputConsumed(s, out);
  if (output) *output = plan_->outputs[out].name;
  return m;
}

Result<SessionResult> Pipeline::Wait(SessionId id) {
  COSY_ASSIGN_OR_RETURN(SessionPtr s, Find(id));
  {
    std::unique_lock<std::mutex> lock(s->mu);
    ++s->waiters;
    s->cv.wait(lock, [&] { return s->remaining.load() == 0; });
    --s->waiters;
  }
  SessionResult r;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->failed) {
      r.status = s->error;
      r.failed_node = s->error_node;
    } else if (s->cancelled) {
      r.status = MakeError(StatusCode::kCancelled, "session {} was cancelled", id);
    }
  }
  if (s->first_output_ns > 0) r.timing.first_output_ns = s->first_output_ns - s->start_ns;
  r.timing.total_ns = s->done_ns - s->start_ns;
  for (size_t i = 0; i < plan_->nodes.size(); ++i) {
    r.timing.node_ns.emplace_back(plan_->nodes[i].id, s->node_ns[i].load());
    auto rel = [&](const std::atomic<int64_t>& t) -> int64_t {
      return t.load() > 0 ? t.load() - s->start_ns : -1;
    };
    r.timing.nodes.push_back({plan_->nodes[i].id, rel(s->first_input_ns[i]),
                              rel(s->first_emit_ns[i]), rel(s->closed_ns[i]),
                              rel(s->first_emit_call_ns[i]), s->calls[i].load()});
  }
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(id);
  return r;
}

Status Pipeline::Stop(StopMode mode) {
  bool stop_sources = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_sources = !sources_stopped_;
    sources_stopped_ = true;
  }
  if (stop_sources) {  // sources first: they feed sessions and hold pointers to this pipeline
    for (auto& [id, src] : sources_) {
      if (mode == StopMode::kDrain) (void)src->DrainSource(std::chrono::hours(24));
      src->StopSource();
    }
  }
  std::vector<SessionPtr> open;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    for (auto& [id, s] : sessions_) open.push_back(s);
  }
  for (const SessionPtr& s : open) {
    if (mode == StopMode::kAbort || !s->on_output) {
      executor_->Cancel(s);  // pull-mode sessions nobody drains would never finish
    } else {
      for (size_t i = 0; i < plan_->inputs.size(); ++i) executor_->EndInput(s, static_cast<int>(i));
    }
  }
  for (const SessionPtr& s : open) {
    std::unique_lock<std::mutex> lock(s->mu);
    s->cv.wait(lock, [&] { return s->remaining.load() == 0; });
  }
  executor_->WaitIdle();
  return OkStatus();
}

std::vector<int> Pipeline::MaxQueueDepths() const { return executor_->MaxQueueDepths(); }

const Node* Pipeline::FindNode(const std::string& id) const {
  const int index = plan_->NodeIndex(id);
  return index < 0 ? nullptr : executor_->node(index);
}

}  // namespace cosyflow
