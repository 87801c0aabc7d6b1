// FaceLoop: what the memcached and HTTP faces keep per event loop, shared by both: the
// counters, the buffers reused across requests, and the group commit.
//
// Group commit (kSync durability): a request answered while the loop's ObjectSession has
// writes awaiting Commit holds its reply (net::Conn::Hold), once per connection per
// round; the round hook commits once for the whole round (ObjectSession::CommitAsync:
// with the node's journal, one flush on its flusher thread while the loop goes on with
// the next round), then releases the round's holds, or fails them (their connections
// close without a reply) when the commit fails. A connection's later replies wait
// behind its held one, so nothing it sent after a write is answered before the write is
// durable. In other modes nothing awaits a commit and no reply is held.
//
// Contract: loop thread only (but the counters, read by `stats` from any thread, and
// the commit callbacks, which only queue what came back and wake the loop).
// May call the ObjectStore interface and net's service.h/conn.h; no socket.
#pragma once

#include <time.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
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

class FaceLoop;
struct DeferredRequests;

// What replays a connection's requests that ran speculatively (round batching,
// object_store.h): its handler, called only while the connection is open.
class FaceReplay {
 public:
  // Runs `d`'s requests again, for real, their replies appended to *out.
  virtual void Replay(const DeferredRequests& d, std::string* out, FaceLoop& loop) = 0;

 protected:
  ~FaceReplay() = default;
};

// One connection's requests of a round that wait for the round's store calls: their
// bytes as received, the calls their speculative run recorded, and the held reply
// they complete.
struct DeferredRequests {
  net::Ticket ticket;
  FaceReplay* face = nullptr;
  bool binary = false;
  uint64_t start_ns = 0;  // when the first was read
  std::string bytes;
  size_t requests = 0;
  std::vector<uint32_t> calls;
  // A request made a call it could not record (flush_all): the later ones record none.
  bool barrier = false;
};
// A connection defers at most this many requests, or store calls (a multi-get makes
// one a key), or bytes of them, a round; then it reads no more until their replies are
// sent (a client that does not read its replies holds that much, not all it sent).
inline constexpr size_t kMaxDeferredRequests = 64;
inline constexpr size_t kMaxDeferredCalls = 64;
inline constexpr size_t kMaxDeferredBytes = 256 << 10;

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
  // Waits for the commits in flight and settles their holds.
  void OnLoopStop(net::Loop& loop) override;

  ObjectSession* session() { return session_.get(); }

  // Round batching: this round's number, and a new record of deferred requests whose
  // replies are held at conn.out()[from] (its index for deferred()).
  uint64_t round() const { return round_; }
  size_t Defer(net::Conn& conn, size_t from, FaceReplay* face, bool binary);
  DeferredRequests& deferred(size_t index) { return deferred_[index]; }

  ThreadStats stats;
  proto::Request request;  // the memcached face's, reused
  HttpScratch http_scratch;
  // A speculative run's reply and counters, thrown away.
  std::string speculative_out;
  ThreadStats speculative_stats;

 private:
  // Sends the round's calls, replays each deferred connection's requests into its held
  // reply and releases it.
  void ReplayRound(net::Loop& loop);
  // Releases (or fails) the holds of the commits that came back.
  void SettleCommitted(net::Loop& loop);

  // Commits handed to another thread (ObjectSession::CommitAsync) and back, shared
  // with their callbacks.
  struct CommitMailbox {
    struct Done {
      std::vector<net::Ticket> tickets;
      bool ok;
      uint64_t start_ns;
    };
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Done> done;
    int in_flight = 0;
    bool on_loop_thread = false;  // inside CommitAsync: the loop settles right after
    bool stopped = false;         // OnLoopStop ran: commits wait on the loop's thread
  };
  std::shared_ptr<CommitMailbox> mailbox_ = std::make_shared<CommitMailbox>();

  std::unique_ptr<ObjectSession> session_;
  net::HeldRound held_;
  std::vector<DeferredRequests> deferred_;  // reused: deferred_used_ are this round's
  size_t deferred_used_ = 0;
  uint64_t round_ = 1;
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
