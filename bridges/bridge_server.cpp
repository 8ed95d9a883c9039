// BridgeServer: ROUTER ingress/egress for a Pipeline (see bridge_server.h for the protocol).
#include "bridges/bridge_server.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <deque>
#include <set>

#include "bridges/zap.h"
#include "runtime/logging.h"

namespace cosyflow::bridges {

struct BridgeServer::Peer {
  bool ok = false;
  std::string input;
  PayloadType accepts = PayloadType::kNone;
  uint32_t window = 0;  // credit the client grants per session (0 = no flow control)
  int64_t last_recv_ms = 0;
};

struct BridgeServer::Session {
  std::string peer;
  uint64_t client_id = 0;
  SessionId pipeline_id = 0;
  std::string input;
  std::deque<MessagePtr> queue;  // guarded by the server's mu_
  bool cancelled = false;
  bool input_ended = false;  // its end of stream was queued: later data is refused
  uint32_t window = 0;     // the client's credit window (0 = unlimited)
  int64_t credit = 0;      // messages the pump may still send (mu_)
  uint32_t consumed = 0;   // client messages pushed into the graph since the last grant (feeder)
  int threads = 2;         // feeder + pump still running (mu_)
};

BridgeServer::BridgeServer(Pipeline* pipeline, BridgeServerOptions options)
    : pipeline_(pipeline),
      options_(std::move(options)),
      wake_pull_(BridgeContext(), zmq::socket_type::pull) {
  wake_endpoint_ = fmt::format("inproc://cosyflow-server-wake-{}", NextWakeId());
}

Result<std::unique_ptr<BridgeServer>> BridgeServer::Start(Pipeline* pipeline,
                                                          const BridgeServerOptions& options) {
  const GraphPlan& plan = pipeline->plan();
  if (plan.outputs.empty()) {
    return InvalidArgument("bridge server: graph '{}' has no output to stream back",
                           plan.file.name);
  }
  std::unique_ptr<BridgeServer> s(new BridgeServer(pipeline, options));
  if (!options.output.empty()) {
    s->output_index_ = plan.OutputIndex(options.output);
    if (s->output_index_ < 0) {
      return NotFound("bridge server: graph '{}' has no output '{}'", plan.file.name,
                      options.output);
    }
  }
  try {
    COSY_RETURN_IF_ERROR(s->Bind());
  } catch (const zmq::error_t& e) {
    return InvalidArgument("bridge server: cannot bind {}: {}",
                           fmt::join(options.endpoints, ", "), e.what());
  }
  s->thread_ = std::thread([raw = s.get()] { raw->Run(); });
  return s;
}

Status BridgeServer::Bind() {
  wake_pull_.bind(wake_endpoint_);
  wake_push_ = std::make_unique<zmq::socket_t>(BridgeContext(), zmq::socket_type::push);
  wake_push_->connect(wake_endpoint_);
  router_ = std::make_unique<zmq::socket_t>(BridgeContext(), zmq::socket_type::router);
  router_->set(zmq::sockopt::linger, 0);
  router_->set(zmq::sockopt::router_mandatory, 1);
  const size_t limit = options_.limits.max_message_bytes;
  router_->set(zmq::sockopt::maxmsgsize,
               static_cast<int64_t>(std::max(limit * 2, limit + (size_t{1} << 20))));
  COSY_RETURN_IF_ERROR(ApplyCurve(*router_, options_.curve, /*server=*/true));
  if (!options_.curve_allow_file.empty()) {
    if (!options_.curve.enabled()) {
      return InvalidArgument("bridge server: curve_allow_file '{}' needs CURVE (a secret key)",
                             options_.curve_allow_file);
    }
    const std::string domain = fmt::format("cosyflow-{}", NextWakeId());
    COSY_ASSIGN_OR_RETURN(zap_, RegisterZapAllowList(domain, options_.curve_allow_file));
    router_->set(zmq::sockopt::zap_domain, domain);
  }
  for (const std::string& e : options_.endpoints) {
    router_->bind(BindSpec(e));
    bound_.push_back(router_->get(zmq::sockopt::last_endpoint));
  }
  return OkStatus();
}

BridgeServer::~BridgeServer() { Stop(); }

void BridgeServer::Enqueue(const std::string& peer, zmq::message_t frame) {
  std::lock_guard<std::mutex> lock(mu_);
  EnqueueLocked(peer, std::move(frame));
}

void BridgeServer::EnqueueLocked(const std::string& peer, zmq::message_t frame, bool rejection) {
  outbox_.push_back({peer, std::move(frame), rejection});
  if (rejection) ++queued_rejections_[peer];
  if (!wake_push_) return;
  try {
    (void)wake_push_->send(zmq::message_t(), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
  }
}

// A client that sends without reading (a flood) gets at most this many Rejected replies queued;
// later ones are counted and dropped, so its frames cost the server bounded memory and time.
constexpr size_t kMaxQueuedRejections = 64;

void BridgeServer::Reject(const std::string& peer, uint64_t session, const Status& status) {
  uint64_t count = 0;
  bool queue = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    count = ++stats_.rejected;
    auto it = queued_rejections_.find(peer);
    queue = it == queued_rejections_.end() || it->second < kMaxQueuedRejections;
    if (!queue) ++stats_.rejections_unsent;
  }
  if (count <= 20 || count % 1000 == 0) {  // a flood must not flood the log
    Log(LogLevel::kWarning, "bridge server: rejected message #{} (session {}): {}", count,
        session, status.message());
  }
  if (!queue) return;
  zmq::message_t frame = ToFrame(EncodeRejected({session, status}));
  std::lock_guard<std::mutex> lock(mu_);
  EnqueueLocked(peer, std::move(frame), /*rejection=*/true);
}

void BridgeServer::RejectSession(const std::string& peer, uint64_t session, const Status& status) {
  std::shared_ptr<Session> s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find({peer, session});
    if (it != sessions_.end() && !it->second->cancelled) {
      s = it->second;
      s->cancelled = true;
      cv_.notify_all();
    }
  }
  if (s) (void)pipeline_->Cancel(s->pipeline_id);
  Reject(peer, session, status);
}

