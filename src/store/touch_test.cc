// Touch records: a new expiry costs a small record, reads see the object with it, and
// restarts (with and without a checkpoint) and compactions of either segment keep it.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "format/checkpoint.h"
#include "store/volume.h"
#include "test_util.h"

namespace bale {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

constexpr uint32_t kNow = 1700000000;

struct Fixture {
  TempDir tmp;
  std::atomic<uint32_t> now{kNow};
  VolumeOptions Options(uint64_t segment_bytes = 12 << 10) {
    VolumeOptions o;
    o.dir = tmp.Sub("vol");
    o.durability = Durability::kNone;
    o.segment_bytes = segment_bytes;
    o.clock = [this] { return now.load(); };
    return o;
  }
  // Reopens `v`: cleanly (checkpoint), or as after a crash with no usable checkpoint
  // (every segment scanned).
  void Reopen(std::unique_ptr<Volume>* v, bool full_scan) {
    VolumeOptions o = (*v)->options();
    ASSERT_TRUE((*v)->Close().ok());
    v->reset();
    if (full_scan) fs::remove(o.dir + "/" + format::kCheckpointFileName);
    ASSERT_TRUE(Volume::Open(o, v).ok());
  }
};

uint64_t DiskBytes(const Volume& v) {
  uint64_t total = 0;
  for (const SegmentInfo& s : v.Segments()) total += s.bytes;
  return total;
}

Status Set(Volume* v, const std::string& k, const std::string& val, uint32_t expiry = 0,
           uint64_t* version = nullptr) {
  WriteOp op;
  op.key = k;
  op.value = val;
  op.expiry = expiry;
  op.flags = 7;
  op.content_type = "text/x-test";
  Status s = v->Put(op);
  if (version != nullptr) *version = op.version;
  return s;
}

// The object as Get and Locate see it: "<missing>", or value|expiry|version|flags|type.
std::string Read(Volume* v, const std::string& k) {
  ReadResult r;
  Status s = v->Get(k, &r);
  if (!s.ok()) return s.IsNotFound() ? "<missing>" : s.ToString();
  std::string got = std::string(r.value()) + "|" + std::to_string(r.header().expiry) + "|" +
                    std::to_string(r.header().version) + "|" + std::to_string(r.header().flags) +
                    "|" + std::string(r.content_type());
  ObjectRef ref;
  ReadResult fallback;
  Status ls = v->Locate(k, &ref, &fallback);
  if (!ls.ok()) return "Locate: " + ls.ToString();
  std::string located = std::string(ref.value) + "|" + std::to_string(ref.header.expiry) + "|" +
                        std::to_string(ref.header.version) + "|" +
                        std::to_string(ref.header.flags) + "|" + std::string(ref.content_type);
  return got == located ? got : "Get " + got + " but Locate " + located;
}

std::string Want(const std::string& value, uint32_t expiry, uint64_t version) {
  return value + "|" + std::to_string(expiry) + "|" + std::to_string(version) + "|7|text/x-test";
}

TEST(Touch, ThousandTouchesOfALargeValueAddSmallRecords) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(64 << 20), &v).ok());
  std::string big(1 << 20, 'b');
  uint64_t version = 0;
  ASSERT_TRUE(Set(v.get(), "big", big, 0, &version).ok());
  uint64_t before = DiskBytes(*v);
  for (uint32_t i = 1; i <= 1000; i++) ASSERT_TRUE(v->Touch("big", kNow + 1000 + i).ok());
  uint64_t grew = DiskBytes(*v) - before;
  EXPECT_LT(grew, 1u << 20) << grew;
  EXPECT_LE(grew, 1000u * 64);  // a 64-byte record each for a 3-byte key
  EXPECT_EQ(Read(v.get(), "big"), Want(big, kNow + 2000, version));
  for (bool full_scan : {false, true}) {
    f.Reopen(&v, full_scan);
    EXPECT_EQ(Read(v.get(), "big"), Want(big, kNow + 2000, version)) << full_scan;
  }
}

