// BridgeClient: handshake, heartbeats, peer-loss detection and per-session inboxes.
#include "bridges/bridge_client.h"

#include <fmt/format.h>

#include "runtime/logging.h"

namespace cosyflow::bridges {

BridgeClient::BridgeClient(BridgeClientOptions options)
    : options_(std::move(options)), wake_pull_(BridgeContext(), zmq::socket_type::pull) {
  wake_endpoint_ = fmt::format("inproc://cosyflow-client-wake-{}", NextWakeId());
}

Result<std::shared_ptr<BridgeClient>> BridgeClient::Connect(const BridgeClientOptions& options) {
  if (options.window < 1) {
    return InvalidArgument("bridge: window must be >= 1 message, got {}", options.window);
  }
  std::shared_ptr<BridgeClient> c(new BridgeClient(options));
  c->options_.hello.window = static_cast<uint32_t>(options.window);
  try {
    c->wake_pull_.bind(c->wake_endpoint_);
    c->wake_push_ = std::make_unique<zmq::socket_t>(BridgeContext(), zmq::socket_type::push);
    c->wake_push_->connect(c->wake_endpoint_);
    COSY_RETURN_IF_ERROR(c->StartSocket());
  } catch (const zmq::error_t& e) {
    return InvalidArgument("bridge: cannot connect to '{}': {}", options.endpoint, e.what());
  }
  c->thread_ = std::thread([raw = c.get()] { raw->Run(); });
  std::unique_lock<std::mutex> lock(c->mu_);
  const bool answered = c->cv_.wait_for(lock, std::chrono::milliseconds(options.connect_timeout_ms),
                                        [&] { return c->handshake_done_; });
  if (!answered) {
    return MakeError(StatusCode::kUnavailable,
                     "bridge: no handshake answer from {} within connect_timeout_ms {} (is the "
                     "server running? with CURVE: is the server key right and this client's "
                     "key on the server's allow-list?)",
                     options.endpoint, options.connect_timeout_ms);
  }
  if (!c->connected_) return c->handshake_;
  return c;
}

BridgeClient::~BridgeClient() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  Wake();
  if (thread_.joinable()) thread_.join();
}

Status BridgeClient::StartSocket() {
  socket_ = std::make_unique<zmq::socket_t>(BridgeContext(), zmq::socket_type::dealer);
  socket_->set(zmq::sockopt::linger, 0);
  socket_->set(zmq::sockopt::sndhwm, options_.send_hwm);
  socket_->set(zmq::sockopt::immediate, 1);
  socket_->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options_.limits.max_message_bytes));
  COSY_RETURN_IF_ERROR(ApplyCurve(*socket_, options_.curve, /*server=*/false));
  socket_->connect(options_.endpoint);
  last_recv_ms_ = NowMs();
  last_beat_ms_ = 0;  // send Hello at once
  return OkStatus();
}

void BridgeClient::Wake() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!wake_push_) return;
  try {
    (void)wake_push_->send(zmq::message_t(), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
  }
}

Result<uint64_t> BridgeClient::OpenSession() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!connected_) {
    return MakeError(StatusCode::kUnavailable, "bridge: peer {} is not connected{}",
                     options_.endpoint, handshake_.ok() ? "" : " (" + handshake_.message() + ")");
  }
  const uint64_t id = next_id_++;
  Session& s = sessions_[id];
  s.limited = ack_.window > 0;
  s.credit = ack_.window;
  return id;
}

Status BridgeClient::Post(uint64_t id, Payload payload, uint32_t flags) {
  MessageHeader h;
  h.session_id = id;
  h.flags = flags;
  h.emitted_ns = NowNs();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return NotFound("bridge: no session {}", id);
    if (!it->second.failed.ok()) return it->second.failed;
    h.sequence = it->second.sequence++;
  }
  COSY_ASSIGN_OR_RETURN(WireBuffer buf, EncodeMessage(Message{h, std::move(payload)}));
  Wakes wakes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return NotFound("bridge: no session {}", id);
    Session& s = it->second;
    if (!s.failed.ok()) return s.failed;
    // A frame over the server's limit would be rejected there (or, past twice the limit, make
    // ZeroMQ drop the connection): the session fails here instead, saying why.
    if (ack_.max_message_bytes > 0 && buf.size() > ack_.max_message_bytes) {
      s.failed = InvalidArgument(
          "bridge: a message of {} bytes exceeds the max_message_bytes {} of {} (session {})",
          buf.size(), ack_.max_message_bytes, options_.endpoint, id);
      s.held.clear();
      if (s.wake) wakes.push_back(s.wake);
      cv_.notify_all();
    }
  }
  if (!wakes.empty()) {
    for (auto& w : wakes) w();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(id);
    return it == sessions_.end() ? NotFound("bridge: no session {}", id) : it->second.failed;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return NotFound("bridge: no session {}", id);
    Session& s = it->second;
    if (!s.failed.ok()) return s.failed;
    const bool data = flags == 0;
    if (flags & kFlagCancel) s.held.clear();  // nothing held matters any more
    if (!(flags & kFlagCancel) && (!s.held.empty() || (data && s.limited && s.credit <= 0))) {
      s.held.push_back({data, ToFrame(std::move(buf))});  // waits for credit, in order
      stats_.max_held = std::max(stats_.max_held, s.held.size());
    } else {
      if (data && s.limited) --s.credit;
      outbox_.push_back(ToFrame(std::move(buf)));
    }
  }
  Wake();
  return OkStatus();
}