void BridgeServer::HandleHello(const std::string& peer, const HelloInfo& h) {
  const GraphPlan& plan = pipeline_->plan();
  HelloAckInfo ack;
  ack.heartbeat_ms = static_cast<uint32_t>(options_.heartbeat_ms);
  ack.window = options_.window;
  ack.max_message_bytes =
      std::min<size_t>(options_.limits.max_message_bytes, (size_t{1} << 31) - 1);
  ack.output = plan.outputs[output_index_].name;
  ack.produces = plan.outputs[output_index_].type;
  int input = h.input.empty() && plan.inputs.size() == 1 ? 0 : plan.InputIndex(h.input);
  std::vector<std::string> names;
  for (const auto& i : plan.inputs) names.push_back(i.name);
  if (!options_.input.empty()) {  // a ZmqReceive node: its own (implicit) input only
    input = h.input.empty() || h.input == options_.input ? plan.InputIndex(options_.input) : -1;
    names = {options_.input};
  }
  if (h.schema_version != kWireSchemaVersion) {
    ack.error = fmt::format("client speaks schema version {}, server speaks {}", h.schema_version,
                            kWireSchemaVersion);
  } else if (input < 0) {
    ack.error = fmt::format("client feeds graph input '{}', server graph '{}' has inputs [{}]",
                            h.input, plan.file.name, fmt::join(names, ", "));
  } else if (h.sends != plan.inputs[input].type) {
    ack.error = fmt::format("client sends {}, server graph input '{}' takes {}",
                            PayloadTypeName(h.sends), plan.inputs[input].name,
                            PayloadTypeName(plan.inputs[input].type));
  } else if (h.receives != PayloadType::kNone && h.receives != ack.produces) {
    ack.error = fmt::format("client expects {}, server graph output '{}' produces {}",
                            PayloadTypeName(h.receives), ack.output,
                            PayloadTypeName(ack.produces));
  }
  if (input >= 0) {
    ack.input = plan.inputs[input].name;
    ack.accepts = plan.inputs[input].type;
  }
  ack.ok = ack.error.empty();
  {
    std::lock_guard<std::mutex> lock(mu_);
    Peer& p = peers_[peer];
    if (!p.ok) ++stats_.peers;
    p.ok = ack.ok;
    p.input = ack.input;
    p.accepts = ack.accepts;
    p.window = h.window;
    p.last_recv_ms = NowMs();
  }
  if (!ack.ok) {
    Log(LogLevel::kWarning, "bridge server: handshake refused: {}", ack.error);
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.rejected;
  }
  Enqueue(peer, ToFrame(EncodeHelloAck(ack)));
}

