// RemoteObjectStoreTest: the router's RemoteObjectStore against real store nodes, for
// the router's tests (src/router/*_test.cc): three net::Servers on 127.0.0.1, each with
// a StoreService over its own LocalObjectStore in a temporary directory, a MapHolder
// with the cluster map naming them, and a LocalObjectStore to compare with.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "router/remote_object_store.h"
#include "silent_listener.h"
#include "store/local_object_store.h"
#include "store_node.h"
#include "test_util.h"

namespace bale::testing {

using ::bale::testing::TempDir;
using router::RemoteObjectStore;
using router::RouterOptions;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kPartitions = 6;
constexpr uint32_t kNodes = 3;
constexpr uint64_t kEpoch = 2;
// The store timeout of the tests that time the router's waits; the others use a
// generous one, so that a busy machine does not turn a slow answer into Unavailable.
constexpr int kTimeoutMs = 300;
constexpr int kRelaxedTimeoutMs = 5000;
// A bound for one call that may wait for the store timeout once, on a busy machine.
constexpr auto kCallBound = std::chrono::milliseconds(3 * kTimeoutMs);

// Partition p's owner in the first map: node p % kNodes. Node 1's store also opens
// partition 0 (empty), so that a later map can move partition 0 to it.
inline std::vector<uint32_t> FirstOwners() {
  std::vector<uint32_t> owners(kPartitions);
  for (uint32_t p = 0; p < kPartitions; p++) owners[p] = p % kNodes;
  return owners;
}

inline std::string NodeId(uint32_t i) { return "node" + std::to_string(i); }

// A map holding `held` (the partitions a node's store opens).
inline ClusterMap StoreHeldMap(const std::vector<uint32_t>& held) {
  ClusterMap map;
  EXPECT_TRUE(ClusterMap::Holding(kPartitions, held, 0, &map).ok());
  return map;
}

// One store node: a store opened with `store_held`, its service (the cluster's map is
// set once every node's port is known) and a server on an ephemeral port.
struct Node : testing::StoreNode {
  Node(uint32_t index, const std::string& dir, const std::vector<uint32_t>& store_held)
      : StoreNode(dir, StoreHeldMap(store_held)),
        id(NodeId(index)),
        session(objects->NewSession()) {}
  ~Node() { session.reset(); }
  // The key's value read from this node's store directly ("<missing>" if not here).
  std::string Value(std::string_view key) {
    ObjectView v;
    Status s = objects->Get(session.get(), key, LookupOptions(), &v);
    return s.ok() ? std::string(v.value) : "<missing>";
  }
  uint64_t gets() const { return service->counters().gets.load(); }

  std::string id;
  std::unique_ptr<ObjectSession> session;  // the test thread's, for Value
};

class RemoteObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (uint32_t i = 0; i < kNodes; i++) {
      std::vector<uint32_t> held;
      for (uint32_t p = 0; p < kPartitions; p++) {
        if (p % kNodes == i || (i == 1 && p == 0)) held.push_back(p);
      }
      nodes_.push_back(std::make_unique<Node>(i, tmp_.Sub(NodeId(i)), held));
    }
    StoreOptions o;
    o.dir = tmp_.Sub("reference");
    o.partitions = kPartitions;
    ASSERT_TRUE(Store::Open(o, &ref_store_).ok());
    ref_ = std::make_unique<LocalObjectStore>(ref_store_.get(), Durability::kNone);
    ref_session_ = ref_->NewSession();