Status BridgeClient::Send(uint64_t id, Payload payload, uint32_t flags) {
  COSY_RETURN_IF_ERROR(Post(id, std::move(payload), flags));
  std::unique_lock<std::mutex> lock(mu_);
  Status failed;
  cv_.wait(lock, [&] {
    auto it = sessions_.find(id);
    if (it == sessions_.end() || stop_) return true;
    failed = it->second.failed;
    return it->second.held.empty() || !failed.ok();
  });
  return failed;
}

void BridgeClient::ReleaseHeld(Session& s) {
  while (!s.held.empty()) {
    Held& h = s.held.front();
    if (h.data && s.limited && s.credit <= 0) break;
    if (h.data && s.limited) --s.credit;
    outbox_.push_back(std::move(h.frame));
    s.held.pop_front();
  }
}

void BridgeClient::SetWake(uint64_t id, std::function<void()> wake) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(id);
  if (it != sessions_.end()) it->second.wake = std::move(wake);
}

BridgeClient::Progress BridgeClient::SessionProgress(uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return {0, 0, true};
  return {it->second.held.size(), it->second.inbox.size(), !it->second.failed.ok()};
}

Result<MessagePtr> BridgeClient::Next(uint64_t id, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return NotFound("bridge: no session {}", id);
  Session& s = it->second;
  cv_.wait_for(lock, timeout, [&] { return !s.inbox.empty() || !s.failed.ok() || stop_; });
  if (!s.inbox.empty()) {
    MessagePtr m = s.inbox.front();
    s.inbox.pop_front();
    // Grant the server credit for what was handed out, in batches of half the window.
    if (m->type() != PayloadType::kNone && !s.ended &&
        ++s.consumed >= static_cast<uint32_t>(std::max(1, options_.window / 2))) {
      outbox_.push_back(ToFrame(EncodeCredit({id, s.consumed})));
      ++stats_.credits_sent;
      s.consumed = 0;
      lock.unlock();
      Wake();
    }
    return m;
  }
  if (!s.failed.ok()) return s.failed;
  return MessagePtr();
}

void BridgeClient::CloseSession(uint64_t id) {
  bool cancel = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    cancel = !it->second.ended && it->second.failed.ok();
  }
  if (cancel) (void)Post(id, Payload{}, kFlagCancel);
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(id);
}

bool BridgeClient::connected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connected_;
}

BridgeClientStats BridgeClient::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void BridgeClient::FailAll(const Status& status, Wakes* wakes) {
  for (auto& [id, s] : sessions_) {
    if (!s.ended && s.failed.ok()) {
      s.failed = status;
      s.held.clear();
      if (s.wake) wakes->push_back(s.wake);
    }
  }
  outbox_.clear();
  cv_.notify_all();
}

void BridgeClient::HandleFrame(zmq::message_t frame) {
  auto e = DecodeFrame(std::move(frame), options_.limits);
  Wakes wakes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    HandleEnvelope(e, &wakes);
  }
  for (auto& w : wakes) w();
}