void BridgeServer::HandleData(const std::string& peer, const MessagePtr& m) {
  const uint64_t id = m->header.session_id;
  std::unique_lock<std::mutex> lock(mu_);
  auto pit = peers_.find(peer);
  if (pit == peers_.end() || !pit->second.ok) {
    lock.unlock();
    Reject(peer, 0, MakeError(StatusCode::kUnavailable,
                              "bridge server: no handshake from this client; send Hello first"));
    return;
  }
  const Peer& p = pit->second;
  auto key = std::make_pair(peer, id);
  auto sit = sessions_.find(key);
  std::shared_ptr<Session> s = sit == sessions_.end() ? nullptr : sit->second;
  if (m->header.cancel() || m->header.error()) {
    if (s && !s->cancelled) {
      s->cancelled = true;
      cv_.notify_all();
      lock.unlock();
      (void)pipeline_->Cancel(s->pipeline_id);  // stops the graph within one node step
    }
    return;
  }
  if (s && s->input_ended && !m->header.closes()) {
    lock.unlock();
    RejectSession(peer, id,
                  InvalidArgument("bridge server: session {} sent data after its end "
                                  "of stream",
                                  id));
    return;
  }
  if (const TextRequest* t = m->get<TextRequest>();
      t != nullptr && !options_.allow_paths &&
      (!t->prompt_audio_path.empty() || !t->source_audio_path.empty())) {
    lock.unlock();
    RejectSession(
        peer, id,
        InvalidArgument("bridge server: TextRequest.{} names a file on the server; "
                        "this server does not open files for clients (send "
                        "prompt_samples, or serve with allow_paths)",
                        t->prompt_audio_path.empty() ? "source_audio_path" : "prompt_audio_path"));
    return;
  }
  if (m->type() != PayloadType::kNone && m->type() != p.accepts) {
    const bool cancel = s && !s->cancelled;
    if (cancel) s->cancelled = true;
    cv_.notify_all();
    const std::string input = p.input;
    const PayloadType accepts = p.accepts;
    lock.unlock();
    if (cancel) (void)pipeline_->Cancel(s->pipeline_id);
    Reject(peer, id, InvalidArgument("bridge server: graph input '{}' takes {}, got {}", input,
                                     PayloadTypeName(accepts), PayloadTypeName(m->type())));
    return;
  }
  if (!s) {
    if (draining_ || stop_) {
      lock.unlock();
      Reject(peer, id, MakeError(StatusCode::kUnavailable,
                                 "bridge server: shutting down (draining open sessions); "
                                 "no new sessions accepted"));
      return;
    }
    s = std::make_shared<Session>();
    s->peer = peer;
    s->client_id = id;
    s->input = p.input;
    s->window = p.window;
    s->credit = p.window;
    auto pid = pipeline_->Submit();  // pull mode: the pump takes outputs as credit allows
    if (!pid.ok()) {
      lock.unlock();
      Reject(peer, id, pid.status());
      return;
    }
    s->pipeline_id = *pid;
    sessions_[key] = s;
    feeders_ += 2;
    ++stats_.sessions_opened;
    std::thread([this, s] { Feed(s); }).detach();
    std::thread([this, s] { Pump(s); }).detach();
  }
  if (s->cancelled) return;
  if (s->queue.size() >= options_.max_queued_per_session) {
    s->cancelled = true;
    cv_.notify_all();
    lock.unlock();
    (void)pipeline_->Cancel(s->pipeline_id);
    Reject(peer, id, MakeError(StatusCode::kResourceExhausted,
                               "bridge server: session {} has {} messages queued "
                               "(max_queued_per_session {})",
                               id, options_.max_queued_per_session,
                               options_.max_queued_per_session));
    return;
  }
  s->queue.push_back(m);
  if (m->header.end_of_stream()) s->input_ended = true;
  stats_.max_queued = std::max(stats_.max_queued, s->queue.size());
  cv_.notify_all();
}

