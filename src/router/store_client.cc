#include "router/store_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "proto/handshake.h"

namespace bale::router {
namespace {

using Clock = std::chrono::steady_clock;

int RemainingMs(Clock::time_point deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return ms.count() <= 0 ? 0 : static_cast<int>(ms.count());
}

// Waits for `events` on fd until the deadline: >0 ready, 0 timed out, <0 error.
int WaitFor(int fd, short events, Clock::time_point deadline) {
  pollfd p{fd, events, 0};
  for (;;) {
    int n = ::poll(&p, 1, RemainingMs(deadline));
    if (n >= 0 || errno != EINTR) return n;
  }
}

constexpr size_t kReadChunk = 64 << 10;
constexpr size_t kTlsGather = 16 << 10;  // a batch's frames per TLS write: one record

// -errno of a failed call, EWOULDBLOCK as EAGAIN.
ssize_t Errno() { return errno == EWOULDBLOCK ? -EAGAIN : -errno; }

// A TLS result as Send/Recv report it: -EAGAIN (with *wait_for set), 0 (closed), -EPROTO.
ssize_t TlsResult(net::TlsSession::Io io, short* wait_for) {
  switch (io) {
    case net::TlsSession::Io::kWantRead:
      *wait_for = POLLIN;
      return -EAGAIN;
    case net::TlsSession::Io::kWantWrite:
      *wait_for = POLLOUT;
      return -EAGAIN;
    case net::TlsSession::Io::kClosed:
      return 0;
    default:
      return -EPROTO;
  }
}

// The error text of a failed Send/Recv (r < 0).
std::string IoError(const net::TlsSession* s, ssize_t r) {
  if (r == -EPROTO && s != nullptr) return s->why();
  return std::strerror(static_cast<int>(-r));
}

}  // namespace

StoreConnection::StoreConnection(std::string host, uint16_t port, proto::FrameLimits limits,
                                 std::string secret, std::shared_ptr<const net::TlsContext> tls)
    : host_(std::move(host)),
      port_(port),
      limits_(limits),
      secret_(std::move(secret)),
      tls_(std::move(tls)) {
  name_ = host_ + ":" + std::to_string(port_);
}

StoreConnection::~StoreConnection() { Close(); }

ssize_t StoreConnection::Send(const char* data, size_t n) {
  if (session_ == nullptr) {
    wait_for_ = POLLOUT;
    ssize_t w = ::send(fd_, data, n, MSG_NOSIGNAL);
    return w < 0 ? Errno() : w;
  }
  size_t w = 0;
  net::TlsSession::Io io = session_->Write(data, n, &w);
  return io == net::TlsSession::Io::kDone ? static_cast<ssize_t>(w) : TlsResult(io, &wait_for_);
}

ssize_t StoreConnection::Recv(char* buf, size_t cap) {
  if (session_ == nullptr) {
    wait_for_ = POLLIN;
    ssize_t r = ::read(fd_, buf, cap);
    return r < 0 ? Errno() : r;
  }
  size_t r = 0;
  net::TlsSession::Io io = session_->Read(buf, cap, &r);
  return io == net::TlsSession::Io::kDone ? static_cast<ssize_t>(r) : TlsResult(io, &wait_for_);
}

bool StoreConnection::WriteAll(std::string_view data, Deadline deadline, std::string* why) {
  while (!data.empty()) {
    ssize_t n = Send(data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n == -EINTR) continue;
    if (n != -EAGAIN) {
      *why = n == 0 ? "it closed the connection" : IoError(session_.get(), n);
      return false;
    }
    if (WaitFor(fd_, wait_for_, deadline) <= 0) {
      *why = "could not send";
      return false;
    }
  }
  return true;
}

// Reads until `in` holds a whole frame (of at most `limits`) by the deadline.
size_t StoreConnection::ReadFrame(std::string* in, const proto::FrameLimits& limits,
                                  Deadline deadline, proto::Frame* f, std::string* why) {
  for (;;) {
    proto::DecodeResult r = proto::DecodeFrame(*in, limits, f);
    if (r.status == proto::DecodeStatus::kFrame) return f->size;
    if (r.status == proto::DecodeStatus::kBad) {
      *why = "a bad frame (" + std::string(r.message) + ")";
      return 0;
    }
    char buf[512];
    ssize_t n = Recv(buf, sizeof(buf));
    if (n == -EINTR) continue;
    if (n == -EAGAIN) {
      if (WaitFor(fd_, wait_for_, deadline) <= 0) {
        *why = "no answer in time";
        return 0;
      }
      continue;
    }
    if (n <= 0) {
      *why = n == 0 ? "it closed the connection" : IoError(session_.get(), n);
      return 0;
    }
    in->append(buf, static_cast<size_t>(n));
  }
}

Status StoreConnection::StartTls(Deadline deadline) {
  std::string why;
  session_ = net::TlsSession::New(tls_, fd_, &why);
  while (session_ != nullptr) {
    net::TlsSession::Io io = session_->Handshake();
    if (io == net::TlsSession::Io::kDone) return Status::OK();
    if (io != net::TlsSession::Io::kWantRead && io != net::TlsSession::Io::kWantWrite) {
      why = session_->why();
      break;
    }
    if (WaitFor(fd_, io == net::TlsSession::Io::kWantRead ? POLLIN : POLLOUT, deadline) <= 0) {
      why = "no answer in time";
      break;
    }
  }
  return Status::Unavailable("store " + name_ + " failed the TLS handshake: " + why);
}

void StoreConnection::Close() {
  session_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  in_.clear();
}

Status StoreConnection::Connect(int timeout_ms) {
  if (fd_ >= 0) return Status::OK();
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host_.c_str(), std::to_string(port_).c_str(), &hints, &res);
  if (rc != 0) return Status::Unavailable("store " + name_ + ": " + ::gai_strerror(rc));
  std::string error = "no address";
  for (addrinfo* a = res; a != nullptr && fd_ < 0; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    int err = ::connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
    if (err == EINPROGRESS) {
      int ready = WaitFor(fd, POLLOUT, deadline);
      socklen_t len = sizeof(err);
      if (ready <= 0) {
        err = ready == 0 ? ETIMEDOUT : errno;
      } else if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
      }
    }
    if (err != 0) {
      error = err == ETIMEDOUT ? "could not connect within " + std::to_string(timeout_ms) + " ms"
                               : std::strerror(err);
      ::close(fd);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fd_ = fd;
  }
  ::freeaddrinfo(res);
  if (!error.empty()) error[0] = static_cast<char>(std::tolower(error[0]));
  if (fd_ < 0) return Status::Unavailable("store " + name_ + ": " + error);
  Status s = tls_ != nullptr ? StartTls(deadline) : Status::OK();
  if (s.ok() && !secret_.empty()) s = Handshake(deadline);
  if (!s.ok()) Close();
  return s;
}

