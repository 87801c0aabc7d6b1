#include "net/memcache_server.h"

#include <unistd.h>

#include "net/event_loop.h"
#include "net/socket.h"

namespace bale::net {

MemcacheServer::MemcacheServer(Store* store, const ServerConfig& config,
                               const MemcacheSettings& settings)
    : store_(store), config_(config), settings_(settings), commands_(store, &settings_, this) {
  limits_.max_item_size = settings_.max_item_size;
}

MemcacheServer::~MemcacheServer() { Stop(); }

Status MemcacheServer::Start() {
  if (config_.threads < 1) return Status::InvalidArgument("threads must be at least 1");
  // One listening socket per loop on the same port (SO_REUSEPORT): the kernel spreads
  // new connections across the loops.
  port_ = config_.port;
  for (int i = 0; i < config_.threads; i++) {
    int fd = -1;
    BALE_RETURN_IF_ERROR(ListenTcp(config_.listen_addr, port_, 1024, true, &fd, &port_));
    auto loop = std::make_unique<EventLoop>(this, fd);
    BALE_RETURN_IF_ERROR(loop->Init());
    loops_.push_back(std::move(loop));
  }
  settings_.port = port_;
  started_ = std::chrono::steady_clock::now();
  for (auto& loop : loops_) threads_.emplace_back([l = loop.get()] { l->Run(); });
  return Status::OK();
}

void MemcacheServer::Stop() {
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

void MemcacheServer::Sum(ThreadStats* total) const {
  for (const auto& loop : loops_) {
    const ThreadStats& s = loop->stats();
#define BALE_SUM(name) total->name.fetch_add(s.name.load(std::memory_order_relaxed));
    BALE_THREAD_STATS(BALE_SUM)
#undef BALE_SUM
    total->curr_connections.fetch_add(s.curr_connections.load(std::memory_order_relaxed));
  }
}

void MemcacheServer::Reset() {
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

uint64_t MemcacheServer::uptime_s() const {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_)
          .count());
}

}  // namespace bale::net
