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

#include "net/server.h"
#include "net/socket.h"

namespace bale::net {
namespace {

constexpr size_t kRecvSlot = 16 << 10;        // per ready connection, for a batched recv
constexpr size_t kMaxReadPerEvent = 1 << 20;  // fairness between connections
constexpr size_t kMaxSendPerFlush = 4 << 20;  // the same for replies
constexpr size_t kShrinkAbove = 256 << 10;
constexpr int kMaxEvents = 256;
constexpr time_t kLingerSeconds = 2;

thread_local const EventLoop* this_thread_loop = nullptr;  // set by Run

// Where the head piece's bytes stop going out for now: its hold, or its end.
size_t SendEnd(const std::string& bytes, size_t held_from) {
  return std::min(bytes.size(), held_from);
}

}  // namespace

// --- Conn: what a handler may ask of its loop.

Loop& Conn::loop() { return *loop_; }
void Conn::Close() { loop_->Close(this); }

std::string Conn::PeerAddress() const {
  if (fd_ < 0) return {};
  return tls_ != nullptr ? tls_peer_ : SocketAddress(fd_, true);
}

void Conn::KickIdle() {
  if (fd_ < 0) return;
  NetCounters::Add(counters_->idle_kicks);
  loop_->Close(this);
}

bool Conn::OutputFullSlow() {
  size_t unsent = head_.bytes.size() - head_.sent;
  size_t files = head_.files.size();
  for (const Piece& p : rest_) {
    unsent += p.bytes.size();
    files += p.files.size();
  }
  if (unsent <= max_output_bytes_ && files < kMaxFileSends) return false;
  paused_ = true;  // resume once the client has read its replies
  return true;
}

Ticket Conn::Hold(size_t from) {
  if (failed_) return Ticket{};  // nothing more is sent anyway
  Piece& t = *tail_;
  t.held_from = from;
  t.seq = ++hold_seq_;
  rest_.emplace_back();  // later replies queue behind the hold
  tail_ = &rest_.back();
  return Ticket{fd_, id_, t.seq};
}

Conn::Piece* Conn::FindHeld(uint64_t seq) {
  if (head_.held() && head_.seq == seq) return &head_;
  for (Piece& p : rest_) {
    if (p.held() && p.seq == seq) return &p;
  }
  return nullptr;
}

// --- EventLoop

EventLoop::EventLoop(Server* server, int index, std::vector<int> listen_fds)
    : server_(server),
      index_(index),
      listen_fds_(std::move(listen_fds)),
      counters_(new NetCounters[listen_fds_.size()]),
      read_buf_(new char[kReadChunk]) {}

EventLoop::~EventLoop() {
  for (auto& [fd, c] : conns_) {
    if (c->fd_ >= 0) ::close(fd);
  }
  conns_.clear();  // handlers before the rest: they may hold what their services lent
  for (int fd : closed_) ::close(fd);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  for (auto& [fd, listener] : inbox_) {
    ::close(fd);
    server_->connections_.fetch_sub(1);
  }
  for (int fd : listen_fds_) {
    if (fd >= 0) ::close(fd);
  }
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
  for (int fd : listen_fds_) {
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      return Status::FromErrno("epoll_ctl listen", errno);
    }
  }
  listening_ = true;
  return Status::OK();
}

void EventLoop::Wake() {
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
}

void EventLoop::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    posted_.push_back(std::move(fn));
  }
  Wake();
}

bool EventLoop::on_loop_thread() const { return this_thread_loop == this; }

void EventLoop::ListConnections(std::vector<ConnInfo>* out) const {
  for (const auto& [fd, c] : conns_) {
    if (c->fd_ < 0 || c->lingering_) continue;
    out->push_back(
        {fd, c->listener_, SocketAddress(fd, true), SocketAddress(fd, false), c->last_active_});
  }
}

