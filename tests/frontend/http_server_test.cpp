#include "frontend/http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace waypoint {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Generous: these only fail when something hangs.
constexpr milliseconds kClientTimeout{5000};

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::vector<std::string> chunks;  // for chunked responses, each as framed
  bool chunked = false;

  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// A deliberately small HTTP/1.1 client over a plain socket, parsing the wire
// format by hand so the tests check what the server really sends.
class Client {
 public:
  explicit Client(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      throw std::runtime_error(std::string("connect failed: ") + std::strerror(errno));
    }
  }
  ~Client() { close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  int fd() const { return fd_; }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // False if the server is gone (reset / broken pipe).
  bool send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  void get(const std::string& path, const std::string& extra_headers = "") {
    send("GET " + path + " HTTP/1.1\r\nHost: x\r\n" + extra_headers + "\r\n");
  }
  void post(const std::string& path, const std::string& body, const std::string& extra = "") {
    send("POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n" + extra + "\r\n" + body);
  }

  // Reads one response: Content-Length, chunked, or (neither) until EOF.
  Response read_response() {
    Response r;
    const std::string head = read_until("\r\n\r\n");
    const size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    if (status_line.rfind("HTTP/1.", 0) != 0) throw std::runtime_error("bad status: " + head);
    r.status = std::stoi(status_line.substr(9, 3));
    size_t pos = line_end + 2;
    while (pos < head.size() - 2) {
      const size_t end = head.find("\r\n", pos);
      const std::string line = head.substr(pos, end - pos);
      const size_t colon = line.find(':');
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[lower(line.substr(0, colon))] = value;
      pos = end + 2;
    }
    if (lower(r.header("transfer-encoding")) == "chunked") {
      r.chunked = true;
      for (;;) {
        const std::string size_line = read_until("\r\n");
        const size_t size = std::stoul(size_line, nullptr, 16);
        if (size == 0) {
          if (read_until("\r\n") != "\r\n") throw std::runtime_error("trailers");
          break;
        }
        std::string chunk = read_exactly(size);
        if (read_exactly(2) != "\r\n") throw std::runtime_error("bad chunk end");
        r.body += chunk;
        r.chunks.push_back(std::move(chunk));
      }
    } else if (r.headers.count("content-length")) {
      r.body = read_exactly(std::stoul(r.header("content-length")));
    } else {
      r.body = read_to_eof();
    }
    return r;
  }

  // True if the server closes the connection (EOF or reset) before `timeout`,
  // after sending nothing more.
  bool closed_by_server(milliseconds timeout = kClientTimeout) {
    if (!buf_.empty()) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char c;
    return ::recv(fd_, &c, 1, 0) <= 0;
  }

  // True if the server closes the connection before `timeout`, whatever it
  // sends first.
  bool eof_within(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char tmp[4096];
      if (::recv(fd_, tmp, sizeof tmp, 0) <= 0) return true;
    }
  }

  std::string read_until(std::string_view delim) {
    for (;;) {
      const size_t at = buf_.find(delim);
      if (at != std::string::npos) {
        std::string out = buf_.substr(0, at + delim.size());
        buf_.erase(0, at + delim.size());
        return out;
      }
      if (!fill()) throw std::runtime_error("eof before delimiter; got: " + buf_);
    }
  }

  std::string read_exactly(size_t n) {
    while (buf_.size() < n) {
      if (!fill()) throw std::runtime_error("eof in body");
    }
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }

  std::string read_to_eof() {
    while (fill()) {
    }
    return std::exchange(buf_, {});
  }

 private:
  bool fill() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(kClientTimeout.count())) <= 0) {
      throw std::runtime_error("client read timed out");
    }
    char tmp[16384];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  std::string buf_;
};

