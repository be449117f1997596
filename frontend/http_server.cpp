#include "frontend/http_server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace waypoint {

namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// After an error response the server stops writing but keeps reading for a
// while: closing with unread request bytes makes the kernel send a reset,
// which can destroy the response before the client reads it.
constexpr milliseconds kLingerTime{1000};
constexpr int kListenBacklog = 4096;

Clock::time_point deadline_after(milliseconds timeout) {
  const auto now = Clock::now();
  if (timeout <= milliseconds::zero()) return now;
  if (timeout >= std::chrono::duration_cast<milliseconds>(Clock::time_point::max() - now)) {
    return Clock::time_point::max();
  }
  return now + timeout;
}

// poll(2) until an event or `deadline` (time_point::max(): none). Returns the
// number of ready descriptors, 0 on timeout.
int poll_until(pollfd* fds, nfds_t n, Clock::time_point deadline) {
  for (;;) {
    int timeout_ms = -1;
    if (deadline != Clock::time_point::max()) {
      const auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now());
      timeout_ms = static_cast<int>(std::clamp<int64_t>(left.count(), 0, INT_MAX));
    }
    const int r = ::poll(fds, n, timeout_ms);
    if (r > 0) return r;
    if (r == 0) {
      if (timeout_ms == INT_MAX && Clock::now() < deadline) continue;  // clamped: not there yet
      return 0;
    }
    if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "http: poll");
  }
}

bool ascii_iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

std::string_view to_std(beast::string_view s) { return {s.data(), s.size()}; }
beast::string_view to_beast(std::string_view s) { return {s.data(), s.size()}; }

// Beast's SyncReadStream/SyncWriteStream over a connected socket, with
// deadlines. Every call is non-blocking at the syscall and waits in poll(2),
// so a timeout or a shutdown(2) from stop() always gets the thread back.
// Sends use MSG_NOSIGNAL: a closed peer is an error code, never SIGPIPE.
class SocketStream {
 public:
  SocketStream(int fd, milliseconds write_stall_timeout)
      : fd_(fd), write_stall_timeout_(write_stall_timeout) {}

  void set_read_deadline(Clock::time_point deadline) { read_deadline_ = deadline; }

  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers, beast::error_code& ec) {
    ec = {};
    net::mutable_buffer b;
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers);
         ++it) {
      b = *it;
      if (b.size() > 0) break;
    }
    if (b.size() == 0) return 0;
    for (;;) {
      const ssize_t n = ::recv(fd_, b.data(), b.size(), MSG_DONTWAIT);
      if (n > 0) return static_cast<size_t>(n);
      if (n == 0) {
        ec = net::error::eof;
        return 0;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ec.assign(errno, beast::system_category());
        return 0;
      }
      if (!ready(POLLIN, read_deadline_, ec)) return 0;
    }
  }

  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers) {
    beast::error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

  template <class ConstBufferSequence>
  size_t write_some(const ConstBufferSequence& buffers, beast::error_code& ec) {
    ec = {};
    std::array<iovec, 64> iov{};
    size_t count = 0;
    for (auto it = net::buffer_sequence_begin(buffers);
         it != net::buffer_sequence_end(buffers) && count < iov.size(); ++it) {
      const net::const_buffer b = *it;
      if (b.size() == 0) continue;
      iov[count++] = iovec{const_cast<void*>(b.data()), b.size()};
    }
    if (count == 0) return 0;
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = count;
    // The timeout is per call, and each call makes progress, so it bounds a
    // stall rather than the whole response.
    const auto deadline = deadline_after(write_stall_timeout_);
    for (;;) {
      const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ec.assign(errno, beast::system_category());
        return 0;
      }
      if (!ready(POLLOUT, deadline, ec)) return 0;
    }
  }

  template <class ConstBufferSequence>
  size_t write_some(const ConstBufferSequence& buffers) {
    beast::error_code ec;
    const size_t n = write_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

 private:
  // Any revents (including POLLHUP/POLLERR) sends the caller back to the
  // syscall, which then reports what happened.
  bool ready(short events, Clock::time_point deadline, beast::error_code& ec) {
    pollfd p{fd_, events, 0};
    if (poll_until(&p, 1, deadline) > 0) return true;
    ec = beast::error::timeout;
    return false;
  }

  int fd_;
  milliseconds write_stall_timeout_;
  Clock::time_point read_deadline_ = Clock::time_point::max();
};

