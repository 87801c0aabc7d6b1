// Recovery: torn tails, flipped bits, checkpoints. A "crash" is simulated by copying
// the volume's files while it is open (what a kill -9 leaves on disk) and opening the
// copy.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "format/checkpoint.h"
#include "format/superblock.h"
#include "store/verify.h"
#include "store/volume.h"
#include "test_util.h"

namespace bale {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

VolumeOptions Opts(const std::string& dir) {
  VolumeOptions o;
  o.dir = dir;
  o.durability = Durability::kNone;
  return o;
}

std::string Key(int i) { return "key-" + std::to_string(i); }
std::string Value(int i) { return std::string(100, static_cast<char>('a' + i % 26)) + Key(i); }

Status PutI(Volume* v, int i) {
  std::string k = Key(i), val = Value(i);
  WriteOp op;
  op.key = k;
  op.value = val;
  return v->Put(op);
}

std::string ContentType(int i) { return "application/x-test-" + std::to_string(i); }

Status PutWithType(Volume* v, int i) {
  std::string k = Key(i), val = Value(i), ct = ContentType(i);
  WriteOp op;
  op.key = k;
  op.value = val;
  op.content_type = ct;
  return v->Put(op);
}

void CopyDir(const std::string& from, const std::string& to) {
  fs::remove_all(to);
  fs::copy(from, to);
}

std::string HeadPath(const std::string& dir) {
  std::string best;
  for (auto& e : fs::directory_iterator(dir)) {
    std::string n = e.path().filename();
    if (n.rfind("seg-", 0) == 0 && n.size() == 23 && n > fs::path(best).filename().string()) {
      best = e.path();
    }
  }
  return best;
}

void FlipBit(const std::string& path, uint64_t offset, int bit) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(offset);
  char c;
  f.read(&c, 1);
  c ^= static_cast<char>(1 << bit);
  f.seekp(offset);
  f.write(&c, 1);
}

// Cutting the last record at every byte offset recovers exactly the records before it.
TEST(Recovery, TornWriteAtEveryOffsetOfTheLastRecord) {
  TempDir tmp;
  const int n = 20;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("vol")), &v).ok());
  for (int i = 0; i < n - 1; i++) ASSERT_TRUE(PutI(v.get(), i).ok());
  ASSERT_TRUE(v->Checkpoint().ok());  // the tail scan path: the last record is uncovered
  uint64_t start = v->Segments().back().bytes;
  ASSERT_TRUE(PutI(v.get(), n - 1).ok());
  uint64_t end = v->Segments().back().bytes;
  ASSERT_GT(end, start);
  for (uint64_t cut = start; cut < end; cut++) {
    for (bool zero_fill : {false, true}) {
      std::string crash = tmp.Sub("crash");
      CopyDir(tmp.Sub("vol"), crash);
      std::string head = HeadPath(crash);
      if (zero_fill) {  // the length reached the disk, the bytes did not
        std::fstream f(head, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(cut);
        std::string zeros(end - cut, '\0');
        f.write(zeros.data(), zeros.size());
      } else {
        fs::resize_file(head, cut);
      }
      std::unique_ptr<Volume> r;
      ASSERT_TRUE(Volume::Open(Opts(crash), &r).ok()) << cut;
      ReadResult rr;
      for (int i = 0; i < n - 1; i++) {
        ASSERT_TRUE(r->Get(Key(i), &rr).ok()) << "cut " << cut << " key " << i;
        ASSERT_EQ(rr.value(), Value(i));
      }
      Status last = r->Get(Key(n - 1), &rr);
      // Zeroed padding alone leaves a whole record (the checksum does not cover it).
      uint64_t raw = format::kNeedleHeaderSize + Key(n - 1).size() + Value(n - 1).size();
      if (zero_fill && cut >= start + raw) {
        ASSERT_TRUE(last.ok()) << cut;
        EXPECT_EQ(r->Stats().truncated_bytes, 0u);
        continue;
      }
      ASSERT_TRUE(last.IsNotFound()) << cut << " " << zero_fill << " " << last.ToString();
      EXPECT_EQ(r->Segments().back().bytes, start);
      EXPECT_EQ(r->Stats().truncated_bytes, (zero_fill ? end : cut) - start);
      // The cut volume takes new writes at the right place.
      ASSERT_TRUE(PutI(r.get(), n - 1).ok());
      ASSERT_TRUE(r->Get(Key(n - 1), &rr).ok());
      ASSERT_EQ(rr.value(), Value(n - 1));
    }
  }
}

