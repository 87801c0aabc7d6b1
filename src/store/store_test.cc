#include "store/store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "format/checkpoint.h"
#include "format/store_flush.h"
#include "format/store_meta.h"
#include "format/superblock.h"
#include "format/volume_meta.h"
#include "store/verify.h"
#include "test_util.h"

namespace bale {
namespace {

StoreOptions SmallStore(const std::string& dir) {
  StoreOptions o;
  o.dir = dir;
  o.partitions = 2;
  o.volume.durability = Durability::kNone;
  return o;
}

TEST(StoreLock, SecondOpenIsRefusedNamingTheDirectoryAndPid) {
  testing::TempDir tmp;
  std::unique_ptr<Store> first, second;
  ASSERT_TRUE(Store::Open(SmallStore(tmp.path()), &first).ok());
  Status s = Store::Open(SmallStore(tmp.path()), &second);
  ASSERT_TRUE(s.IsBusy()) << s.ToString();
  EXPECT_NE(s.message().find(tmp.path()), std::string_view::npos) << s.ToString();
  EXPECT_NE(s.message().find(std::to_string(::getpid())), std::string_view::npos) << s.ToString();
  EXPECT_EQ(second, nullptr);

  // verify is refused as well while the store is open, and allowed once it is closed.
  std::ostringstream out;
  VerifyReport r;
  EXPECT_TRUE(VerifyTree(Env::Default(), tmp.path(), out, &r).IsBusy());
  first.reset();
  EXPECT_TRUE(VerifyTree(Env::Default(), tmp.path(), out, &r).ok());
  ASSERT_TRUE(Store::Open(SmallStore(tmp.path()), &second).ok());
}

// The child is forked before the owner opens the store: forking a process whose store
// threads may hold a lock (malloc's, or ASan's) can leave the child stuck forever.
TEST(StoreLock, AnotherProcessIsRefusedWhileTheOwnerLives) {
  testing::TempDir tmp;
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(go[1]);
    char byte = 0;
    if (::read(go[0], &byte, 1) != 1) ::_exit(2);  // the owner never opened
    std::unique_ptr<Store> other;
    Status s = Store::Open(SmallStore(tmp.path()), &other);
    std::string pid = "process " + std::to_string(::getppid());
    ::_exit(s.IsBusy() && s.message().find(pid) != std::string_view::npos ? 0 : 1);
  }
  ::close(go[0]);
  std::unique_ptr<Store> owner;
  Status opened = Store::Open(SmallStore(tmp.path()), &owner);
  if (opened.ok()) EXPECT_EQ(::write(go[1], "g", 1), 1);
  ::close(go[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(opened.ok()) << opened.ToString();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child opened a store the parent owns";
}

// Writes across partitions are serialized as wholes: two batches of the same keys never
// interleave partition by partition, so in the end every key holds the same batch's
// value. Single writes to those partitions go on meanwhile (and nothing deadlocks).
TEST(StoreWriteAtomic, ConcurrentBatchesNeverInterleave) {
  testing::TempDir tmp;
  StoreOptions o = SmallStore(tmp.path());
  o.partitions = 8;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(o, &store).ok());
  constexpr int kKeys = 24, kThreads = 4, kRounds = 150;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; r++) {
        std::string value = std::to_string(t) + "/" + std::to_string(r);
        std::vector<std::string> keys(kKeys);
        std::vector<WriteOp> ops(kKeys);
        for (int i = 0; i < kKeys; i++) {
          keys[i] = "key" + std::to_string(i);
          ops[i].key = keys[i];
          ops[i].value = value;
        }
        ASSERT_TRUE(store->WriteAtomic(ops, true).ok());
        WriteOp single;
        std::string key = "single" + std::to_string(t);
        single.key = key;
        single.value = value;
        ASSERT_TRUE(store->VolumeFor(key)->Put(single).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::string first;
  for (int i = 0; i < kKeys; i++) {
    std::string key = "key" + std::to_string(i);
    ReadResult r;
    ASSERT_TRUE(store->VolumeFor(key)->Get(key, &r).ok());
    if (i == 0) first = std::string(r.value());
    EXPECT_EQ(r.value(), first) << key;
  }
  std::set<uint32_t> partitions;
  for (int i = 0; i < kKeys; i++) partitions.insert(store->PartitionOf("key" + std::to_string(i)));
  EXPECT_GT(partitions.size(), 4u);
}

// flush_all over a store of 8 partitions, on a FaultEnv, with a clock the test moves.
// "After a crash" is a copy of the data directory taken while the store is open: what a
// restart would find had the process died right after the reply.
class StoreFlushTest : public ::testing::Test {
 protected:
  static constexpr int kKeys = 40;

  StoreOptions Options(Env* env, const std::string& dir) {
    StoreOptions o;
    o.dir = dir;
    o.partitions = 8;
    o.volume.durability = Durability::kNone;
    o.volume.env = env;
    o.volume.clock = [this] { return now_.load(); };
    return o;
  }
  void Open() { ASSERT_TRUE(Store::Open(Options(&fault_, dir_), &store_).ok()); }
  // Closes and opens again, on the same FaultEnv (its knobs back to harmless).
  void Reopen() {
    fault_.write_budget = -1;
    fault_.sync_dir_failures = 0;
    ASSERT_TRUE(store_->Close().ok());
    store_.reset();
    Open();
  }
  // Opens a copy of the data directory as it is now, as a restart after a crash would.
  std::unique_ptr<Store> OpenCrashCopy() {
    std::string copy = tmp_.Sub("crash-" + std::to_string(copies_++));
    std::filesystem::copy(dir_, copy, std::filesystem::copy_options::recursive);
    std::unique_ptr<Store> s;
    EXPECT_TRUE(Store::Open(Options(Env::Default(), copy), &s).ok());
    return s;
  }
  void Put(const std::string& key, const std::string& value) {
    WriteOp op;
    op.key = key;
    op.value = value;
    ASSERT_TRUE(store_->VolumeFor(key)->Put(op).ok());
  }
  static std::string Get(Store* s, const std::string& key) {
    ReadResult r;
    Status st = s->VolumeFor(key)->Get(key, &r);
    if (st.IsNotFound()) return "<missing>";
    EXPECT_TRUE(st.ok()) << st.ToString();
    return std::string(r.value());
  }
  // How many of k0..k<kKeys-1> read back.
  static int Visible(Store* s) {
    int n = 0;
    for (int i = 0; i < kKeys; i++) n += Get(s, "k" + std::to_string(i)) != "<missing>";
    return n;
  }
  void PutKeys() {
    for (int i = 0; i < kKeys; i++) Put("k" + std::to_string(i), "v" + std::to_string(i));
  }
  // A key of partition p that no other test line uses.
  std::string KeyOf(uint32_t p, const std::string& prefix) {
    for (int i = 0;; i++) {
      std::string k = prefix + std::to_string(i);
      if (store_->PartitionOf(k) == p) return k;
    }
  }

  std::atomic<uint32_t> now_{1'700'000'000};
  testing::FaultEnv fault_;
  testing::TempDir tmp_;
  std::string dir_ = tmp_.Sub("data");
  int copies_ = 0;
  std::unique_ptr<Store> store_;
};

// Issue 10: a flush_all that failed on a full disk hid every object, and after a restart
// some partitions' objects stayed hidden. An error must hide nothing, then or later.
TEST_F(StoreFlushTest, FlushAllThatFailsHidesNothingNowOrAfterARestart) {
  Open();
  PutKeys();
  // Room for three of the 24-byte per-partition markers earlier builds wrote, not more.
  fault_.write_budget = 3 * format::kFlushMarkerSize + 5;
  Status s = store_->FlushAll(0);
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  EXPECT_EQ(Visible(store_.get()), kKeys);
  EXPECT_EQ(Visible(OpenCrashCopy().get()), kKeys);

  fault_.write_budget = 3 * format::kFlushMarkerSize + 5;
  s = store_->FlushAll(now_ + 5);  // flush_all 5
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  now_ += 5;
  EXPECT_EQ(Visible(store_.get()), kKeys);
  EXPECT_EQ(Visible(OpenCrashCopy().get()), kKeys);

  Reopen();
  EXPECT_EQ(Visible(store_.get()), kKeys);
}

// The rename of the marker is done but the directory fsync after it fails: whether the
// rename lasts is unknown, so the previous marker is put back and the flush is an error.
TEST_F(StoreFlushTest, FlushAllWhoseDirectorySyncFailsIsUndone) {
  Open();
  PutKeys();
  fault_.sync_dir_failures = 1;
  Status s = store_->FlushAll(0);
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_EQ(Visible(store_.get()), kKeys);
  EXPECT_EQ(Visible(OpenCrashCopy().get()), kKeys);
  Reopen();
  EXPECT_EQ(Visible(store_.get()), kKeys);

  // With a marker already in place, the undo restores it rather than removing it.
  ASSERT_TRUE(store_->FlushAll(0).ok());
  Put("k0", "again");
  fault_.sync_dir_failures = 1;
  EXPECT_TRUE(store_->FlushAll(0).IsIOError());
  EXPECT_EQ(Get(store_.get(), "k0"), "again");
  Reopen();
  EXPECT_EQ(Get(store_.get(), "k0"), "again");
  EXPECT_EQ(Visible(store_.get()), 1);
}

TEST_F(StoreFlushTest, FlushAllThatSucceedsHidesEverythingAfterARestart) {
  Open();
  PutKeys();
  ASSERT_TRUE(store_->FlushAll(0).ok());
  EXPECT_EQ(Visible(store_.get()), 0);
  Put("after", "1");  // the same second, after the flush: visible
  EXPECT_EQ(Visible(OpenCrashCopy().get()), 0);
  Reopen();
  EXPECT_EQ(Visible(store_.get()), 0);
  EXPECT_EQ(Get(store_.get(), "after"), "1");

  PutKeys();
  ASSERT_TRUE(store_->FlushAll(now_ + 5).ok());  // flush_all 5
  EXPECT_EQ(Visible(store_.get()), kKeys);
  std::unique_ptr<Store> crashed = OpenCrashCopy();
  Reopen();
  EXPECT_EQ(Visible(store_.get()), kKeys);
  now_ += 5;
  EXPECT_EQ(Visible(store_.get()), 0);
  EXPECT_EQ(Visible(crashed.get()), 0);
  EXPECT_EQ(Get(store_.get(), "after"), "<missing>");
  Put("later", "2");  // written at the flush time: survives
  Reopen();
  EXPECT_EQ(Visible(store_.get()), 0);
  EXPECT_EQ(Get(store_.get(), "later"), "2");

  // One marker for the whole store, none per partition.
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/" + format::kStoreFlushFileName));
  for (uint32_t p = 0; p < 8; p++) {
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/" + format::PartitionDirName(p) + "/" +
                                         format::kFlushFileName));
  }
}

// A delayed flush_all that has taken effect stays in effect when another delayed one is
// given (memcached's oldest_live would let the objects back until the new time).
TEST_F(StoreFlushTest, ALaterDelayedFlushKeepsWhatAnEarlierOneHid) {
  Open();
  PutKeys();
  ASSERT_TRUE(store_->FlushAll(now_ + 5).ok());
  now_ += 10;
  EXPECT_EQ(Visible(store_.get()), 0);
  Put("between", "1");
  ASSERT_TRUE(store_->FlushAll(now_ + 100).ok());
  EXPECT_EQ(Visible(store_.get()), 0);
  EXPECT_EQ(Get(store_.get(), "between"), "1");
  Reopen();
  EXPECT_EQ(Visible(store_.get()), 0);
  EXPECT_EQ(Get(store_.get(), "between"), "1");
  now_ += 100;
  EXPECT_EQ(Get(store_.get(), "between"), "<missing>");
}

// The marker names the versions flushed in each partition. Needles that were not yet on
// disk when it was written can be lost in a crash; their versions must not be handed out
// again after the restart, or new objects would read as flushed.
TEST_F(StoreFlushTest, FlushedVersionsAreNotReusedAfterALostTail) {
  Open();
  std::string k0 = KeyOf(0, "a"), k1 = KeyOf(0, "b");
  Put(k0, "1");
  Put(k1, "2");
  ASSERT_TRUE(store_->FlushAll(0).ok());
  ASSERT_TRUE(store_->Close().ok());
  store_.reset();
  // Partition 0 loses its needles (never synced when the power went).
  std::string p0 = dir_ + "/" + format::PartitionDirName(0);
  std::filesystem::resize_file(p0 + "/" + format::SegmentFileName(1, 0), format::kSuperblockSize);
  std::filesystem::remove(p0 + "/" + format::kCheckpointFileName);
  Open();
  std::string k2 = KeyOf(0, "c");
  Put(k2, "new");
  EXPECT_EQ(Get(store_.get(), k2), "new");
  Reopen();
  EXPECT_EQ(Get(store_.get(), k2), "new");
}

// Per-partition FLUSH markers written by earlier builds are honoured, and a flush_all
// by this build keeps what they hid.
TEST_F(StoreFlushTest, PerPartitionMarkersOfEarlierBuildsAreHonoured) {
  Open();
  std::string a = KeyOf(0, "a"), b = KeyOf(1, "b"), c = KeyOf(2, "c");
  Put(a, "1");
  Put(b, "2");
  Put(c, "3");
  ASSERT_TRUE(store_->Close().ok());
  store_.reset();
  auto legacy = [&](uint32_t p, uint32_t time, uint64_t version) {
    std::string path = dir_ + "/" + format::PartitionDirName(p) + "/" + format::kFlushFileName;
    ASSERT_TRUE(WriteFileAtomic(Env::Default(), path,
                                format::EncodeFlushMarker(format::FlushMarker{time, version}))
                    .ok());
  };
  // flush_all: every version up to counter 1000 (versions carry the partition in their
  // low 16 bits).
  legacy(0, 0, uint64_t{1000} << Volume::kVersionPartitionBits);
  legacy(1, now_ + 5, 0);  // flush_all 5, not yet due
  Open();
  EXPECT_EQ(Get(store_.get(), a), "<missing>");
  EXPECT_EQ(Get(store_.get(), b), "2");
  EXPECT_EQ(Get(store_.get(), c), "3");
  Put(a, "new");  // versions go on above the flushed ones
  EXPECT_EQ(Get(store_.get(), a), "new");
  now_ += 5;
  EXPECT_EQ(Get(store_.get(), b), "<missing>");
  EXPECT_EQ(Get(store_.get(), c), "3");

  Put(a, "newer");
  ASSERT_TRUE(store_->FlushAll(now_ + 100).ok());
  Reopen();
  EXPECT_EQ(Get(store_.get(), a), "newer");
  EXPECT_EQ(Get(store_.get(), b), "<missing>");  // still hidden by the old builds' flush
  EXPECT_EQ(Get(store_.get(), c), "3");
  now_ += 100;
  EXPECT_EQ(Get(store_.get(), a), "<missing>");
  EXPECT_EQ(Get(store_.get(), c), "<missing>");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/" + format::PartitionDirName(0) + "/" +
                                       format::kFlushFileName));
}

}  // namespace
}  // namespace bale

