#pragma once
// The frontend's HTTP/1.1 server: Boost.Beast parses and serializes, and every
// connection has its own thread doing synchronous I/O on a socket the server
// owns. Owning the socket is the point: a streaming handler can block in
// HttpResponder::wait() on its own wake-up fd *and* the client's socket, so a
// client that disconnects mid-stream is seen within milliseconds and its
// request can be aborted in the engine.
//
// Socket I/O goes through poll(2) rather than Asio's blocking calls, because
// those can neither time out nor be interrupted; that is what lets idle
// connections expire and stop() unblock every thread.
//
// Threads: route() before start(); everything else may be called from any
// thread. A handler runs on its connection's thread and must return once the
// peer is gone (write() false, wait() kPeerClosed), or stop() cannot join it.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/log.hpp"
#include "base/unique_fd.hpp"

namespace waypoint {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // target without the query string, not percent-decoded
  std::string query;   // after '?', may be empty
  std::string body;
  HttpHeaders headers;    // as received, in order
  std::string remote;     // "ip:port" of the peer ("[ip6]:port" for IPv6), for logs
  unsigned version = 11;  // 10 for HTTP/1.0, 11 for HTTP/1.1
  int64_t received_ns = 0;  // steady clock, when the whole request had been read

  // Case-insensitive lookup; nullopt if absent. The first one wins if repeated.
  std::optional<std::string_view> header(std::string_view name) const;
};

enum class WaitResult { kWoken, kPeerClosed, kTimeout };

// One in-progress response. A handler either calls send() once, or
// start_stream() once and then write() chunks (HTTP/1.1 chunked transfer
// encoding), and returns; returning ends the stream (terminating zero chunk)
// if it was started. If the handler returns without sending anything, the
// server sends a 500. Calling these out of order (send twice, write before
// start_stream, ...) throws std::logic_error.
//
// extra_headers must not carry Content-Length, Transfer-Encoding or
// Connection: the server owns the framing.
class HttpResponder {
 public:
  HttpResponder(const HttpResponder&) = delete;
  HttpResponder& operator=(const HttpResponder&) = delete;

  // A whole response with Content-Length. An I/O failure is not an exception:
  // it shows up as peer_closed() and the connection is dropped.
  void send(int status, std::string_view content_type, std::string_view body,
            const HttpHeaders& extra_headers = {});

  // Sends the status line and headers now (Transfer-Encoding: chunked; for SSE
  // the caller passes "text/event-stream"; also Cache-Control: no-cache). To an
  // HTTP/1.0 client the body goes unframed and the connection closes after it.
  void start_stream(int status, std::string_view content_type,
                    const HttpHeaders& extra_headers = {});

  // Writes one chunk (an empty one writes nothing); returns false once the peer
  // is gone (and stays false). Checks for a closed peer before writing, so the
  // first write after a disconnect already fails. A client that stops reading
  // long enough to stall a write for the server's idle_timeout counts as gone.
  bool write(std::string_view data);

  // Blocks until `wake_fd` (an eventfd or pipe read end owned by the caller;
  // may be -1 for none) is readable, or the peer has closed/reset its
  // connection, or `timeout` passes. Plain readable data from the peer (a
  // pipelined request) is not a close. Does NOT read the wake_fd; the caller
  // drains it. If the fd is readable and the peer closed, kPeerClosed wins.
  // A negative timeout counts as zero; milliseconds::max() waits without limit.
  WaitResult wait(int wake_fd, std::chrono::milliseconds timeout);

  // Cheap non-blocking check (poll with a zero timeout); also true after a
  // failed write. Sticky.
  bool peer_closed() const;

  bool started() const { return started_; }
  bool sent() const { return sent_; }

 private:
  friend class HttpServer;

  HttpResponder(int fd, unsigned version, bool keep_alive, std::chrono::milliseconds io_timeout)
      : fd_(fd), version_(version), keep_alive_(keep_alive), io_timeout_(io_timeout) {}

  // After the handler: ends a started stream. True if the connection may
  // carry another request.
  bool finish();

