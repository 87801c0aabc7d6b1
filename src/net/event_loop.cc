#include "net/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>

#include "net/socket.h"

namespace bale::net {
namespace {

constexpr size_t kReadChunk = 64 << 10;
constexpr size_t kRecvSlot = 16 << 10;        // per ready connection, for a batched recv
constexpr size_t kMaxReadPerEvent = 1 << 20;  // fairness between connections
constexpr size_t kMaxSendPerFlush = 4 << 20;  // the same for replies
constexpr size_t kShrinkAbove = 256 << 10;
constexpr int kMaxEvents = 256;
constexpr std::string_view kTooMany = "SERVER_ERROR Too many open connections\r\n";
constexpr std::string_view kHttpTooMany =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    "Content-Length: 37\r\nConnection: close\r\n\r\n{\"error\":\"too many open connections\"}";

uint64_t MonotonicNs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

EventLoop::EventLoop(Server* server, int listen_fd, int http_listen_fd)
    : server_(server),
      listen_fd_(listen_fd),
      http_listen_fd_(http_listen_fd),
      read_buf_(new char[kReadChunk]),
      session_(server->objects_->NewSession()) {
  http_limits_.max_body_bytes = server_->http_settings_.max_body_bytes;
  http_limits_.body_budget = &server_->http_body_budget_;
  http_scratch_.stats = &stats_;
  http_scratch_.session = session_.get();
}

EventLoop::~EventLoop() {
  for (auto& [fd, c] : conns_) {
    if (c->fd >= 0) ::close(fd);
  }
  for (int fd : closed_) ::close(fd);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  for (auto& [fd, protocol] : inbox_) {
    ::close(fd);
    server_->connections_.fetch_sub(1);
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (http_listen_fd_ >= 0) ::close(http_listen_fd_);
}

Status EventLoop::Init() {
  if (server_->config_.io_uring) ring_status_ = io_.Open(kMaxEvents);
  if (io_.ok()) recv_slots_.reset(new char[kMaxEvents * kRecvSlot]);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return Status::FromErrno("epoll_create1", errno);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return Status::FromErrno("eventfd", errno);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
    return Status::FromErrno("epoll_ctl wake", errno);
  }
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd_;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev) != 0) {
    return Status::FromErrno("epoll_ctl listen", errno);
  }
  if (http_listen_fd_ >= 0) {
    ev.data.fd = http_listen_fd_;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, http_listen_fd_, &ev) != 0) {
      return Status::FromErrno("epoll_ctl http listen", errno);
    }
  }
  listening_ = true;
  return Status::OK();
}

void EventLoop::Wake() {
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
}

void EventLoop::Run() {
  if (io_.ok()) {
    // Opened by Init on the server's thread; this thread becomes its submitter.
    Status s = io_.Enable();
    if (!s.ok()) {
      std::fprintf(stderr, "bale serve: an event loop goes on without io_uring: %s\n",
                   s.ToString().c_str());
    }
  }
  epoll_event events[kMaxEvents];
  while (!server_->stopping_.load(std::memory_order_acquire)) {
    int n = ::epoll_wait(epoll_fd_, events, kMaxEvents, 1000);
    time_t now = ::time(nullptr);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == wake_fd_) {
        uint64_t v;
        (void)!::read(wake_fd_, &v, sizeof(v));
        TakeInbox();
        continue;
      }
      if (fd == listen_fd_) {
        Accept(listen_fd_, Protocol::kMemcache);
        continue;
      }
      if (fd == http_listen_fd_) {
        Accept(http_listen_fd_, Protocol::kHttp);
        continue;
      }
      auto it = conns_.find(fd);
      if (it == conns_.end()) continue;
      Connection* c = it->second.get();
      if (c->fd < 0) continue;  // closed earlier in this batch
      c->last_active = now;
      if (events[i].events & EPOLLOUT) Flush(c);
      if (c->fd >= 0 && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->paused) {
        if (io_.ok() && !c->lingering) {
          readable_.push_back(c);
        } else {
          OnReadable(c);
        }
      }
    }
    ReadBatch();
    FinishRound();
    ReapClosed();
    if (now != last_idle_check_) KickIdle(now);
  }
  Drain();
}

