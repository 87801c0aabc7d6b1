#include "frontend/faces.h"

#include <string_view>

namespace bale {

// Listener order in Listeners().
constexpr size_t kMemcacheListener = 0;
constexpr size_t kHttpListener = 1;

Faces::Faces(ObjectStore* store, const MemcacheSettings& settings,
             const HttpSettings& http_settings)
    : settings_(settings),
      http_settings_(http_settings),
      body_budget_(http_settings.body_budget_bytes),
      commands_(store, &settings_, this),
      routes_(store, &http_settings_, &settings_, this),
      loops_(store),
      memcache_(store, &commands_, &settings_, &loops_),
      http_(&routes_, &http_settings_, &body_budget_, &loops_),
      started_(std::chrono::steady_clock::now()) {}

std::vector<net::Listener> Faces::Listeners(const std::string& addr, uint16_t port,
                                            bool http_enabled, uint16_t http_port) {
  http_enabled_ = http_enabled;
  std::vector<net::Listener> l;
  l.push_back(net::Listener{addr, port, &memcache_});
  if (http_enabled) l.push_back(net::Listener{addr, http_port, &http_});
  return l;
}

void Faces::Bound(net::Server& server) {
  server_ = &server;
  settings_.io_uring = server.io_uring();
  settings_.port = server.port(kMemcacheListener);
  http_settings_.port = http_enabled_ ? server.port(kHttpListener) : 0;
  started_ = std::chrono::steady_clock::now();
}

void Faces::Sum(ThreadStats* total) const {
  for (const auto& l : loops_.all()) {
    if (l) l->stats.AccumulateInto(total);
  }
  if (server_ == nullptr) return;
  auto add = [](std::atomic<uint64_t>& to, uint64_t n) {
    to.fetch_add(n, std::memory_order_relaxed);
  };
  // Connections are counted over both protocols, bytes by protocol.
  for (size_t i = 0; i < server_->listeners(); i++) {
    net::NetCounts n = server_->Counts(i);
    bool http = i == kHttpListener;
    add(http ? total->http_bytes_read : total->bytes_read, n.bytes_read);
    add(http ? total->http_bytes_written : total->bytes_written, n.bytes_written);
    add(total->total_connections, n.total_connections);
    add(total->rejected_connections, n.rejected_connections);
    add(total->idle_kicks, n.idle_kicks);
    total->curr_connections.fetch_add(n.curr_connections, std::memory_order_relaxed);
  }
}

std::vector<net::ConnInfo> Faces::Connections() const {
  if (server_ == nullptr) return {};
  std::vector<net::ConnInfo> all = server_->Connections();
  std::erase_if(all, [](const net::ConnInfo& c) { return c.listener == kHttpListener; });
  return all;
}

void Faces::Reset() {
  // Counters are reset by the thread running `stats reset`; a racing increment in
  // another thread may survive, which memcached tolerates too.
  for (const auto& l : loops_.all()) {
    if (!l) continue;
    ThreadStats& s = l->stats;
#define BALE_ZERO(name) \
  if (std::string_view(#name) != "total_connections") s.name.store(0, std::memory_order_relaxed);
    BALE_THREAD_STATS(BALE_ZERO)
#undef BALE_ZERO
  }
  if (server_ == nullptr) return;
  // As before the counters moved to net: HTTP's byte counts are never reset.
  for (size_t i = 0; i < server_->listeners(); i++) {
    server_->ResetCounts(i, /*bytes=*/i != kHttpListener);
  }
}

uint64_t Faces::uptime_s() const {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_)
          .count());
}

}  // namespace bale
