// Damage is contained and reported (docs/store.md, "What damage does"): a damaged
// superblock, a damaged FLUSH marker, a missing segment, a bad record in the head. Each
// test damages the files of a closed volume (or store), opens it, and checks what is
// served, what is reported, and what bale verify says.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "format/checkpoint.h"
#include "format/store_meta.h"
#include "format/superblock.h"
#include "format/volume_meta.h"
#include "store/store.h"
#include "store/verify.h"
#include "store/volume.h"
#include "test_util.h"

namespace bale {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::XorByte;

VolumeOptions Opts(const std::string& dir, uint64_t segment_bytes = 8192) {
  VolumeOptions o;
  o.dir = dir;
  o.durability = Durability::kNone;
  o.segment_bytes = segment_bytes;
  return o;
}

std::string Key(int i) { return "key-" + std::to_string(i); }
std::string Value(int i) { return std::string(300 + i % 7, static_cast<char>('a' + i % 26)); }

Status PutKV(Volume* v, const std::string& k, const std::string& val) {
  WriteOp op;
  op.key = k;
  op.value = val;
  return v->Put(op);
}

std::string Read(Volume* v, const std::string& k) {
  ReadResult r;
  Status s = v->Get(k, &r);
  return s.ok() ? std::string(r.value()) : s.IsNotFound() ? "<missing>" : s.ToString();
}

// The segment files of a volume directory, oldest first.
std::vector<std::string> SegmentPaths(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) {
    uint64_t seq;
    uint32_t gen;
    if (format::ParseSegmentFileName(e.path().filename().string(), &seq, &gen)) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string Verify(const std::string& dir, VerifyReport* r) {
  std::ostringstream out;
  EXPECT_TRUE(VerifyTree(Env::Default(), dir, out, r).ok());
  return out.str();
}

bool Has(const std::vector<DamageReport>& d, DamageKind kind, const std::string& path_part) {
  for (const DamageReport& r : d) {
    if (r.kind == kind && r.path.find(path_part) != std::string::npos) return true;
  }
  return false;
}

// Writes n keys into a volume with small segments and closes it; returns how many
// segments it has.
size_t Fill(const std::string& dir, int n, uint64_t segment_bytes = 8192) {
  std::unique_ptr<Volume> v;
  EXPECT_TRUE(Volume::Open(Opts(dir, segment_bytes), &v).ok());
  for (int i = 0; i < n; i++) EXPECT_TRUE(PutKV(v.get(), Key(i), Value(i)).ok());
  size_t segments = v->Segments().size();
  EXPECT_TRUE(v->Close().ok());
  return segments;
}

// A byte flipped anywhere in the superblock of a sealed segment, or of the head, leaves
// every record readable (the salt is recovered from the needles), is reported, and the
// damaged file is never written again: appends go to a new head, compaction refuses it.
TEST(Damage, FlippedSuperblockByteKeepsEveryRecordReadable) {
  TempDir tmp;
  const int n = 200;
  ASSERT_GE(Fill(tmp.Sub("vol"), n), 5u);
  const uint64_t fields[] = {0, 8, 12, 16, 24, 28, 31, 40, 60};
  for (bool head : {false, true}) {
    for (bool checkpoint : {true, false}) {
      for (uint64_t at : fields) {
        SCOPED_TRACE(std::string(head ? "head" : "sealed") + " byte " + std::to_string(at) +
                     (checkpoint ? " with checkpoint" : " without"));
        std::string dir = tmp.Sub("crash");
        fs::remove_all(dir);
        fs::copy(tmp.Sub("vol"), dir);
        if (!checkpoint) fs::remove(dir + "/" + format::kCheckpointFileName);
        std::vector<std::string> segs = SegmentPaths(dir);
        std::string damaged = head ? segs.back() : segs[2];
        XorByte(damaged, at, 0x10);
        const std::string before = ReadFile(damaged);

        std::unique_ptr<Volume> v;
        Status s = Volume::Open(Opts(dir), &v);
        ASSERT_TRUE(s.ok()) << s.ToString();
        for (int i = 0; i < n; i++) ASSERT_EQ(Read(v.get(), Key(i)), Value(i)) << i;
        VolumeStats st = v->Stats();
        EXPECT_EQ(st.damaged_segments, 1u);
        EXPECT_EQ(st.unreadable_segments, 0u);
        EXPECT_TRUE(st.damaged);
        EXPECT_FALSE(st.unavailable);
        EXPECT_TRUE(Has(v->Damage(), DamageKind::kDamagedSuperblock, fs::path(damaged).filename()));
        // Appends never go into the damaged file.
        size_t segments = v->Segments().size();
        ASSERT_TRUE(PutKV(v.get(), "after", "written after the damage").ok());
        EXPECT_EQ(Read(v.get(), "after"), "written after the damage");
        if (head) {
          EXPECT_EQ(segments, segs.size() + 1);  // a new head
        }
        CompactionResult cr;
        uint64_t damaged_seq = v->Segments()[head ? segs.size() - 1 : 2].seq;
        EXPECT_TRUE(v->Compact(damaged_seq, &cr).IsCorruption());
        ASSERT_TRUE(v->Close().ok());
        v.reset();
        EXPECT_EQ(ReadFile(damaged), before);

        VerifyReport r;
        std::string out = Verify(dir, &r);
        EXPECT_EQ(r.problems, 1u) << out;
        EXPECT_NE(out.find(fs::path(damaged).filename().string() + ": offset 0: Corruption"),
                  std::string::npos)
            << out;
        EXPECT_EQ(r.needles, uint64_t{n} + 1) << out;  // the damaged segment's are checked

        // Reported again at the next open, everything still there.
        ASSERT_TRUE(Volume::Open(Opts(dir), &v).ok());
        EXPECT_EQ(v->Stats().damaged_segments, 1u);
        for (int i = 0; i < n; i++) ASSERT_EQ(Read(v.get(), Key(i)), Value(i)) << i;
        EXPECT_EQ(Read(v.get(), "after"), "written after the damage");
      }
    }
  }
}

// A segment of a single needle whose superblock is damaged cannot have its salt
// recovered (one needle agrees with any salt): it is reported unreadable, its record is
// not served as if it had been checked, and the rest of the volume serves.
TEST(Damage, SuperblockOfASegmentWithOneNeedleLeavesTheRestServing) {
  TempDir tmp;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("vol"), 4096), &v).ok());
  ASSERT_TRUE(PutKV(v.get(), "alone", std::string(3800, 'A')).ok());  // fills segment 1
  for (int i = 0; i < 30; i++) ASSERT_TRUE(PutKV(v.get(), Key(i), Value(i)).ok());
  ASSERT_GE(v->Segments().size(), 3u);
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  std::string first = SegmentPaths(tmp.Sub("vol"))[0];
  XorByte(first, 30, 0x01);  // in the salt
  fs::remove(tmp.Sub("vol") + "/" + format::kCheckpointFileName);
  ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("vol"), 4096), &v).ok());
  EXPECT_TRUE(Read(v.get(), "alone") == "<missing>");
  for (int i = 0; i < 30; i++) ASSERT_EQ(Read(v.get(), Key(i)), Value(i)) << i;
  EXPECT_EQ(v->Stats().unreadable_segments, 1u);
  EXPECT_TRUE(Has(v->Damage(), DamageKind::kUnreadableSegment, fs::path(first).filename()));
  v.reset();
  VerifyReport r;
  std::string out = Verify(tmp.Sub("vol"), &r);
  EXPECT_EQ(r.problems, 1u) << out;
  EXPECT_NE(out.find("cannot be checked"), std::string::npos) << out;
}