void EventLoop::Run() {
  this_thread_loop = this;
  if (io_.ok()) {
    // Opened by Init on the server's thread; this thread becomes its submitter.
    Status s = io_.Enable();
    if (!s.ok()) {
      std::fprintf(stderr, "bale serve: an event loop goes on without io_uring: %s\n",
                   s.ToString().c_str());
    }
  }
  epoll_event events[kMaxEvents];
  while (!server_->stopping()) {
    int n = ::epoll_wait(epoll_fd_, events, kMaxEvents, tls_pending_.empty() ? 1000 : 0);
    time_t now = ::time(nullptr);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == wake_fd_) {
        uint64_t v;
        (void)!::read(wake_fd_, &v, sizeof(v));
        TakeInbox();
        continue;
      }
      auto listener = std::find(listen_fds_.begin(), listen_fds_.end(), fd);
      if (listener != listen_fds_.end()) {
        Accept(static_cast<size_t>(listener - listen_fds_.begin()));
        continue;
      }
      auto it = conns_.find(fd);
      if (it == conns_.end()) continue;
      Conn* c = it->second.get();
      if (c->fd_ < 0) continue;  // closed earlier in this batch
      c->last_active_ = now;
      if (events[i].events & EPOLLOUT) Flush(c);
      bool readable = (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0 ||
                      (c->tls_wants_write_ && (events[i].events & EPOLLOUT) != 0);
      if (c->fd_ >= 0 && readable && !c->paused_) {
        if (io_.ok() && !c->lingering_ && c->tls_ == nullptr) {
          readable_.push_back(c);
        } else {
          OnReadable(c);
        }
      }
    }
    ReadBatch();
    ReadTlsPending();
    FinishRound();
    ReapClosed();
    if (now != last_tick_) Tick(now);
  }
  Drain();
}

// The round hooks run first (a group commit syncs once for the whole round and releases
// or fails its holds), then the round's replies go out. Flushing can resume a paused
// connection, which starts another pass.
void EventLoop::FinishRound() {
  std::vector<Conn*>& round = flushing_;
  while (!round_.empty()) {
    for (RoundHook* h : hooks_) h->OnRoundEnd(*this);
    round.swap(round_);
    // Listed once: a connection that Flush resumes below parses more requests, and their
    // replies belong to the next pass, after its hooks.
    for (Conn* c : round) c->in_round_ = false;
    SendRound(round);
    for (Conn* c : round) {
      if (c->fd_ >= 0) Flush(c);
    }
    round.clear();
  }
}

// Sends the round's replies with one io_uring_enter instead of one send(2) each, so the
// loop is not preempted between them either. Replies with files or holds, and lingering
// connections, are left to Flush.
void EventLoop::SendRound(const std::vector<Conn*>& round) {
  if (!io_.ok()) return;
  for (Conn* c : round) {
    // round lists a connection once (in_round), so no send is queued twice.
    Conn::Piece& h = c->head_;
    if (c->fd_ < 0 || c->lingering_ || !h.files.empty() || c->tls_ != nullptr) continue;
    size_t end = SendEnd(h.bytes, h.held_from);
    if (h.sent >= end) continue;
    if (io_.queued() == io_.capacity()) RunSends();
    if (!io_.QueueSend(c->fd_, h.bytes.data() + h.sent, end - h.sent,
                       reinterpret_cast<uint64_t>(c))) {
      break;  // the ring failed running the sends before: Flush sends the rest
    }
  }
  RunSends();
}

void EventLoop::RunSends() {
  io_.Run([this](uint64_t tag, int result) {
    auto* c = reinterpret_cast<Conn*>(tag);
    if (result > 0) {
      c->head_.sent += static_cast<size_t>(result);
      NetCounters::Add(c->counters_->bytes_written, static_cast<uint64_t>(result));
    } else if (result != -EAGAIN && result != -EINTR) {
      Close(c);  // the peer is gone (or the outcome is unknown: the stream is lost)
    }
  });
}