namespace bale {
namespace {

// The store's partition of a key is the formula data directories were laid out with.
TEST(StoreClusterMap, PartitionOfIsTheHashModuloTheCount) {
  testing::TempDir tmp;
  StoreOptions o = SmallStore(tmp.path());
  o.partitions = 16;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(o, &store).ok());
  EXPECT_TRUE(store->cluster_map().holds_all());
  for (int i = 0; i < 5000; i++) {
    std::string key = "k" + std::to_string(i);
    uint64_t hash = 0;
    ASSERT_EQ(store->PartitionOf(key), HashKey(key) % 16);
    ASSERT_EQ(store->VolumeFor(key, &hash), store->volume(store->PartitionOf(key)));
    ASSERT_EQ(store->VolumeFor(key), store->volume(HashKey(key) % 16));
  }
}

// A node holding partitions {3, 5} of 8 opens only their directories and answers the
// other partitions' keys with Unavailable; the data stays where a full store finds it.
TEST(StoreClusterMap, HoldingASubsetOpensOnlyThosePartitions) {
  testing::TempDir tmp;
  StoreOptions o = SmallStore(tmp.path());
  o.partitions = 8;
  ClusterMap map;
  ASSERT_TRUE(ClusterMap::Holding(8, {5, 3}, 1, &map).ok());
  o.cluster_map = map;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(o, &store).ok());
  EXPECT_EQ(store->partitions(), 8u);
  for (uint32_t p = 0; p < 8; p++) {
    bool exists = std::filesystem::exists(tmp.path() + "/" + format::PartitionDirName(p));
    EXPECT_EQ(exists, p == 3 || p == 5) << p;
    EXPECT_EQ(store->Holds(p), p == 3 || p == 5) << p;
    ASSERT_NE(store->volume(p), nullptr);
  }
  std::map<std::string, uint32_t> written;
  for (int i = 0; i < 200; i++) {
    std::string key = "key" + std::to_string(i);
    WriteOp op;
    op.key = key;
    op.value = key;
    Status s = store->VolumeFor(key)->Put(op);
    uint32_t p = store->PartitionOf(key);
    if (store->Holds(p)) {
      ASSERT_TRUE(s.ok()) << s.ToString();
      written[key] = p;
    } else {
      ASSERT_TRUE(s.IsUnavailable()) << s.ToString();
      EXPECT_NE(s.message().find("not held"), std::string_view::npos) << s.ToString();
      ReadResult r;
      EXPECT_TRUE(store->VolumeFor(key)->Get(key, &r).IsUnavailable());
    }
  }
  ASSERT_FALSE(written.empty());
  // A write across partitions that touches one not held here stores nothing.
  std::vector<WriteOp> ops(2);
  ops[0].key = written.begin()->first;
  ops[0].value = "changed";
  std::string other;
  for (int i = 0; other.empty() || store->Holds(store->PartitionOf(other)); i++) {
    other = "other" + std::to_string(i);
  }
  ops[1].key = other;
  EXPECT_TRUE(store->WriteAtomic(ops, true).IsUnavailable());
  StoreStats st = store->Stats();
  EXPECT_EQ(st.partitions, 8u);
  EXPECT_EQ(st.held_partitions, 2u);
  EXPECT_EQ(st.unavailable_partitions, 0u);
  EXPECT_EQ(st.total.objects, written.size());
  EXPECT_TRUE(store->Damage().empty());
  ASSERT_TRUE(store->FlushAll(0).ok());  // hides what the held partitions hold
  ReadResult r;
  EXPECT_TRUE(
      store->VolumeFor(written.begin()->first)->Get(written.begin()->first, &r).IsNotFound());
  ASSERT_TRUE(store->Close().ok());
  store.reset();

  // A map whose count disagrees with the directory's is refused.
  ASSERT_TRUE(ClusterMap::Holding(4, {1}, 1, &map).ok());
  o.cluster_map = map;
  EXPECT_TRUE(Store::Open(o, &store).IsInvalidArgument());
  ASSERT_TRUE(ClusterMap::Holding(8, {}, 1, &map).ok());
  o.cluster_map = map;
  EXPECT_TRUE(Store::Open(o, &store).IsInvalidArgument());
}

}  // namespace
}  // namespace bale