class EventFd {
 public:
  EventFd() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~EventFd() { ::close(fd_); }
  EventFd(const EventFd&) = delete;
  EventFd& operator=(const EventFd&) = delete;
  int get() const { return fd_; }
  void signal() const {
    const uint64_t one = 1;
    EXPECT_EQ(::write(fd_, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  }

 private:
  int fd_;
};

const char* name(WaitResult r) {
  switch (r) {
    case WaitResult::kWoken:
      return "woken";
    case WaitResult::kPeerClosed:
      return "peer-closed";
    case WaitResult::kTimeout:
      return "timeout";
  }
  return "?";
}

// Polls `pred` until it holds or `timeout` passes.
template <class Pred>
bool eventually(Pred pred, milliseconds timeout = kClientTimeout) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

HttpServerOptions test_options() {
  HttpServerOptions o;
  o.reuse_port = false;  // a stray server from another test must not share our port
  return o;
}

nlohmann::json json_of(const Response& r) { return nlohmann::json::parse(r.body); }

TEST(HttpServerTest, GetAndPostRouting) {
  HttpServer server(test_options());
  server.route("GET", "/hello", [](const HttpRequest& req, HttpResponder& res) {
    res.send(200, "text/plain", "hi " + req.query, {{"X-Test", "1"}});
  });
  server.route("POST", "/echo", [](const HttpRequest& req, HttpResponder& res) {
    res.send(201, "application/octet-stream",
             req.method + " " + req.path + " " + std::string(req.header("x-ID").value_or("-")) +
                 " " + req.body);
  });
  server.start();

  Client c(server.port());
  c.get("/hello?a=1&b=2");
  Response r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hi a=1&b=2");
  EXPECT_EQ(r.header("content-type"), "text/plain");
  EXPECT_EQ(r.header("content-length"), "10");
  EXPECT_EQ(r.header("server"), "waypoint");
  EXPECT_EQ(r.header("x-test"), "1");

  c.post("/echo", "payload", "X-Id: 42\r\n");
  r = c.read_response();
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "POST /echo 42 payload");
}

TEST(HttpServerTest, RequestFields) {
  HttpServer server(test_options());
  std::promise<HttpRequest> seen;
  server.route("POST", "/r", [&](const HttpRequest& req, HttpResponder& res) {
    seen.set_value(req);
    res.send(204, "text/plain", "");
  });
  server.start();
  Client c(server.port());
  c.post("/r?x=y", "{}", "Content-Type: application/json\r\n");
  EXPECT_EQ(c.read_response().status, 204);
  const HttpRequest req = seen.get_future().get();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/r");
  EXPECT_EQ(req.query, "x=y");
  EXPECT_EQ(req.body, "{}");
  EXPECT_EQ(req.version, 11u);
  EXPECT_EQ(req.header("content-type"), "application/json");
  EXPECT_EQ(req.header("CONTENT-TYPE"), "application/json");
  EXPECT_FALSE(req.header("x-missing").has_value());
  EXPECT_EQ(req.remote.rfind("127.0.0.1:", 0), 0u) << req.remote;
}

TEST(HttpServerTest, NotFoundAndMethodNotAllowedAreJson) {
  HttpServer server(test_options());
  server.route("POST", "/v1/completions",
               [](const HttpRequest&, HttpResponder& res) { res.send(200, "text/plain", "ok"); });
  server.route("PUT", "/v1/completions",
               [](const HttpRequest&, HttpResponder& res) { res.send(200, "text/plain", "ok"); });
  server.start();

  Client c(server.port());
  c.get("/nope");
  Response r = c.read_response();
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("content-type"), "application/json");
  nlohmann::json j = json_of(r);
  EXPECT_EQ(j["error"]["type"], "NotFoundError");
  EXPECT_EQ(j["error"]["code"], 404);
  EXPECT_TRUE(j["error"]["param"].is_null());
  EXPECT_NE(j["error"]["message"].get<std::string>().find("/nope"), std::string::npos);

  c.get("/v1/completions");  // same connection: errors keep it alive
  r = c.read_response();
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "POST, PUT");
  j = json_of(r);
  EXPECT_EQ(j["error"]["type"], "MethodNotAllowed");
  EXPECT_EQ(j["error"]["code"], 405);
}