// Group commit: one fdatasync per written volume covers every reply of the round. If it
// fails the writes are not durable: the round's connections are closed rather than
// told STORED. Flushing can resume a paused connection, which starts another round.
void EventLoop::FinishRound() {
  std::vector<Connection*>& round = flushing_;
  while (!round_.empty()) {
    round.swap(round_);
    // Listed once: a connection that Flush resumes below parses more requests, and their
    // replies belong to the next pass, after their own sync.
    for (Connection* c : round) c->in_round = false;
    if (session_->commit_pending()) {
      uint64_t start = MonotonicNs();
      bool ok = session_->Commit().ok();
      stats_.group_commit_latency.Observe(MonotonicNs() - start);
      if (!ok) {
        for (Connection* c : round) Close(c);
      }
    }
    SendRound(round);
    for (Connection* c : round) {
      if (c->fd >= 0) Flush(c);
    }
    round.clear();
  }
}

// Sends the round's replies with one io_uring_enter instead of one send(2) each, so the
// loop is not preempted between them either. Replies with files, and lingering
// connections, are left to Flush.
void EventLoop::SendRound(const std::vector<Connection*>& round) {
  if (!io_.ok()) return;
  for (Connection* c : round) {
    // round lists a connection once (in_round), so no send is queued twice.
    if (c->fd < 0 || c->lingering || !c->files.empty()) continue;
    if (c->out_sent >= c->out.size()) continue;
    if (io_.queued() == io_.capacity()) RunSends();
    const char* data = c->out.data() + c->out_sent;
    if (!io_.QueueSend(c->fd, data, c->out.size() - c->out_sent, reinterpret_cast<uint64_t>(c))) {
      break;  // the ring failed running the sends before: Flush sends the rest
    }
  }
  RunSends();
}

void EventLoop::RunSends() {
  io_.Run([this](uint64_t tag, int result) {
    auto* c = reinterpret_cast<Connection*>(tag);
    if (result > 0) {
      c->out_sent += static_cast<size_t>(result);
      ThreadStats::Add(c->http ? stats_.http_bytes_written : stats_.bytes_written,
                       static_cast<uint64_t>(result));
    } else if (result != -EAGAIN && result != -EINTR) {
      Close(c);  // the peer is gone (or the outcome is unknown: the stream is lost)
    }
  });
}

void EventLoop::Accept(int listen_fd, Protocol protocol) {
  for (;;) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN: another loop took it, or none left
    if (server_->connections_.fetch_add(1) >= server_->config_.max_connections) {
      server_->connections_.fetch_sub(1);
      std::string_view refusal = protocol == Protocol::kHttp ? kHttpTooMany : kTooMany;
      (void)!::send(fd, refusal.data(), refusal.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      ThreadStats::Add(stats_.rejected_connections);
      continue;
    }
    SetNoDelay(fd);
    EventLoop* owner = server_->NextLoop();
    if (owner != this) {
      owner->Adopt(fd, protocol);
      continue;
    }
    AddConnection(fd, protocol);
  }
}

void EventLoop::Adopt(int fd, Protocol protocol) {
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    inbox_.emplace_back(fd, protocol);
  }
  Wake();
}

void EventLoop::TakeInbox() {
  std::vector<std::pair<int, Protocol>> adopted;
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    adopted.swap(inbox_);
  }
  for (auto& [fd, protocol] : adopted) AddConnection(fd, protocol);
}

void EventLoop::AddConnection(int fd, Protocol protocol) {
  auto c = std::make_unique<Connection>();
  c->fd = fd;
  c->protocol = protocol;
  c->peer_loopback = IsLoopbackPeer(fd);
  if (protocol == Protocol::kHttp) c->http = std::make_unique<HttpState>(http_limits_);
  c->last_active = ::time(nullptr);
  epoll_event ev{};
  ev.events = c->events = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    ::close(fd);
    server_->connections_.fetch_sub(1);
    return;
  }
  conns_[fd] = std::move(c);
  ThreadStats::Add(stats_.total_connections);
  stats_.curr_connections.fetch_add(1, std::memory_order_relaxed);
}