void set_status(http::response_header<>& head, int status) {
  if (status < 100 || status > 999) {
    throw std::logic_error("HttpResponder: bad status " + std::to_string(status));
  }
  head.result(static_cast<unsigned>(status));
}

void set_common_headers(http::response_header<>& head, std::string_view content_type,
                        const HttpHeaders& extra_headers) {
  head.set(http::field::server, "waypoint");
  head.set(http::field::content_type, to_beast(content_type));
  for (const auto& [name, value] : extra_headers) head.insert(to_beast(name), to_beast(value));
}

// A whole response with Content-Length. False if it could not be written.
bool write_response(SocketStream& stream, unsigned version, bool keep_alive, int status,
                    std::string_view content_type, std::string_view body,
                    const HttpHeaders& extra_headers = {}) {
  http::response<http::string_body> res;
  res.version(version);
  set_status(res, status);
  set_common_headers(res, content_type, extra_headers);
  res.keep_alive(keep_alive);
  res.body().assign(body.data(), body.size());
  res.prepare_payload();
  beast::error_code ec;
  http::write(stream, res, ec);
  return !ec;
}

// The end of a connection after an error response; see kLingerTime.
void lingering_close(int fd, milliseconds limit) {
  ::shutdown(fd, SHUT_WR);
  const auto deadline = deadline_after(std::min(limit, kLingerTime));
  std::array<char, 16384> sink;
  for (;;) {
    const ssize_t n = ::recv(fd, sink.data(), sink.size(), MSG_DONTWAIT);
    if (n > 0) continue;
    if (n == 0) return;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return;
    pollfd p{fd, POLLIN, 0};
    if (poll_until(&p, 1, deadline) == 0) return;
  }
}

std::string peer_name(const sockaddr_storage& addr) {
  char ip[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
    ::inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
    ::inet_ntop(AF_INET6, &a.sin6_addr, ip, sizeof ip);
    return "[" + std::string(ip) + "]:" + std::to_string(ntohs(a.sin6_port));
  }
  return "?";
}

void signal_eventfd(int fd) {
  const uint64_t one = 1;
  while (::write(fd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

int make_eventfd() {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "http: eventfd");
  return fd;
}

HttpRequest make_request(http::request<http::string_body>&& msg, const std::string& remote) {
  HttpRequest req;
  req.method = std::string(to_std(msg.method_string()));
  const std::string_view target = to_std(msg.target());
  const size_t q = target.find('?');
  req.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));
  req.headers.reserve(static_cast<size_t>(std::distance(msg.begin(), msg.end())));
  for (const auto& field : msg) {
    req.headers.emplace_back(std::string(to_std(field.name_string())),
                             std::string(to_std(field.value())));
  }
  req.version = msg.version();
  req.remote = remote;
  req.body = std::move(msg.body());
  req.received_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count();
  return req;
}

}  // namespace

