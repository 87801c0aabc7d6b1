#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "format/checkpoint.h"
#include "format/superblock.h"
#include "store/expiry.h"
#include "store/volume.h"
#include "test_util.h"

namespace bale {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

struct Fixture {
  TempDir tmp;
  std::atomic<uint32_t> now{1700000000};
  VolumeOptions Options(const std::string& name = "vol") {
    VolumeOptions o;
    o.dir = tmp.Sub(name);
    o.durability = Durability::kNone;
    o.segment_bytes = 12 << 10;
    o.clock = [this] { return now.load(); };
    return o;
  }
};

Status Set(Volume* v, const std::string& k, const std::string& val, uint32_t expiry = 0) {
  WriteOp op;
  op.key = k;
  op.value = val;
  op.expiry = expiry;
  return v->Put(op);
}

std::string Get(Volume* v, const std::string& k) {
  ReadResult r;
  Status s = v->Get(k, &r);
  return s.ok() ? std::string(r.value()) : s.IsNotFound() ? "<missing>" : s.ToString();
}

TEST(Compaction, DropsDeadNeedlesAndKeepsLiveOnes) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  std::string val(400, 'x');
  for (int i = 0; i < 60; i++) ASSERT_TRUE(Set(v.get(), "k" + std::to_string(i), val).ok());
  for (int i = 0; i < 60; i += 2) ASSERT_TRUE(Set(v.get(), "k" + std::to_string(i), "new").ok());
  for (int i = 1; i < 60; i += 4) ASSERT_TRUE(v->Delete("k" + std::to_string(i)).ok());
  ASSERT_GE(v->Segments().size(), 3u);
  uint64_t first = v->Segments()[0].seq;
  CompactionResult r;
  ASSERT_TRUE(v->Compact(first, &r).ok());
  EXPECT_LT(r.bytes_after, r.bytes_before);
  EXPECT_GT(r.needles_dropped, 0u);
  EXPECT_EQ(v->Segments()[0].generation, 1u);
  EXPECT_FALSE(fs::exists(f.Options().dir + "/" + format::SegmentFileName(first, 0)));
  auto check = [&](Volume* vol) {
    for (int i = 0; i < 60; i++) {
      std::string want = i % 2 == 0 ? "new" : (i % 4 == 1 ? "<missing>" : val);
      ASSERT_EQ(Get(vol, "k" + std::to_string(i)), want) << i;
    }
  };
  check(v.get());
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());  // restart after compaction
  check(v.get());
  v.reset();
  fs::remove(f.Options().dir + "/" + format::kCheckpointFileName);
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());  // and with a full scan
  check(v.get());
}

// Compacting every sealed segment, oldest first, converges: nothing dead remains and
// deleted or expired keys do not come back, even on a full-scan restart.
TEST(Compaction, ExpiredAndDeletedStayGoneAfterFullScan) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  std::string val(300, 'y');
  for (int i = 0; i < 40; i++) ASSERT_TRUE(Set(v.get(), "e" + std::to_string(i), val).ok());
  // Newer copies in later segments that expire, and deletes.
  for (int i = 0; i < 40; i++) {
    if (i % 2 == 0) {
      ASSERT_TRUE(Set(v.get(), "e" + std::to_string(i), val, f.now + 10).ok());
    } else {
      ASSERT_TRUE(v->Delete("e" + std::to_string(i)).ok());
    }
  }
  for (int i = 0; i < 80; i++) ASSERT_TRUE(Set(v.get(), "fill" + std::to_string(i), val).ok());
  f.now += 20;
  for (const auto& seg : v->Segments()) {
    if (!seg.sealed) break;
    CompactionResult r;
    ASSERT_TRUE(v->Compact(seg.seq, &r).ok());
  }
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  fs::remove(f.Options().dir + "/" + format::kCheckpointFileName);
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  for (int i = 0; i < 40; i++) EXPECT_EQ(Get(v.get(), "e" + std::to_string(i)), "<missing>");
  for (int i = 0; i < 80; i++) EXPECT_EQ(Get(v.get(), "fill" + std::to_string(i)), val);
}

