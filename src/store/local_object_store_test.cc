// Tests for LocalObjectStore: every mutation kind through the ObjectStore interface,
// the completions, the kSync session's Commit, flush_all and the atomic batch.
#include "store/local_object_store.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "test_util.h"

namespace bale {
namespace {

using testing::FaultEnv;
using testing::TempDir;

class LocalObjectStoreTest : public ::testing::Test {
 protected:
  void Open(Durability d) {
    StoreOptions o;
    o.dir = tmp_.Sub("data");
    o.partitions = 4;
    o.volume.durability = d;
    o.volume.env = &env_;
    ASSERT_TRUE(Store::Open(o, &store_).ok());
    objects_ = std::make_unique<LocalObjectStore>(store_.get(), d);
    session_ = objects_->NewSession();
  }
  void SetUp() override { Open(Durability::kNone); }
  void TearDown() override {
    session_.reset();
    objects_.reset();
    if (store_) {
      EXPECT_TRUE(store_->Close().ok());
    }
  }

  // Runs `m` and returns its result; checks that the completion ran exactly once,
  // before Mutate returned.
  MutationResult Run(const Mutation& m) {
    MutationResult out;
    int calls = 0;
    Mutate(objects_.get(), session_.get(), m, [&](const MutationResult& r) {
      out = r;
      calls++;
    });
    EXPECT_EQ(calls, 1);
    return out;
  }
  MutationResult Run(MutationKind kind, std::string_view key, std::string_view value = {}) {
    Mutation m;
    m.kind = kind;
    m.key = key;
    m.value = value;
    return Run(m);
  }
  // "value" or "<missing>".
  std::string Value(std::string_view key, ObjectMeta* meta = nullptr) {
    ObjectView v;
    Status s = objects_->Get(session_.get(), key, LookupOptions(), &v);
    if (!s.ok()) return "<missing>";
    if (meta != nullptr) *meta = v.meta;
    std::string out(v.value);
    v.Release();
    return out;
  }