TEST(HttpServerTest, CustomErrorBody) {
  HttpServerOptions o = test_options();
  o.error_body = [](int status, std::string_view message) {
    return std::to_string(status) + ":" + std::string(message);
  };
  HttpServer server(o);
  server.start();
  Client c(server.port());
  c.get("/x");
  EXPECT_EQ(c.read_response().body, "404:No route for /x");
}

TEST(HttpServerTest, KeepAliveAndConnectionClose) {
  HttpServer server(test_options());
  std::atomic<int> calls{0};
  server.route("GET", "/n", [&](const HttpRequest&, HttpResponder& res) {
    res.send(200, "text/plain", std::to_string(++calls));
  });
  server.start();

  Client c(server.port());
  c.get("/n");
  EXPECT_EQ(c.read_response().body, "1");
  c.get("/n");  // second request, same connection
  Response r = c.read_response();
  EXPECT_EQ(r.body, "2");
  EXPECT_NE(lower(r.header("connection")), "close");
  EXPECT_EQ(server.open_connections(), 1u);

  c.get("/n", "Connection: close\r\n");
  r = c.read_response();
  EXPECT_EQ(r.body, "3");
  EXPECT_EQ(lower(r.header("connection")), "close");
  EXPECT_TRUE(c.closed_by_server());

  Client old(server.port());
  old.send("GET /n HTTP/1.0\r\n\r\n");
  r = old.read_response();
  EXPECT_EQ(r.body, "4");
  EXPECT_TRUE(old.closed_by_server());
  EXPECT_TRUE(eventually([&] { return server.open_connections() == 0; }));
}

TEST(HttpServerTest, PipelinedRequests) {
  HttpServer server(test_options());
  server.route("POST", "/echo", [](const HttpRequest& req, HttpResponder& res) {
    res.send(200, "text/plain", req.body);
  });
  server.start();
  Client c(server.port());
  c.send(
      "POST /echo HTTP/1.1\r\nContent-Length: 1\r\n\r\nA"
      "POST /echo HTTP/1.1\r\nContent-Length: 1\r\n\r\nB");
  EXPECT_EQ(c.read_response().body, "A");
  EXPECT_EQ(c.read_response().body, "B");
}

