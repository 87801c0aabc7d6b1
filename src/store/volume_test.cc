#include "store/volume.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "format/checkpoint.h"
#include "format/volume_meta.h"
#include "store/expiry.h"
#include "test_util.h"

namespace bale {
namespace {

using testing::FaultEnv;
using testing::TempDir;

struct Fixture {
  TempDir dir;
  std::atomic<uint32_t> now{1700000000};
  VolumeOptions Options() {
    VolumeOptions o;
    o.dir = dir.Sub("vol");
    o.durability = Durability::kNone;
    o.clock = [this] { return now.load(); };
    return o;
  }
};

Status PutKV(Volume* v, std::string_view key, std::string_view value, uint32_t expiry = 0) {
  WriteOp op;
  op.key = key;
  op.value = value;
  op.expiry = expiry;
  return v->Put(op);
}

std::string GetV(Volume* v, std::string_view key) {
  ReadResult r;
  Status s = v->Get(key, &r);
  return s.ok() ? std::string(r.value()) : "<" + s.ToString() + ">";
}

Status PutCT(Volume* v, std::string_view key, std::string_view value,
             std::string_view content_type) {
  WriteOp op;
  op.key = key;
  op.value = value;
  op.content_type = content_type;
  return v->Put(op);
}

// "content type|value", or "<status>".
std::string GetCT(Volume* v, std::string_view key) {
  ReadResult r;
  Status s = v->Get(key, &r);
  if (!s.ok()) return "<" + s.ToString() + ">";
  return std::string(r.content_type()) + "|" + std::string(r.value());
}

// A value of n bytes that is not the same at every offset.
std::string Pattern(size_t n, int seed) {
  std::string v(n, '\0');
  uint32_t x = 2166136261u ^ static_cast<uint32_t>(seed);
  for (size_t i = 0; i < n; i++) {
    x = x * 16777619u + 1;
    v[i] = static_cast<char>(x >> 24);
  }
  return v;
}

TEST(Volume, PutGetOverwriteDelete) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  ASSERT_TRUE(PutKV(v.get(), "a", "1").ok());
  ASSERT_TRUE(PutKV(v.get(), "b", "").ok());
  EXPECT_EQ(GetV(v.get(), "a"), "1");
  EXPECT_EQ(GetV(v.get(), "b"), "");
  ASSERT_TRUE(PutKV(v.get(), "a", "22").ok());
  EXPECT_EQ(GetV(v.get(), "a"), "22");
  EXPECT_EQ(v->Stats().objects, 2u);
  ASSERT_TRUE(v->Delete("a").ok());
  EXPECT_TRUE(v->Delete("a").IsNotFound());
  EXPECT_TRUE(v->Delete("never").IsNotFound());
  ReadResult r;
  EXPECT_TRUE(v->Get("a", &r).IsNotFound());
  EXPECT_EQ(v->Stats().objects, 1u);
}

TEST(Volume, MetadataAndVersions) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  WriteOp op;
  op.key = "k";
  op.value = "v";
  op.flags = 0xFFFFFFFF;
  op.cookie = 1234;
  ASSERT_TRUE(v->Put(op).ok());
  uint64_t v1 = op.version;
  ASSERT_TRUE(v->Put(op).ok());
  EXPECT_GT(op.version, v1);
  ReadResult r;
  ASSERT_TRUE(v->Get("k", &r).ok());
  EXPECT_EQ(r.header().flags, 0xFFFFFFFFu);
  EXPECT_EQ(r.header().cookie, 1234u);
  EXPECT_EQ(r.header().version, op.version);
  WriteOp random_cookie;
  random_cookie.key = "c";
  ASSERT_TRUE(v->Put(random_cookie).ok());
  EXPECT_NE(random_cookie.cookie, 0u);
}