TEST(Compaction, FlushedNeedlesAreDropped) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  std::string val(500, 'z');
  for (int i = 0; i < 60; i++) ASSERT_TRUE(Set(v.get(), "f" + std::to_string(i), val).ok());
  v->ApplyFlush(v->PlanFlush(0));
  ASSERT_TRUE(Set(v.get(), "after", "1").ok());
  uint64_t objects = v->Stats().objects;
  CompactionResult r;
  ASSERT_TRUE(v->Compact(v->Segments()[0].seq, &r).ok());
  EXPECT_EQ(r.needles_kept, 0u);
  EXPECT_LT(v->Stats().objects, objects);
  EXPECT_EQ(Get(v.get(), "f0"), "<missing>");
  EXPECT_EQ(Get(v.get(), "after"), "1");
}

// Writers, deleters and touchers run while every segment, the head included, is
// compacted, repeatedly; afterwards (and after a restart) every key holds its last
// acknowledged value.
TEST(Compaction, RacingWritesDeletesAndTouchesLoseNothing) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  constexpr int kKeys = 300;
  std::mutex mu;
  std::map<std::string, std::string> model;  // last acknowledged state
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  auto writer = [&](int seed) {
    std::mt19937 rng(seed);
    for (int n = 0; n < 4000 && !stop; n++) {
      std::string key = "r" + std::to_string(rng() % kKeys);
      std::lock_guard<std::mutex> l(mu);  // keeps the model in step with the volume
      if (rng() % 7 == 0) {
        Status s = v->Touch(key, 0);  // the same value, a touch record (or a whole copy)
        if (!s.ok() && !(s.IsNotFound() && model.count(key) == 0)) errors++;
      } else if (rng() % 5 == 0) {
        Status s = v->Delete(key);
        if (s.ok() || s.IsNotFound())
          model.erase(key);
        else
          errors++;
      } else {
        std::string val =
            std::to_string(seed) + ":" + std::to_string(n) + std::string(rng() % 300, 'p');
        if (Set(v.get(), key, val).ok())
          model[key] = val;
        else
          errors++;
      }
    }
  };
  for (int i = 0; i < kKeys; i++) {  // sealed segments exist before the race starts
    std::string key = "r" + std::to_string(i), val(200, 'f');
    ASSERT_TRUE(Set(v.get(), key, val).ok());
    model[key] = val;
  }
  ASSERT_GT(v->Segments().size(), 2u);
  std::atomic<int> done{0};
  auto run = [&](int seed) {
    writer(seed);
    done++;
  };
  std::thread w1(run, 1), w2(run, 2);
  int compactions = 0, heads = 0;
  for (int round = 0; round < 6 || done < 2; round++) {
    for (const auto& seg : v->Segments()) {
      heads += seg.sealed ? 0 : 1;
      CompactionResult r;
      Status s = v->Compact(seg.seq, &r);
      ASSERT_TRUE(s.ok()) << s.ToString();
      compactions++;
    }
  }
  stop = true;
  w1.join();
  w2.join();
  EXPECT_EQ(errors, 0);
  EXPECT_GT(compactions, 0);
  EXPECT_GT(heads, 0);
  auto check = [&](Volume* vol) {
    for (int i = 0; i < kKeys; i++) {
      std::string key = "r" + std::to_string(i);
      auto it = model.find(key);
      ASSERT_EQ(Get(vol, key), it == model.end() ? "<missing>" : it->second) << key;
    }
  };
  check(v.get());
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  check(v.get());
  v.reset();
  fs::remove(f.Options().dir + "/" + format::kCheckpointFileName);
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  check(v.get());
}