// A damaged FLUSH marker makes its partition unavailable (every call answers
// Unavailable naming it) while the other partitions serve; flush_all without a delay
// repairs it, one with a delay cannot.
TEST(Damage, DamagedFlushMarkerMakesOnlyItsPartitionUnavailable) {
  TempDir tmp;
  StoreOptions so;
  so.dir = tmp.Sub("data");
  so.partitions = 3;
  so.volume.durability = Durability::kNone;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(so, &store).ok());
  std::map<uint32_t, std::vector<int>> by_partition;
  for (int i = 0; i < 90; i++) {
    ASSERT_TRUE(PutKV(store->VolumeFor(Key(i)), Key(i), Value(i)).ok());
    by_partition[store->PartitionOf(Key(i))].push_back(i);
  }
  ASSERT_TRUE(store->Close().ok());
  store.reset();
  const std::string flush = so.dir + "/" + format::PartitionDirName(1) + "/FLUSH";
  ASSERT_TRUE(
      WriteFileAtomic(Env::Default(), flush, format::EncodeFlushMarker(format::FlushMarker{}))
          .ok());  // as earlier builds wrote it
  XorByte(flush, 9, 0x04);

  Status s = Store::Open(so, &store);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (uint32_t p : {0u, 2u}) {
    for (int i : by_partition[p]) ASSERT_EQ(Read(store->volume(p), Key(i)), Value(i));
  }
  ASSERT_FALSE(by_partition[1].empty());
  Volume* damaged = store->volume(1);
  ReadResult rr;
  s = damaged->Get(Key(by_partition[1][0]), &rr);
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.message().find("partition 1 unavailable"), std::string_view::npos) << s.ToString();
  EXPECT_TRUE(PutKV(damaged, Key(by_partition[1][0]), "new").IsUnavailable());
  EXPECT_TRUE(damaged->Delete(Key(by_partition[1][0])).IsUnavailable());
  EXPECT_TRUE(damaged->Touch(Key(by_partition[1][0]), 0).IsUnavailable());
  StoreStats st = store->Stats();
  EXPECT_EQ(st.unavailable_partitions, 1u);
  EXPECT_EQ(st.damaged_partitions, 1u);
  std::vector<PartitionDamage> d = store->Damage();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].partition, 1u);
  EXPECT_EQ(d[0].report.kind, DamageKind::kBadFlushMarker);
  EXPECT_EQ(d[0].report.path, flush);
  // The marker is left as it is: bale verify names it.
  ASSERT_TRUE(store->Close().ok());
  store.reset();
  VerifyReport r;
  std::string out = Verify(so.dir, &r);
  EXPECT_EQ(r.problems, 1u) << out;
  EXPECT_NE(out.find(format::PartitionDirName(1) + "/FLUSH: offset 0: Corruption"),
            std::string::npos)
      << out;

  // Still unavailable after a restart; a delayed flush_all cannot repair it (and says
  // so) while the others take it; one without a delay does.
  ASSERT_TRUE(Store::Open(so, &store).ok());
  EXPECT_TRUE(store->FlushAll(static_cast<uint32_t>(::time(nullptr)) + 3600).IsUnavailable());
  EXPECT_EQ(store->Stats().unavailable_partitions, 1u);
  ASSERT_TRUE(store->FlushAll(0).ok());
  EXPECT_EQ(store->Stats().unavailable_partitions, 0u);
  EXPECT_TRUE(store->Damage().empty());
  EXPECT_EQ(Read(store->volume(1), Key(by_partition[1][0])), "<missing>");  // flushed
  ASSERT_TRUE(PutKV(store->volume(1), "k", "v").ok());
  ASSERT_TRUE(store->Close().ok());
  store.reset();
  r = VerifyReport();
  out = Verify(so.dir, &r);
  EXPECT_EQ(r.problems, 0u) << out;
}