TEST(Touch, MissingExpiredAndDeletedAreNotFound) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  EXPECT_TRUE(v->Touch("none", 0).IsNotFound());
  ASSERT_TRUE(Set(v.get(), "old", "v", kNow - 1).ok());
  EXPECT_TRUE(v->Touch("old", 0).IsNotFound());
  ASSERT_TRUE(Set(v.get(), "gone", "v").ok());
  ASSERT_TRUE(v->Delete("gone").ok());
  EXPECT_TRUE(v->Touch("gone", 0).IsNotFound());
  // A touch into the past expires the object, for good.
  ASSERT_TRUE(Set(v.get(), "k", "v").ok());
  ASSERT_TRUE(v->Touch("k", kNow - 5).ok());
  EXPECT_EQ(Read(v.get(), "k"), "<missing>");
  EXPECT_TRUE(v->Touch("k", 0).IsNotFound());
  f.Reopen(&v, true);
  EXPECT_EQ(Read(v.get(), "k"), "<missing>");
}

TEST(Touch, LaterWritesWinOverTouchesAcrossRestarts) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  uint64_t v1 = 0, v2 = 0;
  ASSERT_TRUE(Set(v.get(), "over", "first", 0, &v1).ok());
  ASSERT_TRUE(v->Touch("over", kNow + 50).ok());
  ASSERT_TRUE(Set(v.get(), "over", "second", 0, &v2).ok());
  ASSERT_TRUE(Set(v.get(), "del", "x").ok());
  ASSERT_TRUE(v->Touch("del", kNow + 50).ok());
  ASSERT_TRUE(v->Delete("del").ok());
  ASSERT_TRUE(Set(v.get(), "twice", "t", 0, &v1).ok());
  ASSERT_TRUE(v->Touch("twice", kNow + 10).ok());
  ASSERT_TRUE(v->Touch("twice", kNow + 20).ok());
  // An update reads the touched object (and its version, which a cas compares).
  uint64_t appended = 0;
  ASSERT_TRUE(v->Update(
                   "twice",
                   [&](const ReadResult* cur, UpdateDecision* d) {
                     ASSERT_NE(cur, nullptr);
                     EXPECT_EQ(cur->header().version, v1);
                     EXPECT_EQ(cur->header().expiry, kNow + 20);
                     d->action = UpdateDecision::Action::kPut;
                     d->value = "t+";
                     d->flags = 7;
                     d->content_type = "text/x-test";
                     d->expiry = cur->header().expiry;
                   },
                   &appended)
                  .ok());
  for (bool full_scan : {false, false, true}) {
    EXPECT_EQ(Read(v.get(), "over"), Want("second", 0, v2));
    EXPECT_EQ(Read(v.get(), "del"), "<missing>");
    EXPECT_EQ(Read(v.get(), "twice"), Want("t+", kNow + 20, appended));
    f.Reopen(&v, full_scan);
  }
}

// Fills segments so that the ones holding `keys` are sealed.
void Filler(Volume* v, int n) {
  for (int i = 0; i < n; i++)
    ASSERT_TRUE(Set(v, "fill" + std::to_string(i), std::string(500, 'f')).ok());
}

TEST(Touch, CompactingTheValuesSegmentMergesTheTouch) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  uint64_t version = 0;
  ASSERT_TRUE(Set(v.get(), "k", "value", 0, &version).ok());
  Filler(v.get(), 30);                          // k's segment is sealed
  ASSERT_TRUE(v->Touch("k", kNow + 100).ok());  // the record is in a later segment
  ASSERT_TRUE(v->Touch("k", kNow + 200).ok());
  Filler(v.get(), 30);
  uint64_t first = v->Segments()[0].seq;
  CompactionResult r;
  ASSERT_TRUE(v->Compact(first, &r).ok());
  EXPECT_EQ(Read(v.get(), "k"), Want("value", kNow + 200, version));
  // The records left behind name a generation that is gone: every restart ignores them.
  for (bool full_scan : {false, true}) {
    f.Reopen(&v, full_scan);
    EXPECT_EQ(Read(v.get(), "k"), Want("value", kNow + 200, version)) << full_scan;
  }
  // And the merged needle takes further touches.
  ASSERT_TRUE(v->Touch("k", kNow + 300).ok());
  f.Reopen(&v, true);
  EXPECT_EQ(Read(v.get(), "k"), Want("value", kNow + 300, version));
}

