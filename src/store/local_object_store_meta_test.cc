// Tests for LocalObjectStore's meta semantics (memcached's meta commands, as memcached
// 1.6.18 does them): stale marks (durable), win tokens, vivify on miss, recache, fetch
// state, explicit versions; and versions (CAS values) that never repeat across keys,
// partitions, restarts and compaction.
#include <gtest/gtest.h>

#include <ctime>
#include <memory>
#include <set>
#include <string>

#include "store/local_object_store.h"
#include "test_util.h"

namespace bale {
namespace {

using testing::TempDir;

uint32_t Now() { return static_cast<uint32_t>(::time(nullptr)); }

class MetaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void TearDown() override { Close(); }
  void Open() {
    StoreOptions o;
    o.dir = tmp_.Sub("data");
    o.partitions = partitions_;
    o.volume.durability = Durability::kNone;
    o.volume.segment_bytes = 64 << 10;  // many sealed segments to compact
    o.compaction.automatic = false;     // the test compacts every sealed one itself
    ASSERT_TRUE(Store::Open(o, &store_).ok());
    objects_ = std::make_unique<LocalObjectStore>(store_.get(), Durability::kNone);
    session_ = objects_->NewSession();
  }
  void Close() {
    session_.reset();
    objects_.reset();
    if (store_) {
      EXPECT_TRUE(store_->Close().ok());
    }
    store_.reset();
  }
  void Restart() {
    Close();
    Open();
  }
  // Compacts every sealed segment of every partition.
  void CompactAll() {
    for (uint32_t p = 0; p < store_->partitions(); p++) {
      Volume* v = store_->volume(p);
      for (const SegmentInfo& seg : v->Segments()) {
        if (!seg.sealed) continue;
        CompactionResult r;
        ASSERT_TRUE(v->Compact(seg.seq, &r).ok()) << p << " " << seg.seq;
        compacted_++;
      }
    }
  }
  MutationResult Run(const Mutation& m) {
    MutationResult out;
    Mutate(objects_.get(), session_.get(), m, [&](const MutationResult& r) { out = r; });
    return out;
  }
  MutationResult Set(std::string_view key, std::string_view value, uint32_t expiry = 0) {
    Mutation m;
    m.key = key;
    m.value = value;
    m.expiry = expiry;
    return Run(m);
  }
  // The object as a meta lookup sees it; false on a miss.
  bool Meta(std::string_view key, const LookupOptions& o, ObjectMeta* meta,
            std::string* value = nullptr) {
    ObjectView v;
    if (!objects_->Get(session_.get(), key, o, &v).ok()) return false;
    *meta = v.meta;
    if (value != nullptr) value->assign(v.value);
    v.Release();
    return true;
  }
  bool Meta(std::string_view key, ObjectMeta* meta, std::string* value = nullptr) {
    LookupOptions o;
    o.meta = true;
    return Meta(key, o, meta, value);
  }

