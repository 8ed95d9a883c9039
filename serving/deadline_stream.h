// DeadlineStream: blocking reads and writes on a connected TCP socket, each bounded in time,
// for Beast's and Asio's synchronous algorithms (it is a SyncReadStream and a SyncWriteStream:
// http::read, http::write, net::read_until, net::write).
//
// Asio's own synchronous socket operations cannot be bounded: they ignore SO_RCVTIMEO and
// SO_SNDTIMEO (on EAGAIN they poll again, without a limit). So a client that sends half a
// request, or stops reading its answer, would hold the connection's thread (and a request's
// slot) for good. Here every read and write is a non-blocking system call (MSG_DONTWAIT; the
// socket's own mode is left alone, so the WebSocket door's async I/O on it is unaffected), and
// a call that would block waits in poll() for the time left, then fails with
// boost::asio::error::timed_out:
//   - reads: by an absolute deadline (ReadBy), e.g. a whole request must arrive in N seconds;
//   - writes: per call, `write_timeout` without the peer accepting a byte (progress, not total
//     time: a slow reader that keeps reading is never cut off).
// A shutdown of the socket (TcpListener::Stop) wakes a waiting call, which then reports it.
// One reader and one writer may use the stream at once (from different threads).
#pragma once

#include <sys/uio.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <cstddef>

namespace cosyflow::serving {

class DeadlineStream {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::time_point kNever = Clock::time_point::max();

  DeadlineStream(boost::asio::ip::tcp::socket& socket, std::chrono::milliseconds write_timeout)
      : socket_(socket), write_timeout_(write_timeout) {}

  // Reads from now on fail with timed_out once `deadline` has passed (kNever: no limit).
  void ReadBy(Clock::time_point deadline) { read_deadline_ = deadline; }
  void ReadWithin(std::chrono::milliseconds timeout) { read_deadline_ = Clock::now() + timeout; }

  // SyncReadStream: at least one byte, or an error (eof at the peer's end, timed_out).
  template <typename MutableBuffers>
  size_t read_some(const MutableBuffers& buffers, boost::system::error_code& ec) {
    IoVectors v;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && v.count < kMaxIov; ++it) {
      v.Add(boost::asio::mutable_buffer(*it).data(), boost::asio::mutable_buffer(*it).size());
    }
    return Transfer(&v, /*write=*/false, ec);
  }
  template <typename MutableBuffers>
  size_t read_some(const MutableBuffers& buffers) {
    boost::system::error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  // SyncWriteStream: at least one byte, or an error (timed_out after write_timeout without
  // progress, broken_pipe, connection_reset).
  template <typename ConstBuffers>
  size_t write_some(const ConstBuffers& buffers, boost::system::error_code& ec) {
    IoVectors v;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && v.count < kMaxIov; ++it) {
      const boost::asio::const_buffer b(*it);
      v.Add(const_cast<void*>(b.data()), b.size());  // (sendmsg does not write to it)
    }
    return Transfer(&v, /*write=*/true, ec);
  }
  template <typename ConstBuffers>
  size_t write_some(const ConstBuffers& buffers) {
    boost::system::error_code ec;
    const size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  static constexpr int kMaxIov = 64;
  struct IoVectors {
    iovec iov[kMaxIov];
    int count = 0;
    size_t bytes = 0;
    void Add(void* data, size_t size) {
      if (size == 0) return;
      iov[count++] = {data, size};
      bytes += size;
    }
  };

  size_t Transfer(IoVectors* v, bool write, boost::system::error_code& ec);

  boost::asio::ip::tcp::socket& socket_;
  const std::chrono::milliseconds write_timeout_;
  Clock::time_point read_deadline_ = kNever;
};

}  // namespace cosyflow::serving
