// TcpListener: thread-per-connection accept loop.
#include "serving/tcp_listener.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <cerrno>
#include <charconv>
#include <exception>

namespace cosyflow::serving {

namespace net = boost::asio;
using tcp = net::ip::tcp;

Status ParseHostPort(const std::string& text, std::string* host, int* port) {
  std::string s = text;
  if (s.rfind("tcp://", 0) == 0) s = s.substr(6);
  if (s.rfind("http://", 0) == 0) s = s.substr(7);
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos) {
    return InvalidArgument("listen address '{}' must be HOST:PORT (e.g. 127.0.0.1:8080)", text);
  }
  *host = colon == 0 ? "127.0.0.1" : s.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  const std::string p = s.substr(colon + 1);
  int v = -1;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc() || end != p.data() + p.size() || v < 0 || v > 65535) {
    return InvalidArgument("listen address '{}': port must be 0..65535", text);
  }
  *port = v;
  return OkStatus();
}

bool WaitReadable(tcp::socket& socket, std::chrono::milliseconds timeout) {
  pollfd p{socket.native_handle(), POLLIN, 0};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    const int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1 << 30)));
    if (n > 0) return true;
    if (n == 0 || errno != EINTR) return false;
  }
}

Result<std::unique_ptr<TcpListener>> TcpListener::Start(const std::string& host, int port,
                                                        Handler handler, int max_connections) {
  if (max_connections < 1) {
    return InvalidArgument("max_connections must be >= 1, got {}", max_connections);
  }
  std::unique_ptr<TcpListener> l(new TcpListener());
  l->handler_ = std::move(handler);
  l->max_connections_ = max_connections;
  boost::system::error_code ec;
  const auto addr = net::ip::make_address(host, ec);
  if (ec)
    return InvalidArgument("listen address '{}' is not an IP address: {}", host, ec.message());
  const tcp::endpoint ep(addr, static_cast<unsigned short>(port));
  l->acceptor_ = std::make_unique<tcp::acceptor>(l->accept_ioc_);
  l->acceptor_->open(ep.protocol(), ec);
  if (!ec) l->acceptor_->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) l->acceptor_->bind(ep, ec);
  if (!ec) l->acceptor_->listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return MakeError(StatusCode::kUnavailable, "cannot listen on {}:{}: {}", host, port,
                     ec.message());
  l->host_ = host;
  l->port_ = l->acceptor_->local_endpoint().port();
  l->accept_thread_ = std::thread([p = l.get()] { p->AcceptLoop(); });
  return l;
}

TcpListener::~TcpListener() { Stop(); }

void TcpListener::AcceptLoop() {
  while (!stopping_) {
    boost::system::error_code ec;
    tcp::socket s = acceptor_->accept(ec);
    if (stopping_) break;
    if (ec) {
      if (ec == net::error::operation_aborted || ec == net::error::bad_descriptor) break;
      // A failed accept (peer reset, or out of descriptors: then it fails again at once until
      // a connection closes, so wait a little instead of spinning): keep serving.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    Reap(false);
    if (open_connections() >= max_connections_) {
      s.close(ec);  // over the limit: refused (the client sees the connection close)
      continue;
    }
    s.set_option(tcp::no_delay(true), ec);
    const int fd = s.release(ec);
    if (ec) continue;
    auto c = std::make_unique<Connection>();
    c->fd = fd;
    Connection* raw = c.get();
    {
      std::lock_guard<std::mutex> lock(mu_);
      connections_.push_back(std::move(c));
    }
    try {
      raw->thread = std::thread([this, raw] { Run(raw); });
    } catch (const std::exception&) {  // no thread to be had: the connection is dropped
      std::lock_guard<std::mutex> lock(mu_);
      ::close(raw->fd);
      raw->fd = -1;
      raw->done = true;
    }
  }
}

// One connection's thread: nothing it does may throw out of it (std::terminate).
void TcpListener::Run(Connection* raw) {
  bool assigned = false;  // then the socket closes the descriptor
  try {
    net::io_context ioc;
    {
      std::lock_guard<std::mutex> lock(mu_);
      raw->ioc = &ioc;
    }
    tcp::socket sock(ioc);
    boost::system::error_code aec;
    sock.assign(acceptor_->local_endpoint().protocol(), raw->fd, aec);
    assigned = !aec;
    if (assigned) {
      try {
        handler_(ioc, sock);
      } catch (const std::exception&) {
        // A door must not take the server down; the connection is dropped.
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (!assigned) ::close(raw->fd);
    raw->fd = -1;  // else the socket closes it
    raw->ioc = nullptr;
  } catch (const std::exception&) {  // e.g. the io_context found no descriptor for its reactor
    std::lock_guard<std::mutex> lock(mu_);
    if (!assigned && raw->fd >= 0) ::close(raw->fd);
    raw->fd = -1;
    raw->ioc = nullptr;
  }
  raw->done = true;
}

void TcpListener::Reap(bool all) {
  std::list<std::unique_ptr<Connection>> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (all || (*it)->done) {
        finished.push_back(std::move(*it));
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : finished) {
    if (c->thread.joinable()) c->thread.join();
  }
}

int TcpListener::open_connections() const {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const auto& c : connections_) n += c->done ? 0 : 1;
  return n;
}

void TcpListener::Stop() {
  if (stopping_.exchange(true)) return;
  if (acceptor_) ::shutdown(acceptor_->native_handle(), SHUT_RDWR);  // wakes accept()
  if (accept_thread_.joinable()) accept_thread_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& c : connections_) {
      if (c->fd >= 0) ::shutdown(c->fd, SHUT_RDWR);  // a blocked read/write returns
      if (c->ioc != nullptr) c->ioc->stop();         // async I/O (WebSocket) returns too
    }
  }
  Reap(true);
  boost::system::error_code ec;
  if (acceptor_) acceptor_->close(ec);
}

}  // namespace cosyflow::serving
