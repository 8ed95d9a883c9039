// DeadlineStream: non-blocking system calls plus poll() with the time left.
#include "serving/deadline_stream.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/error.hpp>
#include <cerrno>
#include <climits>

namespace cosyflow::serving {
namespace {

// Waits until `fd` is ready for `events` (or has an error or hang-up: the next call reports
// it); false once `deadline` has passed.
bool WaitReady(int fd, short events, DeadlineStream::Clock::time_point deadline) {
  while (true) {
    int timeout_ms = -1;
    if (deadline != DeadlineStream::kNever) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - DeadlineStream::Clock::now());
      if (left.count() <= 0) return false;
      timeout_ms = static_cast<int>(std::min<int64_t>(left.count(), INT_MAX));
    }
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, timeout_ms);
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return true;  // (the next call reports the error)
    // n == 0: the time is up (checked at the top: poll may wake a little early); EINTR: again
  }
}

}  // namespace

size_t DeadlineStream::Transfer(IoVectors* v, bool write, boost::system::error_code& ec) {
  ec = {};
  if (v->bytes == 0) return 0;
  const int fd = socket_.native_handle();
  const Clock::time_point deadline = write ? Clock::now() + write_timeout_ : read_deadline_;
  while (true) {
    msghdr m{};
    m.msg_iov = v->iov;
    m.msg_iovlen = static_cast<size_t>(v->count);
    const ssize_t n =
        write ? ::sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) : ::recvmsg(fd, &m, MSG_DONTWAIT);
    if (n > 0) return static_cast<size_t>(n);
    if (n == 0 && !write) {
      ec = boost::asio::error::eof;
      return 0;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      ec.assign(errno, boost::system::system_category());
      return 0;
    }
    if (!WaitReady(fd, write ? POLLOUT : POLLIN, deadline)) {
      ec = boost::asio::error::timed_out;
      return 0;
    }
  }
}

}  // namespace cosyflow::serving
