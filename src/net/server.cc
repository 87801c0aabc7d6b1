#include "net/server.h"

#include <unistd.h>

#include "net/event_loop.h"
#include "net/socket.h"

namespace bale::net {

Server::Server(ObjectStore* objects, const ServerConfig& config, const MemcacheSettings& settings,
               const HttpSettings& http_settings)
    : objects_(objects),
      config_(config),
      settings_(settings),
      http_settings_(http_settings),
      commands_(objects, &settings_, this),
      routes_(objects, &http_settings_, &settings_, this),
      http_body_budget_(http_settings.body_budget_bytes) {
  limits_.max_item_size = settings_.max_item_size;
}

Server::~Server() { Stop(); }

Status Server::Start() {
  if (config_.threads < 1) return Status::InvalidArgument("threads must be at least 1");
  // One listening socket per loop on the same port (SO_REUSEPORT): the kernel spreads
  // new connections across the loops.
  port_ = config_.port;
  http_port_ = config_.http_port;
  for (int i = 0; i < config_.threads; i++) {
    int fd = -1, http_fd = -1;
    BALE_RETURN_IF_ERROR(ListenTcp(config_.listen_addr, port_, 1024, true, &fd, &port_));
    if (config_.http_enabled) {
      Status s = ListenTcp(config_.listen_addr, http_port_, 1024, true, &http_fd, &http_port_);
      if (!s.ok()) {
        ::close(fd);
        return s;
      }
    }
    auto loop = std::make_unique<EventLoop>(this, fd, http_fd);
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
  settings_.io_uring = config_.io_uring && io_uring_refused_.empty();
  settings_.port = port_;
  http_settings_.port = config_.http_enabled ? http_port_ : 0;
  started_ = std::chrono::steady_clock::now();
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

void Server::Sum(ThreadStats* total) const {
  for (const auto& loop : loops_) loop->stats().AccumulateInto(total);
}

void Server::Reset() {
  // Counters are reset by the thread running `stats reset`; a racing increment in
  // another thread may survive, which memcached tolerates too.
  for (auto& loop : loops_) {
    ThreadStats& s = loop->stats();
#define BALE_ZERO(name) \
  if (std::string_view(#name) != "total_connections") s.name.store(0, std::memory_order_relaxed);
    BALE_THREAD_STATS(BALE_ZERO)
#undef BALE_ZERO
  }
}

uint64_t Server::uptime_s() const {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_)
          .count());
}

}  // namespace bale::net