TEST(Volume, RejectsBadKeys) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  EXPECT_TRUE(PutKV(v.get(), "", "x").IsInvalidArgument());
  EXPECT_TRUE(PutKV(v.get(), std::string(251, 'k'), "x").IsInvalidArgument());
  EXPECT_TRUE(PutKV(v.get(), std::string(250, 'k'), "x").ok());
}

// Every key hashes to the same value: the index holds one tag for all of them and the
// full key in each needle tells them apart.
TEST(Volume, CollidingHashesBothWork) {
  Fixture f;
  VolumeOptions o = f.Options();
  o.hasher = [](std::string_view) { return uint64_t{0x1234567800000000}; };
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  for (int i = 0; i < 50; i++) {
    ASSERT_TRUE(PutKV(v.get(), "key" + std::to_string(i), "val" + std::to_string(i)).ok());
  }
  ASSERT_TRUE(PutKV(v.get(), "key7", "seven").ok());
  ASSERT_TRUE(v->Delete("key9").ok());
  for (int i = 0; i < 50; i++) {
    std::string want = i == 7 ? "seven" : i == 9 ? "<NotFound>" : "val" + std::to_string(i);
    EXPECT_EQ(GetV(v.get(), "key" + std::to_string(i)), want);
  }
  EXPECT_EQ(GetV(v.get(), "other"), "<NotFound>");
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  EXPECT_EQ(GetV(v.get(), "key7"), "seven");
  EXPECT_EQ(GetV(v.get(), "key9"), "<NotFound>");
  EXPECT_EQ(GetV(v.get(), "key49"), "val49");
}

TEST(Volume, BatchWriteIsOneAppend) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  ASSERT_TRUE(PutKV(v.get(), "old", "x").ok());
  std::vector<WriteOp> ops(5);
  ops[0].key = "a", ops[0].value = "1";
  ops[1].key = "a", ops[1].value = "2";  // same key twice: the last wins
  ops[2].key = "old", ops[2].tombstone = true;
  ops[3].key = "missing", ops[3].tombstone = true;
  ops[4].key = "b", ops[4].value = "3";
  uint64_t before = v->Stats().disk_bytes;
  ASSERT_TRUE(v->Write(ops).ok());
  EXPECT_TRUE(ops[0].status.ok());
  EXPECT_TRUE(ops[3].status.IsNotFound());
  EXPECT_EQ(v->Stats().disk_bytes - before,
            3 * format::NeedleSize(1, 0, 1) + format::NeedleSize(3, 0, 0));
  EXPECT_EQ(GetV(v.get(), "a"), "2");
  EXPECT_EQ(GetV(v.get(), "b"), "3");
  EXPECT_EQ(GetV(v.get(), "old"), "<NotFound>");
  EXPECT_EQ(v->Stats().objects, 2u);
}

// In sync mode a batch costs one fdatasync, however many objects it holds.
TEST(Volume, SyncBatchIsOneFdatasync) {
  Fixture f;
  FaultEnv env;
  VolumeOptions o = f.Options();
  o.durability = Durability::kSync;
  o.env = &env;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  std::vector<std::string> keys(100);
  std::vector<WriteOp> ops(100);
  for (int i = 0; i < 100; i++) {
    keys[i] = "batch" + std::to_string(i);
    ops[i].key = keys[i];
    ops[i].value = "v";
  }
  uint64_t before = env.syncs;
  ASSERT_TRUE(v->Write(ops).ok());
  EXPECT_EQ(env.syncs - before, 1u);
  before = env.syncs;
  ASSERT_TRUE(PutKV(v.get(), "single", "v").ok());
  EXPECT_EQ(env.syncs - before, 1u);
  EXPECT_EQ(GetV(v.get(), "batch99"), "v");
}