// A bit flipped anywhere in a record's header, key or value is reported as Corruption
// on read (never served), found by verify, and skipped by a scanning restart while the
// records around it stay readable.
TEST(Recovery, FlippedBitIsDetectedOnReadAndByVerify) {
  TempDir tmp;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("vol")), &v).ok());
  for (int i = 0; i < 5; i++) ASSERT_TRUE(PutI(v.get(), i).ok());
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  // Record 2 starts after the superblock and two records of equal size.
  uint64_t rec = format::NeedleSize(Key(0).size(), 0, Value(0).size());
  uint64_t start = format::kSuperblockSize + 2 * rec;
  uint64_t covered = format::kNeedleHeaderSize + Key(2).size() + Value(2).size();
  for (uint64_t b = 0; b < covered; b++) {
    std::string crash = tmp.Sub("crash");
    CopyDir(tmp.Sub("vol"), crash);
    FlipBit(HeadPath(crash), start + b, static_cast<int>(b % 8));

    std::unique_ptr<Volume> r;
    ASSERT_TRUE(Volume::Open(Opts(crash), &r).ok());
    ReadResult rr;
    Status s = r->Get(Key(2), &rr);
    ASSERT_TRUE(s.IsCorruption()) << "byte " << b << ": " << s.ToString();
    for (int i : {0, 1, 3, 4}) {
      ASSERT_TRUE(r->Get(Key(i), &rr).ok()) << b;
      ASSERT_EQ(rr.value(), Value(i));
    }
    ASSERT_TRUE(r->Close().ok());
    r.reset();

    std::ostringstream out;
    VerifyReport report;
    ASSERT_TRUE(VerifyTree(Env::Default(), crash, out, &report).ok());
    EXPECT_EQ(report.problems, 1u) << out.str();
    EXPECT_NE(out.str().find("offset " + std::to_string(start)), std::string::npos) << out.str();

    // Without the checkpoint the scan skips the bad record and keeps the rest.
    fs::remove(crash + "/" + format::kCheckpointFileName);
    ASSERT_TRUE(Volume::Open(Opts(crash), &r).ok());
    EXPECT_EQ(r->Stats().corrupt_records, 1u) << b;
    EXPECT_EQ(r->Stats().truncated_bytes, 0u);
    EXPECT_FALSE(r->Get(Key(2), &rr).ok());
    for (int i : {0, 1, 3, 4}) ASSERT_TRUE(r->Get(Key(i), &rr).ok()) << b;
  }
}

TEST(Recovery, CheckpointCoversAllButTheTail) {
  TempDir tmp;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("vol")), &v).ok());
  for (int i = 0; i < 100; i++) ASSERT_TRUE(PutI(v.get(), i).ok());
  ASSERT_TRUE(v->Checkpoint().ok());
  uint64_t covered = v->Segments().back().bytes;
  for (int i = 100; i < 110; i++) ASSERT_TRUE(PutI(v.get(), i).ok());
  ASSERT_TRUE(v->Delete(Key(5)).ok());
  uint64_t end = v->Segments().back().bytes;
  CopyDir(tmp.Sub("vol"), tmp.Sub("crash"));
  std::unique_ptr<Volume> r;
  ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("crash")), &r).ok());
  EXPECT_TRUE(r->Stats().recovery_used_checkpoint);
  EXPECT_EQ(r->Stats().recovery_scanned_bytes, end - covered);
  ReadResult rr;
  for (int i = 0; i < 110; i++) {
    Status s = r->Get(Key(i), &rr);
    if (i == 5) {
      EXPECT_TRUE(s.IsNotFound());
    } else {
      ASSERT_TRUE(s.ok()) << i;
      EXPECT_EQ(rr.value(), Value(i));
    }
  }
}