TEST(HttpServerTest, ExpectContinue) {
  HttpServer server(test_options());
  server.route("POST", "/echo", [](const HttpRequest& req, HttpResponder& res) {
    res.send(200, "text/plain", req.body);
  });
  server.start();
  Client c(server.port());
  c.send("POST /echo HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(c.read_until("\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
  c.send("hello");
  EXPECT_EQ(c.read_response().body, "hello");
}

TEST(HttpServerTest, OversizedBodyWithContentLengthIs413) {
  HttpServerOptions o = test_options();
  o.max_request_bytes = 1000;
  HttpServer server(o);
  std::atomic<bool> called{false};
  server.route("POST", "/echo", [&](const HttpRequest& req, HttpResponder& res) {
    called = true;
    res.send(200, "text/plain", req.body);
  });
  server.start();

  {
    Client ok(server.port());
    ok.post("/echo", std::string(1000, 'a'));  // exactly the limit is fine
    EXPECT_EQ(ok.read_response().status, 200);
  }
  called = false;
  Client c(server.port());
  c.post("/echo", std::string(100000, 'a'));
  const Response r = c.read_response();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(json_of(r)["error"]["type"], "BadRequestError");
  EXPECT_EQ(json_of(r)["error"]["code"], 413);
  EXPECT_EQ(lower(r.header("connection")), "close");
  EXPECT_TRUE(c.closed_by_server());
  EXPECT_FALSE(called);
}

TEST(HttpServerTest, OversizedChunkedUploadIs413) {
  HttpServerOptions o = test_options();
  o.max_request_bytes = 1000;
  HttpServer server(o);
  server.route("POST", "/echo", [&](const HttpRequest& req, HttpResponder& res) {
    res.send(200, "text/plain", req.body);
  });
  server.start();

  {
    Client ok(server.port());
    ok.send(
        "POST /echo HTTP/1.1\r\nTransfer-Encoding: "
        "chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    EXPECT_EQ(ok.read_response().body, "abcde");
  }
  Client c(server.port());
  std::string upload = "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) upload += "190\r\n" + std::string(400, 'x') + "\r\n";
  upload += "0\r\n\r\n";
  c.send(upload);
  const Response r = c.read_response();
  EXPECT_EQ(r.status, 413);
  EXPECT_TRUE(c.closed_by_server());
}

TEST(HttpServerTest, GarbageIs400) {
  HttpServer server(test_options());
  server.route("GET", "/", [](const HttpRequest&, HttpResponder& res) { res.send(200, "a", "b"); });
  server.start();
  Client c(server.port());
  c.send("THIS IS NOT HTTP\r\n\r\n");
  const Response r = c.read_response();
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json_of(r)["error"]["type"], "BadRequestError");
  EXPECT_TRUE(c.closed_by_server());

  Client big(server.port());
  big.send("GET / HTTP/1.1\r\nX-Big: " + std::string(100 << 10, 'h') + "\r\n\r\n");
  EXPECT_EQ(big.read_response().status, 400);

  Client fine(server.port());  // the server is still fine
  fine.get("/");
  EXPECT_EQ(fine.read_response().status, 200);
}

TEST(HttpServerTest, StreamingChunks) {
  HttpServer server(test_options());
  server.route("POST", "/stream", [](const HttpRequest&, HttpResponder& res) {
    res.start_stream(200, "text/event-stream", {{"X-Request-Id", "r1"}});
    EXPECT_TRUE(res.started());
    for (int i = 0; i < 5; ++i) {
      EXPECT_TRUE(res.write("data: " + std::to_string(i) + "\n\n"));
    }
    EXPECT_TRUE(res.write(""));  // writes nothing, in particular not the last chunk
    EXPECT_TRUE(res.write("data: [DONE]\n\n"));
  });
  server.route("GET", "/after",
               [](const HttpRequest&, HttpResponder& res) { res.send(200, "text/plain", "ok"); });
  server.start();

  Client c(server.port());
  c.post("/stream", "{}");
  const Response r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.chunked);
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  EXPECT_EQ(r.header("cache-control"), "no-cache");
  EXPECT_EQ(r.header("x-request-id"), "r1");
  EXPECT_EQ(r.header("content-length"), "");
  ASSERT_EQ(r.chunks.size(), 6u);
  EXPECT_EQ(r.chunks[0], "data: 0\n\n");
  EXPECT_EQ(r.chunks[4], "data: 4\n\n");
  EXPECT_EQ(r.chunks[5], "data: [DONE]\n\n");
  c.get("/after");  // the connection survives a completed stream
  EXPECT_EQ(c.read_response().body, "ok");
}

TEST(HttpServerTest, StreamingToHttp10ClientIsUnframed) {
  HttpServer server(test_options());
  server.route("GET", "/stream", [](const HttpRequest&, HttpResponder& res) {
    res.start_stream(200, "text/event-stream");
    res.write("a");
    res.write("b");
  });
  server.start();
  Client c(server.port());
  c.send("GET /stream HTTP/1.0\r\n\r\n");
  const Response r = c.read_response();
  EXPECT_FALSE(r.chunked);
  EXPECT_EQ(r.body, "ab");
}

