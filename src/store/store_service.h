// StoreService: a store node's internal-protocol listener (proto/internal_frame.h), a
// net::Service that makes one handler per router connection and answers its frames
// from the node's ObjectStore (LocalObjectStore over the partitions this node holds).
//
// Contract:
// - The map: SetMap (any thread, when the cluster map changes) swaps a
//   shared_ptr<const ClusterMap> held in a std::atomic; a handler reads it once per
//   input batch, so a batch is judged against one map.
// - Fencing rule: a request whose epoch is not exactly the node's map epoch gets an
//   ERROR frame WRONG_EPOCH carrying the node's epoch, older and newer alike: a router
//   behind refreshes its map; a router ahead of the node (the node has not seen the new
//   map yet) waits and retries. HELLO and STATS are node-level and not fenced.
// - A GET or MUTATE names its key's partition: NOT_HELD when the node does not hold it,
//   BAD_REQUEST when the key is not in it. PUT_ATOMIC items must all be in partitions
//   held here (NOT_HELD otherwise, nothing stored).
// - A malformed frame (bad header, unknown version, a length past the limit, bad
//   extras, a reply sent to the node) gets an ERROR frame and then the connection
//   closes; nothing of an announced length is allocated. Other connections go on.
// - Replies leave in request order, every reply of an input batch in one send (the
//   loop's); GET values from ValueSendfileBytes up leave by sendfile from their segment.
// - Durability: when the store is durability_sync(), a connection's replies from the
//   first one after a write of the round are held (net::HeldRound) until the loop's
//   round hook has committed the round's writes with one ObjectSession::Commit; a
//   failed commit closes those connections unanswered.
// - The store's completions must come before Mutate/FlushAll/PutAtomic return
//   (LocalObjectStore's do): the reply is written by the completion.
// - The cluster handshake (proto/handshake.h), when StoreAuth has a secret: a connection
//   is served nothing before it proved the secret. A failure (a frame before the
//   handshake, a plain or malformed HELLO, a proof that does not verify) is logged with
//   the peer's address, counted (auth_failures) and answered by closing the connection
//   after failure_delay_ms (on the loop's ticks, so up to a second more), its input
//   discarded meanwhile; a connection that has not finished the handshake within
//   handshake_timeout_ms is closed too (and counted). Frames before the handshake are
//   limited to proto::kMaxHandshakeFrame bytes. Without a secret every connection is served
//   as it comes (a HELLO is answered with a plain HELLO: "this node does not
//   authenticate").
// - TLS (net/tls.h) is the listener's (net::Listener::tls), below this service: a
//   connection whose TLS handshake fails or times out (a plain-TCP client, a certificate
//   from another CA, none when the CA requires one) is logged with the peer's address
//   and counted in auth_failures and tls_failures, then closed at once by the loop. The
//   cluster handshake, when there is a secret, runs inside TLS.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/cluster_map.h"
#include "frontend/object_store.h"
#include "net/held_round.h"
#include "net/service.h"
#include "proto/internal_frame.h"

namespace bale {

// Values of this size or more leave by sendfile from their segment, not copied.
inline constexpr size_t kValueSendfileBytes = 64 << 10;

// What a node counts, for /metrics (any thread reads, relaxed).
struct StoreServiceCounters {
  std::atomic<uint64_t> frames{0};  // well-formed request frames
  std::atomic<uint64_t> gets{0};
  std::atomic<uint64_t> mutations{0};  // MUTATE, FLUSH_ALL, PUT_ATOMIC
  // Errors by kind.
  std::atomic<uint64_t> wrong_epoch{0};
  std::atomic<uint64_t> not_held{0};
  std::atomic<uint64_t> bad_frame{0};  // malformed frames and unsupported versions
  std::atomic<uint64_t> too_large{0};
  std::atomic<uint64_t> bad_request{0};
  std::atomic<uint64_t> unavailable{0};  // partition unavailable answers
  std::atomic<uint64_t> commit_failures{0};
  // The cluster handshake: connections that passed it, and those refused or timed out.
  std::atomic<uint64_t> auth_ok{0};
  std::atomic<uint64_t> auth_failures{0};
  std::atomic<uint64_t> tls_failures{0};  // of those, TLS handshakes that failed or timed out

  static void Add(std::atomic<uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }

  // Every counter with its name and meaning (a node's /metrics and /status).
  struct Named {
    const char* name;
    const char* help;
    uint64_t value;
  };
  std::vector<Named> List() const;
};

// The cluster handshake a node asks of every connection (see the contract).
struct StoreAuth {
  std::string secret;  // empty: none (insecure)
  int handshake_timeout_ms = 5000;
  int failure_delay_ms = 1000;
  // One line per refused connection (never the secret); null: stderr, "bale store: ".
  std::function<void(const std::string&)> log;
};

class StoreService final : public net::Service {
 public:
  // `store` outlives this; `map` is the node's view of the cluster (a valid map:
  // partition_count() > 0, the store's partition count).
  StoreService(ObjectStore* store, std::shared_ptr<const ClusterMap> map,
               proto::FrameLimits limits = {}, StoreAuth auth = {});
  ~StoreService() override;

  // Any thread: the map later batches are judged against.
  void SetMap(std::shared_ptr<const ClusterMap> map) { map_.store(std::move(map)); }
  std::shared_ptr<const ClusterMap> map() const { return map_.load(); }
  const StoreServiceCounters& counters() const { return counters_; }

  void AttachLoop(net::Loop& loop) override;
  std::unique_ptr<net::Handler> NewHandler(net::Loop& loop, net::Conn& conn) override;
  void OnTlsFailure(net::Conn& conn, std::string_view why) override;

 private:
  class Handler;
  // Per loop: the session and the group commit's held replies.
  class LoopState final : public net::RoundHook {
   public:
    LoopState(ObjectStore* store, StoreServiceCounters* counters)
        : session(store->NewSession()), counters_(counters) {}
    void OnRoundEnd(net::Loop& loop) override;
    std::unique_ptr<ObjectSession> session;
    net::HeldRound held;

   private:
    StoreServiceCounters* counters_;
  };

  void Log(const std::string& line) const;

  ObjectStore* store_;
  std::atomic<std::shared_ptr<const ClusterMap>> map_;
  proto::FrameLimits limits_;
  const StoreAuth auth_;
  StoreServiceCounters counters_;
  std::vector<std::unique_ptr<LoopState>> loops_;
};

}  // namespace bale
