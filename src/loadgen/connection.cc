#include "loadgen/connection.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

namespace bale::loadgen {

namespace {

constexpr size_t kReadChunk = 64 * 1024;

std::string Errno(std::string_view what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

}  // namespace

Status Resolve(const ServerAddress& server, Endpoint* out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(server.port);
  const int rc = getaddrinfo(server.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    return Status::InvalidArgument("cannot resolve " + server.host + ": " + gai_strerror(rc));
  }
  std::memcpy(&out->addr, res->ai_addr, res->ai_addrlen);
  out->addr_len = res->ai_addrlen;
  out->host = server.ToString();
  freeaddrinfo(res);
  return Status::OK();
}

bool Connection::StartConnect() {
  Close();
  fd_ = socket(endpoint_->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return false;
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const auto* addr = reinterpret_cast<const sockaddr*>(&endpoint_->addr);
  if (connect(fd_, addr, endpoint_->addr_len) == 0) {
    state_ = State::kUp;
    return true;
  }
  if (errno != EINPROGRESS) {
    Close();
    return false;
  }
  state_ = State::kConnecting;
  return true;
}

bool Connection::FinishConnect() {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    Close();
    return false;
  }
  state_ = State::kUp;
  return true;
}

Status Connection::ConnectNow(double timeout_s) {
  const std::string name = "connect to " + endpoint_->host;
  if (!StartConnect()) return Status::IOError(Errno(name, errno));
  if (state_ == State::kUp) return Status::OK();
  pollfd p{fd_, POLLOUT, 0};
  const int rc = poll(&p, 1, static_cast<int>(std::ceil(timeout_s * 1000)));
  if (rc == 0) {
    Close();
    return Status::IOError(name + ": timed out");
  }
  int err = 0;
  socklen_t len = sizeof(err);
  if (rc < 0 || getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    const int e = rc < 0 ? errno : err;
    Close();
    return Status::IOError(Errno(name, e));
  }
  state_ = State::kUp;
  return Status::OK();
}

void Connection::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  state_ = State::kDown;
  out_.clear();
  out_pos_ = 0;
  in_pos_ = in_len_ = 0;
  needed = 0;
  epoll_events = 0;
}

bool Connection::Flush() {
  while (out_pos_ < out_.size()) {
    const ssize_t n = send(fd_, out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    out_pos_ += static_cast<size_t>(n);
  }
  out_.clear();
  out_pos_ = 0;
  return true;
}

Connection::ReadResult Connection::Read() {
  if (in_pos_ > 0) {  // keep the unparsed bytes at the front
    std::memmove(in_.data(), in_.data() + in_pos_, in_len_ - in_pos_);
    in_len_ -= in_pos_;
    in_pos_ = 0;
  }
  const size_t want = std::max(in_len_ + kReadChunk, needed);
  if (in_.size() < want) in_.resize(std::max(want, in_.size() * 2));
  const ssize_t n = recv(fd_, in_.data() + in_len_, in_.size() - in_len_, 0);
  if (n == 0) return ReadResult::kClosed;
  if (n < 0) {
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? ReadResult::kNothing
                                                                     : ReadResult::kClosed;
  }
  in_len_ += static_cast<size_t>(n);
  return ReadResult::kData;
}

void Connection::Consume(size_t n) {
  in_pos_ += n;
  if (in_pos_ == in_len_) in_pos_ = in_len_ = 0;
}

}  // namespace bale::loadgen