// A partition that cannot open at all (here: a misplaced segment file) answers
// Unavailable, writes nothing, and the store serves the others.
TEST(Damage, PartitionThatCannotOpenDoesNotStopTheOthers) {
  TempDir tmp;
  StoreOptions so;
  so.dir = tmp.Sub("data");
  so.partitions = 2;
  so.volume.durability = Durability::kNone;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(so, &store).ok());
  std::vector<int> in0;
  for (int i = 0; i < 40; i++) {
    ASSERT_TRUE(PutKV(store->VolumeFor(Key(i)), Key(i), Value(i)).ok());
    if (store->PartitionOf(Key(i)) == 0) in0.push_back(i);
  }
  ASSERT_TRUE(store->Close().ok());
  store.reset();
  const std::string p0 = so.dir + "/" + format::PartitionDirName(0);
  const std::string p1 = so.dir + "/" + format::PartitionDirName(1);
  fs::copy_file(p0 + "/" + format::SegmentFileName(1, 0), p1 + "/" + format::SegmentFileName(7, 0));
  ASSERT_TRUE(Store::Open(so, &store).ok());
  for (int i : in0) ASSERT_EQ(Read(store->volume(0), Key(i)), Value(i));
  Status s = PutKV(store->volume(1), "x", "y");
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.message().find("partition 1 unavailable"), std::string_view::npos);
  EXPECT_NE(s.message().find("misplaced"), std::string_view::npos) << s.ToString();
  EXPECT_EQ(store->Stats().unavailable_partitions, 1u);
  ASSERT_EQ(store->Damage().size(), 1u);
  EXPECT_EQ(store->Damage()[0].report.kind, DamageKind::kUnavailable);
  ASSERT_TRUE(store->Close().ok());
  store.reset();
  EXPECT_EQ(SegmentPaths(p1).size(), 2u);  // nothing written there

  // Every partition failing is not a server.
  fs::copy_file(p1 + "/" + format::SegmentFileName(1, 0), p0 + "/" + format::SegmentFileName(9, 0));
  EXPECT_FALSE(Store::Open(so, &store).ok());
}