void BridgeClient::HandleEnvelope(Result<Envelope>& e, Wakes* wakes) {
  last_recv_ms_ = NowMs();
  if (!e.ok()) {
    ++stats_.undecodable;
    Log(LogLevel::kWarning, "bridge {}: dropped a frame: {}", options_.endpoint,
        e.status().message());
    return;
  }
  ++stats_.received;
  switch (e->kind) {
    case EnvelopeKind::kHelloAck:
      handshake_done_ = true;
      connected_ = e->ack.ok;
      if (e->ack.ok) {
        ack_ = e->ack;
        handshake_ = OkStatus();
      } else {
        handshake_ = InvalidArgument("bridge: handshake with {} refused: {}", options_.endpoint,
                                     e->ack.error);
      }
      cv_.notify_all();
      return;
    case EnvelopeKind::kData: {
      auto it = sessions_.find(e->message->header.session_id);
      // a late message of a closed session, or one of a failed session (the server went on
      // without the frame it rejected: what it sends now must not pass for the result)
      if (it == sessions_.end() || it->second.ended || !it->second.failed.ok()) return;
      if (e->message->header.closes()) it->second.ended = true;
      it->second.inbox.push_back(e->message);
      stats_.max_inbox = std::max(stats_.max_inbox, it->second.inbox.size());
      if (it->second.wake) wakes->push_back(it->second.wake);
      cv_.notify_all();
      return;
    }
    case EnvelopeKind::kCredit: {
      ++stats_.credits_received;
      auto it = sessions_.find(e->credit.session_id);
      if (it == sessions_.end()) return;
      it->second.credit += e->credit.messages;
      const size_t held = it->second.held.size();
      ReleaseHeld(it->second);
      if (it->second.held.size() < held && it->second.wake) wakes->push_back(it->second.wake);
      cv_.notify_all();
      return;
    }
    case EnvelopeKind::kRejected: {
      ++stats_.rejected_by_peer;
      const Status st(e->rejected.status.code(),
                      fmt::format("bridge: {} rejected a message: {}", options_.endpoint,
                                  e->rejected.status.message()));
      auto it = sessions_.find(e->rejected.session_id);
      if (it != sessions_.end() && it->second.failed.ok()) {
        it->second.failed = st;
        it->second.held.clear();
        if (it->second.wake) wakes->push_back(it->second.wake);
      }
      Log(LogLevel::kWarning, "{}", st.message());
      if (e->rejected.session_id == 0 && e->rejected.status.code() == StatusCode::kUnavailable) {
        // The server forgot this connection (restarted, or dropped it after an oversized
        // frame): every open session's state there is gone, so they fail now instead of
        // waiting for answers that will not come; then handshake again. (Other rejections
        // without a session are of frames that did not verify, which this client does not
        // send, or of envelopes an older server does not know, e.g. Credit: logged only.)
        FailAll(MakeError(StatusCode::kUnavailable,
                          "bridge: {} lost this connection's sessions (server restarted or "
                          "dropped the connection): {}",
                          options_.endpoint, e->rejected.status.message()),
                wakes);
        connected_ = false;
      }
      cv_.notify_all();
      return;
    }
    default:
      return;  // heartbeats only refresh last_recv_ms_
  }
}

void BridgeClient::Step() {
  std::vector<zmq_pollitem_t> items = {{static_cast<void*>(*socket_), 0, ZMQ_POLLIN, 0},
                                       {static_cast<void*>(wake_pull_), 0, ZMQ_POLLIN, 0}};
  const int wait_ms = std::max(1, std::min(options_.heartbeat_ms / 2, 50));
  zmq::poll(items, std::chrono::milliseconds(wait_ms));
  zmq::message_t scratch;
  while (wake_pull_.recv(scratch, zmq::recv_flags::dontwait)) {
  }
  for (int i = 0; i < 256; ++i) {
    zmq::message_t frame;
    if (!socket_->recv(frame, zmq::recv_flags::dontwait)) break;
    HandleFrame(std::move(frame));
  }
  const int64_t now = NowMs();
  Wakes wakes;
  std::unique_lock<std::mutex> lock(mu_);
  if (connected_ && now - last_recv_ms_ > options_.peer_timeout_ms) {
    ++stats_.peer_losses;
    const Status lost = MakeError(
        StatusCode::kUnavailable, "bridge: peer {} sent nothing for {} ms (peer_timeout_ms {})",
        options_.endpoint, now - last_recv_ms_, options_.peer_timeout_ms);
    Log(LogLevel::kWarning, "{}", lost.message());
    connected_ = false;
    FailAll(lost, &wakes);
    lock.unlock();
    (void)StartSocket();  // fresh socket: drop frames queued for the old peer
    lock.lock();
  }
  if (!connected_ && !outbox_.empty()) {
    FailAll(MakeError(StatusCode::kUnavailable, "bridge: peer {} is not connected",
                      options_.endpoint), &wakes);
  }
  const size_t queued = outbox_.size();
  while (connected_ && !outbox_.empty()) {
    if (!socket_->send(outbox_.front(), zmq::send_flags::dontwait)) break;  // HWM: retry later
    outbox_.pop_front();
    ++stats_.sent;
  }
  if (outbox_.size() < queued) cv_.notify_all();  // wakes senders waiting for room
  const int beat_ms = connected_ ? options_.heartbeat_ms : std::min(options_.heartbeat_ms, 100);
  if (now - last_beat_ms_ >= beat_ms) {
    last_beat_ms_ = now;
    WireBuffer beat = connected_ ? EncodeHeartbeat(NowNs()) : EncodeHello(options_.hello);
    (void)socket_->send(ToFrame(std::move(beat)), zmq::send_flags::dontwait);
  }
  lock.unlock();
  for (auto& w : wakes) w();
}

void BridgeClient::Run() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) break;
    }
    try {
      Step();
    } catch (const std::exception& e) {
      Log(LogLevel::kError, "bridge {}: I/O thread error: {}", options_.endpoint, e.what());
      Wakes wakes;
      {
        std::lock_guard<std::mutex> lock(mu_);
        FailAll(Internal("bridge {}: I/O error: {}", options_.endpoint, e.what()), &wakes);
      }
      for (auto& w : wakes) w();
    }
  }
  socket_.reset();
  std::lock_guard<std::mutex> lock(mu_);
  wake_push_.reset();
}

}  // namespace cosyflow::bridges