TEST(HttpServerTest, MisuseThrowsLogicError) {
  HttpServer server(test_options());
  std::promise<std::string> what;
  server.route("GET", "/", [&](const HttpRequest&, HttpResponder& res) {
    std::string log;
    try {
      res.write("x");
    } catch (const std::logic_error&) {
      log += "write;";
    }
    res.send(200, "text/plain", "ok");
    try {
      res.send(200, "text/plain", "again");
    } catch (const std::logic_error&) {
      log += "send;";
    }
    try {
      res.start_stream(200, "text/plain");
    } catch (const std::logic_error&) {
      log += "start;";
    }
    what.set_value(log);
  });
  server.start();
  Client c(server.port());
  c.get("/");
  EXPECT_EQ(c.read_response().body, "ok");
  EXPECT_EQ(what.get_future().get(), "write;send;start;");
}

TEST(HttpServerTest, WaitWokenAndTimeout) {
  HttpServer server(test_options());
  EventFd wake;
  server.route("GET", "/wait", [&](const HttpRequest& req, HttpResponder& res) {
    res.start_stream(200, "text/event-stream");
    if (req.query == "timeout") {
      const auto t0 = Clock::now();
      const WaitResult w = res.wait(wake.get(), milliseconds(50));
      res.write(name(w));
      res.write(Clock::now() - t0 >= milliseconds(45) ? " late-enough" : " too-early");
      EXPECT_EQ(res.wait(-1, milliseconds(0)), WaitResult::kTimeout);
    } else {
      res.write("ready");
      res.write(name(res.wait(wake.get(), milliseconds(10000))));
    }
  });
  server.start();

  Client c(server.port());
  c.get("/wait?timeout");
  EXPECT_EQ(c.read_response().body, "timeout late-enough");

  c.get("/wait");
  c.read_until("\r\n\r\n");
  EXPECT_EQ(c.read_until("ready\r\n"), "5\r\nready\r\n");
  wake.signal();
  EXPECT_EQ(c.read_until("\r\n0\r\n\r\n"), "5\r\nwoken\r\n0\r\n\r\n");
}

TEST(HttpServerTest, WaitIgnoresPipelinedData) {
  HttpServer server(test_options());
  server.route("GET", "/wait", [&](const HttpRequest&, HttpResponder& res) {
    res.start_stream(200, "text/event-stream");
    res.write("ready");
    res.write(name(res.wait(-1, milliseconds(100))));
    EXPECT_FALSE(res.peer_closed());
  });
  server.start();
  Client c(server.port());
  c.get("/wait");
  c.read_until("ready\r\n");
  c.get("/wait");  // readable data on the socket, but the peer is still there
  EXPECT_EQ(c.read_until("0\r\n\r\n"), "7\r\ntimeout\r\n0\r\n\r\n");
  EXPECT_EQ(c.read_response().body, "readytimeout");
}

TEST(HttpServerTest, WaitSeesPeerClosePromptly) {
  HttpServer server(test_options());
  EventFd wake;
  struct Seen {
    WaitResult result;
    milliseconds elapsed;
    bool write_after;
    bool peer_closed;
  };
  std::promise<Seen> seen;
  std::promise<Clock::time_point> closed_at;
  auto closed_at_future = closed_at.get_future();
  server.route("POST", "/v1/completions", [&](const HttpRequest&, HttpResponder& res) {
    res.start_stream(200, "text/event-stream");
    res.write("data: first\n\n");
    const WaitResult w = res.wait(wake.get(), milliseconds(30000));
    const auto now = Clock::now();
    const auto elapsed = std::chrono::duration_cast<milliseconds>(now - closed_at_future.get());
    const bool write_after = res.write("data: second\n\n");
    const bool still_false = !res.write("data: third\n\n");
    seen.set_value(Seen{w, elapsed, write_after || !still_false, res.peer_closed()});
  });
  server.start();

  Client c(server.port());
  c.post("/v1/completions", "{}");
  c.read_until("data: first\n\n\r\n");
  closed_at.set_value(Clock::now());
  c.close();
  auto future = seen.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  const Seen s = future.get();
  EXPECT_EQ(s.result, WaitResult::kPeerClosed);
  EXPECT_LT(s.elapsed, milliseconds(1000));
  EXPECT_FALSE(s.write_after);
  EXPECT_TRUE(s.peer_closed);
  EXPECT_TRUE(eventually([&] { return server.open_connections() == 0; }));
}

