// TcpListener: a listening socket whose connections each run on their own thread with their
// own io_context (blocking I/O, or async I/O run on that thread). Used by the HTTP/WebSocket
// and Wyoming servers. Stop() closes the listener, shuts every open connection down (a blocked
// read or write returns) and joins the threads.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
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
  // `host`: an IP address; `port` 0 = a free port (see port()).
  static Result<std::unique_ptr<TcpListener>> Start(const std::string& host, int port,
                                                    Handler handler);
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
  void Reap(bool all);

  Handler handler_;
  std::string host_;
  int port_ = 0;
  boost::asio::io_context accept_ioc_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::list<std::unique_ptr<Connection>> connections_;
};

// "127.0.0.1:8080", "tcp://127.0.0.1:10200", ":8080" -> host, port. Port 0 allowed.
Status ParseHostPort(const std::string& text, std::string* host, int* port);

}  // namespace cosyflow::serving
