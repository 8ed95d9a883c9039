// The C API (include/cosyflow/cosyflow.h) over the Pipeline API and the synthesis facade (graph/synthesis.h).
#include "cosyflow/cosyflow.h"

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "graph/synthesis.h"
#include "runtime/build_info.h"

using cosyflow::Pipeline;
using cosyflow::SessionId;
using cosyflow::Status;
using cosyflow::StatusCode;

struct cosyflow_engine {
  std::unique_ptr<Pipeline> pipeline;
  bool stream_text = false;
};

namespace {

// Per request: the user's callback, the session to cancel, and whether it asked to.
struct RequestState {
  cosyflow_request_params params{};
  Pipeline* pipeline = nullptr;
  std::atomic<SessionId> id{0};
  std::atomic<bool> cancel_requested{false};
  std::atomic<int64_t> samples{0};  // audio the graph produced (delivered or not)
};

// A request that ended well without one sample (empty or punctuation-only text) is an error, as
// in `cosyflow synth` and the serving doors, not a silent success.
Status NoAudio(const RequestState& s) {
  if (s.samples.load() > 0 || s.cancel_requested.load()) return cosyflow::OkStatus();
  return cosyflow::InvalidArgument("cosyflow: the graph produced no audio (empty text?)");
}

}  // namespace

struct cosyflow_session {
  cosyflow_engine* engine = nullptr;
  std::shared_ptr<RequestState> state;
  SessionId id = 0;
  cosyflow::TextRequest fields;
  Status push_status;
};

namespace {

// Writes the message of a failed `st` into err; an ok `st` leaves err empty (the header's
// contract: the empty string on success, never a status name such as "OK").
int SetError(const Status& st, char* err, size_t err_len) {
  if (st.ok()) {
    if (err != nullptr && err_len > 0) err[0] = '\0';
  } else if (err != nullptr && err_len > 0) {
    const std::string m = st.ToString();
    const size_t n = std::min(m.size(), err_len - 1);
    std::memcpy(err, m.data(), n);
    err[n] = '\0';
  }
  switch (st.code()) {
    case StatusCode::kOk: return COSYFLOW_OK;
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
    case StatusCode::kUnsupported: return COSYFLOW_ERR_INVALID_ARGUMENT;
    case StatusCode::kNotFound: return COSYFLOW_ERR_NOT_FOUND;
    case StatusCode::kCancelled: return COSYFLOW_ERR_CANCELLED;
    default: return COSYFLOW_ERR_FAILED;
  }
}

void ClearError(char* err, size_t err_len) {
  if (err != nullptr && err_len > 0) err[0] = '\0';
}

cosyflow::Result<cosyflow::TextRequest> Fields(const cosyflow_request_params& p) {
  cosyflow::TextRequest r;
  if (p.mode != nullptr) r.mode = p.mode;
  r.seed = p.seed;
  if (p.voice != nullptr) r.voice = p.voice;
  if (p.prompt_wav != nullptr) r.prompt_audio_path = p.prompt_wav;
  if (p.prompt_text != nullptr) r.prompt_text = p.prompt_text;
  if (p.instruct_text != nullptr) r.instruct_text = p.instruct_text;
  if (p.source_wav != nullptr) r.source_audio_path = p.source_wav;
  r.speed = p.speed;
  if ((p.prompt_samples == nullptr) != (p.prompt_samples_len == 0)) {
    return cosyflow::InvalidArgument(
        "request params: prompt_samples is {} but prompt_samples_len is {}",
        p.prompt_samples == nullptr ? "NULL" : "set", p.prompt_samples_len);
  }
  if (p.prompt_samples != nullptr) {
    COSY_ASSIGN_OR_RETURN(r.prompt_samples,
                          cosyflow::Tensor::FromVector<float>(
                              cosyflow::Dims{static_cast<int64_t>(p.prompt_samples_len)},
                              std::span<const float>(p.prompt_samples, p.prompt_samples_len)));
    r.prompt_sample_rate = p.prompt_sample_rate;
  }
  return r;
}

// Submits a session whose audio goes to the request's callback.
cosyflow::Result<SessionId> SubmitRequest(cosyflow_engine* e,
                                          const std::shared_ptr<RequestState>& state) {
  cosyflow::SubmitOptions so;
  so.on_output = [state](const std::string&, const cosyflow::MessagePtr& m) {
    const cosyflow::Audio* a = m->get<cosyflow::Audio>();
    if (a != nullptr) state->samples += static_cast<int64_t>(a->size());
    if (a == nullptr || a->size() == 0 || state->cancel_requested.load()) return;
    const cosyflow_audio_callback cb = state->params.on_audio;
    if (cb == nullptr) return;
    const auto v = a->view();
    if (cb(v.data(), v.size(), a->sample_rate, state->params.user) != 0) {
      state->cancel_requested = true;
      (void)state->pipeline->Cancel(state->id.load());
    }
  };
  COSY_ASSIGN_OR_RETURN(SessionId id, e->pipeline->Submit(std::move(so)));
  state->id = id;
  return id;
}

Status CheckEngine(const cosyflow_engine* e) {
  if (e == nullptr || !e->pipeline) return cosyflow::InvalidArgument("cosyflow: engine is NULL");
  return cosyflow::OkStatus();
}

}  // namespace

