#pragma once
// A deliberately plain HTTP/1.1 client over POSIX sockets, for tests that need
// what real clients do and libraries hide: bytes that are not UTF-8, bodies
// of any size, reading a stream chunk by chunk, and hanging up mid-stream.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

namespace waypoint::testing {

struct HttpReply {
  int status = 0;
  std::string headers;
  std::string body;  // de-chunked
};

class HttpConnection {
 public:
  explicit HttpConnection(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~HttpConnection() { close(); }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool send_request(const std::string& method, const std::string& target, const std::string& body,
                    const std::string& extra_headers = "") {
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers;
    if (method == "POST") {
      req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n";
    }
    req += "\r\n" + body;
    return write_all(req);
  }

  bool write_all(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // Status line and headers; nullopt on EOF or timeout.
  std::optional<HttpReply> read_head(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    while (buffer_.find("\r\n\r\n") == std::string::npos) {
      if (!fill(timeout)) return std::nullopt;
    }
    const size_t end = buffer_.find("\r\n\r\n");
    HttpReply r;
    r.headers = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    if (r.headers.size() < 12) return std::nullopt;
    r.status = std::stoi(r.headers.substr(9, 3));
    return r;
  }

  // The next chunk of a chunked body: nullopt at the end (or on error/timeout).
  std::optional<std::string> read_chunk(
      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    while (buffer_.find("\r\n") == std::string::npos) {
      if (!fill(timeout)) return std::nullopt;
    }
    const size_t eol = buffer_.find("\r\n");
    const size_t size = std::stoul(buffer_.substr(0, eol), nullptr, 16);
    while (buffer_.size() < eol + 2 + size + 2) {
      if (!fill(timeout)) return std::nullopt;
    }
    std::string chunk = buffer_.substr(eol + 2, size);
    buffer_.erase(0, eol + 2 + size + 2);
    if (size == 0) return std::nullopt;
    return chunk;
  }

  // A whole response: Content-Length or chunked.
  std::optional<HttpReply> read_reply(
      std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    auto head = read_head(timeout);
    if (!head) return std::nullopt;
    const std::string lower = lowercase(head->headers);
    if (lower.find("transfer-encoding: chunked") != std::string::npos) {
      while (auto chunk = read_chunk(timeout)) head->body += *chunk;
      return head;
    }
    const size_t at = lower.find("content-length: ");
    const size_t length = at == std::string::npos ? 0 : std::stoul(lower.substr(at + 16));
    while (buffer_.size() < length) {
      if (!fill(timeout)) return std::nullopt;
    }
    head->body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return head;
  }

 private:
  static std::string lowercase(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  bool fill(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  std::string buffer_;
};

// One request on a fresh connection.
inline std::optional<HttpReply> http_call(uint16_t port, const std::string& method,
                                          const std::string& target, const std::string& body = "",
                                          const std::string& extra_headers = "") {
  HttpConnection c(port);
  if (!c.connected() || !c.send_request(method, target, body, extra_headers)) return std::nullopt;
  return c.read_reply();
}

}  // namespace waypoint::testing