void EventLoop::Accept(size_t listener) {
  for (;;) {
    int fd = ::accept4(listen_fds_[listener], nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN: another loop took it, or none left
    if (server_->connections_.fetch_add(1) >= server_->config_.max_connections) {
      server_->connections_.fetch_sub(1);
      NetCounters::Add(counters_[listener].rejected_connections);  // counted before it hears
      std::string_view refusal = server_->listeners_[listener].service->TooManyConnections();
      if (!refusal.empty()) {
        (void)!::send(fd, refusal.data(), refusal.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      }
      ::close(fd);
      continue;
    }
    SetNoDelay(fd);
    EventLoop* owner = server_->NextLoop();
    if (owner != this) {
      owner->Adopt(fd, listener);
      continue;
    }
    AddConnection(fd, listener);
  }
}

void EventLoop::Adopt(int fd, size_t listener) {
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    inbox_.emplace_back(fd, listener);
  }
  Wake();
}

void EventLoop::TakeInbox() {
  std::vector<std::pair<int, size_t>> adopted;
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    adopted.swap(inbox_);
    running_.swap(posted_);
  }
  for (auto& [fd, listener] : adopted) AddConnection(fd, listener);
  for (auto& fn : running_) fn();
  running_.clear();
}

void EventLoop::AddConnection(int fd, size_t listener) {
  auto c = std::make_unique<Conn>();
  c->loop_ = this;
  c->fd_ = fd;
  c->id_ = ++next_conn_id_;
  c->listener_ = listener;
  c->counters_ = &counters_[listener];
  c->max_output_bytes_ = server_->config_.max_output_bytes;
  c->peer_loopback_ = IsLoopbackPeer(fd);
  c->last_active_ = ::time(nullptr);
  c->accepted_ = std::chrono::steady_clock::now();
  const Listener& l = server_->listeners_[listener];
  if (l.tls != nullptr) {
    std::string why;
    c->tls_ = TlsSession::New(l.tls, fd, &why);
    c->tls_peer_ = SocketAddress(fd, true);  // for the log, even once the peer is gone
    if (c->tls_ == nullptr) {
      std::fprintf(stderr, "bale: refusing a connection: %s\n", why.c_str());
      ::close(fd);
      server_->connections_.fetch_sub(1);
      return;
    }
  }
  epoll_event ev{};
  ev.events = c->events_ = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    ::close(fd);
    server_->connections_.fetch_sub(1);
    return;
  }
  c->handler_ = server_->listeners_[listener].service->NewHandler(*this, *c);
  NetCounters::Add(c->counters_->total_connections);
  c->counters_->curr_connections.fetch_add(1, std::memory_order_relaxed);
  conns_[fd] = std::move(c);
}