TEST(Touch, CompactingTheRecordsSegmentMergesTheValue) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  uint64_t version = 0;
  ASSERT_TRUE(Set(v.get(), "k", "value", 0, &version).ok());
  Filler(v.get(), 30);
  ASSERT_TRUE(v->Touch("k", kNow + 100).ok());
  Filler(v.get(), 30);
  std::vector<SegmentInfo> segs = v->Segments();
  ASSERT_GE(segs.size(), 3u);
  // Compact the segment that holds the touch record (not the first, not the head).
  uint64_t record_seq = 0;
  for (size_t i = 1; i + 1 < segs.size() && record_seq == 0; i++) {
    CompactionResult r;
    ASSERT_TRUE(v->Compact(segs[i].seq, &r).ok());
    if (Read(v.get(), "k") != Want("value", kNow + 100, version)) FAIL() << Read(v.get(), "k");
    record_seq = segs[i].seq;
  }
  for (bool full_scan : {false, true}) {
    f.Reopen(&v, full_scan);
    EXPECT_EQ(Read(v.get(), "k"), Want("value", kNow + 100, version)) << full_scan;
  }
  // Compacting the value's segment now drops the old needle (the merge holds the object).
  CompactionResult r;
  ASSERT_TRUE(v->Compact(segs[0].seq, &r).ok());
  f.Reopen(&v, true);
  EXPECT_EQ(Read(v.get(), "k"), Want("value", kNow + 100, version));
}

TEST(Touch, ValueAndRecordInOneCompactedSegment) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  uint64_t version = 0;
  ASSERT_TRUE(Set(v.get(), "k", "value", 0, &version).ok());
  ASSERT_TRUE(v->Touch("k", kNow + 100).ok());
  ASSERT_TRUE(Set(v.get(), "gone", "value").ok());
  ASSERT_TRUE(v->Touch("gone", kNow + 10).ok());
  Filler(v.get(), 30);
  f.now = kNow + 50;  // "gone" has expired
  CompactionResult r;
  ASSERT_TRUE(v->Compact(v->Segments()[0].seq, &r).ok());
  EXPECT_EQ(Read(v.get(), "k"), Want("value", kNow + 100, version));
  EXPECT_EQ(Read(v.get(), "gone"), "<missing>");
  for (bool full_scan : {false, true}) {
    f.Reopen(&v, full_scan);
    EXPECT_EQ(Read(v.get(), "k"), Want("value", kNow + 100, version)) << full_scan;
    EXPECT_EQ(Read(v.get(), "gone"), "<missing>") << full_scan;
  }
}

TEST(Touch, ExpiredByTouchStaysGoneAfterCompactionOfItsValue) {
  Fixture f;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(f.Options(), &v).ok());
  ASSERT_TRUE(Set(v.get(), "k", "older").ok());
  Filler(v.get(), 30);
  ASSERT_TRUE(Set(v.get(), "k", "newer").ok());  // in the second segment
  Filler(v.get(), 30);
  ASSERT_TRUE(v->Touch("k", kNow + 10).ok());  // a record in a later segment
  Filler(v.get(), 30);
  f.now = kNow + 20;
  std::vector<SegmentInfo> segs = v->Segments();
  ASSERT_GE(segs.size(), 4u);
  CompactionResult r;
  ASSERT_TRUE(v->Compact(segs[1].seq, &r).ok());  // the segment of "newer"
  EXPECT_EQ(Read(v.get(), "k"), "<missing>");
  for (bool full_scan : {false, true}) {
    f.Reopen(&v, full_scan);
    EXPECT_EQ(Read(v.get(), "k"), "<missing>")
        << "the older value came back, full scan " << full_scan;
  }
}

}  // namespace
}  // namespace bale
