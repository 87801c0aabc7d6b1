// MemcacheFaceServer: the memcached face (frontend/faces.h) over an ObjectStore, served
// by a net::Server with one event loop (no io_uring) on 127.0.0.1, an ephemeral port;
// TextClient: a blocking client of it whose every read is bounded in time.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "frontend/faces.h"
#include "net/server.h"

namespace bale::testing {

class MemcacheFaceServer {
 public:
  explicit MemcacheFaceServer(ObjectStore* store) : faces_(store, MemcacheSettings(), Http()) {
    net::ServerConfig config;
    config.threads = 1;
    config.io_uring = false;
    server_ = std::make_unique<net::Server>(config, faces_.Listeners("127.0.0.1", 0, false, 0));
    EXPECT_TRUE(server_->Start([&] { faces_.Bound(*server_); }).ok());
  }
  ~MemcacheFaceServer() { server_->Stop(); }
  uint16_t port() const { return server_->port(0); }

 private:
  static HttpSettings Http() { return HttpSettings(); }
  Faces faces_;
  std::unique_ptr<net::Server> server_;
};

class TextClient {
 public:
  // `rcvbuf`: the socket's receive buffer (0: the kernel's default).
  explicit TextClient(uint16_t port, int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    timeval tv{0, 200 * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~TextClient() { ::close(fd_); }
  TextClient(const TextClient&) = delete;
  TextClient& operator=(const TextClient&) = delete;

  void Send(std::string_view s) {
    while (!s.empty()) {
      ssize_t w = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      ASSERT_GT(w, 0);
      s.remove_prefix(static_cast<size_t>(w));
    }
  }
  // The next `n` bytes (fewer if the connection closed or `within` passed).
  std::string Read(size_t n, std::chrono::milliseconds within = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + within;
    while (buf_.size() < n && std::chrono::steady_clock::now() < deadline && Fill()) {
    }
    std::string out = buf_.substr(0, n);
    buf_.erase(0, out.size());
    return out;
  }
  // Up to and including the next `end` (what came if it did not within `within`).
  std::string ReadThrough(std::string_view end,
                          std::chrono::milliseconds within = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + within;
    size_t at;
    while ((at = buf_.find(end)) == std::string::npos &&
           std::chrono::steady_clock::now() < deadline && Fill()) {
    }
    size_t n = at == std::string::npos ? buf_.size() : at + end.size();
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }
  std::string Line() { return ReadThrough("\r\n"); }

 private:
  // False once the connection has closed.
  bool Fill() {
    char chunk[64 << 10];
    ssize_t r = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (r > 0) buf_.append(chunk, static_cast<size_t>(r));
    return r > 0 || (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
  }
  int fd_ = -1;
  std::string buf_;
};

}  // namespace bale::testing