// The head is compacted in place: its dead needles go, appends go on into the copy,
// and restarts (clean and with a full scan) find every object.
TEST(Compaction, HeadIsCompactedAndKeepsTakingAppends) {
  Fixture f;
  VolumeOptions o = f.Options();
  o.segment_bytes = 1 << 20;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < 50; i++) {
      ASSERT_TRUE(
          Set(v.get(), "h" + std::to_string(i), std::to_string(round) + std::string(300, 'h'))
              .ok());
    }
  }
  ASSERT_TRUE(v->Delete("h0").ok());
  std::vector<SegmentInfo> segs = v->Segments();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_GT(segs[0].dead_bytes, segs[0].bytes / 2);
  CompactionResult r;
  ASSERT_TRUE(v->Compact(segs[0].seq, &r).ok());
  segs = v->Segments();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].generation, 1u);
  EXPECT_EQ(segs[0].dead_bytes, 0u);
  EXPECT_LT(segs[0].bytes, 50u * 400);  // the live needles (the oldest: no tombstones)
  EXPECT_FALSE(fs::exists(o.dir + "/" + format::SegmentFileName(segs[0].seq, 0)));
  ASSERT_TRUE(Set(v.get(), "after", "compaction").ok());
  auto check = [&](Volume* vol) {
    ASSERT_EQ(Get(vol, "h0"), "<missing>");
    for (int i = 1; i < 50; i++)
      ASSERT_EQ(Get(vol, "h" + std::to_string(i)), "19" + std::string(300, 'h'));
    ASSERT_EQ(Get(vol, "after"), "compaction");
  };
  check(v.get());
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  check(v.get());
  v.reset();
  fs::remove(o.dir + "/" + format::kCheckpointFileName);
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  check(v.get());
}

// Dead bytes are counted as they die; after a restart, what a checkpoint covered is
// unknown until SurveyDead reads the segment, so garbage from before a crash still
// triggers compaction.
TEST(Compaction, GarbageFromBeforeARestartIsSurveyed) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < 20; i++) {
      ASSERT_TRUE(Set(v.get(), "g" + std::to_string(i), std::string(400, 'a' + round)).ok());
    }
  }
  std::vector<SegmentInfo> before = v->Segments();
  ASSERT_GE(before.size(), 3u);
  EXPECT_GT(before[0].dead_bytes, 0u);
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  std::vector<SegmentInfo> after = v->Segments();
  EXPECT_FALSE(after[0].dead_known);
  EXPECT_EQ(after[0].dead_bytes, 0u);
  ASSERT_TRUE(v->SurveyDead(after[0].seq).ok());
  SegmentInfo surveyed = v->Segments()[0];
  EXPECT_TRUE(surveyed.dead_known);
  EXPECT_EQ(surveyed.dead_bytes, before[0].dead_bytes);  // the same needles died
  CompactionResult r;
  ASSERT_TRUE(v->Compact(surveyed.seq, &r).ok());
  EXPECT_LT(r.bytes_after, r.bytes_before);
  for (int i = 0; i < 20; i++)
    EXPECT_EQ(Get(v.get(), "g" + std::to_string(i)), std::string(400, 'd'));
}