TEST(Volume, ExpiryFollowsMemcached) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  uint32_t now = f.now;
  EXPECT_EQ(ExpiryFromMemcached(0, now), 0u);
  EXPECT_EQ(ExpiryFromMemcached(10, now), now + 10);
  EXPECT_EQ(ExpiryFromMemcached(kMaxRelativeExptime, now), now + kMaxRelativeExptime);
  EXPECT_EQ(ExpiryFromMemcached(kMaxRelativeExptime + 1, now), kMaxRelativeExptime + 1);
  EXPECT_TRUE(IsExpired(ExpiryFromMemcached(-1, now), now));
  EXPECT_TRUE(IsExpired(ExpiryFromMemcached(now - 5, now), now));  // absolute, past
  ASSERT_TRUE(PutKV(v.get(), "ten", "x", ExpiryFromMemcached(10, now)).ok());
  ASSERT_TRUE(PutKV(v.get(), "neg", "x", ExpiryFromMemcached(-1, now)).ok());
  ASSERT_TRUE(PutKV(v.get(), "abs", "x", ExpiryFromMemcached(now + 100, now)).ok());
  EXPECT_EQ(GetV(v.get(), "ten"), "x");
  EXPECT_EQ(GetV(v.get(), "neg"), "<NotFound>");
  f.now += 9;
  EXPECT_EQ(GetV(v.get(), "ten"), "x");
  f.now += 1;
  EXPECT_EQ(GetV(v.get(), "ten"), "<NotFound>");
  EXPECT_TRUE(v->Delete("ten").IsNotFound());  // expired counts as missing
  EXPECT_EQ(GetV(v.get(), "abs"), "x");
  f.now += 100;
  EXPECT_EQ(GetV(v.get(), "abs"), "<NotFound>");
}

// The flush rules in memory (Store makes them durable: store_test.cc).
TEST(Volume, FlushRulesHideByVersionAndTime) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  ASSERT_TRUE(PutKV(v.get(), "a", "1").ok());
  format::FlushRule now = v->PlanFlush(0);
  EXPECT_EQ(GetV(v.get(), "a"), "1");  // planning changes nothing
  v->ApplyFlush(now);
  EXPECT_EQ(GetV(v.get(), "a"), "<NotFound>");
  ASSERT_TRUE(PutKV(v.get(), "b", "2").ok());  // same second, after the flush: visible
  EXPECT_EQ(GetV(v.get(), "b"), "2");
  v->ApplyFlush(v->PlanFlush(f.now + 5));  // flush_all 5
  EXPECT_EQ(GetV(v.get(), "b"), "2");
  f.now += 5;
  EXPECT_EQ(GetV(v.get(), "b"), "<NotFound>");
  ASSERT_TRUE(PutKV(v.get(), "c", "3").ok());  // written at the flush time: survives
  EXPECT_EQ(GetV(v.get(), "c"), "3");
  format::FlushRule later = v->PlanFlush(f.now + 100);
  EXPECT_EQ(later.flushed_before, f.now.load());  // the reached flush keeps hiding
  EXPECT_EQ(later.flush_time, f.now + 100);
  EXPECT_EQ(later.flush_version, now.flush_version);
}

// A FLUSH file written by an earlier build is read at open, and the versions it names
// are not handed out again even if their needles are gone.
TEST(Volume, FlushMarkerOfEarlierBuildsIsRead) {
  // Above the version "a" gets (versions carry the partition in their low 16 bits).
  constexpr uint64_t kFlushed = uint64_t{50} << Volume::kVersionPartitionBits;
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  ASSERT_TRUE(PutKV(v.get(), "a", "1").ok());
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), f.Options().dir + "/" + format::kFlushFileName,
                              format::EncodeFlushMarker({0, kFlushed}))
                  .ok());
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  EXPECT_EQ(v->flush_rule(), (format::FlushRule{kFlushed, 0, 0}));
  EXPECT_EQ(GetV(v.get(), "a"), "<NotFound>");
  ASSERT_TRUE(PutKV(v.get(), "b", "2").ok());
  EXPECT_EQ(GetV(v.get(), "b"), "2");
  EXPECT_GT(v->Stats().last_version, kFlushed);
}