void EventLoop::OnReadable(Connection* c, size_t total) {
  if (c->lingering) return Discard(c);
  for (;;) {
    // Read into the loop's buffer: growing c->in first would zero-fill it every time.
    ssize_t r = ::read(c->fd, read_buf_.get(), kReadChunk);
    if (!TakeRead(c, r < 0 ? -errno : r, read_buf_.get(), kReadChunk, &total)) break;
  }
}

// Reads the ready connections with one io_uring_enter, each into its own slot, then
// handles them in order; a connection that filled its slot goes on with read(2).
void EventLoop::ReadBatch() {
  if (readable_.empty()) return;
  bool queued = true;
  for (size_t i = 0; i < readable_.size() && queued; i++) {
    // The batch is empty here and holds kMaxEvents, as many as readable_ can: only a
    // ring that failed (and closed) refuses.
    queued = io_.QueueRecv(readable_[i]->fd, recv_slots_.get() + i * kRecvSlot, kRecvSlot, i);
  }
  if (!queued) {
    for (Connection* c : readable_) {
      if (c->fd >= 0) OnReadable(c);
    }
    readable_.clear();
    return;
  }
  io_.Run([this](uint64_t i, int result) {
    Connection* c = readable_[i];
    if (c->fd < 0) return;
    if (result == -EAGAIN && !io_.ok()) return OnReadable(c);  // the ring failed: read(2)
    size_t total = 0;
    if (TakeRead(c, result, recv_slots_.get() + i * kRecvSlot, kRecvSlot, &total)) {
      OnReadable(c, total);
    }
  });
  readable_.clear();
}

// Takes one read's result: r bytes at `data` (0: end of stream; negative: -errno).
// Returns whether the socket may hold more to read now.
bool EventLoop::TakeRead(Connection* c, ssize_t r, const char* data, size_t cap, size_t* total) {
  if (c->in_start > 0 && c->in_start == c->in.size()) {
    c->in.clear();
    c->in_start = 0;
  }
  if (r <= 0) {
    if (r == 0 || (r != -EAGAIN && r != -EINTR)) {
      // The peer closed (or failed): answer what it sent, then close.
      c->close_after_flush = true;
      c->peer_closed = true;
      Process(c);
      UpdateInterest(c);  // nothing more to read: no EPOLLIN while replies wait
    }
    return false;
  }
  ThreadStats::Add(c->http ? stats_.http_bytes_read : stats_.bytes_read, static_cast<uint64_t>(r));
  *total += static_cast<size_t>(r);
  bool short_read = static_cast<size_t>(r) < cap;  // drained: skip a read that says EAGAIN
  if (c->close_after_flush) {
    // Closing after the replies already queued (quit, Connection: close, an error):
    // nothing more is answered, so what arrives is dropped, not buffered.
    return *total < kMaxReadPerEvent && !short_read;
  }
  std::string_view fresh(data, static_cast<size_t>(r));
  if (c->in.empty() && c->protocol == Protocol::kMemcache) {
    Process(c, fresh);  // parsed where it was read; only a partial tail is kept
  } else {
    c->in.append(fresh);
    Process(c);
  }
  return c->fd >= 0 && !c->paused && *total < kMaxReadPerEvent && !short_read;
}

bool EventLoop::OutputFull(Connection* c) {
  constexpr size_t kMaxFileSends = 1024;
  if (c->out.size() - c->out_sent <= server_->config_.max_output_bytes &&
      c->files.size() < kMaxFileSends) {
    return false;
  }
  c->paused = true;  // resume once the client has read its replies
  return true;
}