// The two crash points of a compaction: before the rename the old segment stays
// authoritative; after it the new generation wins. Both recover every object.
TEST(Compaction, CrashAtEitherSideOfTheCommit) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  std::string val(400, 'c');
  for (int i = 0; i < 60; i++) ASSERT_TRUE(Set(v.get(), "c" + std::to_string(i), val).ok());
  for (int i = 0; i < 60; i += 3) ASSERT_TRUE(Set(v.get(), "c" + std::to_string(i), "2").ok());
  uint64_t seq = v->Segments()[0].seq;
  std::string dir = f.Options().dir;
  fs::copy(dir, f.tmp.Sub("before"));  // the state a crash before the commit leaves
  CompactionResult r;
  ASSERT_TRUE(v->Compact(seq, &r).ok());
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  // Before the commit: a half-written .tmp copy next to the old segment.
  std::string b = f.tmp.Sub("before");
  fs::copy_file(dir + "/" + format::SegmentFileName(seq, 1),
                b + "/" + format::SegmentFileName(seq, 1) + ".tmp");
  fs::resize_file(b + "/" + format::SegmentFileName(seq, 1) + ".tmp", 1000);
  // After the commit: both generations present, checkpoint still naming the old one.
  fs::copy(b, f.tmp.Sub("after"));
  std::string a = f.tmp.Sub("after");
  fs::remove(a + "/" + format::SegmentFileName(seq, 1) + ".tmp");
  fs::copy_file(dir + "/" + format::SegmentFileName(seq, 1),
                a + "/" + format::SegmentFileName(seq, 1));
  for (const char* name : {"before", "after"}) {
    std::unique_ptr<Volume> r2;
    ASSERT_TRUE(Volume::Open(f.Options(name), &r2).ok()) << name;
    EXPECT_EQ(r2->Segments()[0].generation, std::string(name) == "after" ? 1u : 0u);
    for (int i = 0; i < 60; i++) {
      ASSERT_EQ(Get(r2.get(), "c" + std::to_string(i)), i % 3 == 0 ? "2" : val) << name << i;
    }
  }
  EXPECT_FALSE(fs::exists(b + "/" + format::SegmentFileName(seq, 1) + ".tmp"));
  EXPECT_FALSE(fs::exists(a + "/" + format::SegmentFileName(seq, 0)));
}

TEST(Compaction, ReportsProgress) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  for (int i = 0; i < 100; i++) ASSERT_TRUE(Set(v.get(), "p" + std::to_string(i), "v").ok());
  for (int i = 0; i < 500; i++) ASSERT_TRUE(Set(v.get(), "q", std::string(100, 'q')).ok());
  uint64_t seq = v->Segments()[0].seq, bytes = v->Segments()[0].bytes;
  ASSERT_TRUE(v->Compact(seq, nullptr).ok());
  VolumeStats st = v->Stats();
  EXPECT_EQ(st.compactions, 1u);
  EXPECT_EQ(st.compaction_total, bytes);
  EXPECT_EQ(st.compaction_scanned, bytes - format::kSuperblockSize);
}

// Compaction copies needles with their content types; after it, a restart with the
// checkpoint and one without it read them back too.
TEST(Compaction, PreservesContentTypes) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  auto type = [](int i) { return "type/" + std::to_string(i) + (i % 3 == 0 ? "" : "; q=1"); };
  std::string val(300, 'x');
  std::string big(Volume::kDirectValueBytes + 9, 'B');  // written with pwritev
  for (int i = 0; i < 60; i++) {
    WriteOp op;
    std::string k = "t" + std::to_string(i), ct = i % 5 == 4 ? "" : type(i);
    op.key = k;
    op.value = i == 10 ? std::string_view(big) : std::string_view(val);
    op.content_type = ct;
    ASSERT_TRUE(v->Put(op).ok());
  }
  for (int i = 0; i < 60; i += 6) ASSERT_TRUE(Set(v.get(), "t" + std::to_string(i), "new").ok());
  for (int i = 1; i < 60; i += 8) ASSERT_TRUE(v->Delete("t" + std::to_string(i)).ok());
  ASSERT_GE(v->Segments().size(), 3u);
  uint64_t kept = 0;
  for (const auto& seg : v->Segments()) {
    if (!seg.sealed) break;
    CompactionResult r;
    ASSERT_TRUE(v->Compact(seg.seq, &r).ok());
    kept += r.needles_kept;
  }
  EXPECT_GT(kept, 0u);
  auto check = [&](Volume* vol) {
    for (int i = 0; i < 60; i++) {
      std::string k = "t" + std::to_string(i);
      ReadResult r;
      Status s = vol->Get(k, &r);
      if (i % 8 == 1) {
        ASSERT_TRUE(s.IsNotFound()) << k;
        continue;
      }
      ASSERT_TRUE(s.ok()) << k << ": " << s.ToString();
      if (i % 6 == 0) {
        EXPECT_EQ(r.value(), "new") << k;
        EXPECT_EQ(r.content_type(), "") << k;
      } else {
        EXPECT_EQ(r.value(), i == 10 ? big : val) << k;
        EXPECT_EQ(r.content_type(), i % 5 == 4 ? "" : type(i)) << k;
      }
    }
  };
  check(v.get());
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  EXPECT_TRUE(v->Stats().recovery_used_checkpoint);
  check(v.get());
  v.reset();
  fs::remove(f.Options().dir + "/" + format::kCheckpointFileName);
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  EXPECT_EQ(v->Stats().corrupt_records, 0u);
  check(v.get());
}