TEST(Volume, SealsAtSizeLimitAndReopens) {
  Fixture f;
  VolumeOptions o = f.Options();
  o.segment_bytes = 8192;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  std::string value(500, 'v');
  for (int i = 0; i < 100; i++) ASSERT_TRUE(PutKV(v.get(), "k" + std::to_string(i), value).ok());
  auto segs = v->Segments();
  ASSERT_GT(segs.size(), 5u);
  for (size_t i = 0; i + 1 < segs.size(); i++) {
    EXPECT_TRUE(segs[i].sealed);
    EXPECT_LE(segs[i].bytes, 8192u);
  }
  EXPECT_FALSE(segs.back().sealed);
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  EXPECT_TRUE(v->Stats().recovery_used_checkpoint);
  EXPECT_EQ(v->Stats().recovery_scanned_bytes, 0u);
  for (int i = 0; i < 100; i++) EXPECT_EQ(GetV(v.get(), "k" + std::to_string(i)), value);
}

TEST(Volume, LargeValuesNeedASecondRead) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  std::string big(3 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>(i);
  ASSERT_TRUE(PutKV(v.get(), "big", big).ok());
  EXPECT_EQ(GetV(v.get(), "big"), big);
}

// Concurrent writers in sync mode: all writes land and fdatasyncs are shared.
TEST(Volume, GroupCommitUnderConcurrentWriters) {
  Fixture f;
  FaultEnv env;
  VolumeOptions o = f.Options();
  o.durability = Durability::kSync;
  o.env = &env;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  uint64_t syncs_before = env.syncs;
  constexpr int kThreads = 8, kPer = 200;
  std::vector<std::thread> ts;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; i++) {
        if (!PutKV(v.get(), std::to_string(t) + ":" + std::to_string(i), "v").ok()) failures++;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_LE(env.syncs - syncs_before, uint64_t{kThreads * kPer});
  EXPECT_EQ(v->Stats().unsynced_bytes, 0u);
  for (int t = 0; t < kThreads; t++) {
    for (int i = 0; i < kPer; i++) {
      ASSERT_EQ(GetV(v.get(), std::to_string(t) + ":" + std::to_string(i)), "v");
    }
  }
}

TEST(Volume, SyncFailureIsReported) {
  Fixture f;
  FaultEnv env;
  VolumeOptions o = f.Options();
  o.durability = Durability::kSync;
  o.env = &env;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  env.fail_sync = true;
  EXPECT_TRUE(PutKV(v.get(), "a", "1").IsIOError());
  env.fail_sync = false;
  EXPECT_TRUE(PutKV(v.get(), "b", "2").ok());
}

// A full disk fails writes with NoSpace, leaves no partial record, keeps reads
// working, and writes resume once space returns.
TEST(Volume, FullDiskFailsWritesCleanly) {
  Fixture f;
  FaultEnv env;
  VolumeOptions o = f.Options();
  o.env = &env;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  ASSERT_TRUE(PutKV(v.get(), "keep", "safe").ok());
  uint64_t bytes = v->Stats().disk_bytes;
  env.write_budget = 30;  // the next needle gets 30 bytes in, then ENOSPC
  Status s = PutKV(v.get(), "new", std::string(100, 'n'));
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  EXPECT_EQ(v->Stats().disk_bytes, bytes);
  EXPECT_EQ(GetV(v.get(), "keep"), "safe");
  EXPECT_EQ(GetV(v.get(), "new"), "<NotFound>");
  env.write_budget = -1;
  ASSERT_TRUE(PutKV(v.get(), "new", "ok").ok());
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  EXPECT_EQ(v->Stats().corrupt_records, 0u);
  EXPECT_EQ(GetV(v.get(), "keep"), "safe");
  EXPECT_EQ(GetV(v.get(), "new"), "ok");
}

