// The WebSocket bi-stream door: async reads and queued writes on the connection's io_context,
// a pump thread pulling audio from the speech session.
#include "serving/websocket_session.h"

#include <fmt/format.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>

#include "serving/speech_request.h"

namespace cosyflow::serving {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(net::io_context& ioc, tcp::socket& socket, SpeechService* service,
            std::chrono::milliseconds write_timeout)
      : ioc_(ioc),
        ws_(socket),
        service_(service),
        write_timer_(ioc),
        write_timeout_(write_timeout) {}

  bool Accept(const http::request<http::string_body>& req, size_t max_message_bytes) {
    websocket::stream_base::timeout t =
        websocket::stream_base::timeout::suggested(beast::role_type::server);
    t.handshake_timeout = std::chrono::seconds(5);  // also bounds the close handshake
    ws_.set_option(t);
    // The limit is counted here, not by Beast's read_message_max or a bounded buffer: Beast
    // fails the stream on either (closing with 1009 at once), so the JSON error every other
    // failure gets could not be sent.
    ws_.read_message_max(0);
    max_message_bytes_ = max_message_bytes;
    beast::error_code ec;
    ws_.accept(req, ec);
    return !ec;
  }

  void Run() { Read(); }

  // After the io_context has run out of work: the pump has posted its last frame.
  void Join() {
    if (pump_.joinable()) pump_.join();
    std::lock_guard<std::mutex> lock(mu_);
    session_.reset();
  }

 private:
  // Reads the next message a piece at a time, at most one byte over the limit in all.
  void Read() {
    ws_.async_read_some(
        buffer_, max_message_bytes_ + 1 - buffer_.size(),
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (!ec && buffer_.size() > max_message_bytes_) return TooLarge();
    if (!ec && !ws_.is_message_done()) {
      if (!closing_) Read();  // (a close under way reads the rest itself)
      return;
    }
    if (ec) {  // closed or failed: a request still running is cancelled (barge-in by hang-up)
      closed_ = true;
      closed_flag_ = true;
      std::lock_guard<std::mutex> lock(mu_);
      if (session_) session_->Cancel();
      return;
    }
    const std::string text = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    if (!ws_.got_text()) {
      Fail(BadRequest("binary messages are not accepted; send JSON text messages"));
    } else {
      Handle(text);
    }
    if (!closing_) Read();
  }

  // A message over the limit: the JSON error, then the close with 1009. Nothing more is read
  // (the rest of the message is mid-frame): the close handshake drains it.
  void TooLarge() {
    const size_t limit = max_message_bytes_;
    buffer_.consume(buffer_.size());
    close_code_ = websocket::close_code::too_big;
    std::lock_guard<std::mutex> lock(mu_);
    if (session_) session_->Cancel();  // the pump's "cancelled" finds the connection closing
    nlohmann::json ev = nlohmann::json::parse(
        ApiError{413,
                 fmt::format("message too large: over the limit of {} bytes (send the text in "
                             "several \"text\" messages)",
                             limit),
                 "invalid_request_error", ""}
            .Json());
    ev["type"] = "error";
    SendText(ev.dump());
    CloseAfterWrites();
  }

  void Handle(const std::string& text) {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("type") || !j["type"].is_string()) {
      return Fail(BadRequest("messages are JSON objects with a string \"type\"", "type"));
    }
    // Before anything copies or echoes a value of it (both recurse per level).
    if (ApiError e = CheckClientJsonDepth(j, "the message"); !e.ok()) return Fail(e);
    const std::string type = j["type"].get<std::string>();
    j.erase("type");
    if (type == "start") return Start(&j);
    std::lock_guard<std::mutex> lock(mu_);
    if (type == "cancel") {
      if (session_) {
        session_->Cancel();  // the pump ends within a node step and answers "cancelled"
      } else if (!started_) {
        SendText(nlohmann::json{{"type", "cancelled"}}.dump());
        CloseAfterWrites();
      }
      return;
    }
    if (!started_ || ended_) {
      return Fail(
          BadRequest(fmt::format("'{}' before start or after end", TextExcerpt(type)), "type"));
    }
    if (!session_) return;  // the request has finished (cancelled or failed): late text
    if (type == "text") {
      if (!j.contains("text") || !j["text"].is_string()) {
        return Fail(BadRequest("text message needs a string \"text\"", "text"));
      }
      const Status st = session_->Push(j["text"].get<std::string>());
      // Cancelled: the request ended meanwhile (failed or cancelled); the pump says why.
      if (st.code() == StatusCode::kCancelled) return;
      if (st.code() == StatusCode::kOutOfRange) {
        session_->Cancel();
        return Fail({413, st.message(), "invalid_request_error", "text"});
      }
      if (!st.ok() && !session_->cancelled()) return Fail(BadRequest(st.message(), "text"));
    } else if (type == "end") {
      ended_ = true;
      const Status st = session_->End();
      if (st.code() == StatusCode::kCancelled) return;  // as above
      if (!st.ok() && !session_->cancelled()) return Fail(BadRequest(st.message()));
    } else {
      return Fail(BadRequest(fmt::format("unknown message type '{}'", TextExcerpt(type)), "type"));
    }
  }

