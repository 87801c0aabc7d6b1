// RawPeer: a raw TCP client of a node on 127.0.0.1, for the tests of what a node does to
// peers that do not follow the protocol (store_auth_test.cc, store_tls_test.cc): it
// sends what it is told, reads internal frames, and sees whether and when the node
// closes the connection.
//
// Contract: every wait is bounded by its timeout_ms; failures are gtest expectations.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

#include "proto/internal_frame.h"

namespace bale::testing {

class RawPeer {
 public:
  using Clock = std::chrono::steady_clock;
  static int64_t MsSince(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
  }

  explicit RawPeer(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  }
  ~RawPeer() { ::close(fd_); }
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;

  void Send(const std::string& bytes) {
    EXPECT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  // The next whole frame's bytes, or empty after a close or timeout_ms of silence.
  std::string ReadFrame(int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      proto::Frame f;
      if (proto::DecodeFrame(in_, {}, &f).status == proto::DecodeStatus::kFrame) {
        std::string frame = in_.substr(0, f.size);
        in_.erase(0, f.size);
        return frame;
      }
      if (!Fill(deadline)) return {};
    }
  }
  // Reads until the node closes the connection; true if it did within timeout_ms (*ms:
  // when, from `since`). What it sent meanwhile (a TLS alert) is kept in received().
  bool Closed(Clock::time_point since, int64_t* ms, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Fill(deadline)) {
    }
    *ms = MsSince(since);
    return closed_;
  }
  // As Closed, and the node sent not a byte meanwhile.
  bool ClosedSilently(Clock::time_point since, int64_t* ms, int timeout_ms) {
    size_t had = in_.size();
    return Closed(since, ms, timeout_ms) && in_.size() == had;
  }
  const std::string& received() const { return in_; }

 private:
  // Reads what comes by the deadline; false on close, error or timeout.
  bool Fill(Clock::time_point deadline) {
    pollfd p{fd_, POLLIN, 0};
    int wait = static_cast<int>(std::max<int64_t>(0, -MsSince(deadline)));
    if (::poll(&p, 1, wait) <= 0) return false;
    char buf[4096];
    ssize_t n = ::read(fd_, buf, sizeof(buf));
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    in_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string in_;
  bool closed_ = false;
};

}  // namespace bale::testing