void EventLoop::Process(Connection* c, std::string_view fresh) {
  size_t out_before = c->out.size();
  if (c->protocol == Protocol::kHttp) {
    ProcessHttp(c);
  } else if (!fresh.empty()) {
    size_t used = ExecuteMemcache(c, fresh);
    if (c->fd >= 0 && used < fresh.size()) c->in.append(fresh.substr(used));
  } else {
    std::string_view buffered(c->in.data() + c->in_start, c->in.size() - c->in_start);
    c->in_start += ExecuteMemcache(c, buffered);
  }
  if (c->fd < 0) return;
  if ((c->out.size() != out_before || c->close_after_flush) && !c->in_round) {
    c->in_round = true;
    round_.push_back(c);
  } else if (c->paused) {
    UpdateInterest(c);  // stop reading now, not after a flush that may never come
  }
  if (c->in_start == c->in.size()) {
    if (c->in.capacity() > kShrinkAbove) std::string().swap(c->in);
    c->in.clear();
    c->in_start = 0;
  } else if (c->in_start > kShrinkAbove && c->in_start > c->in.size() / 2) {
    c->in.erase(0, c->in_start);  // a client whose sends end mid-request
    c->in_start = 0;
  }
}

// Executes the complete requests at the front of `input`; returns the bytes used.
// Requests parsed from one read are timed together: two clock reads per batch.
size_t EventLoop::ExecuteMemcache(Connection* c, std::string_view input) {
  if (input.empty()) return 0;
  MemcacheCommands& commands = server_->commands_;
  uint64_t start = MonotonicNs();
  uint64_t executed = 0;
  size_t used = 0;
  while (c->fd >= 0) {
    if (c->swallow > 0) {
      size_t avail = input.size() - used;
      size_t n = c->swallow < avail ? static_cast<size_t>(c->swallow) : avail;
      used += n;
      c->swallow -= n;
      if (c->swallow > 0) break;
    }
    if (c->close_after_flush && !c->peer_closed) break;
    if (OutputFull(c)) break;
    if (used == input.size()) break;
    std::string_view rest = input.substr(used);
    proto::ParseResult r = proto::ParseRequest(rest, server_->limits_, &req_);
    if (r.status == proto::ParseStatus::kIncomplete) break;
    if (r.status == proto::ParseStatus::kClose) {
      Close(c);
      break;
    }
    if (r.status == proto::ParseStatus::kError) {
      ThreadStats::Add(stats_.client_errors);
      if (!r.noreply) c->out.append(r.error).append("\r\n");
      used += r.consumed;
      continue;
    }
    c->swallow = r.swallow;
    Outcome o = commands.Execute(req_, &c->out, &stats_, session_.get(), &c->files);
    executed++;
    used += r.consumed;
    if (o == Outcome::kClose) {
      c->close_after_flush = true;
      used = input.size();  // nothing after quit is answered
      break;
    }
  }
  if (executed > 0) stats_.memcached_latency.Observe(MonotonicNs() - start, executed);
  return used;
}

// HTTP input is handed to the parser as it arrives (it keeps what it needs: the head
// and the body), so c->in never holds more than one read.
void EventLoop::ProcessHttp(Connection* c) {
  HttpState& h = *c->http;
  while (c->fd >= 0 && !c->close_after_flush) {
    if (OutputFull(c)) break;
    std::string_view input(c->in.data() + c->in_start, c->in.size() - c->in_start);
    if (input.empty()) break;
    bool was_idle = !h.parser.InProgress();
    uint64_t start = MonotonicNs();
    proto::HttpParseResult r = h.parser.Feed(input, &h.request);
    c->in_start += r.consumed;
    if (r.status == proto::HttpParseStatus::kIncomplete) {
      if (was_idle && h.parser.InProgress()) h.request_started = ::time(nullptr);
      if (h.parser.TakeContinue()) c->out.append("HTTP/1.1 100 Continue\r\n\r\n");
      if (r.consumed == 0) break;
      continue;
    }
    if (r.status == proto::HttpParseStatus::kError) {
      // 503: the body would pass --http-body-budget (the client retries after a pause).
      if (r.error_status == 503) ThreadStats::Add(stats_.http_body_budget_refusals);
      HttpRoutes::AppendError(r.error_status, &c->out, &http_scratch_);
      c->close_after_flush = true;
      c->in_start = c->in.size();
      break;
    }
    http_scratch_.files = &c->files;
    http_scratch_.peer_loopback = c->peer_loopback;
    Outcome o = server_->routes_.Handle(h.request, &c->out, &http_scratch_);
    stats_.http_latency.Observe(MonotonicNs() - start);
    if (http_scratch_.text.capacity() > kShrinkAbove) std::string().swap(http_scratch_.text);
    session_->TrimBuffers(kShrinkAbove);
    h.request.ReleaseBody();  // a 64 MiB upload's buffer, and its share of the budget, go now
    if (o == Outcome::kClose) {
      c->close_after_flush = true;
      c->in_start = c->in.size();
    }
  }
}