TEST(Recovery, DamagedCheckpointFallsBackToAFullScan) {
  TempDir tmp;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("vol")), &v).ok());
  for (int i = 0; i < 300; i++) ASSERT_TRUE(PutI(v.get(), i).ok());
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  std::string ckpt = tmp.Sub("vol") + "/" + format::kCheckpointFileName;
  uint64_t size = fs::file_size(ckpt);
  for (uint64_t at : {uint64_t{3}, uint64_t{70}, size / 2, size - 2}) {
    CopyDir(tmp.Sub("vol"), tmp.Sub("crash"));
    FlipBit(tmp.Sub("crash") + "/" + format::kCheckpointFileName, at, 1);
    ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("crash")), &v).ok());
    EXPECT_FALSE(v->Stats().recovery_used_checkpoint) << at;
    EXPECT_EQ(v->Stats().objects, 300u);
    ReadResult rr;
    for (int i = 0; i < 300; i++) ASSERT_TRUE(v->Get(Key(i), &rr).ok());
    v.reset();
  }
}

TEST(Recovery, HeadWithoutSuperblockIsDropped) {
  TempDir tmp;
  VolumeOptions o = Opts(tmp.Sub("vol"));
  o.segment_bytes = 4096;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  for (int i = 0; i < 40; i++) ASSERT_TRUE(PutI(v.get(), i).ok());
  ASSERT_TRUE(v->Close().ok());
  uint64_t next = v->Segments().back().seq + 1;
  v.reset();
  // A crash while creating the next segment left an empty file.
  std::ofstream(tmp.Sub("vol") + "/" + format::SegmentFileName(next, 0)).close();
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  ReadResult rr;
  for (int i = 0; i < 40; i++) ASSERT_TRUE(v->Get(Key(i), &rr).ok());
  ASSERT_TRUE(PutI(v.get(), 99).ok());
  ASSERT_TRUE(v->Get(Key(99), &rr).ok());
}

// Content types come back after a restart that loads the checkpoint and scans the tail,
// after a full scan without it, and after a clean close.
TEST(Recovery, ContentTypeSurvivesRestart) {
  TempDir tmp;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("vol")), &v).ok());
  for (int i = 0; i < 50; i++) ASSERT_TRUE(PutWithType(v.get(), i).ok());
  ASSERT_TRUE(v->Checkpoint().ok());
  for (int i = 50; i < 60; i++) ASSERT_TRUE(PutWithType(v.get(), i).ok());
  ASSERT_TRUE(PutI(v.get(), 7).ok());  // overwritten without a content type
  auto check = [](Volume* r) {
    ReadResult rr;
    for (int i = 0; i < 60; i++) {
      ASSERT_TRUE(r->Get(Key(i), &rr).ok()) << i;
      EXPECT_EQ(rr.value(), Value(i));
      EXPECT_EQ(rr.content_type(), i == 7 ? "" : ContentType(i)) << i;
    }
  };
  CopyDir(tmp.Sub("vol"), tmp.Sub("crash"));  // checkpoint plus an uncovered tail
  std::unique_ptr<Volume> r;
  ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("crash")), &r).ok());
  EXPECT_TRUE(r->Stats().recovery_used_checkpoint);
  EXPECT_GT(r->Stats().recovery_scanned_bytes, 0u);
  check(r.get());
  r.reset();
  CopyDir(tmp.Sub("vol"), tmp.Sub("scan"));  // no checkpoint: every segment is scanned
  fs::remove(tmp.Sub("scan") + "/" + format::kCheckpointFileName);
  ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("scan")), &r).ok());
  EXPECT_FALSE(r->Stats().recovery_used_checkpoint);
  check(r.get());
  r.reset();
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("vol")), &v).ok());  // clean: all in the checkpoint
  EXPECT_TRUE(v->Stats().recovery_used_checkpoint);
  EXPECT_EQ(v->Stats().recovery_scanned_bytes, 0u);
  check(v.get());
}

