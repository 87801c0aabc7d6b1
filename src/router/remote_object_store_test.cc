// The router's RemoteObjectStore against real store nodes: three net::Servers on
// 127.0.0.1, each with a StoreService over its own LocalObjectStore in a temporary
// directory, and a MapHolder with the cluster map naming them. Mutations give what a
// LocalObjectStore gives directly and land on the node the map names; multi-get
// (Prefetch); a stopped or silent node; map changes and WRONG_EPOCH; FlushAll,
// PutAtomic and Stats over every node.
#include "router/remote_object_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "router_fixture.h"

namespace bale {
namespace {

using namespace ::bale::testing;  // the fixture and its constants

TEST_F(RemoteObjectStoreTest, MutationsGiveWhatTheStoreGivesDirectly) {
  EXPECT_EQ(router_->partitions(), kPartitions);
  EXPECT_FALSE(router_->durability_sync());
  // `m` through the router and `ref` (the same but for versions) on the reference store.
  auto same = [&](const Mutation& m, const Mutation& ref) {
    MutationResult got = RouterMutate(m), want = RefMutate(ref);
    EXPECT_EQ(got.status, want.status) << m.key << " kind " << static_cast<int>(m.kind);
    EXPECT_EQ(got.number, want.number) << m.key;
    EXPECT_EQ(got.meta.flags, want.meta.flags) << m.key;
    EXPECT_EQ(got.meta.expiry, want.meta.expiry) << m.key;
    EXPECT_EQ(got.meta.size, want.meta.size) << m.key;
    EXPECT_EQ(got.error.message(), want.error.message()) << m.key;
    EXPECT_EQ(got.meta.version != 0, want.meta.version != 0) << m.key;
    std::string want_value = RefValue(m.key), got_value = RouterValue(m.key);
    if (want_value == "<missing>") {
      EXPECT_EQ(got_value.rfind("<NotFound", 0), 0u) << got_value;
    } else {
      EXPECT_EQ(got_value, want_value);
    }
    return got;
  };
  auto both = [&](const Mutation& m) { return same(m, m); };

  for (uint32_t p = 0; p < kPartitions; p++) {
    std::string key = KeyIn(p);
    Mutation m;
    m.key = key;
    m.value = "12";
    m.flags = 5;
    m.content_type = "text/plain";
    m.kind = MutationKind::kReplace;
    both(m);  // kNotStored
    m.kind = MutationKind::kSet;
    MutationResult set = both(m);
    ASSERT_EQ(set.status, MutationStatus::kOk);
    ExpectOnlyOnOwner(key, "12");
    ObjectView v;
    ASSERT_TRUE(router_->Get(session_.get(), key, LookupOptions(), &v).ok());
    EXPECT_EQ(v.key, key);
    EXPECT_EQ(v.meta.flags, 5u);
    EXPECT_EQ(v.meta.version, set.meta.version);
    EXPECT_EQ(v.content_type, "text/plain");

    m.kind = MutationKind::kAdd;
    both(m);  // kNotStored
    m.kind = MutationKind::kReplace;
    m.value = "7";
    MutationResult replaced = both(m);
    EXPECT_EQ(replaced.status, MutationStatus::kOk);
    EXPECT_NE(replaced.meta.version, set.meta.version);

    // cas: the versions are each store's own.
    ObjectView rv;
    ASSERT_TRUE(ref_->Get(ref_session_.get(), key, LookupOptions(), &rv).ok());
    Mutation cas = m, ref_cas = m;
    cas.kind = ref_cas.kind = MutationKind::kCas;
    cas.value = ref_cas.value = "10";
    cas.compare_version = replaced.meta.version + 1000;
    ref_cas.compare_version = rv.meta.version + 1000;
    EXPECT_EQ(same(cas, ref_cas).status, MutationStatus::kExists);
    cas.compare_version = replaced.meta.version;
    ref_cas.compare_version = rv.meta.version;
    EXPECT_EQ(same(cas, ref_cas).status, MutationStatus::kOk);

    Mutation incr;
    incr.kind = MutationKind::kIncr;
    incr.key = key;
    incr.delta = 32;
    EXPECT_EQ(both(incr).number, 42u);
    Mutation decr = incr;
    decr.kind = MutationKind::kDecr;
    decr.delta = 50;
    EXPECT_EQ(both(decr).number, 0u);  // floored
    Mutation app = incr;
    app.kind = MutationKind::kAppend;
    app.value = "x";
    both(app);
    app.kind = MutationKind::kPrepend;
    app.value = "y";
    both(app);
    EXPECT_EQ(RouterValue(key), "y0x");
    EXPECT_EQ(both(incr).status, MutationStatus::kNonNumeric);
    Mutation touch;
    touch.kind = MutationKind::kTouch;
    touch.key = key;
    touch.expiry = 4000000000u;
    EXPECT_EQ(both(touch).status, MutationStatus::kOk);
    ASSERT_TRUE(router_->Get(session_.get(), key, LookupOptions(), &v).ok());
    EXPECT_EQ(v.meta.expiry, 4000000000u);
    EXPECT_EQ(v.meta.flags, 5u);  // kept by append, prepend, incr, touch
    ExpectOnlyOnOwner(key, "y0x");

    Mutation del;
    del.kind = MutationKind::kDelete;
    del.key = key;
    EXPECT_EQ(both(del).status, MutationStatus::kOk);
    EXPECT_EQ(both(del).status, MutationStatus::kNotFound);
    ExpectOnlyOnOwner(key, "<missing>");
    // Every kind on a missing key.
    EXPECT_EQ(both(incr).status, MutationStatus::kNotFound);
    EXPECT_EQ(both(touch).status, MutationStatus::kNotFound);
    EXPECT_EQ(both(app).status, MutationStatus::kNotStored);
    EXPECT_EQ(same(cas, ref_cas).status, MutationStatus::kNotFound);
    incr.vivify = true;
    incr.initial = 9;
    EXPECT_EQ(both(incr).number, 9u);
    ExpectOnlyOnOwner(key, "9");
  }
}

TEST_F(RemoteObjectStoreTest, PrefetchAnswersTheGetsThatFollow) {
  std::vector<std::string> keys;
  std::vector<int> per_node(kNodes);
  std::string line;
  for (int i = 0; i < 50; i++) {
    keys.push_back("multi" + std::to_string(i));
    per_node[OwnerOf(keys.back())]++;
    line += (i ? " " : "") + keys.back();
  }
  for (uint32_t i = 0; i < kNodes; i++) EXPECT_GT(per_node[i], 0) << NodeId(i);
  SetAll(keys);
  for (const std::string& key : keys) ExpectOnlyOnOwner(key, "v-" + key);

  auto gets = [&] {
    uint64_t n = 0;
    for (const auto& node : nodes_) n += node->gets();
    return n;
  };
  // The gets counters move when the node's loop has answered: read them after the reply.
  uint64_t before = gets();
  router_->Prefetch(session_.get(), line, LookupOptions());
  EXPECT_EQ(gets(), before + keys.size());
  for (const std::string& key : keys) {
    ObjectView v;
    ASSERT_TRUE(router_->Get(session_.get(), key, LookupOptions(), &v).ok()) << key;
    EXPECT_EQ(v.key, key);
    EXPECT_EQ(v.value, "v-" + key);
  }
  EXPECT_EQ(gets(), before + keys.size());  // all answered from the prefetch

  // Out of order: the prefetch is dropped and each Get asks its node.
  router_->Prefetch(session_.get(), line, LookupOptions());
  before = gets();
  EXPECT_EQ(RouterValue(keys[0]), "v-" + keys[0]);
  EXPECT_EQ(RouterValue(keys[1]), "v-" + keys[1]);
  EXPECT_EQ(gets(), before);
  EXPECT_EQ(RouterValue(keys[10]), "v-" + keys[10]);
  EXPECT_EQ(RouterValue(keys[2]), "v-" + keys[2]);
  EXPECT_EQ(RouterValue(keys[11]), "v-" + keys[11]);
  EXPECT_EQ(gets(), before + 3);

  // A missing key among them, and a write between the prefetch and the Gets.
  router_->Prefetch(session_.get(), "multi0 absent multi1", LookupOptions());
  EXPECT_EQ(RouterValue("multi0"), "v-multi0");
  EXPECT_EQ(RouterValue("absent").rfind("<NotFound", 0), 0u);
  EXPECT_EQ(RouterValue("multi1"), "v-multi1");
  router_->Prefetch(session_.get(), "multi0 multi1", LookupOptions());
  Mutation m;
  m.key = "multi1";
  m.value = "changed";
  ASSERT_EQ(RouterMutate(m).status, MutationStatus::kOk);
  EXPECT_EQ(RouterValue("multi0"), "v-multi0");
  EXPECT_EQ(RouterValue("multi1"), "changed");
}

TEST_F(RemoteObjectStoreTest, StoppedNodeIsUnavailableOthersAnswer) {
  UseStoreTimeout(kTimeoutMs);
  std::vector<std::string> keys;
  for (uint32_t p = 0; p < kPartitions; p++) keys.push_back(KeyIn(p));
  SetAll(keys);
  for (const std::string& key : keys) EXPECT_EQ(RouterValue(key), "v-" + key);  // connected
  const uint32_t down = 2;
  uint16_t port = nodes_[down]->port();
  nodes_[down]->Stop();

  auto check = [&](const char* how) {
    for (const std::string& key : keys) {
      SCOPED_TRACE(std::string(how) + ": " + key);
      if (OwnerOf(key) != down) {
        EXPECT_EQ(RouterValue(key), "v-" + key);
        std::string value = "v-" + key;
        Mutation m;
        m.key = key;
        m.value = value;
        EXPECT_EQ(RouterMutate(m).status, MutationStatus::kOk);
        continue;
      }
      ExpectUnavailable(key, {NodeId(down)});
    }
  };
  check("stopped");
  // Prefetch with the node down: its keys fail alone.
  std::string line;
  for (const std::string& key : keys) line += key + " ";
  router_->Prefetch(session_.get(), line, LookupOptions());
  for (const std::string& key : keys) {
    std::string got = RouterValue(key);
    if (OwnerOf(key) == down) {
      EXPECT_EQ(got.rfind("<Unavailable", 0), 0u) << got;
    } else {
      EXPECT_EQ(got, "v-" + key);
    }
  }

  // A node that accepts connections but never answers (a listener nobody accepts from):
  // the calls wait for the store timeout, no longer.
  testing::SilentListener silent(port);
  ASSERT_TRUE(silent.ok());
  auto start = Clock::now();
  EXPECT_EQ(RouterValue(keys[down]).rfind("<Unavailable", 0), 0u);
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(kTimeoutMs - 20));
  check("silent");
}

TEST_F(RemoteObjectStoreTest, RequestsFollowAMovedPartition) {
  UseStoreTimeout(kTimeoutMs);
  std::string k0 = KeyIn(0), k1 = KeyIn(1), k2 = KeyIn(2);
  SetAll({k0, k1, k2});
  ExpectOnlyOnOwner(k0, "v-" + k0);
  // Partition 0 moves from node 0 to node 1 (which opened it, empty).
  owners_[0] = 1;
  SetNodeMaps(kEpoch + 1, owners_);
  ASSERT_TRUE(maps_.Set(RouterMap(kEpoch + 1, owners_)));
  EXPECT_EQ(RouterValue(k0).rfind("<NotFound", 0), 0u);  // node 1's partition 0 is empty
  Mutation m;
  m.key = k0;
  m.value = "moved";
  ASSERT_EQ(RouterMutate(m).status, MutationStatus::kOk);
  EXPECT_EQ(RouterValue(k0), "moved");
  EXPECT_EQ(nodes_[1]->Value(k0), "moved");
  EXPECT_EQ(nodes_[0]->Value(k0), "v-" + k0);  // node 0's copy stays, no longer served
  EXPECT_EQ(RouterValue(k1), "v-" + k1);
  EXPECT_EQ(RouterValue(k2), "v-" + k2);
  // A router still at the old map is fenced off node 0: Unavailable, not the old value.
  MapHolder stale_maps;
  ASSERT_TRUE(stale_maps.Set(RouterMap(kEpoch, FirstOwners())));
  RouterOptions options;
  options.store_timeout_ms = kTimeoutMs;
  RemoteObjectStore stale(&stale_maps, options);
  std::unique_ptr<ObjectSession> stale_session = stale.NewSession();
  ObjectView v;
  Status s = stale.Get(stale_session.get(), k0, LookupOptions(), &v);
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_GT(nodes_[0]->service->counters().wrong_epoch.load(), 0u);
}

TEST_F(RemoteObjectStoreTest, RouterBehindCatchesUpWithinTheTimeout) {
  UseStoreTimeout(kTimeoutMs);
  std::string key = KeyIn(4);
  SetAll({key});
  SetNodeMaps(kEpoch + 1, owners_);  // the nodes at 3, the router's holder at 2
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    maps_.Set(RouterMap(kEpoch + 1, owners_));
  });
  auto start = Clock::now();
  std::string got = RouterValue(key);
  auto elapsed = Clock::now() - start;
  later.join();
  EXPECT_EQ(got, "v-" + key);
  EXPECT_GE(elapsed, std::chrono::milliseconds(90));
  EXPECT_LT(elapsed, kCallBound);
  EXPECT_EQ(maps_.Get()->epoch(), kEpoch + 1);
  // A mutation the same way.
  SetNodeMaps(kEpoch + 2, owners_);
  std::thread later2([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    maps_.Set(RouterMap(kEpoch + 2, owners_));
  });
  Mutation m;
  m.key = key;
  m.value = "after";
  start = Clock::now();
  MutationResult r = RouterMutate(m);
  elapsed = Clock::now() - start;
  later2.join();
  EXPECT_EQ(r.status, MutationStatus::kOk) << r.error.ToString();
  EXPECT_LT(elapsed, kCallBound);
  EXPECT_EQ(nodes_[OwnerOf(key)]->Value(key), "after");
}

