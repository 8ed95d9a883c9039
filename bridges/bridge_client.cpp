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
  std::shared_ptr<BridgeClient> c(new BridgeClient(options));
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
                     "server running?)", options.endpoint, options.connect_timeout_ms);
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
  sessions_[id];
  return id;
}

Status BridgeClient::Send(uint64_t id, Payload payload, uint32_t flags) {
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
  {
    // Backpressure: while send_hwm frames wait for the socket (the peer's high-water mark is
    // reached), the sender waits, at most peer_timeout_ms; control frames never wait.
    std::unique_lock<std::mutex> lock(mu_);
    const auto limit = static_cast<size_t>(options_.send_hwm);
    if (flags == 0 && outbox_.size() >= limit &&
        !cv_.wait_for(lock, std::chrono::milliseconds(options_.peer_timeout_ms),
                      [&] { return outbox_.size() < limit || !connected_ || stop_; })) {
      return MakeError(StatusCode::kResourceExhausted,
                       "bridge: {} frames queued for {} for longer than peer_timeout_ms {}",
                       outbox_.size(), options_.endpoint, options_.peer_timeout_ms);
    }
    outbox_.push_back(ToFrame(std::move(buf)));
  }
  Wake();
  return OkStatus();
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
  if (cancel) (void)Send(id, Payload{}, kFlagCancel);
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

void BridgeClient::FailAll(const Status& status) {
  for (auto& [id, s] : sessions_) {
    if (!s.ended && s.failed.ok()) s.failed = status;
  }
  outbox_.clear();
  cv_.notify_all();
}

void BridgeClient::HandleFrame(zmq::message_t frame) {
  auto e = DecodeFrame(std::move(frame), options_.limits);
  std::lock_guard<std::mutex> lock(mu_);
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
      if (it == sessions_.end() || it->second.ended) return;  // late message of a closed one
      if (e->message->header.closes()) it->second.ended = true;
      it->second.inbox.push_back(e->message);
      cv_.notify_all();
      return;
    }
    case EnvelopeKind::kRejected: {
      ++stats_.rejected_by_peer;
      const Status st(e->rejected.status.code(),
                      fmt::format("bridge: {} rejected a message: {}", options_.endpoint,
                                  e->rejected.status.message()));
      auto it = sessions_.find(e->rejected.session_id);
      if (it != sessions_.end() && it->second.failed.ok()) it->second.failed = st;
      if (e->rejected.status.code() == StatusCode::kUnavailable &&
          e->rejected.session_id == 0) {
        connected_ = false;  // the server forgot us (restarted): handshake again
      }
      Log(LogLevel::kWarning, "{}", st.message());
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
  std::unique_lock<std::mutex> lock(mu_);
  if (connected_ && now - last_recv_ms_ > options_.peer_timeout_ms) {
    ++stats_.peer_losses;
    const Status lost = MakeError(
        StatusCode::kUnavailable, "bridge: peer {} sent nothing for {} ms (peer_timeout_ms {})",
        options_.endpoint, now - last_recv_ms_, options_.peer_timeout_ms);
    Log(LogLevel::kWarning, "{}", lost.message());
    connected_ = false;
    FailAll(lost);
    lock.unlock();
    (void)StartSocket();  // fresh socket: drop frames queued for the old peer
    lock.lock();
  }
  if (!connected_ && !outbox_.empty()) FailAll(MakeError(StatusCode::kUnavailable,
      "bridge: peer {} is not connected", options_.endpoint));
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
      std::lock_guard<std::mutex> lock(mu_);
      FailAll(Internal("bridge {}: I/O error: {}", options_.endpoint, e.what()));
    }
  }
  socket_.reset();
  std::lock_guard<std::mutex> lock(mu_);
  wake_push_.reset();
}

}  // namespace cosyflow::bridges