TEST(HttpServerTest, WriteFailsAfterPeerResets) {
  HttpServer server(test_options());
  std::promise<bool> wrote;
  std::promise<void> gone;
  auto gone_future = gone.get_future();
  server.route("GET", "/", [&](const HttpRequest&, HttpResponder& res) {
    res.start_stream(200, "text/event-stream");
    res.write("x");
    gone_future.wait();
    bool ok = true;
    for (int i = 0; i < 100 && ok; ++i) ok = res.write(std::string(1000, 'y'));
    wrote.set_value(ok);
  });
  server.start();
  Client c(server.port());
  c.get("/");
  c.read_until("x\r\n");
  const linger reset{1, 0};  // close with RST instead of FIN
  ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  c.close();
  gone.set_value();
  EXPECT_FALSE(wrote.get_future().get());
}

TEST(HttpServerTest, HandlerThatThrowsGives500AndServerGoesOn) {
  HttpServer server(test_options());
  server.route("GET", "/throw",
               [](const HttpRequest&, HttpResponder&) { throw std::runtime_error("boom"); });
  server.route("GET", "/throw-int", [](const HttpRequest&, HttpResponder&) { throw 7; });
  server.route("GET", "/silent", [](const HttpRequest&, HttpResponder&) {});
  server.route("GET", "/throw-mid-stream", [](const HttpRequest&, HttpResponder& res) {
    res.start_stream(200, "text/event-stream");
    res.write("partial");
    throw std::runtime_error("mid-stream");
  });
  server.route("GET", "/ok",
               [](const HttpRequest&, HttpResponder& res) { res.send(200, "text/plain", "ok"); });
  server.route("GET", "/bad-response", [](const HttpRequest&, HttpResponder& res) {
    res.send(204, "text/plain", "a 204 has no body");  // throws before anything is written
  });
  server.start();

  Client c(server.port());
  c.get("/bad-response");
  EXPECT_EQ(c.read_response().status, 500);
  c.get("/throw");
  Response r = c.read_response();
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(json_of(r)["error"]["code"], 500);
  c.get("/throw-int");
  EXPECT_EQ(c.read_response().status, 500);
  c.get("/silent");
  EXPECT_EQ(c.read_response().status, 500);
  c.get("/ok");
  EXPECT_EQ(c.read_response().body, "ok");

  // Cut short: no terminating chunk, the connection just ends.
  Client s(server.port());
  s.get("/throw-mid-stream");
  s.read_until("partial\r\n");
  EXPECT_TRUE(s.closed_by_server());

  Client again(server.port());
  again.get("/ok");
  EXPECT_EQ(again.read_response().body, "ok");
  // The count drops just after the response is written, so the client can be first.
  EXPECT_TRUE(eventually([&] { return server.active_requests() == 0; }));
}

TEST(HttpServerTest, StopDrainLetsInFlightRequestFinish) {
  HttpServer server(test_options());
  std::promise<void> entered;
  std::promise<void> release;
  auto release_future = release.get_future();
  server.route("GET", "/slow", [&](const HttpRequest&, HttpResponder& res) {
    entered.set_value();
    release_future.wait();
    res.send(200, "text/plain", "finished");
  });
  server.start();

  Client idle(server.port());  // an idle keep-alive connection is closed at once
  Client busy(server.port());
  busy.get("/slow");
  entered.get_future().wait();
  EXPECT_EQ(server.active_requests(), 1u);

  std::thread stopper([&] { server.stop(milliseconds(10000)); });
  EXPECT_TRUE(idle.closed_by_server());
  // New connections are refused once stop() began.
  EXPECT_TRUE(eventually([&] {
    try {
      Client refused(server.port());
      return false;
    } catch (const std::runtime_error&) {
      return true;
    }
  }));
  release.set_value();
  const Response r = busy.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "finished");
  EXPECT_TRUE(busy.closed_by_server());
  stopper.join();
  EXPECT_EQ(server.open_connections(), 0u);
  server.stop(milliseconds(0));  // idempotent
}

