// FaceLoop: what the memcached and HTTP faces keep per event loop, shared by both: the
// counters, the buffers reused across requests, and the group commit.
//
// Group commit (kSync durability): a request that leaves volumes to sync holds its reply
// (net::Conn::Hold), once per connection per round; the round hook syncs every written
// volume once for the whole round, then releases the holds, or fails them (their
// connections close without a reply) when the sync fails. In other modes nothing is
// ever dirty and no reply is held.
//
// Contract: loop thread only (but the counters, read by `stats` from any thread).
// May call the store (Sync) and net's service.h/conn.h; no socket.
#pragma once

#include <time.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "frontend/http_routes.h"
#include "frontend/memcache_commands.h"
#include "frontend/server_stats.h"
#include "net/conn.h"
#include "net/service.h"
#include "proto/memcache_request.h"

namespace bale {

inline uint64_t MonotonicNs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

class FaceLoop final : public net::RoundHook {
 public:
  explicit FaceLoop(Store* store) : store_(store) {
    http_scratch.stats = &stats;
    http_scratch.dirty = &dirty;
  }

  // After a request whose reply began at conn.out()[from]: holds it until the round's
  // commit if the round has volumes to sync. `conn_round` is the connection's own
  // record of the round it last held in (one hold per connection per round).
  void HoldIfDirty(net::Conn& conn, size_t from, uint64_t* conn_round) {
    if (dirty.empty() || *conn_round == round_) return;
    *conn_round = round_;
    held_.push_back(conn.Hold(from));
  }

  void OnRoundEnd(net::Loop& loop) override;

  ThreadStats stats;
  DirtyVolumes dirty;
  proto::Request request;  // the memcached face's, reused
  HttpScratch http_scratch;

 private:
  Store* store_;
  std::vector<net::Ticket> held_;
  uint64_t round_ = 1;
};

// Every loop's FaceLoop, made when the server attaches its loops.
class FaceLoops {
 public:
  explicit FaceLoops(Store* store) : store_(store) {}
  // Idempotent per loop (each face attaches it); registers the round hook once.
  FaceLoop& Attach(net::Loop& loop);
  FaceLoop& at(int index) { return *loops_[static_cast<size_t>(index)]; }
  const std::vector<std::unique_ptr<FaceLoop>>& all() const { return loops_; }

 private:
  Store* store_;
  std::vector<std::unique_ptr<FaceLoop>> loops_;
};

}  // namespace bale