Status StoreConnection::Handshake(Clock::time_point deadline) {
  proto::Nonce nonce;
  Status s = proto::NewNonce(&nonce);
  if (!s.ok()) return Status::Unavailable("store " + name_ + ": " + s.ToString());
  proto::ClientHandshake handshake(secret_, nonce);
  std::string out, in, why;
  handshake.Start(&out);
  proto::FrameLimits limits{proto::kMaxHandshakeFrame};
  for (;;) {
    proto::Frame f;
    size_t size = 0;
    if (WriteAll(out, deadline, &why)) size = ReadFrame(&in, limits, deadline, &f, &why);
    if (size == 0) break;
    out.clear();
    std::string_view failure;
    proto::HandshakeResult r = handshake.OnFrame(f, &out, &failure);
    if (r == proto::HandshakeResult::kDone) return Status::OK();
    if (r == proto::HandshakeResult::kFailed) {
      why = failure;
      break;
    }
    in.erase(0, size);
  }
  return Status::Unavailable("store " + name_ + " failed the cluster handshake: " + why);
}

// The calls of one RunCalls on one connection, as they are written and answered.
class CallBatch {
 public:
  explicit CallBatch(StoreConnection* conn) : conn_(conn) {}
  StoreConnection* conn() const { return conn_; }
  void Add(StoreCall* call) { calls_.push_back(call); }
  // Connects, numbers the frames, lays out the writes. False: every call failed.
  bool Start(Clock::time_point deadline);
  bool done() const { return failed_ || answered_ == calls_.size(); }
  bool unsent() const { return iov_at_ < iov_.size(); }
  // Poll for POLLOUT: frames to write, or a TLS read that waits for the socket to drain.
  bool wants_out() const { return unsent() || read_wants_write_; }
  int fd() const { return conn_->fd_; }
  // After poll said the socket is ready: writes and reads what it can.
  void OnReady(short revents);
  // Fails every unanswered call with `why` and closes the connection.
  void Fail(const std::string& why, bool peer_closed = false);
  // Fills each answered call's reply from the (now stable) read buffer.
  void Finish();

