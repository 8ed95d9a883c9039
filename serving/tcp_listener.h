// TcpListener: a listening socket whose connections each run on their own thread with their
// own io_context (blocking I/O, or async I/O run on that thread). Used by the HTTP/WebSocket
// and Wyoming servers. Stop() closes the listener, shuts every open connection down (a blocked
// read or write returns) and joins the threads.
//
// WaitReadable: the doors call it before waiting for a client's next request, so a connection
// that sends nothing is closed after their idle timeout instead of holding its thread for good.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "runtime/status.h"

namespace cosyflow::serving {

class TcpListener {
 public:
  using Handler =
      std::function<void(boost::asio::io_context& ioc, boost::asio::ip::tcp::socket& socket)>;
  // `host`: an IP address; `port` 0 = a free port (see port()). Beyond `max_connections` open
  // connections a new one is closed at once (each holds a thread and descriptors; running out
  // of either must not take the process down).
  static Result<std::unique_ptr<TcpListener>> Start(const std::string& host, int port,
                                                    Handler handler, int max_connections = 512);
  ~TcpListener();
  void Stop();
  int port() const { return port_; }
  const std::string& host() const { return host_; }
  int open_connections() const;

 private:
  struct Connection {
    std::thread thread;
    int fd = -1;
    boost::asio::io_context* ioc = nullptr;  // the connection's (stopped by Stop)
    std::atomic<bool> done{false};
  };
  TcpListener() = default;
  void AcceptLoop();
  void Run(Connection* c);
  void Reap(bool all);

  Handler handler_;
  std::string host_;
  int port_ = 0;
  int max_connections_ = 512;
  boost::asio::io_context accept_ioc_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::list<std::unique_ptr<Connection>> connections_;
};

// True when `socket` has bytes to read (or the peer closed: the read will say) within
// `timeout`; false after the timeout or on an error.
bool WaitReadable(boost::asio::ip::tcp::socket& socket, std::chrono::milliseconds timeout);

// "127.0.0.1:8080", "tcp://127.0.0.1:10200", ":8080" -> host, port. Port 0 allowed.
Status ParseHostPort(const std::string& text, std::string* host, int* port);

}  // namespace cosyflow::serving