TEST_F(RemoteObjectStoreTest, RouterThatNeverCatchesUpIsUnavailable) {
  UseStoreTimeout(kTimeoutMs);
  std::string key = KeyIn(5);
  SetAll({key});
  SetNodeMaps(kEpoch + 1, owners_);  // the nodes at 3, the router stays at 2
  ExpectUnavailable(key, {"is at map epoch 3, the router at 2", NodeId(OwnerOf(key))});
  EXPECT_EQ(nodes_[OwnerOf(key)]->Value(key), "v-" + key);
  // flush_all too: refused by every node, nothing flushed.
  MutationResult flushed;
  CallbackCompletion done([&](const MutationResult& r) { flushed = r; });
  auto start = Clock::now();
  router_->FlushAll(0, session_.get(), &done);
  EXPECT_LT(Clock::now() - start, kCallBound);
  EXPECT_NE(flushed.status, MutationStatus::kOk);
  EXPECT_NE(flushed.error.message().find("WRONG_EPOCH"), std::string::npos)
      << flushed.error.ToString();
  EXPECT_EQ(nodes_[OwnerOf(key)]->Value(key), "v-" + key);

  // The router ahead of nodes that never catch up: the same, within the bound.
  ASSERT_TRUE(maps_.Set(RouterMap(kEpoch + 2, owners_)));
  ExpectUnavailable(key, {"is at map epoch 3, the router at 4"});
}