// ---------------------------------------------------------------------------
// HttpRequest

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (ascii_iequals(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

std::string default_http_error_body(int status, std::string_view message) {
  const char* type = "InternalServerError";
  switch (status) {
    case 400:
    case 413:
      type = "BadRequestError";
      break;
    case 404:
      type = "NotFoundError";
      break;
    case 405:
      type = "MethodNotAllowed";
      break;
    case 503:
      type = "ServiceUnavailableError";
      break;
    default:
      break;
  }
  const nlohmann::json body = {
      {"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", status}}}};
  // Replace, not throw: the message may quote bytes from a malformed request.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// ---------------------------------------------------------------------------
// HttpResponder

void HttpResponder::send(int status, std::string_view content_type, std::string_view body,
                         const HttpHeaders& extra_headers) {
  if (sent_ || started_) throw std::logic_error("HttpResponder::send: response already begun");
  if (failed_) {
    sent_ = true;
    return;
  }
  SocketStream stream(fd_, io_timeout_);
  // Marked sent only afterwards: if building the response throws (a bad
  // status, a body on a 204), nothing went out and the server can still answer 500.
  const bool ok =
      write_response(stream, version_, keep_alive_, status, content_type, body, extra_headers);
  sent_ = true;
  if (!ok) failed_ = true;
}

void HttpResponder::start_stream(int status, std::string_view content_type,
                                 const HttpHeaders& extra_headers) {
  if (sent_ || started_) {
    throw std::logic_error("HttpResponder::start_stream: response already begun");
  }
  http::response<http::empty_body> res;
  res.version(version_);
  set_status(res, status);
  started_ = true;
  if (failed_) return;
  set_common_headers(res, content_type, extra_headers);
  res.set(http::field::cache_control, "no-cache");
  if (version_ >= 11) {
    res.chunked(true);
    res.keep_alive(keep_alive_);
  } else {
    // HTTP/1.0 has no chunks: the body runs until the connection closes.
    res.keep_alive(false);
  }
  http::response_serializer<http::empty_body> serializer(res);
  SocketStream stream(fd_, io_timeout_);
  beast::error_code ec;
  http::write_header(stream, serializer, ec);
  if (ec) failed_ = true;
}

bool HttpResponder::write(std::string_view data) {
  if (!started_) throw std::logic_error("HttpResponder::write: start_stream() first");
  if (peer_closed()) return false;
  if (data.empty()) return true;  // an empty chunk would end the stream
  SocketStream stream(fd_, io_timeout_);
  beast::error_code ec;
  if (version_ >= 11) {
    net::write(stream, http::make_chunk(net::const_buffer(data.data(), data.size())), ec);
  } else {
    net::write(stream, net::const_buffer(data.data(), data.size()), ec);
  }
  if (ec) failed_ = true;
  return !ec;
}

bool HttpResponder::finish() {
  if (failed_) return false;
  if (sent_) return keep_alive_;
  if (!started_ || version_ < 11) return false;
  SocketStream stream(fd_, io_timeout_);
  beast::error_code ec;
  net::write(stream, http::make_chunk_last(), ec);
  if (ec) failed_ = true;
  return !ec && keep_alive_;
}

WaitResult HttpResponder::wait(int wake_fd, std::chrono::milliseconds timeout) {
  if (failed_) return WaitResult::kPeerClosed;
  // Only POLLRDHUP for the socket: POLLIN would also fire on a pipelined
  // request, which is no reason to stop streaming. POLLHUP/POLLERR (a reset,
  // or stop() shutting the socket down) are always reported.
  std::array<pollfd, 2> fds{{{fd_, POLLRDHUP, 0}, {wake_fd, POLLIN, 0}}};
  const nfds_t n = wake_fd >= 0 ? 2 : 1;
  if (poll_until(fds.data(), n, deadline_after(timeout)) == 0) return WaitResult::kTimeout;
  if (fds[0].revents != 0) {
    failed_ = true;
    return WaitResult::kPeerClosed;
  }
  if (fds[1].revents & POLLNVAL) throw std::invalid_argument("HttpResponder::wait: bad wake_fd");
  return WaitResult::kWoken;
}

bool HttpResponder::peer_closed() const {
  if (failed_) return true;
  pollfd p{fd_, POLLRDHUP, 0};
  if (::poll(&p, 1, 0) > 0 && p.revents != 0) failed_ = true;
  return failed_;
}

// ---------------------------------------------------------------------------
// HttpServer

struct HttpServer::Connection {
  Connection(UniqueFd socket, std::string peer) : fd(std::move(socket)), remote(std::move(peer)) {}

  std::mutex mu;  // guards fd: its thread closes it while stop() may shut it down
  UniqueFd fd;
  const std::string remote;
  std::thread thread;
  bool done = false;  // guarded by HttpServer::mu_; the thread is then about to exit
};

HttpServer::HttpServer(HttpServerOptions options) : options_(std::move(options)) {
  if (!options_.error_body) options_.error_body = default_http_error_body;
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  auto fail = [&](const std::string& reason) {
    throw std::runtime_error("http: cannot listen on " + where + ": " + reason);
  };

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(options_.port);
  if (const int rc = ::getaddrinfo(options_.host.empty() ? nullptr : options_.host.c_str(),
                                   port.c_str(), &hints, &found);
      rc != 0) {
    fail(::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
  std::string reason = "no address";
  for (const addrinfo* ai = addresses.get(); ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
    if (!fd) {
      reason = std::strerror(errno);
      continue;
    }
    const int on = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        (options_.reuse_port &&
         ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) ||
        ::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 ||
        ::listen(fd.get(), kListenBacklog) != 0) {
      reason = std::strerror(errno);
      continue;
    }
    listen_fd_ = std::move(fd);
    break;
  }
  if (!listen_fd_) fail(reason);

  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (::getsockname(listen_fd_.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    fail(std::strerror(errno));
  }
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(bound).sin6_port
                                            : reinterpret_cast<sockaddr_in&>(bound).sin_port);
  accept_stop_fd_ = UniqueFd(make_eventfd());
  drain_fd_ = UniqueFd(make_eventfd());
}

HttpServer::~HttpServer() { stop(milliseconds::zero()); }

void HttpServer::route(std::string method, std::string path, HttpHandler handler) {
  if (started_.load()) throw std::logic_error("HttpServer::route: after start()");
  routes_[std::move(path)].push_back(Route{std::move(method), std::move(handler)});
}

void HttpServer::start() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (started_.load()) throw std::logic_error("HttpServer::start: already started");
  if (accepting_stopped_) throw std::logic_error("HttpServer::start: already stopped");
  started_ = true;
  accept_thread_ = std::thread(&HttpServer::accept_loop, this);
}

void HttpServer::stop_accepting() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  stop_accepting_locked();
}

