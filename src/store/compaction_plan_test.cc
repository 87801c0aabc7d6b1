// A primary's compaction plans carried out by a replica: the same needles on both.
#include "store/compaction_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "format/needle.h"
#include "format/superblock.h"
#include "same_object.h"
#include "store/volume.h"
#include "test_util.h"

namespace bale {
namespace {

namespace fs = std::filesystem;
using testing::ExpectSameObject;
using testing::TempDir;

constexpr uint32_t kT0 = 1700000000;

// A primary (A) and a replica (B) in separate directories, B fed the writes A decided.
struct Pair {
  TempDir dir_a, dir_b;
  std::atomic<uint32_t> now{kT0};
  std::unique_ptr<Volume> a, b;
  DecidedWrite d;

  VolumeOptions Options(const TempDir& dir) {
    VolumeOptions o;
    o.dir = dir.Sub("vol");
    o.durability = Durability::kNone;
    o.segment_bytes = 2 << 20;
    o.clock = [this] { return now.load(); };
    return o;
  }
  void Open() {
    ASSERT_TRUE(Volume::Open(Options(dir_a), &a).ok());
    ASSERT_TRUE(Volume::Open(Options(dir_b), &b).ok());
  }
  void Forward(const DecidedWrite& w) {
    Status s = b->AppendDecided(w);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  void Set(const std::string& key, const std::string& value, uint32_t expiry = 0,
           std::string_view content_type = {}) {
    WriteOp op;
    op.key = key;
    op.value = value;
    op.expiry = expiry;
    op.flags = 5;
    op.content_type = content_type;
    ASSERT_TRUE(a->Write(std::span<WriteOp>(&op, 1), true, &d).ok());
    ASSERT_TRUE(op.status.ok()) << op.status.ToString();
    Forward(d);
  }
  void Delete(const std::string& key) {
    WriteOp op;
    op.key = key;
    op.tombstone = true;
    ASSERT_TRUE(a->Write(std::span<WriteOp>(&op, 1), true, &d).ok());
    Forward(d);
  }
  void Touch(const std::string& key, uint32_t expiry) {
    ASSERT_TRUE(a->Touch(key, expiry, true, &d).ok()) << key;
    Forward(d);
  }
  // 8 KiB values under `prefix` until A has `segments` segments.
  void FillUntil(const std::string& prefix, size_t segments) {
    for (int i = 0; a->Segments().size() < segments; i++) {
      Set(prefix + std::to_string(i), std::string(8 << 10, static_cast<char>('a' + i % 26)));
    }
  }
  std::string Path(const TempDir& dir, uint64_t seq, uint32_t gen) {
    return dir.Sub("vol") + "/" + format::SegmentFileName(seq, gen);
  }
};

// The two segment files hold the same needles: every header field, key, content type
// and value, each verified with its file's salt, and the same bytes but for the CRC
// (the salts are random per segment and no option sets them, so the CRCs differ).
// Returns the number of needles.
int ExpectSameNeedles(const std::string& path_a, const std::string& path_b) {
  std::string a, b;
  EXPECT_TRUE(ReadWholeFile(Env::Default(), path_a, &a).ok()) << path_a;
  EXPECT_TRUE(ReadWholeFile(Env::Default(), path_b, &b).ok()) << path_b;
  EXPECT_EQ(a.size(), b.size());
  if (a.size() != b.size() || a.size() < format::kSuperblockSize) return 0;
  format::Superblock sa, sb;
  EXPECT_TRUE(format::DecodeSuperblock(a, &sa).ok());
  EXPECT_TRUE(format::DecodeSuperblock(b, &sb).ok());
  EXPECT_EQ(sa.seq, sb.seq);
  EXPECT_EQ(sa.generation, sb.generation);
  int needles = 0;
  for (size_t at = format::kSuperblockSize; at < a.size(); needles++) {
    std::string_view na = std::string_view(a).substr(at), nb = std::string_view(b).substr(at);
    format::NeedleHeader ha, hb;
    EXPECT_TRUE(format::DecodeNeedleHeader(na, &ha).ok()) << at;
    if (!format::DecodeNeedleHeader(nb, &hb).ok()) {
      ADD_FAILURE() << path_b << " @" << at;
      return needles;
    }
    std::string_view ka, ca, va, kb, cb, vb;
    EXPECT_TRUE(format::VerifyNeedle(sa.salt, na, ha, &ka, &ca, &va).ok()) << at;
    EXPECT_TRUE(format::VerifyNeedle(sb.salt, nb, hb, &kb, &cb, &vb).ok()) << at;
    EXPECT_EQ(ha.version, hb.version) << at;
    EXPECT_EQ(ha.cookie, hb.cookie) << at;
    EXPECT_EQ(ha.flags, hb.flags) << at;
    EXPECT_EQ(ha.expiry, hb.expiry) << ka << " @" << at;
    EXPECT_EQ(ha.mtime, hb.mtime) << at;
    EXPECT_EQ(ha.kind, hb.kind) << ka << " @" << at;
    EXPECT_EQ(ha.marks, hb.marks) << at;
    EXPECT_EQ(ka, kb) << at;
    EXPECT_EQ(ca, cb) << at;
    EXPECT_EQ(va, vb) << at;
    size_t n = format::NeedleSize(ha);
    EXPECT_EQ(a.substr(at, 4), b.substr(at, 4)) << at;
    EXPECT_EQ(a.substr(at + 8, n - 8), b.substr(at + 8, n - 8)) << at;
    at += n;
  }
  return needles;
}

std::vector<std::string> Keys() {
  std::vector<std::string> keys;
  for (char group : {'a', 'b', 'c'}) {
    for (int i = 0; i < 40; i++) keys.push_back(std::string(1, group) + std::to_string(i));
  }
  for (const char* k : {"during0", "during1", "during2", "f0", "f100", "g3", "h10", "nope"}) {
    keys.push_back(k);
  }
  return keys;
}

// One group of keys with every fate: live, overwritten, deleted, expired, touched in
// the same segment (the pair merges), expiring between the primary's compaction and
// the replica's (decided by the plan's clock, not the replica's).
void WriteGroup(Pair& p, const std::string& g, std::string_view content_type) {
  for (int i = 0; i < 40; i++) {
    uint32_t expiry = i >= 15 && i < 25 ? kT0 + 50 : i >= 35 ? kT0 + 500 : 0;
    p.Set(g + std::to_string(i), g + "-value-" + std::to_string(i), expiry,
          i % 2 ? content_type : std::string_view());
  }
  for (int i = 5; i < 10; i++) p.Set(g + std::to_string(i), g + "-again-" + std::to_string(i));
  for (int i = 10; i < 15; i++) p.Delete(g + std::to_string(i));
  for (int i = 20; i < 25; i++) p.Touch(g + std::to_string(i), kT0 + 100000);
}

TEST(CompactionPlan, ReplicaCarriesOutThePrimarysPlansToTheSameNeedles) {
  Pair p;
  p.Open();
  // Segment 1 (the oldest: tombstones and expired needles go).
  WriteGroup(p, "a", "text/plain");
  p.FillUntil("f", 2);
  // Segment 2: tombstones stay; b25..b34 are touched from the head (touch records
  // elsewhere), b25..b29 to live on, b30..b34 to expire.
  WriteGroup(p, "b", "image/png");
  p.FillUntil("g", 3);
  for (int i = 25; i < 30; i++) p.Touch("b" + std::to_string(i), kT0 + 100000);
  for (int i = 30; i < 35; i++) p.Touch("b" + std::to_string(i), kT0 + 60);
  // Segment 3, the head: more than 1 MiB live, so that its compaction reports progress
  // (when the test writes to it) before the writers' lock is taken.
  WriteGroup(p, "c", "application/json");
  for (int i = 0; i < 150; i++) p.Set("h" + std::to_string(i), std::string(8 << 10, 'h'));
  ASSERT_EQ(p.a->Segments().size(), 3u);
  p.now = kT0 + 200;

  // The primary compacts segment 1, then the clock moves on before the replica applies
  // the plan: x35..x39 expire in between.
  CompactionResult ra, rb;
  ASSERT_TRUE(p.a->Compact(1, &ra).ok());
  EXPECT_EQ(ra.plan.seq, 1u);
  EXPECT_EQ(ra.plan.generation, 0u);
  EXPECT_EQ(ra.plan.now, kT0 + 200);
  EXPECT_EQ(ra.plan.records(), ra.needles_kept + ra.needles_dropped);
  EXPECT_EQ(ra.plan.end, ra.bytes_before);
  EXPECT_GT(ra.needles_dropped, 0u);
  EXPECT_LT(ra.plan.runs().size(), ra.plan.records() / 4);  // run-length encoded
  p.now = kT0 + 1000;
  Status s = p.b->ApplyCompaction(ra.plan, &rb);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(rb.needles_kept, ra.needles_kept);
  EXPECT_EQ(rb.bytes_after, ra.bytes_after);
  EXPECT_GT(ExpectSameNeedles(p.Path(p.dir_a, 1, 1), p.Path(p.dir_b, 1, 1)), 0);
  EXPECT_FALSE(fs::exists(p.Path(p.dir_b, 1, 0)));

  // Segment 2 (not the oldest): tombstones, expired objects as tombstones, values
  // merged with touch records that live elsewhere.
  p.now = kT0 + 200;
  ASSERT_TRUE(p.a->Compact(2, &ra).ok());
  p.now = kT0 + 1000;
  s = p.b->ApplyCompaction(ra.plan, &rb);
  ASSERT_TRUE(s.ok()) << s.ToString();
  bool tombstone_with_expiry = false, keep_with_expiry = false;
  for (const CompactionPlan::Run& run : ra.plan.runs()) {
    tombstone_with_expiry |= run.action == CompactionPlan::Action::kTombstoneExpiry;
    keep_with_expiry |= run.action == CompactionPlan::Action::kKeepExpiry;
  }
  EXPECT_TRUE(tombstone_with_expiry);
  EXPECT_TRUE(keep_with_expiry);
  EXPECT_GT(ExpectSameNeedles(p.Path(p.dir_a, 2, 1), p.Path(p.dir_b, 2, 1)), 0);

  // The head, with writes to the primary while it is copied: they are in the plan, and
  // reach the replica (as any write would) before it applies the plan.
  p.now = kT0 + 200;
  std::vector<DecidedWrite> during;
  bool wrote = false;
  auto write_during = [&](uint64_t, uint64_t) {
    if (wrote) return;
    wrote = true;
    WriteOp ops[3];
    ops[0].key = "during0";
    ops[0].value = "written while the head is copied";
    ops[1].key = "c0";
    ops[1].value = "overwritten while the head is copied";
    ops[2].key = "c1";
    ops[2].tombstone = true;
    during.emplace_back();
    ASSERT_TRUE(p.a->Write(ops, true, &during.back()).ok());
    during.emplace_back();
    ASSERT_TRUE(p.a->Touch("c2", kT0 + 7777, true, &during.back()).ok());  // a whole object
  };
  ASSERT_TRUE(p.a->Compact(3, &ra, write_during).ok());
  ASSERT_TRUE(wrote);
  EXPECT_EQ(ra.plan.end, ra.bytes_before);
  for (const DecidedWrite& w : during) p.Forward(w);
  p.now = kT0 + 1000;
  s = p.b->ApplyCompaction(ra.plan, &rb);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_GT(ExpectSameNeedles(p.Path(p.dir_a, 3, 1), p.Path(p.dir_b, 3, 1)), 150);

  // Every key reads the same on both, before and after a reopen; both keep taking
  // writes in their new heads.
  p.now = kT0 + 200;
  for (const std::string& key : Keys()) ExpectSameObject(p.a.get(), p.b.get(), key);
  p.Set("after", "compaction");
  for (int round = 0; round < 2; round++) {
    ASSERT_TRUE(p.a->Close().ok());
    ASSERT_TRUE(p.b->Close().ok());
    p.a.reset();
    p.b.reset();
    if (round == 1) {  // and without checkpoints: a full scan finds the same
      fs::remove(p.Options(p.dir_a).dir + "/index.ckpt");
      fs::remove(p.Options(p.dir_b).dir + "/index.ckpt");
    }
    p.Open();
    for (const std::string& key : Keys()) ExpectSameObject(p.a.get(), p.b.get(), key);
    ExpectSameObject(p.a.get(), p.b.get(), "after");
  }
  ReadResult r;
  ASSERT_TRUE(p.b->Get("c2", &r).ok());
  EXPECT_EQ(r.header().expiry, kT0 + 7777);
  ASSERT_TRUE(p.b->Get("b25", &r).ok());
  EXPECT_EQ(r.header().expiry, kT0 + 100000);
  EXPECT_TRUE(p.b->Get("b30", &r).IsNotFound());
  EXPECT_TRUE(p.b->Get("c1", &r).IsNotFound());
  ASSERT_TRUE(p.b->Get("a37", &r).ok());  // expiring at kT0 + 500
}

// What the segment of `v` holds, to check that a refused plan changed nothing.
struct Snapshot {
  std::vector<std::string> files;
  std::string bytes;
  static Snapshot Of(const std::string& dir, const std::string& segment) {
    Snapshot s;
    for (const auto& e : fs::directory_iterator(dir)) s.files.push_back(e.path().filename());
    std::sort(s.files.begin(), s.files.end());
    EXPECT_TRUE(ReadWholeFile(Env::Default(), segment, &s.bytes).ok());
    return s;
  }
  bool operator==(const Snapshot& o) const { return files == o.files && bytes == o.bytes; }
};

TEST(CompactionPlan, APlanForOtherRecordsIsRefusedAndChangesNothing) {
  Pair p;
  p.Open();
  p.Set("k0", "v0");
  p.Set("k1", "v1");
  p.Set("k0", "v2");  // the first record dies
  CompactionResult ra, rb;
  ASSERT_TRUE(p.a->Compact(1, &ra).ok());
  ASSERT_EQ(ra.plan.records(), 3u);

  // C: the same sizes and count of records, other keys live: the plan would drop k0's
  // live needle.
  TempDir dir_c;
  VolumeOptions oc = p.Options(dir_c);
  std::unique_ptr<Volume> c;
  ASSERT_TRUE(Volume::Open(oc, &c).ok());
  for (const char* k : {"k0", "k1", "k2"}) {
    WriteOp op;
    op.key = k;
    op.value = "vv";
    op.flags = 5;
    ASSERT_TRUE(c->Put(op).ok());
  }
  const std::string seg_c = oc.dir + "/" + format::SegmentFileName(1, 0);
  Snapshot before = Snapshot::Of(oc.dir, seg_c);
  ASSERT_EQ(c->Segments()[0].bytes, ra.plan.end);
  Status s = c->ApplyCompaction(ra.plan, &rb);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_TRUE(Snapshot::Of(oc.dir, seg_c) == before);
  EXPECT_EQ(c->Segments()[0].generation, 0u);
  for (const char* k : {"k0", "k1", "k2"}) {
    ReadResult r;
    ASSERT_TRUE(c->Get(k, &r).ok()) << k;
    EXPECT_EQ(r.value(), "vv");
  }

  // B, the replica, before it has the last write: the end differs.
  const std::string seg_b = p.Options(p.dir_b).dir + "/" + format::SegmentFileName(1, 0);
  p.b.reset();
  fs::remove_all(p.Options(p.dir_b).dir);
  ASSERT_TRUE(Volume::Open(p.Options(p.dir_b), &p.b).ok());
  {
    WriteOp op;
    op.key = "k0";
    op.value = "v0";
    ASSERT_TRUE(p.b->Put(op).ok());
  }
  before = Snapshot::Of(p.Options(p.dir_b).dir, seg_b);
  s = p.b->ApplyCompaction(ra.plan, &rb);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_TRUE(Snapshot::Of(p.Options(p.dir_b).dir, seg_b) == before);

  // C again, with plans that keep every record but name one more or one fewer than its
  // segment holds (the same end): refused, the copy removed.
  CompactionPlan longer, shorter;
  for (CompactionPlan* plan : {&longer, &shorter}) {
    plan->seq = 1;
    plan->end = ra.plan.end;
    plan->now = ra.plan.now;
  }
  for (int i = 0; i < 4; i++) longer.Add(CompactionPlan::Action::kKeep);
  for (int i = 0; i < 2; i++) shorter.Add(CompactionPlan::Action::kKeep);
  before = Snapshot::Of(oc.dir, seg_c);
  for (const CompactionPlan* plan : {&longer, &shorter}) {
    s = c->ApplyCompaction(*plan, &rb);
    EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
    EXPECT_TRUE(Snapshot::Of(oc.dir, seg_c) == before);
    EXPECT_EQ(c->Segments()[0].generation, 0u);
  }
  // A plan for another generation.
  CompactionPlan other = ra.plan;
  other.generation = 1;
  s = c->ApplyCompaction(other, &rb);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_TRUE(Snapshot::Of(oc.dir, seg_c) == before);
  // The volume still compacts by itself afterwards.
  ASSERT_TRUE(c->Compact(1, &rb).ok());
  EXPECT_EQ(rb.needles_kept, 3u);
}

}  // namespace
}  // namespace bale