    owners_ = FirstOwners();
    SetNodeMaps(kEpoch, owners_);
    ASSERT_TRUE(maps_.Set(RouterMap(kEpoch, owners_)));
    UseStoreTimeout(kRelaxedTimeoutMs);
  }
  // A new router (and session) with this store timeout.
  void UseStoreTimeout(int ms) {
    session_.reset();
    RouterOptions options;
    options.store_timeout_ms = ms;
    router_ = std::make_unique<RemoteObjectStore>(&maps_, options);
    session_ = router_->NewSession();
  }
  void TearDown() override {
    session_.reset();
    router_.reset();
    nodes_.clear();
    ref_session_.reset();
    ref_.reset();
    if (ref_store_ != nullptr) {
      EXPECT_TRUE(ref_store_->Close().ok());
    }
  }

  // The cluster's map at `epoch` seen from node `self` (empty: the router).
  std::shared_ptr<const ClusterMap> MapFrom(uint64_t epoch, const std::vector<uint32_t>& owners,
                                            std::string_view self) {
    std::vector<ClusterNode> cluster;
    for (const auto& n : nodes_) {
      ClusterNode node;
      node.id = n->id;
      node.host = "127.0.0.1";
      node.port = n->port();
      cluster.push_back(node);
    }
    auto map = std::make_shared<ClusterMap>();
    EXPECT_TRUE(ClusterMap::Assigned(kPartitions, epoch, cluster, owners, self, map.get()).ok());
    return map;
  }
  std::shared_ptr<const ClusterMap> RouterMap(uint64_t epoch, const std::vector<uint32_t>& owners) {
    return MapFrom(epoch, owners, "");
  }
  void SetNodeMaps(uint64_t epoch, const std::vector<uint32_t>& owners) {
    for (const auto& n : nodes_) n->service->SetMap(MapFrom(epoch, owners, n->id));
  }

  // The `n`th key (from 0) of partition `p`.
  static std::string KeyIn(uint32_t p, int n = 0, std::string_view prefix = "key") {
    ClusterMap all = ClusterMap::AllLocal(kPartitions);
    for (int i = 0;; i++) {
      std::string key = std::string(prefix) + std::to_string(i);
      if (all.PartitionOf(key) == p && n-- == 0) return key;
    }
  }
  uint32_t OwnerOf(std::string_view key) const {
    return owners_[ClusterMap::AllLocal(kPartitions).PartitionOf(key)];
  }

  MutationResult RouterMutate(const Mutation& m) {
    MutationResult out;
    int calls = 0;
    Mutate(router_.get(), session_.get(), m, [&](const MutationResult& r) {
      out = r;
      calls++;
    });
    EXPECT_EQ(calls, 1);
    return out;
  }
  MutationResult RefMutate(const Mutation& m) {
    MutationResult out;
    Mutate(ref_.get(), ref_session_.get(), m, [&](const MutationResult& r) { out = r; });
    return out;
  }
  // The router's answer for `key`: its value, or "<NotFound: ...>" and the like.
  std::string RouterValue(std::string_view key) {
    ObjectView v;
    Status s = router_->Get(session_.get(), key, LookupOptions(), &v);
    return s.ok() ? std::string(v.value) : "<" + s.ToString() + ">";
  }
  std::string RefValue(std::string_view key) {
    ObjectView v;
    Status s = ref_->Get(ref_session_.get(), key, LookupOptions(), &v);
    return s.ok() ? std::string(v.value) : "<missing>";
  }
  // Where `key` is: its value on the node the map names, and missing on the others.
  void ExpectOnlyOnOwner(std::string_view key, std::string_view value) {
    uint32_t owner = OwnerOf(key);
    for (uint32_t i = 0; i < kNodes; i++) {
      EXPECT_EQ(nodes_[i]->Value(key), i == owner ? value : "<missing>")
          << key << " on " << nodes_[i]->id << " (owner " << NodeId(owner) << ")";
    }
  }
  // A Get and a set of `key` both answer Unavailable within kCallBound, their messages
  // mentioning each of `mentions`; nothing is stored.
  void ExpectUnavailable(const std::string& key, const std::vector<std::string>& mentions) {
    auto start = Clock::now();
    ObjectView v;
    Status s = router_->Get(session_.get(), key, LookupOptions(), &v);
    EXPECT_LT(Clock::now() - start, kCallBound);
    EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
    Mutation m;
    m.key = key;
    m.value = "lost";
    start = Clock::now();
    MutationResult r = RouterMutate(m);
    EXPECT_LT(Clock::now() - start, kCallBound);
    EXPECT_EQ(r.status, MutationStatus::kUnavailable);
    for (const std::string& mention : mentions) {
      EXPECT_NE(s.message().find(mention), std::string::npos) << s.ToString();
      EXPECT_NE(r.error.message().find(mention), std::string::npos) << r.error.ToString();
    }
    for (const auto& n : nodes_) EXPECT_NE(n->Value(key), "lost") << n->id;
  }
  void SetAll(const std::vector<std::string>& keys) {
    for (const std::string& key : keys) {
      std::string value = "v-" + key;
      Mutation m;
      m.key = key;
      m.value = value;
      ASSERT_EQ(RouterMutate(m).status, MutationStatus::kOk) << key;
    }
  }

  TempDir tmp_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::unique_ptr<Store> ref_store_;
  std::unique_ptr<LocalObjectStore> ref_;
  std::unique_ptr<ObjectSession> ref_session_;
  std::vector<uint32_t> owners_;
  MapHolder maps_;
  std::unique_ptr<RemoteObjectStore> router_;
  std::unique_ptr<ObjectSession> session_;
};

}  // namespace bale::testing