  int fd_;
  unsigned version_;
  bool keep_alive_;  // what the response headers announce
  std::chrono::milliseconds io_timeout_;
  bool started_ = false;
  bool sent_ = false;
  // The peer is gone or a write failed. Atomic so peer_closed() may be asked
  // from another thread.
  mutable std::atomic<bool> failed_{false};
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponder&)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // a name or address; "0.0.0.0" or "::" for all
  uint16_t port = 0;               // 0: an ephemeral port; port() tells which
  // Larger bodies get 413 (Content-Length checked up front, chunked as it comes).
  size_t max_request_bytes = 10 << 20;
  size_t max_header_bytes = 64 << 10;  // larger request headers get 400
  bool reuse_port = true;              // SO_REUSEPORT, so N frontend processes share one port
  size_t max_connections = 4096;       // beyond it: accept, answer 503, close
  // How long a keep-alive connection may sit with no request, how long a
  // request may take to arrive once begun, and how long one write may stall.
  std::chrono::seconds idle_timeout{60};
  // Builds the body of errors the server produces itself (400 bad HTTP, 404 no
  // route, 405, 413, 500 from a handler, 503), sent as application/json. Default:
  // {"error":{"message":...,"type":...,"param":null,"code":status}} with type
  // "BadRequestError" (400/413), "NotFoundError" (404), "MethodNotAllowed"
  // (405), "InternalServerError" (500), "ServiceUnavailableError" (503).
  std::function<std::string(int status, std::string_view message)> error_body;
};

// The default error_body.
std::string default_http_error_body(int status, std::string_view message);

class HttpServer {
 public:
  // Binds and listens immediately; throws std::runtime_error("http: cannot
  // listen on HOST:PORT: reason").
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();  // stop(0ms) if still running; joins every thread it started

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const { return port_; }

  // Exact-path routes; before start() (after it, throws std::logic_error).
  // Unknown path -> 404; known path, wrong method -> 405 with Allow.
  void route(std::string method, std::string path, HttpHandler handler);

  void start();           // starts the accept thread; returns at once
  void stop_accepting();  // closes the listener; in-flight requests go on

  // Stops accepting, closes idle keep-alive connections, waits up to `drain`
  // for connections still busy (a handler running, or a request arriving) to
  // finish (responses then say Connection: close), then shuts down every
  // remaining socket (so blocked handlers see peer-closed / write failure) and
  // joins all threads. Idempotent.
  void stop(std::chrono::milliseconds drain);

  size_t active_requests() const { return active_requests_.load(); }  // handlers running
  size_t open_connections() const { return open_connections_.load(); }

 private:
  struct Connection;
  struct Route {
    std::string method;
    HttpHandler handler;
  };

  void accept_loop();
  void accept_connections();
  void admit(UniqueFd fd, std::string remote);
  void run_connection(Connection* conn);
  void serve(Connection& conn);
  // Runs the route's handler; true if the connection may carry another request.
  bool dispatch(int fd, const HttpRequest& req, bool keep_alive);
  void reap_finished();
  void stop_accepting_locked();
  std::string error_body(int status, std::string_view message) const;

  HttpServerOptions options_;
  Logger log_{"http"};
  uint16_t port_ = 0;
  UniqueFd listen_fd_;
  // eventfds written once and never drained, so they wake every poller, late
  // ones included.
  UniqueFd accept_stop_fd_;  // the accept thread: stop accepting
  UniqueFd drain_fd_;        // idle connections: close now
  std::unordered_map<std::string, std::vector<Route>> routes_;
  std::thread accept_thread_;
  std::atomic<bool> started_{false};
  std::atomic<bool> draining_{false};
  std::atomic<size_t> active_requests_{0};
  std::atomic<size_t> open_connections_{0};

  std::mutex stop_mu_;  // serializes stop_accepting() and stop()
  bool accepting_stopped_ = false;
  bool stopped_ = false;

  std::mutex mu_;               // guards connections_
  std::condition_variable cv_;  // a connection finished
  std::list<std::unique_ptr<Connection>> connections_;
};

}  // namespace waypoint