  TempDir tmp_;
  FaultEnv env_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<LocalObjectStore> objects_;
  std::unique_ptr<ObjectSession> session_;
};

TEST_F(LocalObjectStoreTest, SetAddReplaceCas) {
  Mutation set;
  set.key = "k";
  set.value = "one";
  set.flags = 7;
  MutationResult r = Run(set);
  ASSERT_EQ(r.status, MutationStatus::kOk);
  EXPECT_NE(r.meta.version, 0u);
  EXPECT_NE(r.meta.cookie, 0u);
  ObjectMeta meta;
  EXPECT_EQ(Value("k", &meta), "one");
  EXPECT_EQ(meta.flags, 7u);
  EXPECT_EQ(meta.version, r.meta.version);
  EXPECT_EQ(meta.size, 3u);

  EXPECT_EQ(Run(MutationKind::kAdd, "k", "x").status, MutationStatus::kNotStored);
  EXPECT_EQ(Run(MutationKind::kReplace, "none", "x").status, MutationStatus::kNotStored);
  EXPECT_EQ(Run(MutationKind::kReplace, "k", "two").status, MutationStatus::kOk);
  EXPECT_EQ(Value("k", &meta), "two");
  MutationResult added = Run(MutationKind::kAdd, "new", "n");
  EXPECT_EQ(added.status, MutationStatus::kOk);
  EXPECT_NE(added.meta.cookie, 0u);  // drawn by the store, and reported

  Mutation cas;
  cas.kind = MutationKind::kCas;
  cas.key = "k";
  cas.value = "three";
  cas.compare_version = meta.version + 1;
  EXPECT_EQ(Run(cas).status, MutationStatus::kExists);  // a mismatch stores nothing
  EXPECT_EQ(Value("k"), "two");
  cas.compare_version = meta.version;
  EXPECT_EQ(Run(cas).status, MutationStatus::kOk);
  EXPECT_EQ(Value("k"), "three");
  cas.key = "missing";
  EXPECT_EQ(Run(cas).status, MutationStatus::kNotFound);
}

TEST_F(LocalObjectStoreTest, AppendPrependKeepTheRestAndRefuseMissingOrTooLarge) {
  Mutation set;
  set.key = "k";
  set.value = "mid";
  set.content_type = "text/plain";
  set.flags = 3;
  set.expiry = 4000000000u;
  ASSERT_EQ(Run(set).status, MutationStatus::kOk);
  EXPECT_EQ(Run(MutationKind::kAppend, "missing", "x").status, MutationStatus::kNotStored);
  EXPECT_EQ(Run(MutationKind::kAppend, "k", ">").status, MutationStatus::kOk);
  EXPECT_EQ(Run(MutationKind::kPrepend, "k", "<").status, MutationStatus::kOk);
  ObjectMeta meta;
  EXPECT_EQ(Value("k", &meta), "<mid>");
  EXPECT_EQ(meta.flags, 3u);
  EXPECT_EQ(meta.expiry, 4000000000u);
  ObjectView v;
  ASSERT_TRUE(objects_->Get(session_.get(), "k", LookupOptions(), &v).ok());
  EXPECT_EQ(v.content_type, "text/plain");
  v.Release();

  Mutation big;
  big.kind = MutationKind::kAppend;
  big.key = "k";
  big.value = "123456";
  big.max_value_size = 10;
  EXPECT_EQ(Run(big).status, MutationStatus::kTooLarge);
  EXPECT_EQ(Value("k"), "<mid>");
}

TEST_F(LocalObjectStoreTest, IncrDecr) {
  EXPECT_EQ(Run(MutationKind::kIncr, "n").status, MutationStatus::kNotFound);
  ASSERT_EQ(Run(MutationKind::kSet, "n", "10").status, MutationStatus::kOk);
  Mutation m;
  m.kind = MutationKind::kIncr;
  m.key = "n";
  m.delta = 5;
  MutationResult r = Run(m);
  ASSERT_EQ(r.status, MutationStatus::kOk);
  EXPECT_EQ(r.number, 15u);
  m.kind = MutationKind::kDecr;
  m.delta = 100;
  EXPECT_EQ(Run(m).number, 0u);  // floored at 0
  EXPECT_EQ(Value("n"), "0");

  ASSERT_EQ(Run(MutationKind::kSet, "text", "abc").status, MutationStatus::kOk);
  m.key = "text";
  EXPECT_EQ(Run(m).status, MutationStatus::kNonNumeric);
  EXPECT_EQ(Value("text"), "abc");

  // ma N J: a missing counter is created with the initial value.
  Mutation vivify;
  vivify.kind = MutationKind::kIncr;
  vivify.key = "fresh";
  vivify.delta = 1;
  vivify.vivify = true;
  vivify.initial = 42;
  r = Run(vivify);
  ASSERT_EQ(r.status, MutationStatus::kOk);
  EXPECT_EQ(r.number, 42u);
  EXPECT_EQ(Value("fresh"), "42");
  EXPECT_TRUE(ParseCounter("12  ", &r.number));
}

// memcached 1.6.18 reads a counter with strtoull over the value and its "\r\n"
// (checked against Debian's memcached: incr on each of these values).
TEST(ParseCounterTest, ReadsTheValueAsMemcachedDoes) {
  const struct {
    std::string_view value;
    bool ok;
    uint64_t number;
  } cases[] = {
      {"12", true, 12},
      {" 12", true, 12},
      {"\t\n 12", true, 12},
      {"12  ", true, 12},
      {"1 2", true, 1},  // what follows a space is not looked at
      {"12\r\nx", true, 12},
      {"+5", true, 5},
      {"-0", true, 0},
      {"18446744073709551615", true, UINT64_MAX},
      {"18446744073709551616", false, 0},
      {"-1", false, 0},
      {"12abc", false, 0},
      {"abc", false, 0},
      {"", false, 0},
      {"   ", false, 0},
      {"+", false, 0},
      {"0x10", false, 0},
  };
  for (const auto& c : cases) {
    uint64_t n = 0;
    EXPECT_EQ(ParseCounter(c.value, &n), c.ok) << "'" << c.value << "'";
    if (c.ok) {
      EXPECT_EQ(n, c.number) << "'" << c.value << "'";
    }
  }
}

TEST_F(LocalObjectStoreTest, TouchKeepsTheCasAndDeleteComparesWhenAsked) {
  MutationResult set = Run(MutationKind::kSet, "k", "v");
  Mutation touch;
  touch.kind = MutationKind::kTouch;
  touch.key = "k";
  touch.expiry = 4000000000u;
  EXPECT_EQ(Run(touch).status, MutationStatus::kOk);
  ObjectMeta meta;
  EXPECT_EQ(Value("k", &meta), "v");
  EXPECT_EQ(meta.version, set.meta.version);
  EXPECT_EQ(meta.expiry, 4000000000u);
  touch.key = "missing";
  EXPECT_EQ(Run(touch).status, MutationStatus::kNotFound);

  // gat: touch and read in one lookup; an expiry in the past is a miss.
  uint32_t past = 1;
  LookupOptions gat;
  gat.touch_expiry = &past;
  ObjectView v;
  ASSERT_EQ(Run(MutationKind::kSet, "gone", "g").status, MutationStatus::kOk);
  EXPECT_TRUE(objects_->Get(session_.get(), "gone", gat, &v).IsNotFound());

  Mutation del;
  del.kind = MutationKind::kDelete;
  del.key = "k";
  del.has_compare = true;
  del.compare_version = meta.version + 1;
  EXPECT_EQ(Run(del).status, MutationStatus::kExists);
  del.compare_version = meta.version;
  EXPECT_EQ(Run(del).status, MutationStatus::kOk);
  EXPECT_EQ(Value("k"), "<missing>");
  EXPECT_EQ(Run(MutationKind::kDelete, "k").status, MutationStatus::kNotFound);
}

TEST_F(LocalObjectStoreTest, CookieGuardsLookups) {
  MutationResult r = Run(MutationKind::kSet, "k", "v");
  uint64_t wrong = r.meta.cookie + 1;
  LookupOptions o;
  o.cookie = &wrong;
  ObjectView v;
  EXPECT_TRUE(objects_->Get(session_.get(), "k", o, &v).IsNotFound());
  o.cookie = &r.meta.cookie;
  ASSERT_TRUE(objects_->Get(session_.get(), "k", o, &v).ok());
  EXPECT_EQ(v.value, "v");
  EXPECT_EQ(objects_->PartitionOf("k"), store_->PartitionOf("k"));
}

TEST_F(LocalObjectStoreTest, FlushAllHidesEverythingWrittenBefore) {
  ASSERT_EQ(Run(MutationKind::kSet, "a", "1").status, MutationStatus::kOk);
  ASSERT_EQ(Run(MutationKind::kSet, "b", "2").status, MutationStatus::kOk);
  MutationResult flushed;
  CallbackCompletion done([&](const MutationResult& r) { flushed = r; });
  objects_->FlushAll(0, session_.get(), &done);
  EXPECT_EQ(flushed.status, MutationStatus::kOk);
  EXPECT_EQ(Value("a"), "<missing>");
  EXPECT_EQ(Value("b"), "<missing>");
  ASSERT_EQ(Run(MutationKind::kSet, "a", "3").status, MutationStatus::kOk);
  EXPECT_EQ(Value("a"), "3");
}

TEST_F(LocalObjectStoreTest, AtomicBatchIsAllOrNone) {
  ASSERT_EQ(Run(MutationKind::kSet, "taken", "old").status, MutationStatus::kOk);
  std::vector<BatchPut> items(3);
  const char* keys[] = {"x1", "taken", "x3"};
  for (size_t i = 0; i < items.size(); i++) {
    items[i].key = keys[i];
    items[i].value = "new";
    items[i].only_if_absent = true;
  }
  MutationResult result;
  CallbackCompletion done([&](const MutationResult& r) { result = r; });
  objects_->PutAtomic(items, session_.get(), &done);
  EXPECT_EQ(result.status, MutationStatus::kExists);
  EXPECT_FALSE(items[0].taken);
  EXPECT_TRUE(items[1].taken);
  EXPECT_EQ(Value("x1"), "<missing>");  // none of it
  EXPECT_EQ(Value("taken"), "old");

  items[1].key = "x2";
  objects_->PutAtomic(items, session_.get(), &done);
  ASSERT_EQ(result.status, MutationStatus::kOk);
  for (const BatchPut& item : items) {
    ObjectMeta meta;
    EXPECT_EQ(Value(item.key, &meta), "new");
    EXPECT_EQ(meta.version, item.version);
    EXPECT_EQ(meta.cookie, item.cookie);
  }
}

TEST_F(LocalObjectStoreTest, SyncSessionCommitsWhatItWrote) {
  TearDown();
  store_.reset();
  Open(Durability::kSync);
  EXPECT_TRUE(objects_->durability_sync());
  EXPECT_EQ(objects_->durability_name(), "sync");
  EXPECT_FALSE(session_->commit_pending());
  // A lookup writes nothing; a mutation leaves its volume to the next Commit.
  EXPECT_EQ(Value("k"), "<missing>");
  EXPECT_FALSE(session_->commit_pending());
  uint64_t syncs = env_.syncs.load();
  ASSERT_EQ(Run(MutationKind::kSet, "k", "v").status, MutationStatus::kOk);
  ASSERT_EQ(Run(MutationKind::kIncr, "k").status, MutationStatus::kNonNumeric);
  EXPECT_EQ(env_.syncs.load(), syncs);  // not waited for here
  EXPECT_TRUE(session_->commit_pending());
  EXPECT_TRUE(session_->Commit().ok());
  EXPECT_GT(env_.syncs.load(), syncs);
  EXPECT_FALSE(session_->commit_pending());
  EXPECT_EQ(store_->Stats().total.unsynced_bytes, 0u);

  // A failed Commit is reported, and the pending set is cleared either way.
  ASSERT_EQ(Run(MutationKind::kSet, "k2", "v").status, MutationStatus::kOk);
  env_.fail_sync = true;
  EXPECT_FALSE(session_->Commit().ok());
  env_.fail_sync = false;
  EXPECT_FALSE(session_->commit_pending());
}

}  // namespace
}  // namespace bale