void EventLoop::OnReadable(Conn* c, size_t total) {
  if (c->lingering_) return Discard(c);
  if (c->tls_ != nullptr) return OnTlsReadable(c, total);
  for (;;) {
    // Read into the loop's buffer: growing c->in_ first would zero-fill it every time.
    ssize_t r = ::read(c->fd_, read_buf_.get(), kReadChunk);
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
    queued = io_.QueueRecv(readable_[i]->fd_, recv_slots_.get() + i * kRecvSlot, kRecvSlot, i);
  }
  if (!queued) {
    for (Conn* c : readable_) {
      if (c->fd_ >= 0) OnReadable(c);
    }
    readable_.clear();
    return;
  }
  io_.Run([this](uint64_t i, int result) {
    Conn* c = readable_[i];
    if (c->fd_ < 0) return;
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
bool EventLoop::TakeRead(Conn* c, ssize_t r, const char* data, size_t cap, size_t* total) {
  if (c->in_start_ > 0 && c->in_start_ == c->in_.size()) {
    c->in_.clear();
    c->in_start_ = 0;
  }
  if (r <= 0) {
    if (r == 0 || (r != -EAGAIN && r != -EINTR)) {
      // The peer closed (or failed): answer what it sent, then close.
      c->close_after_flush_ = true;
      c->peer_closed_ = true;
      Process(c);
      UpdateInterest(c);  // nothing more to read: no EPOLLIN while replies wait
    }
    return false;
  }
  NetCounters::Add(c->counters_->bytes_read, static_cast<uint64_t>(r));
  *total += static_cast<size_t>(r);
  bool short_read = static_cast<size_t>(r) < cap;  // drained: skip a read that says EAGAIN
  if (c->close_after_flush_) {
    // Closing after the replies already queued (quit, Connection: close, an error):
    // nothing more is answered, so what arrives is dropped, not buffered.
    return *total < kMaxReadPerEvent && !short_read;
  }
  std::string_view fresh(data, static_cast<size_t>(r));
  if (c->in_.empty()) {
    Process(c, fresh);  // parsed where it was read; only a partial tail is kept
  } else {
    c->in_.append(fresh);
    Process(c);
  }
  return c->fd_ >= 0 && !c->paused_ && *total < kMaxReadPerEvent && !short_read;
}

void EventLoop::AddToRound(Conn* c) {
  if (c->in_round_) return;
  c->in_round_ = true;
  round_.push_back(c);
}

void EventLoop::Process(Conn* c, std::string_view fresh) {
  if (c->failed_) return;  // closing: nothing more is answered
  Conn::Piece* tail_before = c->tail_;
  size_t out_before = tail_before->bytes.size();
  if (!fresh.empty()) {
    size_t used = c->handler_->OnInput(fresh, *c);
    if (c->fd_ >= 0 && used < fresh.size()) c->in_.append(fresh.substr(used));
  } else if (c->in_start_ < c->in_.size()) {
    std::string_view buffered(c->in_.data() + c->in_start_, c->in_.size() - c->in_start_);
    c->in_start_ += c->handler_->OnInput(buffered, *c);
  }
  if (c->fd_ < 0) return;
  if (c->failed_) {  // a hold failed meanwhile: what the handler wrote after goes nowhere
    c->sink_.bytes.clear();
    c->sink_.files.clear();
  }
  if (c->tail_ != tail_before || c->tail_->bytes.size() != out_before || c->close_after_flush_) {
    AddToRound(c);
  } else if (c->paused_) {
    UpdateInterest(c);  // stop reading now, not after a flush that may never come
  }
  if (c->in_start_ == c->in_.size()) {
    if (c->in_.capacity() > kShrinkAbove) std::string().swap(c->in_);
    c->in_.clear();
    c->in_start_ = 0;
  } else if (c->in_start_ > kShrinkAbove && c->in_start_ > c->in_.size() / 2) {
    c->in_.erase(0, c->in_start_);  // a client whose sends end mid-request
    c->in_start_ = 0;
  }
}

bool EventLoop::SendFile(Conn* c, size_t* budget) {
  FileSend& f = c->head_.files.front();
  while (f.len > 0) {
    if (*budget == 0) return false;
    ssize_t w = 0;
    if (c->tls_ != nullptr) {
      w = SendFileTls(c, f);
    } else {
      auto offset = static_cast<off_t>(f.offset);
      size_t n = f.len < *budget ? static_cast<size_t>(f.len) : *budget;
      w = ::sendfile(c->fd_, f.fd, &offset, n);
      if (w < 0) w = -errno;
    }
    if (w == -EAGAIN || w == -EINTR) return false;
    if (w <= 0) {  // an error, or the file is shorter than the index said
      Close(c);
      return false;
    }
    f.offset += static_cast<uint64_t>(w);
    f.len -= static_cast<uint64_t>(w);
    *budget -= std::min(*budget, static_cast<size_t>(w));
    NetCounters::Add(c->counters_->bytes_written, static_cast<uint64_t>(w));
  }
  c->head_.files.erase(c->head_.files.begin());
  return true;
}

// Sends at most kMaxSendPerFlush bytes: a reply of gigabytes (a multi-get naming a large
// object thousands of times) goes out over many rounds, level-triggered EPOLLOUT bringing
// the connection back, while the loop's other connections are served between them.
// Pieces go out in order; a held one stops the flush until it is released.
void EventLoop::Flush(Conn* c) {
  if (c->lingering_) return;
  size_t budget = kMaxSendPerFlush;
  for (;;) {
    Conn::Piece& h = c->head_;
    size_t end = SendEnd(h.bytes, h.held_from);
    bool file_next = !h.files.empty() && h.files.front().at < end + (h.held() ? 0 : 1);
    size_t limit = file_next ? h.files.front().at : end;
    bool blocked = false;
    while (h.sent < limit) {
      if (budget == 0) {
        blocked = true;
        break;
      }
      size_t n = std::min(limit - h.sent, budget);
      ssize_t w = Send(c, h.bytes.data() + h.sent, n);
      if (w < 0) {
        if (w == -EAGAIN || w == -EINTR) {
          blocked = true;
          break;
        }
        Close(c);
        return;
      }
      h.sent += static_cast<size_t>(w);
      budget -= static_cast<size_t>(w);
      NetCounters::Add(c->counters_->bytes_written, static_cast<uint64_t>(w));
    }
    if (blocked) break;
    if (file_next) {
      if (!SendFile(c, &budget)) {
        if (c->fd_ < 0) return;
        break;
      }
      continue;
    }
    // The head piece went out up to its hold or its end.
    if (h.held() || c->rest_.empty()) break;
    c->head_ = std::move(c->rest_.front());
    c->rest_.pop_front();
    if (c->rest_.empty()) c->tail_ = &c->head_;
  }
  if (!c->has_unsent()) {
    Conn::Piece& h = c->head_;
    h.bytes.clear();
    h.sent = 0;
    if (h.bytes.capacity() > kShrinkAbove) std::string().swap(h.bytes);
    if (c->close_after_flush_) {
      if (c->linger_ && !c->peer_closed_) return StartLinger(c);
      Close(c);
      return;
    }
    if (c->paused_) {
      c->paused_ = false;
      Process(c);  // parse what was left waiting
      if (c->fd_ >= 0 && c->tls_ != nullptr) ListTlsPending(c);
    }
  }
  UpdateInterest(c);
}

void EventLoop::UpdateInterest(Conn* c) {
  if (c->fd_ < 0) return;
  // A paused connection is not read; one whose peer has closed has nothing left to read
  // (level-triggered, its end of stream would wake the loop every round).
  bool reading = c->lingering_ || (!c->paused_ && !c->peer_closed_);
  uint32_t events = reading ? uint32_t{EPOLLIN | EPOLLRDHUP} : 0u;
  // Output waiting only for a hold's release asks for no EPOLLOUT (it would spin).
  const Conn::Piece& h = c->head_;
  bool sendable = h.sent < SendEnd(h.bytes, h.held_from) ||
                  (!h.files.empty() && (!h.held() || h.files.front().at < h.held_from)) ||
                  (!h.held() && !c->rest_.empty());
  if (sendable || c->tls_wants_write_) events |= EPOLLOUT;
  if (events == c->events_) return;  // no syscall when nothing changes
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = c->fd_;
  (void)::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->fd_, &ev);
  c->events_ = events;
}

void EventLoop::Close(Conn* c) {
  if (c->fd_ < 0) return;
  // The descriptor is closed in ReapClosed, at the end of the batch: closing it now
  // would let accept() hand the same number to a new client while this batch still
  // refers to the old connection by it.
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd_, nullptr);
  closed_.push_back(c->fd_);
  c->fd_ = -1;
  server_->connections_.fetch_sub(1);
  c->counters_->curr_connections.fetch_sub(1, std::memory_order_relaxed);
}

Conn* EventLoop::Find(const Ticket& ticket) {
  auto it = conns_.find(ticket.fd);
  if (it == conns_.end()) return nullptr;
  Conn* c = it->second.get();
  return c->fd_ >= 0 && c->id_ == ticket.conn_id ? c : nullptr;
}

std::string* EventLoop::Slot(const Ticket& ticket) {
  Conn* c = Find(ticket);
  Conn::Piece* p = c ? c->FindHeld(ticket.seq) : nullptr;
  return p ? &p->bytes : nullptr;
}

void EventLoop::Release(const Ticket& ticket) {
  Conn* c = Find(ticket);
  if (c == nullptr) return;
  Conn::Piece* p = c->FindHeld(ticket.seq);
  if (p == nullptr) return;
  p->held_from = Conn::kNotHeld;
  AddToRound(c);  // what it held goes out when this round ends
}

// The replies before the hold still go out; the held one and all after it are dropped,
// and the connection closes once the rest is sent.
void EventLoop::Fail(const Ticket& ticket) {
  Conn* c = Find(ticket);
  Conn::Piece* p = c ? c->FindHeld(ticket.seq) : nullptr;
  if (p == nullptr) return;
  while (!c->rest_.empty() && &c->rest_.back() != p) c->rest_.pop_back();
  size_t cut = std::max(p->held_from, p->sent);
  p->bytes.resize(cut);
  while (!p->files.empty() && p->files.back().at >= cut) p->files.pop_back();
  p->held_from = Conn::kNotHeld;
  c->sink_.bytes.clear();
  c->sink_.files.clear();
  c->tail_ = &c->sink_;
  c->failed_ = true;
  c->CloseAfterReplies(/*linger=*/false);
  c->in_.clear();
  c->in_start_ = 0;
  AddToRound(c);
}

void EventLoop::StartLinger(Conn* c) {
  if (c->tls_ != nullptr) c->tls_->Shutdown();
  ::shutdown(c->fd_, SHUT_WR);
  c->lingering_ = true;
  c->paused_ = false;
  c->linger_until_ = ::time(nullptr) + kLingerSeconds;
  c->in_.clear();
  c->in_start_ = 0;
  UpdateInterest(c);
}

// Reads and drops a lingering connection's input; closes at its end (or on an error).
// The linger deadline bounds a peer that keeps sending.
void EventLoop::Discard(Conn* c) {
  for (size_t total = 0; total < kMaxReadPerEvent;) {
    ssize_t r = ::read(c->fd_, read_buf_.get(), kReadChunk);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (r <= 0) {
      Close(c);
      return;
    }
    total += static_cast<size_t>(r);
  }
}

void EventLoop::ReapClosed() {
  if (!closed_.empty() && !tls_pending_.empty()) {
    std::erase_if(tls_pending_, [](const Conn* c) { return c->fd_ < 0; });
  }
  for (int fd : closed_) {
    conns_.erase(fd);
    ::close(fd);
  }
  closed_.clear();
}

// Once a second: lingers that ran out, the handlers' timeouts, then the idle timeout.
void EventLoop::Tick(time_t now) {
  last_tick_ = now;
  uint32_t timeout = server_->config_.idle_timeout_s;
  for (auto& [fd, conn] : conns_) {
    Conn* c = conn.get();
    if (c->fd_ < 0) continue;
    if (c->lingering_) {
      if (now >= c->linger_until_) Close(c);
      continue;
    }
    if (c->tls_ != nullptr && TlsOverdue(c)) continue;
    bool was_closing = c->close_after_flush_;
    size_t out_before = c->tail_->bytes.size();
    c->handler_->OnTick(now, *c);
    if (c->fd_ < 0) continue;
    if (c->close_after_flush_ != was_closing || c->tail_->bytes.size() != out_before) {
      Flush(c);  // a timeout's reply (HTTP's 408)
      continue;
    }
    if (timeout != 0 && now - c->last_active_ > static_cast<time_t>(timeout)) c->KickIdle();
  }
  ReapClosed();
}

// Shutdown: stop accepting, answer requests already received, flush (for a bounded
// time), close everything.
void EventLoop::Drain() {
  if (listening_) {
    for (int& fd : listen_fds_) {
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
      ::close(fd);  // refuse new connections from here on
      fd = -1;
    }
  }
  TakeInbox();  // adopted connections and posted events (releases) still count
  for (RoundHook* h : hooks_) h->OnLoopStop(*this);
  for (auto& [fd, c] : conns_) {
    if (c->fd_ >= 0) Process(c.get());
  }
  FinishRound();
  time_t deadline = ::time(nullptr) + 2;
  bool pending = true;
  while (pending && ::time(nullptr) <= deadline) {
    pending = false;
    TakeInbox();
    FinishRound();
    for (auto& [fd, c] : conns_) {
      if (c->fd_ < 0) continue;
      Flush(c.get());
      if (c->fd_ >= 0 && c->has_unsent()) pending = true;
    }
    if (pending) ::usleep(1000);
  }
  for (auto& [fd, c] : conns_) Close(c.get());
  ReapClosed();
}

}  // namespace bale::net