// A missing segment between the oldest and the head is reported at every open (and by
// verify), the records of the other segments are served, and nothing is cut.
TEST(Damage, MissingMiddleSegmentIsReportedAndTheRestServed) {
  TempDir tmp;
  const int n = 200;
  ASSERT_GE(Fill(tmp.Sub("vol"), n), 5u);
  for (bool checkpoint : {true, false}) {
    SCOPED_TRACE(checkpoint ? "with checkpoint" : "without");
    std::string dir = tmp.Sub("crash");
    fs::remove_all(dir);
    fs::copy(tmp.Sub("vol"), dir);
    if (!checkpoint) fs::remove(dir + "/" + format::kCheckpointFileName);
    std::vector<std::string> segs = SegmentPaths(dir);
    // Which keys live in segment 3: read them from the intact copy first.
    std::set<int> lost;
    {
      std::unique_ptr<Volume> v;
      ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("vol")), &v).ok());
      std::string seg3 = ReadFile(segs[2]);
      for (int i = 0; i < n; i++) {
        if (seg3.find(Key(i) + Value(i)) != std::string::npos) lost.insert(i);
      }
    }
    ASSERT_FALSE(lost.empty());
    fs::remove(segs[2]);
    for (int round = 0; round < 2; round++) {
      std::unique_ptr<Volume> v;
      ASSERT_TRUE(Volume::Open(Opts(dir), &v).ok());
      EXPECT_EQ(v->Stats().missing_segments, 1u) << round;
      EXPECT_TRUE(Has(v->Damage(), DamageKind::kMissingSegment, "seg-0000000003-*.dat"));
      for (int i = 0; i < n; i++) {
        ASSERT_EQ(Read(v.get(), Key(i)), lost.count(i) ? "<missing>" : Value(i)) << i;
      }
      EXPECT_EQ(v->Stats().truncated_bytes, 0u);
      ASSERT_TRUE(v->Close().ok());
    }
    VerifyReport r;
    std::string out = Verify(dir, &r);
    EXPECT_EQ(r.problems, 1u) << out;
    EXPECT_EQ(r.missing_segments, 1u) << out;
    EXPECT_NE(out.find("seg-0000000003-*.dat: missing"), std::string::npos) << out;
  }
}