// A bit flipped in a record's content type (or its length) is reported as Corruption
// on read, found by verify, and skipped by a scanning restart.
TEST(Recovery, FlippedBitInContentTypeIsDetected) {
  TempDir tmp;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("vol")), &v).ok());
  for (int i = 0; i < 5; i++) ASSERT_TRUE(PutWithType(v.get(), i).ok());
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  uint64_t rec = format::NeedleSize(Key(0).size(), ContentType(0).size(), Value(0).size());
  uint64_t start = format::kSuperblockSize + 2 * rec;  // record 2
  std::vector<uint64_t> offsets = {format::needle_offsets::kContentTypeLen,
                                   format::needle_offsets::kContentTypeLen + 1};
  uint64_t ct_at = format::kNeedleHeaderSize + Key(2).size();
  for (uint64_t b = 0; b < ContentType(2).size(); b++) offsets.push_back(ct_at + b);
  for (uint64_t b : offsets) {
    std::string crash = tmp.Sub("crash");
    CopyDir(tmp.Sub("vol"), crash);
    FlipBit(HeadPath(crash), start + b, static_cast<int>(b % 8));
    std::unique_ptr<Volume> r;
    ASSERT_TRUE(Volume::Open(Opts(crash), &r).ok());
    ReadResult rr;
    Status s = r->Get(Key(2), &rr);
    ASSERT_TRUE(s.IsCorruption()) << "byte " << b << ": " << s.ToString();
    for (int i : {0, 1, 3, 4}) {
      ASSERT_TRUE(r->Get(Key(i), &rr).ok()) << b;
      ASSERT_EQ(rr.content_type(), ContentType(i));
    }
    r.reset();
    std::ostringstream out;
    VerifyReport report;
    ASSERT_TRUE(VerifyTree(Env::Default(), crash, out, &report).ok());
    EXPECT_EQ(report.problems, 1u) << out.str();
    EXPECT_EQ(report.needles, 4u) << out.str();
    fs::remove(crash + "/" + format::kCheckpointFileName);
    ASSERT_TRUE(Volume::Open(Opts(crash), &r).ok());
    EXPECT_EQ(r->Stats().corrupt_records, 1u) << b;
    EXPECT_FALSE(r->Get(Key(2), &rr).ok());
    for (int i : {0, 1, 3, 4}) {
      ASSERT_TRUE(r->Get(Key(i), &rr).ok()) << b;
      ASSERT_EQ(rr.content_type(), ContentType(i));
    }
  }
}

// A crash in the middle of a large (pwritev) needle leaves a torn tail: the restart
// cuts it off and the key's previous value is served.
TEST(Recovery, TornLargeNeedleIsCutOff) {
  TempDir tmp;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(Opts(tmp.Sub("vol")), &v).ok());
  ASSERT_TRUE(PutWithType(v.get(), 0).ok());
  uint64_t start = v->Segments().back().bytes;
  std::string big(Volume::kDirectValueBytes * 3 + 1, 'B');
  for (size_t i = 0; i < big.size(); i += 101) big[i] = static_cast<char>(i);
  std::string key = Key(0);
  WriteOp op;
  op.key = key;
  op.value = big;
  op.content_type = "application/octet-stream";
  ASSERT_TRUE(v->Put(op).ok());
  uint64_t end = v->Segments().back().bytes;
  for (uint64_t cut : {start + 10, start + format::kNeedleHeaderSize + 20, start + 5000,
                       (start + end) / 2, end - 8, end - 1}) {
    std::string crash = tmp.Sub("crash");
    CopyDir(tmp.Sub("vol"), crash);
    fs::remove(crash + "/" + format::kCheckpointFileName);
    fs::resize_file(HeadPath(crash), cut);
    std::unique_ptr<Volume> r;
    ASSERT_TRUE(Volume::Open(Opts(crash), &r).ok()) << cut;
    EXPECT_EQ(r->Stats().truncated_bytes, cut - start) << cut;
    ReadResult rr;
    ASSERT_TRUE(r->Get(Key(0), &rr).ok()) << cut;
    EXPECT_EQ(rr.value(), Value(0));
    EXPECT_EQ(rr.content_type(), ContentType(0));
  }
  ReadResult rr;
  ASSERT_TRUE(v->Get(Key(0), &rr).ok());
  EXPECT_EQ(rr.value(), big);
  EXPECT_EQ(rr.content_type(), "application/octet-stream");
}

}  // namespace
}  // namespace bale