void HttpServer::stop_accepting_locked() {
  if (accepting_stopped_) return;
  accepting_stopped_ = true;
  signal_eventfd(accept_stop_fd_.get());
  if (accept_thread_.joinable()) accept_thread_.join();
  listen_fd_.reset();
}

void HttpServer::stop(milliseconds drain) {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_) return;
  stop_accepting_locked();
  draining_ = true;
  signal_eventfd(drain_fd_.get());
  std::list<std::unique_ptr<Connection>> connections;
  {
    std::unique_lock<std::mutex> lk(mu_);
    const auto deadline = deadline_after(drain);
    const auto idle = [&] { return open_connections_.load() == 0; };
    if (deadline == Clock::time_point::max()) {
      cv_.wait(lk, idle);
    } else {
      cv_.wait_until(lk, deadline, idle);
    }
    // Whatever is left is blocked on its socket (poll or send); a shutdown
    // wakes it with EOF / EPIPE / POLLHUP.
    for (auto& conn : connections_) {
      std::lock_guard<std::mutex> conn_lock(conn->mu);
      if (conn->fd) ::shutdown(conn->fd.get(), SHUT_RDWR);
    }
    connections.swap(connections_);
  }
  for (auto& conn : connections) {
    if (conn->thread.joinable()) conn->thread.join();
  }
  stopped_ = true;
}

