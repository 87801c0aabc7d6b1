// FaceLoop: what the memcached and HTTP faces keep per event loop, shared by both: the
// counters, the buffers reused across requests, and the group commit.
//
// Group commit (kSync durability): a request answered while the loop's ObjectSession has
// writes awaiting Commit holds its reply (net::Conn::Hold), once per connection per
// round; the round hook commits once for the whole round (one fdatasync per written
// volume), then releases the holds, or fails them (their connections close without a
// reply) when the commit fails. In other modes nothing awaits a commit and no reply is
// held.
//
// Contract: loop thread only (but the counters, read by `stats` from any thread).
// May call the ObjectStore interface and net's service.h/conn.h; no socket.
#pragma once

#include <time.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "frontend/http_routes.h"
#include "frontend/memcache_commands.h"
#include "frontend/server_stats.h"
#include "net/conn.h"
#include "net/held_round.h"
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
  explicit FaceLoop(ObjectStore* store) : session_(store->NewSession()) {
    http_scratch.stats = &stats;
    http_scratch.session = session_.get();
  }

  // After a request whose reply began at conn.out()[from]: holds it until the round's
  // commit if the round has volumes to sync. `conn_round` is the connection's own
  // record of the round it last held in (one hold per connection per round).
  void HoldIfDirty(net::Conn& conn, size_t from, uint64_t* conn_round) {
    if (session_->commit_pending()) held_.Hold(conn, from, conn_round);
  }

  void OnRoundEnd(net::Loop& loop) override;

  ObjectSession* session() { return session_.get(); }

  ThreadStats stats;
  proto::Request request;  // the memcached face's, reused
  HttpScratch http_scratch;

 private:
  std::unique_ptr<ObjectSession> session_;
  net::HeldRound held_;
};

// Every loop's FaceLoop, made when the server attaches its loops.
class FaceLoops {
 public:
  explicit FaceLoops(ObjectStore* store) : store_(store) {}
  // Idempotent per loop (each face attaches it); registers the round hook once.
  FaceLoop& Attach(net::Loop& loop);
  FaceLoop& at(int index) { return *loops_[static_cast<size_t>(index)]; }
  const std::vector<std::unique_ptr<FaceLoop>>& all() const { return loops_; }

 private:
  ObjectStore* store_;
  std::vector<std::unique_ptr<FaceLoop>> loops_;
};

}  // namespace bale