void BridgeServer::HandleCredit(const std::string& peer, const CreditInfo& c) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find({peer, c.session_id});
  if (it == sessions_.end()) return;  // a late grant for a session that ended
  it->second->credit += c.messages;
  cv_.notify_all();
}

void BridgeServer::Feed(std::shared_ptr<Session> s) {
  Status pushed = OkStatus();
  const uint32_t batch = std::max<uint32_t>(1, options_.window / 2);
  for (;;) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !s->queue.empty() || s->cancelled || stop_; });
    if (s->cancelled || stop_) break;
    MessagePtr m = s->queue.front();
    s->queue.pop_front();
    lock.unlock();
    if (m->type() != PayloadType::kNone) {
      pushed = pipeline_->Push(s->pipeline_id, s->input, m->payload);  // waits for room
      if (!pushed.ok()) break;
      if (++s->consumed >= batch) {  // the graph took them: grant the client as many more
        Enqueue(s->peer, ToFrame(EncodeCredit({s->client_id, s->consumed})));
        s->consumed = 0;
        std::lock_guard<std::mutex> count(mu_);
        ++stats_.credits_sent;
      }
    }
    if (m->header.end_of_stream()) {
      pushed = pipeline_->EndInput(s->pipeline_id);
      break;
    }
  }
  bool cancel = !pushed.ok();
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancel = cancel || s->cancelled || stop_;
  }
  if (cancel) (void)pipeline_->Cancel(s->pipeline_id);
  Finish(s);
}

void BridgeServer::Pump(std::shared_ptr<Session> s) {
  const std::string output = pipeline_->plan().outputs[output_index_].name;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return s->window == 0 || s->credit > 0 || s->cancelled || stop_; });
      if (s->cancelled || stop_) break;
    }
    std::string name;
    auto m = pipeline_->Pull(s->pipeline_id, &name, std::chrono::milliseconds(50));
    if (!m.ok() && m.status().code() == StatusCode::kUnavailable) continue;  // nothing yet
    if (!m.ok() || *m == nullptr) break;  // every output ended
    if (name != output || (*m)->header.closes()) continue;  // the close is sent after Wait
    Message copy{(*m)->header, (*m)->payload};
    copy.header.session_id = s->client_id;
    auto buf = EncodeMessage(copy);
    if (!buf.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      s->cancelled = true;
      Log(LogLevel::kError, "bridge server: cannot encode an output: {}",
          buf.status().message());
      break;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (s->window > 0) {
        --s->credit;
        stats_.max_unacked = std::max(stats_.max_unacked,
                                      static_cast<size_t>(s->window - s->credit));
      }
    }
    Enqueue(s->peer, ToFrame(std::move(*buf)));
  }
  bool cancel = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancel = s->cancelled || stop_;
  }
  if (cancel) (void)pipeline_->Cancel(s->pipeline_id);
  auto result = pipeline_->Wait(s->pipeline_id);
  MessageHeader h;
  h.session_id = s->client_id;
  h.emitted_ns = NowNs();
  Payload payload;
  if (!result.ok() || (!result->status.ok() && result->status.code() != StatusCode::kCancelled)) {
    h.flags = kFlagError;
    payload = result.ok() ? ErrorInfo{result->status, result->failed_node}
                          : ErrorInfo{result.status(), "bridge"};
  } else if (!result->status.ok()) {
    h.flags = kFlagCancel;
  } else {
    h.flags = kFlagEndOfStream;
  }
  auto buf = EncodeMessage(Message{h, std::move(payload)});
  {
    std::lock_guard<std::mutex> lock(mu_);
    s->cancelled = true;  // the session is over: a feeder still waiting for input stops
    // Forgotten before its closing frame is queued: a client may reuse the id for its next
    // request as soon as it reads the close, and that request must open a new session.
    Forget(s);
    if (buf.ok()) EnqueueLocked(s->peer, ToFrame(std::move(*buf)));
    cv_.notify_all();
  }
  if (options_.after_close_queued) options_.after_close_queued();
  Finish(s);
}

void BridgeServer::Forget(const std::shared_ptr<Session>& s) {
  auto it = sessions_.find({s->peer, s->client_id});
  if (it != sessions_.end() && it->second == s) sessions_.erase(it);  // not a newer namesake
}