 private:
  void Write();
  ssize_t WriteTls();  // the frames gathered into one TLS write
  void Read();
  void Parse();

  StoreConnection* conn_;
  std::vector<StoreCall*> calls_;
  std::vector<uint64_t> ids_;
  std::vector<size_t> at_;  // by call: where its reply starts in conn_->in_, or npos
  std::vector<iovec> iov_;
  size_t iov_at_ = 0;
  size_t parsed_ = 0;
  size_t answered_ = 0;
  bool failed_ = false;
  bool read_wants_write_ = false;
};

bool CallBatch::Start(Clock::time_point deadline) {
  conn_->in_.clear();
  for (StoreCall* c : calls_) c->peer_closed = false;
  Status s = conn_->Connect(std::max(RemainingMs(deadline), 1));
  if (!s.ok()) {
    for (StoreCall* c : calls_) c->status = s;
    failed_ = true;
    return false;
  }
  at_.assign(calls_.size(), std::string::npos);
  for (StoreCall* c : calls_) {
    c->status = Status::Unavailable("store " + conn_->name() + ": no reply");
    c->reply = proto::Frame();
    if (c->request.size() < proto::kFrameHeaderSize) {
      c->status = Status::InvalidArgument("not an encoded frame");
      ids_.push_back(0);
      answered_++;
      continue;
    }
    uint64_t id = conn_->next_id_++;
    proto::SetRequestId(c->request.data(), id);
    ids_.push_back(id);
    iov_.push_back({c->request.data(), c->request.size()});
    if (!c->tail.empty()) iov_.push_back({const_cast<char*>(c->tail.data()), c->tail.size()});
  }
  Write();
  return !failed_;
}

void CallBatch::Write() {
  while (unsent()) {
    ssize_t n = 0;
    if (conn_->session_ != nullptr) {
      n = WriteTls();
    } else {
      msghdr msg{};
      msg.msg_iov = &iov_[iov_at_];
      msg.msg_iovlen = std::min<size_t>(iov_.size() - iov_at_, IOV_MAX);
      n = ::sendmsg(conn_->fd_, &msg, MSG_NOSIGNAL);
      if (n < 0) n = Errno();
    }
    if (n <= 0) {
      if (n == -EINTR) continue;
      if (n == 0) {
        Fail(" closed the connection", true);
      } else if (n != -EAGAIN) {
        Fail(": " + IoError(conn_->session_.get(), n), n == -EPIPE || n == -ECONNRESET);
      }
      return;
    }
    auto left = static_cast<size_t>(n);
    while (left > 0 && left >= iov_[iov_at_].iov_len) left -= iov_[iov_at_++].iov_len;
    if (left > 0) {
      iov_[iov_at_].iov_base = static_cast<char*>(iov_[iov_at_].iov_base) + left;
      iov_[iov_at_].iov_len -= left;
    }
    while (unsent() && iov_[iov_at_].iov_len == 0) iov_at_++;
  }
}

// Gathers the unsent frames (up to kTlsGather) into one TLS write: one record per
// frame would cost a system call each. After -EAGAIN the next call gathers the same
// bytes again from the same place, as OpenSSL requires of a retried write.
ssize_t CallBatch::WriteTls() {
  std::string& g = conn_->gather_;
  g.clear();
  for (size_t i = iov_at_; i < iov_.size() && g.size() < kTlsGather; i++) {
    size_t take = std::min(iov_[i].iov_len, kTlsGather - g.size());
    g.append(static_cast<const char*>(iov_[i].iov_base), take);
  }
  return conn_->Send(g.data(), g.size());
}

void CallBatch::OnReady(short revents) {
  if ((revents & POLLOUT) != 0) Write();
  bool readable = (revents & (POLLIN | POLLHUP | POLLERR)) != 0 ||
                  (read_wants_write_ && (revents & POLLOUT) != 0);
  if (!failed_ && readable) Read();
}