  void Start(nlohmann::json* j) {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) return Fail(BadRequest("one request per connection: start again is refused"));
    started_ = true;
    SpeechParams p;
    p.door = "ws";
    if (auto it = j->find("model"); it != j->end()) j->erase(it);
    ApiError e = ParseCommonFields(j, &p);
    if (e.ok() && !j->empty()) {
      const std::string key = TextExcerpt(j->begin().key());
      e = BadRequest(fmt::format("unknown field '{}'", key), key);
    }
    if (e.ok()) session_ = service_->Open(p, 0, &e);
    service_->metrics().Count("cosyflow_requests_total",
                              fmt::format("door=\"ws\",code=\"{}\"", e.ok() ? 200 : e.status));
    if (!e.ok()) return Fail(e);
    SendText(nlohmann::json{{"type", "started"},
                            {"sample_rate", session_->sample_rate()},
                            {"text_streaming", service_->info().stream_text}}
                 .dump());
    pump_ = std::thread([self = shared_from_this()] { self->Pump(); });
  }

  // Pump thread: audio frames as the graph makes them, then done / cancelled / error.
  void Pump() {
    SpeechSession* s = session_.get();  // reset by this thread below, after Finish
    std::string pcm;
    Status st = OkStatus();
    while (true) {
      auto more = s->NextPcm(&pcm);
      if (!more.ok()) st = more.status();
      if (!more.ok() || !*more) break;
      // Backpressure: a slow reader holds the pump (and through the pull, the graph) instead
      // of growing the frame queue without bound.
      while (pending_bytes_.load() > kMaxPendingBytes && !closed_flag_.load() && !s->cancelled() &&
             !ioc_.stopped()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      pending_bytes_ += pcm.size();
      Post([pcm = std::move(pcm)](WsSession& w) { w.Send(true, pcm); });
      pcm = std::string();
    }
    auto fin = s->Finish();
    if (st.ok()) st = fin.ok() ? fin->status : fin.status();
    std::string last;
    // "cancelled" answers the client's own cancel (or hang-up, or a Fail); the drain's cancel
    // is the server's doing: an error (503), so the client knows its audio was cut short.
    const bool drained = s->cancelled_by_drain() && !st.ok();
    if (!drained && (s->cancelled() || st.code() == StatusCode::kCancelled)) {
      last = nlohmann::json{{"type", "cancelled"}}.dump();
    } else if (st.ok()) {
      last =
          nlohmann::json{{"type", "done"}, {"timing", nlohmann::json::parse(s->TimingJson(*fin))}}
              .dump();
    } else {
      const ApiError e = SessionFailure(*s, st, fin.ok() ? fin->failed_node : "");
      nlohmann::json ev = nlohmann::json::parse(e.Json());
      ev["type"] = "error";
      last = ev.dump();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      session_.reset();  // the slot is free now, not when the client completes the close
    }
    Post([last](WsSession& w) {
      w.SendText(last);
      w.CloseAfterWrites();
    });
  }

  template <typename F>
  void Post(F f) {
    net::post(ioc_, [self = shared_from_this(), f = std::move(f)]() mutable { f(*self); });
  }

  void Fail(const ApiError& e) {
    nlohmann::json ev = nlohmann::json::parse(e.Json());
    ev["type"] = "error";
    SendText(ev.dump());
    if (session_) {
      session_->Cancel();  // the pump sends "cancelled" after the error, then closes
    } else {
      CloseAfterWrites();
    }
  }

  void SendText(const std::string& s) { Send(false, s); }

  void Send(bool binary, std::string data) {
    if (closed_ || closing_) {
      if (binary) pending_bytes_ -= data.size();
      return;
    }
    queue_.emplace_back(binary, std::move(data));
    if (!writing_) Write();
  }

  void Write() {
    writing_ = true;
    ws_.binary(queue_.front().first);
    ws_.async_write(
        net::buffer(queue_.front().second),
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWrite(ec); });
    // A frame (at most one audio chunk, tens of KB) not written within write_timeout: the
    // client stopped reading. (Re-arming cancels the previous frame's wait; one that expired
    // just as its frame completed may still run: the frame count tells.)
    write_timer_.expires_after(write_timeout_);
    write_timer_.async_wait(
        [self = shared_from_this(), frame = ++frames_written_](beast::error_code ec) {
          if (!ec && self->writing_ && frame == self->frames_written_) self->WriteStalled();
        });
  }

  // Ends the connection: the pending write (and read) complete with an error, OnWrite cancels
  // the request and the pump stops.
  void WriteStalled() {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(ws_).cancel(ec);
  }

  void OnWrite(beast::error_code ec) {
    writing_ = false;
    write_timer_.cancel();  // (no wait may keep the io_context running after the last write)
    if (queue_.front().first) pending_bytes_ -= queue_.front().second.size();
    queue_.pop_front();
    if (ec) {
      closed_ = true;
      closed_flag_ = true;
      for (const auto& [binary, data] : queue_) {
        if (binary) pending_bytes_ -= data.size();
      }
      queue_.clear();
      std::lock_guard<std::mutex> lock(mu_);
      if (session_) session_->Cancel();
      return;
    }
    if (!queue_.empty()) return Write();
    if (close_after_writes_ && !closing_) {
      closing_ = true;
      ws_.async_close(close_code_, [self = shared_from_this()](beast::error_code) {});
    }
  }

  void CloseAfterWrites() {
    close_after_writes_ = true;
    if (!writing_ && queue_.empty() && !closing_ && !closed_) {
      closing_ = true;
      ws_.async_close(close_code_, [self = shared_from_this()](beast::error_code) {});
    }
  }

  net::io_context& ioc_;
  websocket::stream<tcp::socket&> ws_;
  SpeechService* service_;
  net::steady_timer write_timer_;  // the frame being written must be accepted within
  std::chrono::milliseconds write_timeout_;
  uint64_t frames_written_ = 0;  // Write() calls (io_context thread only)
  beast::flat_buffer buffer_;
  size_t max_message_bytes_ = 0;
  static constexpr size_t kMaxPendingBytes = 1 << 20;  // audio posted but not yet written
  std::deque<std::pair<bool, std::string>> queue_;     // io_context thread only
  std::atomic<size_t> pending_bytes_{0};
  std::atomic<bool> closed_flag_{false};  // closed_, readable by the pump
  bool writing_ = false, closing_ = false, close_after_writes_ = false, closed_ = false;
  websocket::close_code close_code_ = websocket::close_code::normal;
  std::mutex mu_;  // session_ against the pump's end; started_/ended_
  std::unique_ptr<SpeechSession> session_;
  bool started_ = false, ended_ = false;
  std::thread pump_;
};

}  // namespace

void RunWebSocketSession(net::io_context& ioc, tcp::socket& socket,
                         http::request<http::string_body> upgrade, SpeechService* service,
                         size_t max_message_bytes, std::chrono::milliseconds write_timeout) {
  auto s = std::make_shared<WsSession>(ioc, socket, service, write_timeout);
  if (!s->Accept(upgrade, max_message_bytes)) return;
  s->Run();
  ioc.run();
  s->Join();
  ioc.restart();
  ioc.poll();  // frames the pump posted after the last handler ran are dropped here
}

}  // namespace cosyflow::serving