bool EventLoop::SendFile(Connection* c, size_t* budget) {
  FileSend& f = c->files.front();
  while (f.len > 0) {
    if (*budget == 0) return false;
    auto offset = static_cast<off_t>(f.offset);
    size_t n = f.len < *budget ? static_cast<size_t>(f.len) : *budget;
    ssize_t w = ::sendfile(c->fd, f.fd, &offset, n);
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) return false;
    if (w <= 0) {  // an error, or the file is shorter than the index said
      Close(c);
      return false;
    }
    f.offset += static_cast<uint64_t>(w);
    f.len -= static_cast<uint64_t>(w);
    *budget -= std::min(*budget, static_cast<size_t>(w));
    ThreadStats::Add(c->http ? stats_.http_bytes_written : stats_.bytes_written,
                     static_cast<uint64_t>(w));
  }
  c->files.erase(c->files.begin());
  return true;
}

// Sends at most kMaxSendPerFlush bytes: a reply of gigabytes (a multi-get naming a large
// object thousands of times) goes out over many rounds, level-triggered EPOLLOUT bringing
// the connection back, while the loop's other connections are served between them.
void EventLoop::Flush(Connection* c) {
  if (c->lingering) return;
  size_t budget = kMaxSendPerFlush;
  for (;;) {
    size_t limit = c->files.empty() ? c->out.size() : c->files.front().at;
    bool blocked = false;
    while (c->out_sent < limit) {
      if (budget == 0) {
        blocked = true;
        break;
      }
      size_t n = std::min(limit - c->out_sent, budget);
      ssize_t w = ::send(c->fd, c->out.data() + c->out_sent, n, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EAGAIN || errno == EINTR) {
          blocked = true;
          break;
        }
        Close(c);
        return;
      }
      c->out_sent += static_cast<size_t>(w);
      budget -= static_cast<size_t>(w);
      ThreadStats::Add(c->http ? stats_.http_bytes_written : stats_.bytes_written,
                       static_cast<uint64_t>(w));
    }
    if (blocked || c->files.empty()) break;
    if (!SendFile(c, &budget)) {
      if (c->fd < 0) return;
      break;
    }
  }
  if (!Unsent(c)) {
    c->out.clear();
    c->out_sent = 0;
    if (c->out.capacity() > kShrinkAbove) std::string().swap(c->out);
    if (c->close_after_flush) {
      if (c->http && !c->peer_closed) return StartLinger(c);
      Close(c);
      return;
    }
    if (c->paused) {
      c->paused = false;
      Process(c);  // parse what was left waiting
    }
  }
  UpdateInterest(c);
}

void EventLoop::UpdateInterest(Connection* c) {
  if (c->fd < 0) return;
  // A paused connection is not read; one whose peer has closed has nothing left to read
  // (level-triggered, its end of stream would wake the loop every round).
  bool reading = c->lingering || (!c->paused && !c->peer_closed);
  uint32_t events = reading ? uint32_t{EPOLLIN | EPOLLRDHUP} : 0u;
  if (Unsent(c)) events |= EPOLLOUT;
  if (events == c->events) return;  // no syscall when nothing changes
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = c->fd;
  (void)::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->fd, &ev);
  c->events = events;
}