void CallBatch::Read() {
  std::string& in = conn_->in_;
  for (;;) {
    size_t have = in.size();
    in.resize(have + kReadChunk);
    ssize_t n = conn_->Recv(in.data() + have, kReadChunk);
    in.resize(have + (n > 0 ? static_cast<size_t>(n) : 0));
    // A TLS read returns one record (16 KiB at most): only EAGAIN says it is drained.
    if (n > 0) {
      if (static_cast<size_t>(n) < kReadChunk && conn_->session_ == nullptr) break;
      continue;
    }
    if (n == -EINTR) continue;
    read_wants_write_ = n == -EAGAIN && conn_->wait_for_ == POLLOUT;
    if (n == -EAGAIN) break;
    Parse();  // what came before the end still counts
    Fail(n == 0 ? " closed the connection" : ": " + IoError(conn_->session_.get(), n),
         n == 0 || n == -ECONNRESET);
    return;
  }
  Parse();
}

void CallBatch::Parse() {
  std::string_view in = conn_->in_;
  while (!failed_ && parsed_ < in.size()) {
    proto::Frame f;
    proto::DecodeResult r = proto::DecodeFrame(in.substr(parsed_), conn_->limits_, &f);
    if (r.status == proto::DecodeStatus::kNeedMore) return;
    if (r.status == proto::DecodeStatus::kBad) {
      Fail(" sent a bad frame (" + std::string(r.message) + ")");
      return;
    }
    // The node answers in order, but match by id anyway (an ERROR frame for a bad
    // header carries id 0: the connection is lost for every call then).
    auto it = std::find(ids_.begin(), ids_.end(), f.header.request_id);
    size_t i = static_cast<size_t>(it - ids_.begin());
    if (it == ids_.end() || at_[i] != std::string::npos) {
      Fail(" answered an unknown request (" + std::string(proto::ReplyStatus(f).message()) + ")");
      return;
    }
    at_[i] = parsed_;
    calls_[i]->status = Status::OK();
    answered_++;
    parsed_ += f.size;
  }
}

void CallBatch::Fail(const std::string& why, bool peer_closed) {
  for (size_t i = 0; i < calls_.size(); i++) {
    if (i < at_.size() && at_[i] != std::string::npos) continue;
    calls_[i]->status = Status::Unavailable("store " + conn_->name() + why);
    calls_[i]->peer_closed = peer_closed;
  }
  failed_ = true;
  std::string keep = std::move(conn_->in_);  // replies already parsed stay readable
  conn_->Close();
  conn_->in_ = std::move(keep);
}

void CallBatch::Finish() {
  std::string_view in = conn_->in_;
  for (size_t i = 0; i < at_.size(); i++) {
    if (at_[i] == std::string::npos) continue;
    (void)proto::DecodeFrame(in.substr(at_[i]), conn_->limits_, &calls_[i]->reply);
  }
}

Status RunCalls(std::span<StoreCall> calls, int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  std::vector<CallBatch> batches;
  for (StoreCall& c : calls) {
    if (c.conn == nullptr) {
      c.status = Status::InvalidArgument("a call without a connection");
      continue;
    }
    auto it = std::find_if(batches.begin(), batches.end(),
                           [&](const CallBatch& b) { return b.conn() == c.conn; });
    if (it == batches.end()) it = batches.insert(batches.end(), CallBatch(c.conn));
    it->Add(&c);
  }
  for (CallBatch& b : batches) b.Start(deadline);
  std::vector<pollfd> fds;
  std::vector<CallBatch*> polled;
  for (;;) {
    fds.clear();
    polled.clear();
    for (CallBatch& b : batches) {
      if (b.done()) continue;
      short events = POLLIN | (b.wants_out() ? POLLOUT : 0);
      fds.push_back({b.fd(), events, 0});
      polled.push_back(&b);
    }
    if (fds.empty()) break;
    int wait = RemainingMs(deadline);
    int n = wait == 0 ? 0 : ::poll(fds.data(), fds.size(), wait);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      for (CallBatch* b : polled) {
        b->Fail(n == 0 ? " did not answer within " + std::to_string(timeout_ms) + " ms"
                       : std::string(": ") + std::strerror(errno));
      }
      break;
    }
    for (size_t i = 0; i < fds.size(); i++) {
      if (fds[i].revents != 0) polled[i]->OnReady(fds[i].revents);
    }
  }
  for (CallBatch& b : batches) b.Finish();
  for (const StoreCall& c : calls) {
    if (c.status.ok()) return Status::OK();
  }
  return calls.empty() ? Status::OK() : calls[0].status;
}

}  // namespace bale::router