// One of the session's two threads is done; the last one counts the session closed.
void BridgeServer::Finish(const std::shared_ptr<Session>& s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (--s->threads == 0) {
    Forget(s);
    ++stats_.sessions_closed;
  }
  --feeders_;
  cv_.notify_all();
}

void BridgeServer::HandleFrame(const std::string& peer, zmq::message_t frame) {
  uint64_t session = 0;  // of a Data frame that verified, also when a later check failed
  auto e = DecodeFrame(std::move(frame), options_.limits, &session);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.frames_received;
    auto it = peers_.find(peer);
    if (it != peers_.end()) it->second.last_recv_ms = NowMs();
  }
  if (!e.ok()) {
    if (e.status().code() == StatusCode::kUnsupported) {  // another schema version
      HelloAckInfo ack;
      ack.error = e.status().message();
      Enqueue(peer, ToFrame(EncodeHelloAck(ack)));
    }
    // A bad frame of a session fails that session (its data is lost: it must not go on without
    // it); the rejection names it so that the client fails it too.
    if (session != 0) {
      RejectSession(peer, session, e.status());
    } else {
      Reject(peer, 0, e.status());
    }
    return;
  }
  switch (e->kind) {
    case EnvelopeKind::kHello:
      HandleHello(peer, e->hello);
      return;
    case EnvelopeKind::kData:
      HandleData(peer, e->message);
      return;
    case EnvelopeKind::kCredit:
      HandleCredit(peer, e->credit);
      return;
    case EnvelopeKind::kHeartbeat: {
      // A heartbeat from a client this server has no handshake with (it restarted, or dropped
      // the client): say so, so that the client fails the sessions it thinks are open here
      // within a heartbeat instead of waiting for answers (its frames in flight may have been
      // lost with the old connection, leaving nothing else to reject).
      bool known = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = peers_.find(peer);
        known = it != peers_.end() && it->second.ok;
      }
      if (!known) {
        Reject(peer, 0,
               MakeError(StatusCode::kUnavailable,
                         "bridge server: no handshake from this client; send Hello "
                         "first"));
      }
      return;
    }
    default:
      Reject(peer, 0, InvalidArgument("bridge server: clients may send Hello, Heartbeat or Data "
                                      "envelopes, got kind {}", static_cast<int>(e->kind)));
  }
}

void BridgeServer::DropPeer(const std::string& peer, const char* why,
                            std::vector<SessionId>* to_cancel) {
  // Called with mu_ held; the caller cancels `to_cancel` after unlocking.
  for (auto& [key, s] : sessions_) {
    if (key.first != peer || s->cancelled) continue;
    s->cancelled = true;
    to_cancel->push_back(s->pipeline_id);
  }
  peers_.erase(peer);
  ++stats_.peers_dropped;
  cv_.notify_all();
  Log(LogLevel::kWarning, "bridge server: dropped a client: {}", why);
}