// Segments are numbered from 1, so a missing oldest segment is a gap too; a missing
// newest one is found through the checkpoint's segment table, and the appends that follow
// go to a new head after it (never into a sealed segment).
TEST(Damage, MissingOldestAndNewestSegmentsAreFound) {
  TempDir tmp;
  const int n = 200;
  size_t segments = Fill(tmp.Sub("vol"), n);
  ASSERT_GE(segments, 5u);
  {
    std::string dir = tmp.Sub("oldest");
    fs::copy(tmp.Sub("vol"), dir);
    fs::remove(SegmentPaths(dir)[0]);
    fs::remove(dir + "/" + format::kCheckpointFileName);
    std::unique_ptr<Volume> v;
    ASSERT_TRUE(Volume::Open(Opts(dir), &v).ok());
    EXPECT_EQ(v->Stats().missing_segments, 1u);
    EXPECT_TRUE(Has(v->Damage(), DamageKind::kMissingSegment, "seg-0000000001-*.dat"));
    EXPECT_EQ(Read(v.get(), Key(n - 1)), Value(n - 1));
    v.reset();
    VerifyReport r;
    std::string out = Verify(dir, &r);
    EXPECT_NE(out.find("seg-0000000001-*.dat: missing"), std::string::npos) << out;
  }
  {
    std::string dir = tmp.Sub("newest");
    fs::copy(tmp.Sub("vol"), dir);  // the clean close left a checkpoint naming them all
    std::vector<std::string> segs = SegmentPaths(dir);
    fs::remove(segs.back());
    std::unique_ptr<Volume> v;
    ASSERT_TRUE(Volume::Open(Opts(dir), &v).ok());
    EXPECT_EQ(v->Stats().missing_segments, 1u);
    std::string name = fs::path(segs.back()).filename().string().substr(0, 15) + "*.dat";
    EXPECT_TRUE(Has(v->Damage(), DamageKind::kMissingSegment, name));
    EXPECT_EQ(Read(v.get(), Key(0)), Value(0));
    const std::string sealed = ReadFile(segs[segs.size() - 2]);
    ASSERT_TRUE(PutKV(v.get(), "after", "x").ok());
    EXPECT_EQ(v->Segments().back().seq, segments + 1);
    EXPECT_EQ(ReadFile(segs[segs.size() - 2]), sealed);
    ASSERT_TRUE(v->Close().ok());
    v.reset();
    // Reported again: the sequence has a hole now.
    ASSERT_TRUE(Volume::Open(Opts(dir), &v).ok());
    EXPECT_EQ(v->Stats().missing_segments, 1u);
    EXPECT_EQ(Read(v.get(), "after"), "x");
    v.reset();
    VerifyReport r;
    std::string out = Verify(dir, &r);
    EXPECT_EQ(r.problems, 1u) << out;
    EXPECT_NE(out.find(name + ": missing"), std::string::npos) << out;
  }
}

// A bit flipped in the last record of the head (no checkpoint) is damage, not a torn
// write: the record is kept on disk, reported, and read as Corruption, never cut; the
// records before it and the writes after it are served, and every open reports it again.
TEST(Damage, FlippedBitInTheLastRecordIsKeptNotCut) {
  TempDir tmp;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("vol"), 1 << 20), &v).ok());
  for (int i = 0; i < 20; i++) ASSERT_TRUE(PutKV(v.get(), Key(i), Value(i)).ok());
  std::string big(100 << 10, 'B');
  for (size_t i = 0; i < big.size(); i += 97) big[i] = static_cast<char>(i);
  ASSERT_TRUE(PutKV(v.get(), "big", big).ok());
  ASSERT_TRUE(v->Sync().ok());
  const uint64_t end = v->Segments().back().bytes;
  const std::string head = SegmentPaths(tmp.Sub("vol")).back();
  // Copy what a crash would leave: no checkpoint covers the records.
  std::string dir = tmp.Sub("crash");
  fs::create_directories(dir);
  fs::copy_file(head, dir + "/" + fs::path(head).filename().string());
  v.reset();
  const std::string copy = SegmentPaths(dir).back();
  XorByte(copy, end - 5000, 0x20);  // inside the big value
  for (int round = 0; round < 2; round++) {
    ASSERT_TRUE(Volume::Open(Opts(dir, 1 << 20), &v).ok());
    VolumeStats st = v->Stats();
    EXPECT_EQ(st.truncated_bytes, 0u) << round;
    EXPECT_EQ(st.corrupt_records, 1u) << round;
    EXPECT_TRUE(st.damaged);
    EXPECT_TRUE(Has(v->Damage(), DamageKind::kCorruptRecord, fs::path(copy).filename()));
    EXPECT_GE(fs::file_size(copy), end);
    for (int i = 0; i < 20; i++) ASSERT_EQ(Read(v.get(), Key(i)), Value(i)) << i;
    EXPECT_EQ(Read(v.get(), "big"), "<missing>");
    if (round == 0) {
      ASSERT_TRUE(PutKV(v.get(), "after", "x").ok());
    }
    EXPECT_EQ(Read(v.get(), "after"), "x");
    ASSERT_TRUE(v->Close().ok());
    v.reset();
  }
  VerifyReport r;
  std::string out = Verify(dir, &r);
  EXPECT_EQ(r.problems, 1u) << out;
  std::string bad_at = std::to_string(end - format::NeedleSize(3, 0, big.size()));
  EXPECT_NE(out.find(fs::path(copy).filename().string() + ": offset " + bad_at), std::string::npos)
      << out;
}