TEST(Volume, WrongPartitionIsRefused) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  VolumeOptions o = f.Options();
  o.partition = 5;
  EXPECT_FALSE(Volume::Open(o, &v).ok());
}

TEST(Volume, ContentTypeRoundTrips) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  ASSERT_TRUE(PutCT(v.get(), "page", "<html/>", "text/html; charset=utf-8").ok());
  ASSERT_TRUE(PutCT(v.get(), "plain", "bytes", "").ok());
  std::string longest(format::kMaxContentTypeLen, 'c');
  ASSERT_TRUE(PutCT(v.get(), "longest", "", longest).ok());
  EXPECT_EQ(GetCT(v.get(), "page"), "text/html; charset=utf-8|<html/>");
  EXPECT_EQ(GetCT(v.get(), "plain"), "|bytes");
  EXPECT_EQ(GetCT(v.get(), "longest"), longest + "|");
  // Too long: refused, and nothing is written.
  uint64_t bytes = v->Stats().disk_bytes;
  Status s = PutCT(v.get(), "page", "x", std::string(format::kMaxContentTypeLen + 1, 'c'));
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_EQ(v->Stats().disk_bytes, bytes);
  EXPECT_EQ(GetCT(v.get(), "page"), "text/html; charset=utf-8|<html/>");
  // An overwrite stores its own content type (none here).
  ASSERT_TRUE(PutKV(v.get(), "page", "v2").ok());
  EXPECT_EQ(GetCT(v.get(), "page"), "|v2");
  // A batch: each op keeps its own; a tombstone ignores one.
  std::vector<WriteOp> ops(3);
  ops[0].key = "a", ops[0].value = "1", ops[0].content_type = "image/png";
  ops[1].key = "b", ops[1].value = "2", ops[1].content_type = "text/css";
  ops[2].key = "plain", ops[2].tombstone = true, ops[2].content_type = "ignored";
  ASSERT_TRUE(v->Write(ops).ok());
  EXPECT_EQ(GetCT(v.get(), "a"), "image/png|1");
  EXPECT_EQ(GetCT(v.get(), "b"), "text/css|2");
  EXPECT_EQ(GetCT(v.get(), "plain"), "<NotFound>");
}

// Update sees the object's content type and stores the one it decides: carried over
// (touch, append, incr) or none (a memcached set).
TEST(Volume, UpdateKeepsOrReplacesContentType) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  ASSERT_TRUE(PutCT(v.get(), "k", "abc", "text/plain").ok());
  std::string seen;
  auto append = [&](const ReadResult* cur, UpdateDecision* d) {
    seen = std::string(cur->content_type());
    d->action = UpdateDecision::Action::kPut;
    d->value = "abcdef";
    d->content_type = cur->content_type();
  };
  ASSERT_TRUE(v->Update("k", append, nullptr).ok());
  EXPECT_EQ(seen, "text/plain");
  EXPECT_EQ(GetCT(v.get(), "k"), "text/plain|abcdef");
  auto set = [&](const ReadResult* cur, UpdateDecision* d) {
    d->action = UpdateDecision::Action::kPut;
    d->value = "new";
  };
  ASSERT_TRUE(v->Update("k", set, nullptr).ok());
  EXPECT_EQ(GetCT(v.get(), "k"), "|new");
  std::string too_long(format::kMaxContentTypeLen + 1, 't');
  auto bad = [&](const ReadResult* cur, UpdateDecision* d) {
    d->action = UpdateDecision::Action::kPut;
    d->value = "x";
    d->content_type = too_long;
  };
  EXPECT_TRUE(v->Update("k", bad, nullptr).IsInvalidArgument());
  EXPECT_EQ(GetCT(v.get(), "k"), "|new");
}