void EventLoop::Close(Connection* c) {
  if (c->fd < 0) return;
  // The descriptor is closed in ReapClosed, at the end of the batch: closing it now
  // would let accept() hand the same number to a new client while this batch still
  // refers to the old connection by it.
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd, nullptr);
  closed_.push_back(c->fd);
  c->fd = -1;
  server_->connections_.fetch_sub(1);
  stats_.curr_connections.fetch_sub(1, std::memory_order_relaxed);
}

void EventLoop::StartLinger(Connection* c) {
  constexpr time_t kLingerSeconds = 2;
  ::shutdown(c->fd, SHUT_WR);
  c->lingering = true;
  c->paused = false;
  c->linger_until = ::time(nullptr) + kLingerSeconds;
  c->in.clear();
  c->in_start = 0;
  if (c->http) {  // nothing more is parsed: a body in progress gives its memory back now
    c->http->parser.Abandon();
    c->http->request.ReleaseBody();
  }
  UpdateInterest(c);
}

// Reads and drops a lingering connection's input; closes at its end (or on an error).
// The linger deadline bounds a peer that keeps sending.
void EventLoop::Discard(Connection* c) {
  for (size_t total = 0; total < kMaxReadPerEvent;) {
    ssize_t r = ::read(c->fd, read_buf_.get(), kReadChunk);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (r <= 0) {
      Close(c);
      return;
    }
    total += static_cast<size_t>(r);
  }
}

void EventLoop::ReapClosed() {
  for (int fd : closed_) {
    conns_.erase(fd);
    ::close(fd);
  }
  closed_.clear();
}

void EventLoop::KickIdle(time_t now) {
  last_idle_check_ = now;
  uint32_t timeout = server_->config_.idle_timeout_s;
  auto request_timeout = static_cast<time_t>(server_->http_settings_.timeout_s);
  for (auto& [fd, conn] : conns_) {
    Connection* c = conn.get();
    if (c->fd < 0) continue;
    if (c->lingering) {
      if (now >= c->linger_until) Close(c);
      continue;
    }
    if (c->http && request_timeout > 0 && !c->close_after_flush && c->http->parser.InProgress() &&
        now - c->http->request_started >= request_timeout) {
      c->http->parser.Abandon();  // its body, and the body's share of the budget, go now
      HttpRoutes::AppendError(408, &c->out, &http_scratch_);
      c->close_after_flush = true;
      Flush(c);
      continue;
    }
    // An HTTP connection between requests gets --http-timeout too (keep-alive timeout):
    // idle sockets on a public port must not hold connection slots for ever.
    bool http_idle = c->http && request_timeout > 0 && !c->http->parser.InProgress() &&
                     !Unsent(c) && now - c->last_active > request_timeout;
    if (http_idle || (timeout != 0 && now - c->last_active > static_cast<time_t>(timeout))) {
      ThreadStats::Add(stats_.idle_kicks);
      Close(c);
    }
  }
}

// Shutdown: stop accepting, answer requests already received, flush (for a bounded
// time), close everything.
void EventLoop::Drain() {
  if (listening_) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
    ::close(listen_fd_);  // refuse new connections from here on
    listen_fd_ = -1;
    if (http_listen_fd_ >= 0) {
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, http_listen_fd_, nullptr);
      ::close(http_listen_fd_);
      http_listen_fd_ = -1;
    }
  }
  for (auto& [fd, c] : conns_) {
    if (c->fd >= 0) Process(c.get());
  }
  FinishRound();
  time_t deadline = ::time(nullptr) + 2;
  bool pending = true;
  while (pending && ::time(nullptr) <= deadline) {
    pending = false;
    for (auto& [fd, c] : conns_) {
      if (c->fd < 0) continue;
      Flush(c.get());
      if (c->fd >= 0 && Unsent(c.get())) pending = true;
    }
    if (pending) ::usleep(1000);
  }
  for (auto& [fd, c] : conns_) Close(c.get());
  ReapClosed();
}

}  // namespace bale::net