TEST_F(RemoteObjectStoreTest, FlushAllReachesEveryNode) {
  std::vector<std::string> keys;
  for (uint32_t p = 0; p < kPartitions; p++) {
    keys.push_back(KeyIn(p, 0));
    keys.push_back(KeyIn(p, 1));
  }
  SetAll(keys);
  ObjectStats before = router_->Stats();
  EXPECT_EQ(before.live_objects, keys.size());
  MutationResult out;
  int calls = 0;
  CallbackCompletion done([&](const MutationResult& r) {
    out = r;
    calls++;
  });
  router_->FlushAll(0, session_.get(), &done);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(out.status, MutationStatus::kOk) << out.error.ToString();
  for (const std::string& key : keys) {
    EXPECT_EQ(RouterValue(key).rfind("<NotFound", 0), 0u) << key;
    ExpectOnlyOnOwner(key, "<missing>");
  }
  // Written after the flush: visible.
  Mutation m;
  m.key = keys[0];
  m.value = "fresh";
  ASSERT_EQ(RouterMutate(m).status, MutationStatus::kOk);
  EXPECT_EQ(RouterValue(keys[0]), "fresh");
}

TEST_F(RemoteObjectStoreTest, PutAtomicWithinOneNodeOnly) {
  // Partitions 0 and 3 are node 0's.
  std::string a = KeyIn(0, 0, "batch"), b = KeyIn(3, 0, "batch"), c = KeyIn(0, 1, "batch");
  std::vector<BatchPut> items(3);
  items[0].key = a;
  items[0].value = "1";
  items[1].key = b;
  items[1].value = "2";
  items[1].flags = 9;
  items[2].key = c;
  items[2].value = "3";
  items[2].cookie = 77;
  MutationResult out;
  auto put = [&](std::span<BatchPut> batch) {
    out = MutationResult();
    CallbackCompletion done([&](const MutationResult& r) { out = r; });
    router_->PutAtomic(batch, session_.get(), &done);
    return out.status;
  };
  ASSERT_EQ(put(items), MutationStatus::kOk) << out.error.ToString();
  for (const BatchPut& item : items) {
    EXPECT_NE(item.version, 0u) << item.key;
    EXPECT_NE(item.cookie, 0u) << item.key;
    EXPECT_FALSE(item.taken);
    ExpectOnlyOnOwner(item.key, item.value);
    ObjectView v;
    ASSERT_TRUE(router_->Get(session_.get(), item.key, LookupOptions(), &v).ok());
    EXPECT_EQ(v.meta.version, item.version);
    EXPECT_EQ(v.meta.cookie, item.cookie);
    EXPECT_EQ(v.meta.flags, item.flags);
  }
  EXPECT_EQ(items[2].cookie, 77u);

  // An only_if_absent item whose key is taken: nothing stored.
  std::string d = KeyIn(3, 1, "batch");
  std::vector<BatchPut> taken(2);
  taken[0].key = d;
  taken[0].value = "4";
  taken[1].key = a;
  taken[1].value = "5";
  taken[1].only_if_absent = true;
  EXPECT_EQ(put(taken), MutationStatus::kExists);
  EXPECT_TRUE(taken[1].taken);
  EXPECT_EQ(RouterValue(d).rfind("<NotFound", 0), 0u);
  EXPECT_EQ(RouterValue(a), "1");

  // Across nodes (partitions 0 and 1): refused, nothing stored anywhere.
  std::string e = KeyIn(0, 2, "batch"), f = KeyIn(1, 0, "batch");
  std::vector<BatchPut> spread(2);
  spread[0].key = e;
  spread[0].value = "6";
  spread[1].key = f;
  spread[1].value = "7";
  EXPECT_EQ(put(spread), MutationStatus::kInvalid);
  EXPECT_NE(out.error.message().find("several nodes"), std::string::npos) << out.error.ToString();
  for (const BatchPut& item : spread) {
    EXPECT_EQ(item.version, 0u);
    EXPECT_EQ(RouterValue(item.key).rfind("<NotFound", 0), 0u) << item.key;
    ExpectOnlyOnOwner(item.key, "<missing>");
  }
}

TEST_F(RemoteObjectStoreTest, StatsSumTheNodes) {
  std::vector<std::string> keys;
  for (int i = 0; i < 30; i++) keys.push_back("stat" + std::to_string(i));
  SetAll(keys);
  uint64_t sum = 0;
  std::vector<uint64_t> per_node;
  for (const auto& n : nodes_) {
    per_node.push_back(n->objects->Stats().live_objects);
    EXPECT_GT(per_node.back(), 0u) << n->id;
    sum += per_node.back();
  }
  EXPECT_EQ(sum, keys.size());
  ObjectStats s = router_->Stats();
  EXPECT_EQ(s.live_objects, sum);
  EXPECT_EQ(s.partitions, kPartitions);
  EXPECT_GT(s.live_bytes, 0u);
  // A stopped node is left out of the sum.
  nodes_[1]->Stop();
  EXPECT_EQ(router_->Stats().live_objects, sum - per_node[1]);
}

}  // namespace
}  // namespace bale