TEST(HttpServerTest, StopUnblocksHandlerStuckInWait) {
  HttpServer server(test_options());
  EventFd wake;
  std::promise<WaitResult> result;
  std::promise<void> entered;
  server.route("GET", "/hang", [&](const HttpRequest&, HttpResponder& res) {
    res.start_stream(200, "text/event-stream");
    entered.set_value();
    result.set_value(res.wait(wake.get(), milliseconds(60000)));
    EXPECT_FALSE(res.write("more"));
  });
  server.start();

  Client c(server.port());
  c.get("/hang");
  entered.get_future().wait();
  const auto t0 = Clock::now();
  server.stop(milliseconds(20));
  EXPECT_LT(Clock::now() - t0, milliseconds(2000));
  EXPECT_EQ(result.get_future().get(), WaitResult::kPeerClosed);
  EXPECT_EQ(server.open_connections(), 0u);
  EXPECT_EQ(server.active_requests(), 0u);
}

TEST(HttpServerTest, DestructorStopsEverything) {
  auto server = std::make_unique<HttpServer>(test_options());
  std::promise<void> entered;
  server->route("GET", "/hang", [&](const HttpRequest&, HttpResponder& res) {
    res.start_stream(200, "text/event-stream");
    entered.set_value();
    while (res.wait(-1, milliseconds(60000)) == WaitResult::kTimeout) {
    }
  });
  server->start();
  Client c(server->port());
  c.get("/hang");
  entered.get_future().wait();
  Client idle(server->port());
  server.reset();
  EXPECT_TRUE(c.eof_within(milliseconds(2000)));
  EXPECT_TRUE(idle.eof_within(milliseconds(2000)));
}

TEST(HttpServerTest, StopAcceptingKeepsInFlightConnections) {
  HttpServer server(test_options());
  server.route("GET", "/", [](const HttpRequest&, HttpResponder& res) { res.send(200, "a", "b"); });
  server.start();
  Client c(server.port());
  c.get("/");
  EXPECT_EQ(c.read_response().status, 200);
  server.stop_accepting();
  EXPECT_THROW(Client refused(server.port()), std::runtime_error);
  c.get("/");  // the established connection still works
  EXPECT_EQ(c.read_response().status, 200);
}

TEST(HttpServerTest, IdleConnectionTimesOut) {
  HttpServerOptions o = test_options();
  o.idle_timeout = std::chrono::seconds(1);
  HttpServer server(o);
  server.start();
  Client c(server.port());
  const auto t0 = Clock::now();
  EXPECT_TRUE(c.closed_by_server(milliseconds(3000)));
  EXPECT_GE(Clock::now() - t0, milliseconds(900));
  EXPECT_TRUE(eventually([&] { return server.open_connections() == 0; }));
}

TEST(HttpServerTest, MaxConnectionsAnswers503) {
  HttpServerOptions o = test_options();
  o.max_connections = 1;
  HttpServer server(o);
  server.route("GET", "/", [](const HttpRequest&, HttpResponder& res) { res.send(200, "a", "b"); });
  server.start();
  Client first(server.port());
  first.get("/");
  EXPECT_EQ(first.read_response().status, 200);

  Client second(server.port());
  const Response r = second.read_response();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json_of(r)["error"]["type"], "ServiceUnavailableError");

  first.close();
  EXPECT_TRUE(eventually([&] { return server.open_connections() == 0; }));
  Client third(server.port());
  third.get("/");
  EXPECT_EQ(third.read_response().status, 200);
}

