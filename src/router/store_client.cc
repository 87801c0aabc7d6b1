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

// Writes all of `data` to the non-blocking fd by the deadline; false with *why if not.
bool WriteAll(int fd, std::string_view data, Clock::time_point deadline, std::string* why) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      *why = std::strerror(errno);
      return false;
    }
    if (WaitFor(fd, POLLOUT, deadline) <= 0) {
      *why = "could not send";
      return false;
    }
  }
  return true;
}

// Reads until `in` holds a whole frame (of at most `limits`) by the deadline; its size,
// or 0 with *why.
size_t ReadFrame(int fd, std::string* in, const proto::FrameLimits& limits,
                 Clock::time_point deadline, proto::Frame* f, std::string* why) {
  for (;;) {
    proto::DecodeResult r = proto::DecodeFrame(*in, limits, f);
    if (r.status == proto::DecodeStatus::kFrame) return f->size;
    if (r.status == proto::DecodeStatus::kBad) {
      *why = "a bad frame (" + std::string(r.message) + ")";
      return 0;
    }
    if (WaitFor(fd, POLLIN, deadline) <= 0) {
      *why = "no answer in time";
      return 0;
    }
    char buf[512];
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n <= 0) {
      *why = n == 0 ? "it closed the connection" : std::strerror(errno);
      return 0;
    }
    in->append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

StoreConnection::StoreConnection(std::string host, uint16_t port, proto::FrameLimits limits,
                                 std::string secret)
    : host_(std::move(host)), port_(port), limits_(limits), secret_(std::move(secret)) {
  name_ = host_ + ":" + std::to_string(port_);
}

StoreConnection::~StoreConnection() { Close(); }

void StoreConnection::Close() {
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
  if (secret_.empty()) return Status::OK();
  Status s = Handshake(deadline);
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
    if (WriteAll(fd_, out, deadline, &why)) size = ReadFrame(fd_, &in, limits, deadline, &f, &why);
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
  int fd() const { return conn_->fd_; }
  // After poll said the socket is ready: writes and reads what it can.
  void OnReady(short revents);
  // Fails every unanswered call with `why` and closes the connection.
  void Fail(const std::string& why, bool peer_closed = false);
  // Fills each answered call's reply from the (now stable) read buffer.
  void Finish();

 private:
  void Write();
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
    msghdr msg{};
    msg.msg_iov = &iov_[iov_at_];
    msg.msg_iovlen = std::min<size_t>(iov_.size() - iov_at_, IOV_MAX);
    ssize_t n = ::sendmsg(conn_->fd_, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        Fail(std::string(": ") + std::strerror(errno), errno == EPIPE || errno == ECONNRESET);
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

void CallBatch::OnReady(short revents) {
  if ((revents & POLLOUT) != 0) Write();
  if (!failed_ && (revents & (POLLIN | POLLHUP | POLLERR)) != 0) Read();
}

void CallBatch::Read() {
  std::string& in = conn_->in_;
  for (;;) {
    size_t have = in.size();
    in.resize(have + kReadChunk);
    ssize_t n = ::read(conn_->fd_, in.data() + have, kReadChunk);
    in.resize(have + (n > 0 ? static_cast<size_t>(n) : 0));
    if (n > 0) {
      if (static_cast<size_t>(n) < kReadChunk) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    Parse();  // what came before the end still counts
    Fail(n == 0 ? " closed the connection" : std::string(": ") + std::strerror(errno),
         n == 0 || errno == ECONNRESET);
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
      short events = POLLIN | (b.unsent() ? POLLOUT : 0);
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