void BridgeServer::Step() {
  std::vector<zmq_pollitem_t> items = {{static_cast<void*>(*router_), 0, ZMQ_POLLIN, 0},
                                       {static_cast<void*>(wake_pull_), 0, ZMQ_POLLIN, 0}};
  bool backlog = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    backlog = !outbox_.empty();
  }
  zmq::poll(items, std::chrono::milliseconds(backlog ? 1 : std::min(options_.heartbeat_ms, 50)));
  zmq::message_t scratch;
  while (wake_pull_.recv(scratch, zmq::recv_flags::dontwait)) {
  }
  for (int i = 0; i < 256; ++i) {
    zmq::message_t id, frame;
    if (!router_->recv(id, zmq::recv_flags::dontwait)) break;
    bool more = router_->get(zmq::sockopt::rcvmore);
    if (!more) continue;
    (void)router_->recv(frame, zmq::recv_flags::none);
    while (router_->get(zmq::sockopt::rcvmore)) {  // extra parts: not our protocol
      zmq::message_t extra;
      (void)router_->recv(extra, zmq::recv_flags::none);
      frame = zmq::message_t();  // an empty frame fails to decode and is rejected
    }
    HandleFrame(id.to_string(), std::move(frame));
  }
  std::vector<SessionId> to_cancel;
  std::unique_lock<std::mutex> lock(mu_);
  const int64_t now = NowMs();
  for (auto it = peers_.begin(); it != peers_.end();) {
    auto next = std::next(it);
    if (now - it->second.last_recv_ms > options_.peer_timeout_ms) {
      DropPeer(it->first, "silent for longer than peer_timeout_ms", &to_cancel);
    }
    it = next;
  }
  if (!to_cancel.empty()) {
    lock.unlock();
    for (SessionId id : to_cancel) (void)pipeline_->Cancel(id);
    lock.lock();
  }
  if (now - last_beat_ms_ >= options_.heartbeat_ms) {
    last_beat_ms_ = now;
    for (const auto& [peer, p] : peers_) {
      if (p.ok) outbox_.push_back({peer, ToFrame(EncodeHeartbeat(NowNs())), false});
    }
  }
  // A client that stops reading (its pipe is at the high-water mark) keeps its own frames
  // queued, in order, without holding back other clients' frames.
  std::set<std::string> blocked;
  std::vector<Outgoing> keep;
  for (Outgoing& o : outbox_) {
    if (blocked.count(o.peer)) {
      keep.push_back(std::move(o));
      continue;
    }
    try {
      zmq::message_t id(o.peer.data(), o.peer.size());
      if (!router_->send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
        blocked.insert(o.peer);
        keep.push_back(std::move(o));
        continue;
      }
      (void)router_->send(o.frame, zmq::send_flags::none);
    } catch (const zmq::error_t&) {
      // EHOSTUNREACH: the client is gone; its frames are dropped.
    }
    if (o.rejection) {
      auto it = queued_rejections_.find(o.peer);
      if (it != queued_rejections_.end() && --it->second == 0) queued_rejections_.erase(it);
    }
  }
  outbox_ = std::move(keep);
}

void BridgeServer::Run() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_ && feeders_ == 0) break;
    }
    try {
      Step();
    } catch (const std::exception& e) {
      Log(LogLevel::kError, "bridge server: I/O error: {}", e.what());
    }
  }
  try {
    Step();  // flush the closing messages
    // Give ZeroMQ's I/O thread time to write what was queued (the context is process-wide and
    // never terminated, so nothing else waits for it before the process exits).
    router_->set(zmq::sockopt::linger, 1000);
  } catch (const std::exception&) {
  }
  router_.reset();
  std::lock_guard<std::mutex> lock(mu_);
  wake_push_.reset();
}

int BridgeServer::Drain(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  draining_ = true;
  cv_.wait_for(lock, timeout, [&] { return sessions_.empty(); });
  // The closing frames must reach the clients before the caller stops the server: wait until
  // the I/O thread handed them to the socket, then a moment for ZeroMQ to write them.
  for (int i = 0; i < 200 && !outbox_.empty(); ++i) {
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    lock.lock();
  }
  lock.unlock();
  std::this_thread::sleep_for(std::chrono::milliseconds(std::min(options_.heartbeat_ms, 200)));
  lock.lock();
  std::vector<SessionId> to_cancel;
  for (auto& [key, s] : sessions_) {
    if (s->cancelled) continue;
    s->cancelled = true;
    to_cancel.push_back(s->pipeline_id);
  }
  cv_.notify_all();
  lock.unlock();
  for (SessionId id : to_cancel) (void)pipeline_->Cancel(id);
  lock.lock();
  const int cancelled = static_cast<int>(to_cancel.size());
  cv_.wait_for(lock, std::chrono::seconds(30), [&] { return feeders_ == 0; });
  return cancelled;
}

void BridgeServer::Stop() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!thread_.joinable()) return;
    stop_ = true;
    std::vector<SessionId> to_cancel;
    for (auto& [key, s] : sessions_) to_cancel.push_back(s->pipeline_id);
    cv_.notify_all();
    lock.unlock();
    for (SessionId id : to_cancel) (void)pipeline_->Cancel(id);
    lock.lock();
    cv_.wait_for(lock, std::chrono::seconds(30), [&] { return feeders_ == 0; });
  }
  thread_.join();
}

BridgeServerStats BridgeServer::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

int BridgeServer::open_sessions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(sessions_.size());
}

}  // namespace cosyflow::bridges