// Values above kDirectValueBytes go from the caller's memory to the file with one
// pwritev; at and below it they are copied next to the header and written with pwrite.
TEST(Volume, LargeValuesAreWrittenWithPwritev) {
  Fixture f;
  FaultEnv env;
  VolumeOptions o = f.Options();
  o.env = &env;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  const size_t limit = Volume::kDirectValueBytes;
  std::string at_limit = Pattern(limit, 1);
  uint64_t pwritevs = env.pwritevs;
  ASSERT_TRUE(PutCT(v.get(), "at-limit", at_limit, "a/b").ok());
  EXPECT_EQ(env.pwritevs, pwritevs);
  // Both paddings: raw sizes that are and are not multiples of kNeedleAlign.
  std::vector<std::string> bigs;
  for (size_t n : {limit + 1, limit + 3, size_t{1} << 20, size_t{3} << 20}) {
    bigs.push_back(Pattern(n, static_cast<int>(n)));
  }
  for (size_t i = 0; i < bigs.size(); i++) {
    pwritevs = env.pwritevs;
    uint64_t before = v->Stats().disk_bytes;
    ASSERT_TRUE(PutCT(v.get(), "big" + std::to_string(i), bigs[i], "video/mp4").ok());
    EXPECT_EQ(env.pwritevs, pwritevs + 1) << i;
    EXPECT_EQ(v->Stats().disk_bytes - before, format::NeedleSize(4, 9, bigs[i].size()));
  }
  // A batch mixing small and large values: large ones are spliced between the others.
  std::string b1 = Pattern(limit * 2 + 5, 7), b2 = Pattern(limit + 100, 8);
  std::vector<WriteOp> ops(5);
  ops[0].key = "s1", ops[0].value = "small", ops[0].content_type = "t/1";
  ops[1].key = "l1", ops[1].value = b1, ops[1].content_type = "t/2";
  ops[2].key = "l2", ops[2].value = b2;
  ops[3].key = "s2", ops[3].value = "tiny", ops[3].content_type = "t/4";
  ops[4].key = "l1", ops[4].value = b2, ops[4].content_type = "t/5";  // same key again
  pwritevs = env.pwritevs;
  ASSERT_TRUE(v->Write(ops).ok());
  EXPECT_EQ(env.pwritevs, pwritevs + 1);
  // Update (here an append) takes the same path.
  std::string appended;
  ASSERT_TRUE(v->Update(
                   "big0",
                   [&](const ReadResult* cur, UpdateDecision* d) {
                     appended = std::string(cur->value()) + "tail";
                     d->action = UpdateDecision::Action::kPut;
                     d->value = appended;
                     d->content_type = cur->content_type();
                   },
                   nullptr)
                  .ok());
  auto check = [&](Volume* vol) {
    EXPECT_EQ(GetCT(vol, "at-limit"), "a/b|" + at_limit);
    EXPECT_EQ(GetCT(vol, "big0"), "video/mp4|" + appended);
    for (size_t i = 1; i < bigs.size(); i++) {
      EXPECT_EQ(GetCT(vol, "big" + std::to_string(i)), "video/mp4|" + bigs[i]) << i;
    }
    EXPECT_EQ(GetCT(vol, "s1"), "t/1|small");
    EXPECT_EQ(GetCT(vol, "l1"), "t/5|" + b2);
    EXPECT_EQ(GetCT(vol, "l2"), "|" + b2);
    EXPECT_EQ(GetCT(vol, "s2"), "t/4|tiny");
  };
  check(v.get());
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  std::filesystem::remove(o.dir + "/" + format::kCheckpointFileName);
  ASSERT_TRUE(Volume::Open(o, &v).ok());  // a full scan reads every needle back
  EXPECT_FALSE(v->Stats().recovery_used_checkpoint);
  EXPECT_EQ(v->Stats().corrupt_records, 0u);
  EXPECT_EQ(v->Stats().truncated_bytes, 0u);
  check(v.get());
}