void HttpServer::reap_finished() {
  std::list<std::unique_ptr<Connection>> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      auto next = std::next(it);
      if ((*it)->done) finished.splice(finished.end(), connections_, it);
      it = next;
    }
  }
  for (auto& conn : finished) conn->thread.join();  // done: returns at once
}

void HttpServer::accept_loop() {
  try {
    accept_connections();
  } catch (const std::exception& e) {
    // Nowhere to rethrow on this thread; the connections already open go on.
    log_.error(std::string("accept loop stopped: ") + e.what());
  }
}

void HttpServer::accept_connections() {
  auto last_error_log = Clock::time_point::min();
  for (;;) {
    std::array<pollfd, 2> fds{{{listen_fd_.get(), POLLIN, 0}, {accept_stop_fd_.get(), POLLIN, 0}}};
    poll_until(fds.data(), fds.size(), Clock::time_point::max());
    if (fds[1].revents != 0) return;
    for (;;) {
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      UniqueFd fd(
          ::accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC));
      if (fd) {
        admit(std::move(fd), peer_name(addr));
        continue;
      }
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
      // Out of descriptors or memory: the pending connection stays queued and
      // poll would fire again at once, so back off instead of spinning.
      if (Clock::now() - last_error_log > std::chrono::seconds(1)) {
        last_error_log = Clock::now();
        log_.warn(std::string("accept failed: ") + std::strerror(err));
      }
      pollfd stop{accept_stop_fd_.get(), POLLIN, 0};
      if (poll_until(&stop, 1, deadline_after(milliseconds(50))) > 0) return;
      break;
    }
  }
}

void HttpServer::admit(UniqueFd fd, std::string remote) {
  reap_finished();
  auto reject = [&](UniqueFd socket) {
    // From the accept thread, so nothing may block: a zero write timeout, and
    // no request is read.
    SocketStream stream(socket.get(), milliseconds::zero());
    write_response(stream, 11, false, 503, "application/json",
                   error_body(503, "Too many connections; try again later"));
    ::shutdown(socket.get(), SHUT_WR);
  };
  if (open_connections_.load() >= options_.max_connections) {
    reject(std::move(fd));
    return;
  }
  const int on = 1;
  // Streams are many small writes (one SSE event per token) that must leave now.
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);

  Connection* conn = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    conn = connections_.emplace_back(std::make_unique<Connection>(std::move(fd), std::move(remote)))
               .get();
    ++open_connections_;
  }
  try {
    conn->thread = std::thread(&HttpServer::run_connection, this, conn);
  } catch (const std::system_error& e) {
    log_.warn(std::string("cannot start a connection thread: ") + e.what());
    UniqueFd socket;
    {
      std::lock_guard<std::mutex> lock(mu_);
      socket = std::move(conn->fd);
      connections_.pop_back();  // the thread that would reap it never started
      --open_connections_;
    }
    cv_.notify_all();
    reject(std::move(socket));
  }
}

void HttpServer::run_connection(Connection* conn) {
  try {
    serve(*conn);
  } catch (const std::exception& e) {
    log_.error("connection " + conn->remote + ": " + e.what());
  }
  {
    std::lock_guard<std::mutex> lock(conn->mu);
    conn->fd.reset();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    conn->done = true;
    --open_connections_;
  }
  cv_.notify_all();
}

std::string HttpServer::error_body(int status, std::string_view message) const {
  return options_.error_body(status, message);
}