// The volume's live counts (volume_stats.cc) through flush, compaction and reads of
// dead objects: what flush_all hid stops counting at once and compaction does not
// count it twice; a read that finds an expired object counts it once and drops it for
// good (a restart's full scan does not bring an older value back).
TEST(VolumeStats, FlushHidesAtOnceAndCompactionDoesNotCountTwice) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  std::string val(500, 'z');
  for (int i = 0; i < 60; i++) ASSERT_TRUE(Set(v.get(), "f" + std::to_string(i), val).ok());
  EXPECT_EQ(v->Stats().live_objects, 60u);
  EXPECT_GE(v->Stats().live_bytes, 60u * 500);
  v->ApplyFlush(v->PlanFlush(0));
  EXPECT_EQ(v->Stats().live_objects, 0u);
  EXPECT_EQ(v->Stats().live_bytes, 0u);
  ASSERT_TRUE(Set(v.get(), "f1", "1").ok());  // replaces a hidden entry
  ASSERT_TRUE(Set(v.get(), "after", "1").ok());
  EXPECT_EQ(v->Stats().live_objects, 2u);
  uint64_t bytes = v->Stats().live_bytes;
  EXPECT_GT(bytes, 0u);
  EXPECT_EQ(Get(v.get(), "f2"), "<missing>");  // a flushed read: counted, and let go of
  EXPECT_EQ(Get(v.get(), "f2"), "<missing>");
  EXPECT_EQ(v->Stats().flushed_reads, 1u);
  EXPECT_EQ(v->Stats().live_objects, 2u);
  for (const SegmentInfo& s : v->Segments()) {
    if (!s.sealed) continue;
    CompactionResult r;
    ASSERT_TRUE(v->Compact(s.seq, &r).ok());
  }
  VolumeStats st = v->Stats();
  EXPECT_EQ(st.live_objects, 2u);
  EXPECT_EQ(st.live_bytes, bytes);
  EXPECT_EQ(st.expired_reads, 0u);
}

TEST(VolumeStats, AnExpiredReadCountsOnceAndStaysGoneAfterAFullScan) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  ASSERT_TRUE(Set(v.get(), "k", "old value").ok());
  ASSERT_TRUE(Set(v.get(), "k", "short-lived", f.now + 10).ok());
  ASSERT_TRUE(Set(v.get(), "other", "v").ok());
  EXPECT_EQ(v->Stats().live_objects, 2u);
  uint32_t oldest = v->Stats().oldest_mtime;
  EXPECT_EQ(oldest, f.now.load());
  f.now += 20;
  EXPECT_EQ(v->Stats().live_objects, 2u);  // counted until found, as memcached does
  EXPECT_EQ(Get(v.get(), "k"), "<missing>");
  EXPECT_EQ(Get(v.get(), "k"), "<missing>");
  ObjectRef ref;
  ReadResult fallback;
  EXPECT_TRUE(v->Locate("k", &ref, &fallback).IsNotFound());
  VolumeStats st = v->Stats();
  EXPECT_EQ(st.expired_reads, 1u);
  EXPECT_EQ(st.flushed_reads, 0u);
  EXPECT_EQ(st.live_objects, 1u);
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  // Without the checkpoint the restart scans every needle: the tombstone the read left
  // keeps "old value" from coming back.
  fs::remove(f.Options().dir + "/" + format::kCheckpointFileName);
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  EXPECT_EQ(Get(v.get(), "k"), "<missing>");
  EXPECT_EQ(v->Stats().live_objects, 1u);
}

}  // namespace
}  // namespace bale