TEST(HttpServerTest, TwoServersShareAPortWithReusePort) {
  HttpServerOptions o;
  o.reuse_port = true;
  HttpServer a(o);
  o.port = a.port();
  HttpServer b(o);
  EXPECT_EQ(a.port(), b.port());
  a.route("GET", "/", [](const HttpRequest&, HttpResponder& res) { res.send(200, "t", "a"); });
  b.route("GET", "/", [](const HttpRequest&, HttpResponder& res) { res.send(200, "t", "b"); });
  a.start();
  b.start();
  // The kernel spreads connections by hash of the 4-tuple; both must answer.
  std::set<std::string> seen;
  for (int i = 0; i < 200 && seen.size() < 2; ++i) {
    Client c(a.port());
    c.get("/", "Connection: close\r\n");
    seen.insert(c.read_response().body);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"a", "b"}));
}

TEST(HttpServerTest, ListenFailureThrows) {
  HttpServer a(test_options());
  HttpServerOptions o = test_options();
  o.port = a.port();
  try {
    HttpServer b(o);
    FAIL() << "second bind without reuse_port succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(
                  "http: cannot listen on 127.0.0.1:" + std::to_string(a.port()) + ": ", 0),
              0u)
        << e.what();
  }
}

// 600 streaming clients at once, all with a handler in flight before any
// finishes: what the frontend sees under a benchmark's full concurrency.
TEST(HttpServerTest, SixHundredConcurrentStreams) {
  constexpr int kClients = 600;
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  const rlim_t need = 2 * kClients + 64;
  if (lim.rlim_cur < need) {
    lim.rlim_cur = std::min(lim.rlim_max, need);
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  if (lim.rlim_cur < need) GTEST_SKIP() << "RLIMIT_NOFILE too low: " << lim.rlim_cur;

  HttpServer server(test_options());
  EventFd go;  // never drained: once written, every wait() returns
  server.route("POST", "/v1/completions", [&](const HttpRequest& req, HttpResponder& res) {
    res.start_stream(200, "text/event-stream");
    res.write("data: " + req.body + "\n\n");
    if (res.wait(go.get(), milliseconds(10000)) != WaitResult::kWoken) return;
    for (int i = 0; i < 3; ++i) res.write("data: " + std::to_string(i) + "\n\n");
    res.write("data: [DONE]\n\n");
  });
  server.start();

  const auto t0 = Clock::now();
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<Client>(server.port()));
    clients.back()->post("/v1/completions", std::to_string(i), "Connection: close\r\n");
  }
  ASSERT_TRUE(eventually([&] { return server.active_requests() == static_cast<size_t>(kClients); }))
      << server.active_requests();
  go.signal();

  // Read every response to EOF, all at once, with poll.
  std::vector<std::string> raw(kClients);
  std::vector<bool> done(kClients, false);
  int left = kClients;
  while (left > 0) {
    std::vector<pollfd> fds;
    std::vector<int> index;
    for (int i = 0; i < kClients; ++i) {
      if (done[i]) continue;
      fds.push_back({clients[i]->fd(), POLLIN, 0});
      index.push_back(i);
    }
    ASSERT_GT(::poll(fds.data(), fds.size(), static_cast<int>(kClientTimeout.count())), 0);
    for (size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fds[k].fd, buf, sizeof buf, 0);
      if (n > 0) {
        raw[index[k]].append(buf, static_cast<size_t>(n));
      } else {
        done[index[k]] = true;
        --left;
      }
    }
  }
  for (int i = 0; i < kClients; ++i) {
    const std::string first = "data: " + std::to_string(i) + "\n\n";
    ASSERT_NE(raw[i].find("HTTP/1.1 200 OK\r\n"), std::string::npos) << i;
    ASSERT_NE(raw[i].find(first), std::string::npos) << i;
    ASSERT_NE(raw[i].find("data: 2\n\n"), std::string::npos) << i;
    ASSERT_TRUE(raw[i].size() > 5 && raw[i].substr(raw[i].size() - 5) == "0\r\n\r\n") << i;
  }
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(10));
  EXPECT_TRUE(eventually([&] { return server.open_connections() == 0; }));
}

}  // namespace
}  // namespace waypoint