// A short write (the disk fills part way) on the pwritev path leaves nothing behind,
// wherever it stops: in the header, the value or the padding; for Put, a batch and
// Update alike. The previous value of the key is still served, before and after a
// restart, and the volume reopens clean.
TEST(Volume, FailedPwritevLeavesNothingBehind) {
  Fixture f;
  FaultEnv env;
  VolumeOptions o = f.Options();
  o.env = &env;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  std::string old_big = Pattern(Volume::kDirectValueBytes + 500, 1);
  ASSERT_TRUE(PutCT(v.get(), "key", old_big, "old/type").ok());
  ASSERT_TRUE(PutCT(v.get(), "other", "x", "other/type").ok());
  // 3 bytes of padding: the raw size is not a multiple of 8.
  std::string new_big = Pattern(Volume::kDirectValueBytes + 2, 2);
  const size_t raw = format::NeedleRawSize(3, 8, new_big.size());
  const size_t size = format::NeedleSize(3, 8, new_big.size());
  ASSERT_LT(raw, size);
  const uint64_t bytes = v->Stats().disk_bytes;
  const uint64_t pwritevs = env.pwritevs;
  int attempts = 0;
  for (int64_t budget :
       {int64_t{0}, int64_t{20}, int64_t{format::kNeedleHeaderSize + 5}, int64_t{1000},
        static_cast<int64_t>(raw) - 1, static_cast<int64_t>(raw), static_cast<int64_t>(size) - 1}) {
    for (int how = 0; how < 3; how++) {
      env.write_budget = budget;
      Status s;
      if (how == 0) {
        s = PutCT(v.get(), "key", new_big, "new/type");
      } else if (how == 1) {
        std::vector<WriteOp> ops(2);
        ops[0].key = "key", ops[0].value = new_big, ops[0].content_type = "new/type";
        ops[1].key = "batch", ops[1].value = "b";
        s = v->Write(ops);
      } else {
        s = v->Update(
            "key",
            [&](const ReadResult* cur, UpdateDecision* d) {
              d->action = UpdateDecision::Action::kPut;
              d->value = new_big;
              d->content_type = "new/type";
            },
            nullptr);
      }
      attempts++;
      EXPECT_TRUE(s.IsNoSpace()) << budget << " " << how << ": " << s.ToString();
      EXPECT_EQ(v->Stats().disk_bytes, bytes) << budget << " " << how;
      EXPECT_EQ(GetCT(v.get(), "key"), "old/type|" + old_big) << budget << " " << how;
      EXPECT_EQ(GetCT(v.get(), "batch"), "<NotFound>");
    }
  }
  EXPECT_EQ(env.pwritevs, pwritevs + attempts);
  env.write_budget = -1;
  ASSERT_TRUE(PutCT(v.get(), "after", "ok", "after/type").ok());
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  for (bool checkpoint : {true, false}) {
    if (!checkpoint) std::filesystem::remove(o.dir + "/" + format::kCheckpointFileName);
    ASSERT_TRUE(Volume::Open(o, &v).ok());
    EXPECT_EQ(v->Stats().recovery_used_checkpoint, checkpoint);
    EXPECT_EQ(v->Stats().corrupt_records, 0u);
    EXPECT_EQ(v->Stats().truncated_bytes, 0u);
    EXPECT_EQ(GetCT(v.get(), "key"), "old/type|" + old_big);
    EXPECT_EQ(GetCT(v.get(), "other"), "other/type|x");
    EXPECT_EQ(GetCT(v.get(), "after"), "after/type|ok");
    EXPECT_EQ(GetCT(v.get(), "batch"), "<NotFound>");
    ASSERT_TRUE(v->Close().ok());
    v.reset();
  }
  // And the key can be written again.
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  ASSERT_TRUE(PutCT(v.get(), "key", new_big, "new/type").ok());
  EXPECT_EQ(GetCT(v.get(), "key"), "new/type|" + new_big);
}

}  // namespace
}  // namespace bale