// A bad record followed by good ones in the head: skipped, reported with its offset at
// every open (no checkpoint ever covers it), the records after it served.
TEST(Damage, BadRecordFollowedByGoodOnesIsReportedAtEveryOpen) {
  TempDir tmp;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("vol"), 1 << 20), &v).ok());
  for (int i = 0; i < 20; i++) ASSERT_TRUE(PutKV(v.get(), Key(i), Value(i)).ok());
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  fs::remove(tmp.Sub("vol") + "/" + format::kCheckpointFileName);
  const std::string head = SegmentPaths(tmp.Sub("vol")).back();
  // Record 5 starts after the superblock and five records.
  uint64_t at = format::kSuperblockSize;
  for (int i = 0; i < 5; i++) at += format::NeedleSize(Key(i).size(), 0, Value(i).size());
  XorByte(head, at + format::kNeedleHeaderSize + 10, 0x01);  // in its key
  for (int round = 0; round < 3; round++) {
    ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("vol"), 1 << 20), &v).ok());
    EXPECT_EQ(v->Stats().corrupt_records, 1u) << round;
    EXPECT_EQ(v->Stats().truncated_bytes, 0u) << round;
    std::vector<DamageReport> d = v->Damage();
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].kind, DamageKind::kCorruptRecord);
    EXPECT_EQ(d[0].path, head);
    EXPECT_EQ(d[0].offset, at);
    for (int i = 0; i < 20; i++) {
      if (i != 5) {
        ASSERT_EQ(Read(v.get(), Key(i)), Value(i)) << i;
      }
    }
    ASSERT_TRUE(PutKV(v.get(), "r" + std::to_string(round), "x").ok());
    ASSERT_TRUE(v->Close().ok());  // no checkpoint: the next open scans it again
    v.reset();
  }
}

// A torn tail is still cut, and it is counted and reported (as a torn tail: not damage).
TEST(Damage, TornTailIsCutAndReported) {
  TempDir tmp;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("vol"), 1 << 20), &v).ok());
  for (int i = 0; i < 10; i++) ASSERT_TRUE(PutKV(v.get(), Key(i), Value(i)).ok());
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  fs::remove(tmp.Sub("vol") + "/" + format::kCheckpointFileName);
  const std::string head = SegmentPaths(tmp.Sub("vol")).back();
  uint64_t size = fs::file_size(head);
  fs::resize_file(head, size - 100);
  ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("vol"), 1 << 20), &v).ok());
  VolumeStats st = v->Stats();
  uint64_t last = format::NeedleSize(Key(9).size(), 0, Value(9).size());
  EXPECT_EQ(st.truncated_bytes, last - 100);
  EXPECT_EQ(st.corrupt_records, 0u);
  EXPECT_FALSE(st.damaged);
  std::vector<DamageReport> d = v->Damage();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, DamageKind::kTornTail);
  EXPECT_EQ(d[0].offset, size - last);
  EXPECT_EQ(fs::file_size(head), size - last);
}

}  // namespace
}  // namespace bale
