#include "net/server.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "net/event_loop.h"
#include "net/socket.h"

namespace bale::net {

Server::Server(const ServerConfig& config, std::vector<Listener> listeners)
    : config_(config), listeners_(std::move(listeners)) {}

Server::~Server() { Stop(); }

EventLoop* Server::NextLoop() {
  return loops_[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()].get();
}

Status Server::Start(const std::function<void()>& bound) {
  if (config_.threads < 1) return Status::InvalidArgument("threads must be at least 1");
  // One listening socket per loop on the same port (SO_REUSEPORT): the kernel spreads
  // new connections across the loops.
  for (int i = 0; i < config_.threads; i++) {
    std::vector<int> fds;
    for (Listener& l : listeners_) {
      int fd = -1;
      Status s = ListenTcp(l.addr, l.port, 1024, true, &fd, &l.port);
      if (!s.ok()) {
        for (int f : fds) ::close(f);
        return s;
      }
      fds.push_back(fd);
    }
    auto loop = std::make_unique<EventLoop>(this, i, std::move(fds));
    BALE_RETURN_IF_ERROR(loop->Init());
    loops_.push_back(std::move(loop));
  }
  // Every loop batches its socket I/O, or none does: one answer for stats and the log.
  if (config_.io_uring) {
    for (auto& loop : loops_) {
      if (!loop->ring_status().ok() && io_uring_refused_.empty()) {
        io_uring_refused_ = loop->ring_status().ToString();
      }
    }
    if (!io_uring_refused_.empty()) {
      for (auto& loop : loops_) loop->CloseRing();
    }
  }
  io_uring_on_ = config_.io_uring && io_uring_refused_.empty();
  for (auto& loop : loops_) {
    for (Listener& l : listeners_) l.service->AttachLoop(*loop);
  }
  if (bound) bound();
  for (auto& loop : loops_) threads_.emplace_back([l = loop.get()] { l->Run(); });
  return Status::OK();
}

void Server::Stop() {
  if (stopping_.exchange(true)) {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    return;
  }
  for (auto& loop : loops_) loop->Wake();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

NetCounts Server::Counts(size_t listener) const {
  NetCounts t;
  for (const auto& loop : loops_) {
    const NetCounters& c = loop->counters(listener);
    t.bytes_read += c.bytes_read.load(std::memory_order_relaxed);
    t.bytes_written += c.bytes_written.load(std::memory_order_relaxed);
    t.total_connections += c.total_connections.load(std::memory_order_relaxed);
    t.rejected_connections += c.rejected_connections.load(std::memory_order_relaxed);
    t.idle_kicks += c.idle_kicks.load(std::memory_order_relaxed);
    t.curr_connections += c.curr_connections.load(std::memory_order_relaxed);
  }
  return t;
}

std::vector<ConnInfo> Server::Connections(int timeout_ms) const {
  struct Gather {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<ConnInfo> out;
    size_t pending = 0;
  };
  auto g = std::make_shared<Gather>();
  for (const auto& loop : loops_) {
    std::lock_guard<std::mutex> l(g->mu);
    if (loop->on_loop_thread()) {
      loop->ListConnections(&g->out);
      continue;
    }
    g->pending++;
    loop->Post([g, lp = loop.get()] {
      std::lock_guard<std::mutex> l(g->mu);
      lp->ListConnections(&g->out);
      g->pending--;
      g->cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> l(g->mu);
  g->cv.wait_for(l, std::chrono::milliseconds(timeout_ms), [&] { return g->pending == 0; });
  std::vector<ConnInfo> out = g->out;
  std::sort(out.begin(), out.end(),
            [](const ConnInfo& a, const ConnInfo& b) { return a.fd < b.fd; });
  return out;
}

void Server::ResetCounts(size_t listener, bool bytes) {
  // Reset by the thread that asks; a racing increment in a loop may survive, which
  // memcached tolerates too.
  for (auto& loop : loops_) {
    NetCounters& c = loop->counters(listener);
    if (bytes) {
      c.bytes_read.store(0, std::memory_order_relaxed);
      c.bytes_written.store(0, std::memory_order_relaxed);
    }
    c.rejected_connections.store(0, std::memory_order_relaxed);
    c.idle_kicks.store(0, std::memory_order_relaxed);
  }
}

}  // namespace bale::net
