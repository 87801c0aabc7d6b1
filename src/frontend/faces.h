// Faces: the memcached and HTTP faces of `bale serve` over one ObjectStore, ready to hand to
// a net::Server as listeners: owns MemcacheCommands, HttpRoutes, both Services, their
// per-loop state (face_loop.h), the HTTP body budget, and the StatsSource that `stats`
// and /metrics read (the faces' counters plus the server's net counters).
//
// Contract: built before the Server, outlives it. Calls the faces and net::Server's
// public interface; no socket.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "base/memory_budget.h"
#include "frontend/face_loop.h"
#include "frontend/http_face.h"
#include "frontend/http_routes.h"
#include "frontend/memcache_commands.h"
#include "frontend/memcache_face.h"
#include "net/server.h"

namespace bale {

class Faces final : public StatsSource {
 public:
  Faces(ObjectStore* store, const MemcacheSettings& settings, const HttpSettings& http_settings);

  // The listeners to serve: memcached on `port`, HTTP on `http_port` when http_enabled.
  std::vector<net::Listener> Listeners(const std::string& addr, uint16_t port, bool http_enabled,
                                       uint16_t http_port);
  // From net::Server::Start's `bound` callback: takes the ports as bound and the
  // io_uring state before the loops run, and reads the net counters from `server`.
  void Bound(net::Server& server);

  MemcacheService* memcache_service() { return &memcache_; }
  HttpService* http_service() { return &http_; }
  HttpRoutes* routes() { return &routes_; }

  // StatsSource
  void Sum(ThreadStats* total) const override;
  void Reset() override;
  uint64_t uptime_s() const override;
  uint64_t http_body_bytes() const override { return body_budget_.used(); }
  std::vector<net::ConnInfo> Connections() const override;

 private:
  MemcacheSettings settings_;
  HttpSettings http_settings_;
  MemoryBudget body_budget_;
  MemcacheCommands commands_;
  HttpRoutes routes_;
  FaceLoops loops_;
  MemcacheService memcache_;
  HttpService http_;
  net::Server* server_ = nullptr;
  bool http_enabled_ = false;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace bale