  uint32_t partitions_ = 16;
  int compacted_ = 0;  // segments CompactAll compacted
  TempDir tmp_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<LocalObjectStore> objects_;
  std::unique_ptr<ObjectSession> session_;
};

// Every version a write hands out, over 10 restarts with compaction in between, many
// keys in many partitions: none twice, each with its partition in the low 16 bits.
TEST_F(MetaStoreTest, CasValuesNeverRepeatAcrossKeysRestartsAndCompaction) {
  std::set<uint64_t> seen;
  std::string value(2000, 'v');
  auto note = [&](const MutationResult& r, std::string_view key) {
    ASSERT_EQ(r.status, MutationStatus::kOk) << key;
    ASSERT_TRUE(seen.insert(r.meta.version).second) << "version " << r.meta.version << " again";
    EXPECT_EQ(r.meta.version & 0xFFFF, objects_->PartitionOf(key)) << key;
  };
  for (int round = 0; round < 10; round++) {
    for (int i = 0; i < 400; i++) {
      std::string key = "key" + std::to_string(i % 150);
      note(Set(key, value), key);
      if (i % 7 == 0) {  // deletes: their tombstones are compacted away
        Mutation d;
        d.kind = MutationKind::kDelete;
        d.key = key;
        ASSERT_EQ(Run(d).status, MutationStatus::kOk);
      }
      if (i % 11 == 0) {
        std::string counter = "n" + std::to_string(i);
        Mutation m;
        m.kind = MutationKind::kIncr;
        m.key = counter;
        m.vivify = true;
        note(Run(m), counter);
        note(Run(m), counter);
      }
    }
    CompactAll();
    Restart();
  }
  EXPECT_GE(seen.size(), 10u * 400);
  EXPECT_GE(compacted_, 16 * 5);  // every partition's segments, most rounds
}

TEST_F(MetaStoreTest, ExplicitVersionRoundTripsAndMustBeAboveThePartitions) {
  MutationResult first = Set("k", "one");
  ASSERT_EQ(first.status, MutationStatus::kOk);
  Mutation m;
  m.key = "k";
  m.value = "two";
  m.explicit_version = first.meta.version + 1000000;
  MutationResult r = Run(m);
  ASSERT_EQ(r.status, MutationStatus::kOk);
  EXPECT_EQ(r.meta.version, m.explicit_version);
  ObjectMeta meta;
  ASSERT_TRUE(Meta("k", &meta));
  EXPECT_EQ(meta.version, m.explicit_version);
  // cas with it; a server version after it is above it.
  Mutation cas;
  cas.kind = MutationKind::kCas;
  cas.key = "k";
  cas.value = "three";
  cas.compare_version = m.explicit_version;
  MutationResult c = Run(cas);
  ASSERT_EQ(c.status, MutationStatus::kOk);
  EXPECT_GT(c.meta.version, m.explicit_version);
  // Not above: refused, nothing written.
  m.value = "four";
  EXPECT_EQ(Run(m).status, MutationStatus::kInvalid);
  std::string v;
  ASSERT_TRUE(Meta("k", &meta, &v));
  EXPECT_EQ(v, "three");
  Restart();
  ASSERT_TRUE(Meta("k", &meta, &v));
  EXPECT_EQ(meta.version, c.meta.version);
}

TEST_F(MetaStoreTest, InvalidateMarksStaleDurablyAndTheFirstReaderWins) {
  uint32_t expiry = Now() + 100;
  MutationResult set = Set("k", "old", expiry);
  Mutation inv;
  inv.kind = MutationKind::kDelete;
  inv.key = "k";
  inv.invalidate = true;
  ASSERT_EQ(Run(inv).status, MutationStatus::kOk);
  ObjectMeta a, b;
  std::string v;
  ASSERT_TRUE(Meta("k", &a, &v));
  EXPECT_EQ(v, "old");
  EXPECT_TRUE(a.stale);
  EXPECT_GT(a.version, set.meta.version);
  EXPECT_EQ(a.expiry, expiry);
  EXPECT_TRUE(a.won);
  EXPECT_FALSE(a.token_sent);
  ASSERT_TRUE(Meta("k", &b));
  EXPECT_TRUE(b.stale);
  EXPECT_FALSE(b.won);
  EXPECT_TRUE(b.token_sent);
  // The mark is on disk; win tokens are not.
  Restart();
  ASSERT_TRUE(Meta("k", &a));
  EXPECT_TRUE(a.stale);
  EXPECT_TRUE(a.won);
  // A touch keeps it; a new value clears it.
  Mutation touch;
  touch.kind = MutationKind::kTouch;
  touch.key = "k";
  touch.expiry = Now() + 50;
  ASSERT_EQ(Run(touch).status, MutationStatus::kOk);
  ASSERT_TRUE(Meta("k", &a));
  EXPECT_TRUE(a.stale);
  Set("k", "new");
  ASSERT_TRUE(Meta("k", &a));
  EXPECT_FALSE(a.stale);
  EXPECT_FALSE(a.won);
  EXPECT_FALSE(a.token_sent);
}

TEST_F(MetaStoreTest, InvalidatingSetWithAnOlderCasStoresStaleKeepingTtlAndToken) {
  uint32_t expiry = Now() + 100;
  MutationResult one = Set("k", "one", expiry);
  MutationResult two = Set("k", "two", expiry);
  LookupOptions r;
  r.meta = true;
  uint32_t later = expiry + 10;
  r.recache_before = &later;
  ObjectMeta m;
  ASSERT_TRUE(Meta("k", r, &m));
  EXPECT_TRUE(m.won);
  Mutation ms;
  ms.key = "k";
  ms.value = "recomputed";
  ms.has_compare = true;
  ms.compare_version = one.meta.version;  // older than the object's
  EXPECT_EQ(Run(ms).status, MutationStatus::kExists);
  ms.invalidate = true;
  ms.expiry = Now() + 5000;
  MutationResult st = Run(ms);
  ASSERT_EQ(st.status, MutationStatus::kOk);
  EXPECT_TRUE(st.meta.stale);
  std::string v;
  ASSERT_TRUE(Meta("k", &m, &v));
  EXPECT_EQ(v, "recomputed");
  EXPECT_TRUE(m.stale);
  EXPECT_EQ(m.expiry, expiry);
  EXPECT_TRUE(m.token_sent);  // the token handed out before stays handed out
  EXPECT_FALSE(m.won);
  // A newer compared version is still a conflict.
  ms.compare_version = m.version + 1;
  EXPECT_EQ(Run(ms).status, MutationStatus::kExists);
  (void)two;
}

TEST_F(MetaStoreTest, RecacheWinsOnceWhenTheTtlIsBelowTheToken) {
  uint32_t expiry = Now() + 30;
  Set("k", "v", expiry);
  Set("forever", "v");
  LookupOptions o;
  o.meta = true;
  uint32_t before = Now() + 10;
  o.recache_before = &before;
  ObjectMeta m;
  ASSERT_TRUE(Meta("k", o, &m));
  EXPECT_FALSE(m.won);  // 30 s left is not below 10
  uint32_t later = Now() + 60;
  o.recache_before = &later;
  ASSERT_TRUE(Meta("k", o, &m));
  EXPECT_TRUE(m.won);
  ASSERT_TRUE(Meta("k", o, &m));
  EXPECT_FALSE(m.won);
  EXPECT_TRUE(m.token_sent);
  ASSERT_TRUE(Meta("forever", o, &m));  // no expiry: never a recache win
  EXPECT_FALSE(m.won);
  EXPECT_FALSE(m.token_sent);
}

TEST_F(MetaStoreTest, VivifyOnMissCreatesAnEmptyObjectAndWinsOnce) {
  LookupOptions o;
  o.meta = true;
  uint32_t expiry = Now() + 30;
  o.vivify_expiry = &expiry;
  ObjectMeta m;
  std::string v = "x";
  ASSERT_TRUE(Meta("k", o, &m, &v));
  EXPECT_EQ(v, "");
  EXPECT_TRUE(m.won);
  EXPECT_EQ(m.expiry, expiry);
  EXPECT_EQ(m.flags, 0u);
  ASSERT_TRUE(Meta("k", o, &m, &v));
  EXPECT_FALSE(m.won);
  EXPECT_TRUE(m.token_sent);
  // Without N a miss stays a miss.
  LookupOptions plain;
  plain.meta = true;
  EXPECT_FALSE(Meta("other", plain, &m));
}

TEST_F(MetaStoreTest, RemoveValueKeepsTheObjectEmpty) {
  Mutation set;
  set.key = "k";
  set.value = "value";
  set.flags = 7;
  set.expiry = Now() + 100;
  MutationResult s = Run(set);
  Mutation x;
  x.kind = MutationKind::kDelete;
  x.key = "k";
  x.remove_value = true;
  ASSERT_EQ(Run(x).status, MutationStatus::kOk);
  ObjectMeta m;
  std::string v = "?";
  ASSERT_TRUE(Meta("k", &m, &v));
  EXPECT_EQ(v, "");
  EXPECT_EQ(m.flags, 0u);
  EXPECT_EQ(m.expiry, set.expiry);
  EXPECT_GT(m.version, s.meta.version);
  EXPECT_FALSE(m.stale);
}

TEST_F(MetaStoreTest, FetchedAndIdleFollowTheLookups) {
  Set("k", "v");
  LookupOptions u;
  u.meta = true;
  u.no_bump = true;
  ObjectMeta m;
  ASSERT_TRUE(Meta("k", u, &m));
  EXPECT_FALSE(m.fetched);
  EXPECT_LE(m.idle_s, 1u);
  ASSERT_TRUE(Meta("k", &m));  // u: not recorded
  EXPECT_FALSE(m.fetched);
  ASSERT_TRUE(Meta("k", &m));
  EXPECT_TRUE(m.fetched);
  // A classic lookup counts as a fetch too; a new value starts over.
  Set("k", "w");
  ObjectView view;
  ASSERT_TRUE(objects_->Get(session_.get(), "k", LookupOptions(), &view).ok());
  view.Release();
  ASSERT_TRUE(Meta("k", &m));
  EXPECT_TRUE(m.fetched);
}

}  // namespace
}  // namespace bale