void HttpServer::serve(Connection& conn) {
  const int fd = conn.fd.get();
  const milliseconds io_timeout = options_.idle_timeout;
  SocketStream stream(fd, io_timeout);
  beast::flat_buffer buffer;
  auto fail = [&](int status, std::string_view message) {
    write_response(stream, 11, false, status, "application/json", error_body(status, message));
    lingering_close(fd, io_timeout);
  };

  for (;;) {
    if (buffer.size() == 0) {
      // Idle between requests: wait for the first byte, a drain, or the idle timeout.
      std::array<pollfd, 2> fds{{{fd, POLLIN | POLLRDHUP, 0}, {drain_fd_.get(), POLLIN, 0}}};
      if (poll_until(fds.data(), fds.size(), deadline_after(io_timeout)) == 0) return;
      if (fds[1].revents != 0) return;
    }
    if (draining_.load()) return;

    stream.set_read_deadline(deadline_after(io_timeout));
    http::request_parser<http::string_body> parser;
    parser.header_limit(
        static_cast<std::uint32_t>(std::min<size_t>(options_.max_header_bytes, UINT32_MAX)));
    parser.body_limit(static_cast<std::uint64_t>(options_.max_request_bytes));
    beast::error_code ec;
    http::read_header(stream, buffer, parser, ec);
    if (!ec) {
      const auto length = parser.content_length();
      if (length && *length > options_.max_request_bytes) {
        ec = http::error::body_limit;
      } else if (parser.get().version() >= 11 &&
                 ascii_iequals(to_std(parser.get()[http::field::expect]), "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        net::write(stream, net::const_buffer(kContinue.data(), kContinue.size()), ec);
        if (ec) return;
      }
    }
    if (!ec) http::read(stream, buffer, parser, ec);
    if (ec) {
      if (ec == http::error::body_limit) {
        fail(413, "Request body too large: the limit is " +
                      std::to_string(options_.max_request_bytes) + " bytes");
      } else if (ec == http::error::header_limit) {
        fail(400, "Request headers too large");
      } else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
                 ec != http::error::end_of_stream && ec != http::error::partial_message) {
        fail(400, "Malformed HTTP request: " + ec.message());
      }
      // Otherwise the peer went away, reset, or timed out: nobody to answer.
      return;
    }

    const bool keep_alive =
        parser.get().version() >= 11 && parser.get().keep_alive() && !draining_.load();
    const HttpRequest req = make_request(parser.release(), conn.remote);
    if (!dispatch(fd, req, keep_alive)) return;
  }
}

bool HttpServer::dispatch(int fd, const HttpRequest& req, bool keep_alive) {
  HttpResponder res(fd, req.version, keep_alive, options_.idle_timeout);
  const auto send_error = [&](int status, std::string_view message, const HttpHeaders& extra) {
    res.send(status, "application/json", error_body(status, message), extra);
    return res.finish();
  };

  const auto path = routes_.find(req.path);
  if (path == routes_.end()) return send_error(404, "No route for " + req.path, {});
  const Route* route = nullptr;
  std::string allow;
  for (const Route& r : path->second) {
    if (r.method == req.method) route = &r;
    allow += (allow.empty() ? "" : ", ") + r.method;
  }
  if (route == nullptr) {
    return send_error(405, "Method " + req.method + " not allowed for " + req.path,
                      {{"Allow", allow}});
  }

  struct ActiveGuard {
    std::atomic<size_t>& n;
    explicit ActiveGuard(std::atomic<size_t>& count) : n(count) { ++n; }
    ~ActiveGuard() { --n; }
  } active(active_requests_);
  auto internal_error = [&](std::string_view what) {
    log_.error("handler for " + req.method + " " + req.path + " from " + req.remote +
               " threw: " + std::string(what));
    // A response already under way cannot turn into a 500: drop the
    // connection, so the client sees it cut short instead of complete.
    if (res.started() || res.sent()) return false;
    return send_error(500, "Internal server error", {});
  };
  try {
    route->handler(req, res);
  } catch (const std::exception& e) {
    return internal_error(e.what());
  } catch (...) {
    return internal_error("unknown exception");
  }
  if (!res.started() && !res.sent()) {
    log_.error("handler for " + req.method + " " + req.path + " from " + req.remote +
               " returned without a response");
    return send_error(500, "Internal server error: no response", {});
  }
  return res.finish();
}

}  // namespace waypoint