extern "C" {

const char* cosyflow_version(void) {
  static const std::string v = cosyflow::BuildInfo();
  return v.c_str();
}

cosyflow_engine_params cosyflow_engine_default_params(void) {
  cosyflow_engine_params p;
  p.graph_path = nullptr;
  p.model_dir = nullptr;
  p.threads = 0;
  p.stream_text = 0;
  p.seed = -1;
  return p;
}

cosyflow_request_params cosyflow_request_default_params(void) {
  cosyflow_request_params p;
  p.mode = nullptr;
  p.seed = 0;
  p.on_audio = nullptr;
  p.user = nullptr;
  p.voice = nullptr;
  p.prompt_wav = nullptr;
  p.prompt_samples = nullptr;
  p.prompt_samples_len = 0;
  p.prompt_sample_rate = 0;
  p.prompt_text = nullptr;
  p.instruct_text = nullptr;
  p.source_wav = nullptr;
  p.speed = 1.0f;
  return p;
}

cosyflow_engine* cosyflow_engine_create(const cosyflow_engine_params* params, char* err,
                                        size_t err_len) {
  ClearError(err, err_len);
  try {
    if (params == nullptr || params->graph_path == nullptr || params->graph_path[0] == '\0') {
      SetError(cosyflow::InvalidArgument("cosyflow_engine_create: graph_path is required"), err,
               err_len);
      return nullptr;
    }
    if (params->threads < 0) {
      SetError(cosyflow::InvalidArgument("cosyflow_engine_create: threads must be >= 0, got {}",
                                         params->threads),
               err, err_len);
      return nullptr;
    }
    cosyflow::tts::GraphOverrides o;
    if (params->model_dir != nullptr) o.model_dir = params->model_dir;
    o.stream_text = params->stream_text != 0;
    o.threads = params->threads;
    if (params->seed >= 0) o.seed = params->seed;
    cosyflow::tts::GraphInfo info;
    auto p = cosyflow::tts::LoadPipeline(params->graph_path, o, &info);
    if (!p.ok()) {
      SetError(p.status(), err, err_len);
      return nullptr;
    }
    Status st = cosyflow::tts::CheckTtsGraph(**p).WithContext("cosyflow_engine_create");
    if (st.ok()) st = (*p)->Start();
    if (!st.ok()) {
      SetError(st, err, err_len);
      return nullptr;
    }
    auto* e = new cosyflow_engine;
    e->pipeline = std::move(*p);
    e->stream_text = o.stream_text;
    return e;
  } catch (const std::exception& ex) {
    SetError(cosyflow::Internal("cosyflow_engine_create: {}", ex.what()), err, err_len);
    return nullptr;
  }
}

void cosyflow_engine_free(cosyflow_engine* engine) {
  if (engine == nullptr) return;
  try {
    if (engine->pipeline) (void)engine->pipeline->Stop(cosyflow::StopMode::kDrain);
  } catch (...) {
  }
  delete engine;
}

int cosyflow_synthesize(cosyflow_engine* engine, const char* text,
                        const cosyflow_request_params* params, char* err, size_t err_len) {
  ClearError(err, err_len);
  try {
    Status st = CheckEngine(engine);
    if (st.ok() && text == nullptr) st = cosyflow::InvalidArgument("cosyflow_synthesize: text is NULL");
    if (st.ok() && engine->stream_text) {
      st = cosyflow::InvalidArgument(
          "cosyflow_synthesize: the engine takes bi-stream text (stream_text = 1); use "
          "cosyflow_session_open");
    }
    if (!st.ok()) return SetError(st, err, err_len);
    auto state = std::make_shared<RequestState>();
    state->params = params != nullptr ? *params : cosyflow_request_default_params();
    state->pipeline = engine->pipeline.get();
    auto fields = Fields(state->params);
    if (!fields.ok()) return SetError(fields.status(), err, err_len);
    auto id = SubmitRequest(engine, state);
    if (!id.ok()) return SetError(id.status(), err, err_len);
    Pipeline& p = *engine->pipeline;
    st = p.PushText(*id, cosyflow::tts::Chunk(text, *fields));
    if (st.ok()) st = p.EndText(*id);
    if (!st.ok()) {  // the push's error, not the kCancelled of the cancel that ends the session
      (void)p.Cancel(*id);
      (void)p.Wait(*id);
      return SetError(st, err, err_len);
    }
    auto r = p.Wait(*id);
    if (!r.ok()) return SetError(r.status(), err, err_len);
    if (!r->status.ok()) return SetError(r->status, err, err_len);
    if (st.ok()) st = NoAudio(*state);
    return st.ok() ? COSYFLOW_OK : SetError(st, err, err_len);
  } catch (const std::exception& ex) {
    return SetError(cosyflow::Internal("cosyflow_synthesize: {}", ex.what()), err, err_len);
  }
}

cosyflow_session* cosyflow_session_open(cosyflow_engine* engine,
                                        const cosyflow_request_params* params, char* err,
                                        size_t err_len) {
  ClearError(err, err_len);
  try {
    Status st = CheckEngine(engine);
    if (st.ok() && !engine->stream_text) {
      st = cosyflow::InvalidArgument(
          "cosyflow_session_open: the engine takes whole texts; create it with stream_text = 1");
    }
    if (!st.ok()) {
      SetError(st, err, err_len);
      return nullptr;
    }
    auto s = std::make_unique<cosyflow_session>();
    s->engine = engine;
    s->state = std::make_shared<RequestState>();
    s->state->params = params != nullptr ? *params : cosyflow_request_default_params();
    s->state->pipeline = engine->pipeline.get();
    auto fields = Fields(s->state->params);
    if (!fields.ok()) {
      SetError(fields.status(), err, err_len);
      return nullptr;
    }
    s->fields = std::move(*fields);
    auto id = SubmitRequest(engine, s->state);
    if (!id.ok()) {
      SetError(id.status(), err, err_len);
      return nullptr;
    }
    s->id = *id;
    return s.release();
  } catch (const std::exception& ex) {
    SetError(cosyflow::Internal("cosyflow_session_open: {}", ex.what()), err, err_len);
    return nullptr;
  }
}

int cosyflow_session_push_text(cosyflow_session* session, const char* text_chunk, char* err,
                               size_t err_len) {
  ClearError(err, err_len);
  if (session == nullptr || text_chunk == nullptr) {
    return SetError(cosyflow::InvalidArgument("cosyflow_session_push_text: NULL argument"), err,
                    err_len);
  }
  try {
    if (session->push_status.ok()) {
      session->push_status = session->engine->pipeline->PushText(
          session->id, cosyflow::tts::Chunk(text_chunk, session->fields));
    }
    return SetError(session->push_status, err, err_len);
  } catch (const std::exception& ex) {
    session->push_status = cosyflow::Internal("push_text: {}", ex.what());
    return SetError(session->push_status, err, err_len);
  }
}

int cosyflow_session_cancel(cosyflow_session* session) {
  if (session == nullptr) return COSYFLOW_ERR_INVALID_ARGUMENT;
  session->state->cancel_requested = true;
  return SetError(session->engine->pipeline->Cancel(session->id), nullptr, 0);
}

int cosyflow_session_finish(cosyflow_session* session, char* err, size_t err_len) {
  ClearError(err, err_len);
  if (session == nullptr) {
    return SetError(cosyflow::InvalidArgument("cosyflow_session_finish: session is NULL"), err,
                    err_len);
  }
  std::unique_ptr<cosyflow_session> owned(session);
  try {
    Pipeline& p = *session->engine->pipeline;
    Status st = session->push_status;
    if (st.ok() && !session->state->cancel_requested) st = p.EndText(session->id);
    if (!st.ok()) {  // the push's error, not the kCancelled of the cancel that ends the session
      (void)p.Cancel(session->id);
      (void)p.Wait(session->id);
      return SetError(st, err, err_len);
    }
    auto r = p.Wait(session->id);
    if (!r.ok()) return SetError(r.status(), err, err_len);
    if (!r->status.ok()) return SetError(r->status, err, err_len);
    if (st.ok()) st = NoAudio(*session->state);
    return SetError(st, err, err_len);
  } catch (const std::exception& ex) {
    return SetError(cosyflow::Internal("cosyflow_session_finish: {}", ex.what()), err, err_len);
  }
}

}  // extern "C"
