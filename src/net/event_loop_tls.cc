// EventLoop's TLS connections (server.h's Listener::tls): the handshake, reads and writes
// through the connection's TlsSession (net/tls.h) instead of the socket's system calls.
// The handler sees the decrypted stream only, as on a plain connection.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "net/event_loop.h"
#include "net/server.h"

namespace bale::net {
namespace {

// A file piece goes out one TLS record at a time: after a refused write the same bytes
// are read again and offered again, as OpenSSL requires.
constexpr size_t kTlsFileChunk = 16 << 10;

}  // namespace

void EventLoop::OnTlsReadable(Conn* c, size_t total) {
  TlsSession& t = *c->tls_;
  bool wanted_write = c->tls_wants_write_;
  c->tls_wants_write_ = false;
  if (!t.handshake_done()) {
    TlsSession::Io io = t.Handshake();
    if (io == TlsSession::Io::kFailed || io == TlsSession::Io::kClosed) return FailTls(c, t.why());
    c->tls_wants_write_ = io == TlsSession::Io::kWantWrite;
    if (io != TlsSession::Io::kDone) {
      if (wanted_write != c->tls_wants_write_) UpdateInterest(c);
      return;
    }
  }
  TlsSession::Io io = TlsSession::Io::kDone;
  for (;;) {
    size_t n = 0;
    ssize_t r = 0;
    switch (io = t.Read(read_buf_.get(), kReadChunk, &n)) {
      case TlsSession::Io::kDone:
        r = static_cast<ssize_t>(n);
        break;
      case TlsSession::Io::kWantWrite:
        c->tls_wants_write_ = true;
        r = -EAGAIN;
        break;
      case TlsSession::Io::kWantRead:
        r = -EAGAIN;
        break;
      case TlsSession::Io::kClosed:
        r = 0;
        break;
      case TlsSession::Io::kFailed:
        r = -EPROTO;  // a record that does not decrypt: the stream is lost
        break;
    }
    // A record is at most 16 KiB, so a short read says nothing of the socket: read
    // until OpenSSL wants more from it (cap 0: no read counts as short).
    if (!TakeRead(c, r, read_buf_.get(), 0, &total)) break;
  }
  if (c->fd_ < 0) return;
  // Stopped before OpenSSL asked the socket for more (the read cap, a pause): it may
  // hold whole records the socket will not signal again. After kWantRead it holds at
  // most part of one, which the socket's next bytes complete.
  if (io == TlsSession::Io::kDone) ListTlsPending(c);
  if (wanted_write != c->tls_wants_write_) UpdateInterest(c);
}

void EventLoop::ListTlsPending(Conn* c) {
  if (c->tls_listed_ || c->paused_ || !c->tls_->HasPending()) return;
  c->tls_listed_ = true;
  tls_pending_.push_back(c);
}

void EventLoop::ReadTlsPending() {
  if (tls_pending_.empty()) return;
  std::vector<Conn*> pending;
  pending.swap(tls_pending_);
  for (Conn* c : pending) {
    c->tls_listed_ = false;
    if (c->fd_ >= 0 && !c->paused_ && !c->lingering_) OnTlsReadable(c, 0);
  }
}

ssize_t EventLoop::Send(Conn* c, const char* data, size_t n) {
  if (c->tls_ == nullptr) {
    ssize_t w = ::send(c->fd_, data, n, MSG_NOSIGNAL);
    return w < 0 ? -errno : w;
  }
  size_t w = 0;
  switch (c->tls_->Write(data, n, &w)) {
    case TlsSession::Io::kDone:
      return static_cast<ssize_t>(w);
    case TlsSession::Io::kWantRead:
    case TlsSession::Io::kWantWrite:
      return -EAGAIN;
    case TlsSession::Io::kClosed:
    case TlsSession::Io::kFailed:
      break;
  }
  return -EPIPE;
}

ssize_t EventLoop::SendFileTls(Conn* c, const FileSend& f) {
  size_t n = static_cast<size_t>(std::min<uint64_t>(f.len, kTlsFileChunk));
  ssize_t r = ::pread(f.fd, read_buf_.get(), n, static_cast<off_t>(f.offset));
  if (r < 0) return -errno;
  if (r != static_cast<ssize_t>(n)) return -EIO;  // the file is shorter than the index said
  return Send(c, read_buf_.get(), n);
}

void EventLoop::FailTls(Conn* c, const std::string& why) {
  server_->listeners_[c->listener_].service->OnTlsFailure(*c, why);
  Close(c);
}

bool EventLoop::TlsOverdue(Conn* c) {
  if (c->tls_->handshake_done()) return false;
  int limit = server_->listeners_[c->listener_].tls_handshake_timeout_ms;
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - c->accepted_);
  if (waited.count() < limit) return false;
  FailTls(c, "no TLS handshake within " + std::to_string(limit) + " ms");
  return true;
}

}  // namespace bale::net
