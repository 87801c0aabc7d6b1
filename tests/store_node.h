// StoreNode: a store node for tests over real sockets: a Store in `dir` opened with the
// partitions `map` holds, a LocalObjectStore over it, a StoreService answering from it
// (with `map` until SetMap) and a net::Server (one loop, no io_uring) on 127.0.0.1, on
// an ephemeral port; `auth` is the service's cluster handshake (none by default), `tls`
// the listener's TLS (none by default; TLS handshakes time out after tls_timeout_ms).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/env.h"
#include "cluster/cluster_map.h"
#include "net/server.h"
#include "store/local_object_store.h"
#include "store/store.h"
#include "store/store_service.h"

namespace bale::testing {

struct StoreNode {
  StoreNode(const std::string& dir, const ClusterMap& map, Durability d = Durability::kNone,
            Env* env = Env::Default(), StoreAuth auth = {},
            std::shared_ptr<const net::TlsContext> tls = nullptr, int tls_timeout_ms = 5000) {
    StoreOptions o;
    o.dir = dir;
    o.partitions = map.partition_count();
    o.cluster_map = map;
    o.volume.durability = d;
    o.volume.env = env;
    EXPECT_TRUE(Store::Open(o, &store).ok());
    objects = std::make_unique<LocalObjectStore>(store.get(), d);
    service = std::make_unique<StoreService>(objects.get(), std::make_shared<const ClusterMap>(map),
                                             proto::FrameLimits(), auth);
    net::ServerConfig config;
    config.threads = 1;
    config.io_uring = false;
    server = std::make_unique<net::Server>(
        config, std::vector<net::Listener>{
                    {"127.0.0.1", 0, service.get(), std::move(tls), tls_timeout_ms}});
    EXPECT_TRUE(server->Start().ok());
    bound_port = server->port(0);
  }
  ~StoreNode() {
    Stop();
    service.reset();
    objects.reset();
    EXPECT_TRUE(store->Close().ok());
  }
  StoreNode(const StoreNode&) = delete;
  StoreNode& operator=(const StoreNode&) = delete;

  // Stops the server (its port stays known: port()); the store stays open.
  void Stop() {
    if (server == nullptr) return;
    server->Stop();
    server.reset();
  }
  uint16_t port() const { return bound_port; }

  uint16_t bound_port = 0;
  std::unique_ptr<Store> store;
  std::unique_ptr<LocalObjectStore> objects;
  std::unique_ptr<StoreService> service;
  std::unique_ptr<net::Server> server;
};

}  // namespace bale::testing
