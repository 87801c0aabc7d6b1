// RemoteObjectStore: the ObjectStore a router serves its faces from (`bale router`):
// every request goes to the store node that owns the key's partition in the newest
// cluster map (cluster/map_holder.h), over the internal protocol (router/store_client.h).
//
// Contract:
// - Sessions are per event-loop thread; each keeps its own persistent connections, one
//   per store node, and calls block the loop thread until the node answers or
//   RouterOptions::store_timeout_ms passes (the reply is then Unavailable, naming the
//   node and the partition: memcached's SERVER_ERROR, HTTP's 503).
// - Retries: a node that cannot be reached, or answers NOT_HELD, is tried again once the
//   map names another node for the partition (the map is re-read, not waited for); a
//   node whose epoch differs (WRONG_EPOCH) is retried when this router's map has caught
//   up with it (waited for up to the timeout) or it with ours.
// - Multi-key gets: Prefetch sends every key at once, one batch per node, and the Gets
//   that follow are answered from those replies in order.
// - A Get's view points into the session's connection buffer: valid until the session's
//   next call.
// - Writes are acknowledged by the owning node (after its group commit when the node is
//   in --durability sync), so durability_sync() is false here: the router has nothing to
//   commit.
// - FlushAll goes to every node of the map; it succeeds when all of them did (a node that
//   failed leaves its objects visible and the reply says which node). PutAtomic is
//   atomic when its items are in one node's partitions; items spread over several nodes
//   are refused (kInvalid) rather than stored half. Colocated tells the batch route
//   which generated ids keep a batch on one node.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/map_holder.h"
#include "frontend/object_store.h"
#include "net/tls.h"
#include "proto/internal_frame.h"

namespace bale::router {

struct RouterOptions {
  int store_timeout_ms = 1000;
  proto::FrameLimits limits;
  // The cluster's secret: every connection to a node runs the handshake
  // (proto/handshake.h) first. Empty: none (the nodes must be insecure too).
  std::string cluster_secret;
  // TLS to the nodes (net/tls.h, a client-side context); null: plain TCP.
  std::shared_ptr<const net::TlsContext> tls;
};

// Each node's figures (a STATS frame to every node of `map` at once, on connections of
// its own), by node; nullopt for a node that did not answer within timeout_ms.
std::vector<std::optional<ObjectStats>> AskNodeStats(
    const ClusterMap& map, int timeout_ms, const std::string& cluster_secret,
    const proto::FrameLimits& limits = {}, std::shared_ptr<const net::TlsContext> tls = nullptr);

class RemoteObjectStore final : public ObjectStore {
 public:
  RemoteObjectStore(MapHolder* maps, RouterOptions options)
      : maps_(maps), options_(std::move(options)) {}

  std::unique_ptr<ObjectSession> NewSession() override;
  Status Get(ObjectSession* session, std::string_view key, const LookupOptions& options,
             ObjectView* view) override;
  void Prefetch(ObjectSession* session, std::string_view keys,
                const LookupOptions& options) override;
  void Mutate(ObjectSession* session, const Mutation& m, MutationCompletion* done) override;
  void FlushAll(uint32_t when, ObjectSession* session, MutationCompletion* done) override;
  void PutAtomic(std::span<BatchPut> items, ObjectSession* session,
                 MutationCompletion* done) override;

  bool Colocated(std::string_view a, std::string_view b) const override;
  uint32_t PartitionOf(std::string_view key) const override;
  uint32_t partitions() const override;
  bool durability_sync() const override { return false; }
  std::string_view durability_name() const override { return "store nodes'"; }

  // Summed over the nodes that answered a STATS frame (those that did not are counted
  // in unavailable_partitions through Health).
  ObjectStats Stats() const override;
  std::vector<DamageReportView> Damage() const override { return {}; }
  std::vector<PartitionHealth> Health() const override;
  bool RequestCompaction() override { return false; }

 private:
  class Session;
  MapHolder* maps_;
  const RouterOptions options_;
};

}  // namespace bale::router
